"""ROS graph benchmarks: command latency and rates (section `latency`), and goal reaching
through the ReachGoal action vs the in-process reference loop (section `ros_reach_goal`).

    python -m jepa_ros.tools.bench_latency [--quick] [--ckpt models/two_rooms_world_model.pt]
    python -m jepa_ros.tools.bench_latency --reach 10 [--quick]

The graph runs as in deployment: `start_graph(world, multiprocess=True)` (one process per
node, config/stack.yaml + config/*.yaml). This process drives and observes it through
`jepa_ros.nodes.stack_client.StackClient`:

* latency, measured at a subscriber: Mode-2, image stamp -> first cmd_vel received after
  the plan made from that image arrived; Mode-1, image stamp -> first cmd_vel received
  after the latent state of that image arrived. Clocks: the bridge stamps images with the
  system clock (use_sim_time off) and receipts use the same clock on the same machine.
* rates: jepa/plan and cmd_vel messages per second over the window.
* reach: per goal, /sim_bridge/reset then ReachGoal(sample_in_sim); success = the
  configurator's result (simulator ground truth). The same start/goal pairs are rebuilt
  in-process with `SimStepper` (same seed, same call sequence) and solved by
  `jepa_ros.core.rollouts.run_episode` with the same planner settings.
"""
import argparse
import contextlib
import json
import math
import os
import sys
import time

import numpy as np

DEFAULT_CKPT = 'models/two_rooms_world_model.pt'


def ros_env():
    """Loopback-only DDS (set before rclpy starts; inherited by the graph processes)."""
    os.environ['ROS_LOCALHOST_ONLY'] = '1'
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    os.environ.setdefault('OMP_NUM_THREADS', '1')


def graph_overrides(ckpt, world='two_rooms', seed=0, configurator=None, world_model=None,
                    actor=None, sim_bridge=None):
    ov = {n: {'checkpoint': ckpt} for n in ('perception', 'world_model', 'actor')}
    ov['sim_bridge'] = {'seed': int(seed)}
    ov['configurator'] = {'sync_period_s': 0.5}
    for name, extra in (('configurator', configurator), ('world_model', world_model),
                        ('actor', actor), ('sim_bridge', sim_bridge)):
        ov[name].update(extra or {})
    return ov


def run_goal(client, timeout_s):
    """One simulator-sampled ReachGoal to its end -> (success, message, wall seconds)."""
    t0 = time.monotonic()
    res = client.reach(timeout_s)
    if res is None:
        raise TimeoutError(f'no ReachGoal result within {timeout_s + 30:.0f} s')
    return bool(res.result.success), res.result.message, time.monotonic() - t0


# ---- latency ----------------------------------------------------------------------------
def first_after(times, t):
    """Index of the first element of sorted `times` strictly after t, or None."""
    i = int(np.searchsorted(times, t, side='right'))
    return i if i < len(times) else None


def latencies(op, t_start, t_end, mode):
    """ms from image stamp to the first command received after the image's state (mode1)
    or plan (mode2) arrived, for the images of the window (`op`: a StackClient)."""
    cmd_t = np.array([c.receipt for c in op.cmds if t_start <= c.receipt <= t_end + 1.0])
    if mode == 'mode1':
        events = [(m.stamp, m.receipt) for m in op.states]
    else:   # the first plan made from each image (re-plans from it come later)
        first = {}
        for m in op.plans:
            first.setdefault(m.stamp, m.receipt)
        events = sorted(first.items(), key=lambda sr: sr[1])
    out = []
    for stamp, receipt in events:
        if not t_start <= receipt <= t_end:
            continue
        i = first_after(cmd_t, receipt)
        if i is not None:
            out.append(1e3 * (cmd_t[i] - stamp))
    return np.asarray(out)


def rate(items, t_start, t_end, key=lambda x: x.receipt):
    """Messages per second in the window from their arrival times: (n - 1) over the span
    from the first to the last (counting n in the window instead is off by up to one
    message: +-5 % for 10 Hz over 20 s)."""
    t = sorted(key(x) for x in items if t_start <= key(x) <= t_end)
    if len(t) < 2 or t[-1] <= t[0]:
        return 0.0
    return (len(t) - 1) / (t[-1] - t[0])


def measure_window(op, seconds, mode):
    t0 = op.now()
    op.spin_for(seconds)
    t1 = op.now()
    lat = latencies(op, t0, t1, mode)
    compute = [float(m.msg.compute_ms) for m in op.plans if t0 <= m.receipt <= t1]
    return {
        'mode': mode,
        'samples': int(len(lat)),
        'p50_ms': float(np.percentile(lat, 50)) if len(lat) else math.nan,
        'p99_ms': float(np.percentile(lat, 99)) if len(lat) else math.nan,
        'plan_hz': rate(op.plans, t0, t1),
        'control_hz': rate(op.cmds, t0, t1),
        'state_hz': rate(op.states, t0, t1),
        'plan_compute_ms_p50': float(np.median(compute)) if compute else math.nan,
    }


@contextlib.contextmanager
def running_graph(name, world, overrides, log_dir=None):
    """(StackClient `name`, check) of the multi-process graph (memory skipped), up;
    check() raises RuntimeError when a graph process died (also run on the way out);
    everything is stopped afterwards."""
    import rclpy

    from jepa_ros.nodes.graph import start_graph
    from jepa_ros.nodes.stack_client import StackClient
    g = start_graph(world, multiprocess=True, skip=('memory',), log_dir=log_dir,
                    overrides=overrides)
    rclpy.init()
    op = StackClient(name, world=world)

    def check():
        dead = g.dead()
        if dead:
            raise RuntimeError(f'graph processes died: {dead}')
    try:
        op.wait_up()
        yield op, check
        check()
    finally:
        op.close()
        rclpy.shutdown()
        g.stop()


def bench_latency(ckpt, seconds, log_dir=None, world='two_rooms'):
    rows = []
    with running_graph('bench_latency', world, graph_overrides(ckpt, world),
                       log_dir) as (op, _check):
        h = op.send_goal(timeout_s=4 * seconds + 60)
        op.spin_until(lambda: len(op.plans) > 3, 30)
        rows.append(measure_window(op, seconds, 'mode2'))
        op.set_mode('mode1')
        op.spin_for(0.5)
        rows.append(measure_window(op, seconds, 'mode1'))
        op.cancel(h)
        op.set_mode('mode2')
    return rows


def latency_markdown(rows, ckpt, seconds):
    from jepa_ros.tools.benchmarks import md_table

    def f(x, spec='.1f'):
        return 'n/a' if x is None or (isinstance(x, float) and math.isnan(x)) else \
            format(x, spec)
    table = md_table(
        ['mode', 'latency samples', 'p50 ms', 'p99 ms', 'plan Hz', 'control Hz', 'state Hz',
         'plan compute ms p50'],
        [[r['mode'], r['samples'], f(r['p50_ms']), f(r['p99_ms']), f(r['plan_hz']),
          f(r['control_hz']), f(r['state_hz']), f(r['plan_compute_ms_p50'])] for r in rows])
    by = {r['mode']: r for r in rows}
    checks = []
    if 'mode1' in by:
        ok = by['mode1']['p99_ms'] < 30.0
        checks.append(f'- Mode-1 p99 < 30 ms: **{"met" if ok else "NOT met"}** '
                      f'({f(by["mode1"]["p99_ms"])} ms)')
    if 'mode2' in by:
        ok = by['mode2']['plan_hz'] >= 10.0
        checks.append(f'- plan rate >= 10 Hz: **{"met" if ok else "NOT met"}** '
                      f'({f(by["mode2"]["plan_hz"])} Hz)')
    return (f'Multi-process graph (`start_graph(multiprocess=True)`, config/*.yaml), '
            f'checkpoint `{ckpt}`, {seconds:.0f} s per mode while a ReachGoal runs. '
            'Latency = image stamp -> first `cmd_vel` received (at a subscriber) after the '
            'first plan from that image (Mode-2) or its latent state (Mode-1) arrived. The '
            'actor commands as soon as a state or plan arrives (`command_on_input`); the '
            'world model plans on every new state (`plan_on_state`) and re-plans from the '
            'latest one at `plan_rate` (plan Hz counts both).\n\n'
            + table + '\n\n' + '\n'.join(checks) + '\n')


# ---- goal reaching: ROS graph vs the reference loop -------------------------------------
def reference_tasks(n, seed, world='two_rooms', sim_kwargs=None):
    """The start/goal pairs the graph's sim_bridge (param seed=`seed`) produces for
    `n` x (~/reset, ~/sample_goal), rebuilt with the same SimStepper call sequence."""
    from jepa_ros.core.rollouts import Task
    from jepa_ros.sim.stepper import SimStepper
    st = SimStepper(world=world, seed=seed, **(sim_kwargs or {}))
    tasks = []
    try:
        for _ in range(n):
            st.reset()
            start = st.state()
            goal, _img = st.sample_goal()
            env = st.env.unwrapped
            layout = getattr(env, 'layout', None)
            cross = (layout.room_of(start[:2]) != layout.room_of(goal[:2])
                     if layout is not None and hasattr(layout, 'room_of') else None)
            dist = float(env.true_distance(start, goal)) if hasattr(env, 'true_distance') \
                else math.nan
            tasks.append(Task([float(x) for x in start], [float(x) for x in goal], 'any',
                              cross, dist))
    finally:
        st.close()
    return tasks


def node_planning_params(wm, cf):
    """The world_model node's effective planning parameters: its file values (`wm`, from
    config/world_model.yaml) with the values the configurator pushes (`cf`) on top."""
    from jepa_ros.nodes.ownership import WORLD_MODEL_KEYS
    p = dict(wm)
    p.update({k: cf[k] for k in WORLD_MODEL_KEYS if k in cf})
    return p


def reference_success(ckpt, tasks, params, max_steps, execute_steps=2, world='two_rooms',
                      critic=None):
    """`rollouts.run_episode` on `tasks` with the world_model node's planner and cost
    parameters `params` (see node_planning_params)."""
    import torch

    from jepa_ros.core.checkpoint import load_checkpoint
    from jepa_ros.core.critic import load_frozen_critic
    from jepa_ros.core.planners import RecedingHorizon, build_planning
    from jepa_ros.core.rollouts import run_episode
    from jepa_ros.nodes.world_model import PARAMS
    from jepa_ros.sim import make_env
    torch.set_num_threads(1)
    model, _ = load_checkpoint(ckpt, map_location='cpu', kind='world_model')
    model.requires_grad_(False)
    p = {spec.name: spec.default for spec in PARAMS}
    p.update(params)
    budget_s = float(p['budget_s'])
    cr = load_frozen_critic(critic) if critic else None
    pl, cost = build_planning(p, model, critic=cr)
    ctl = RecedingHorizon(pl, cost, execute_steps=execute_steps,
                          budget_s=budget_s)
    env = make_env(world, image_size=int(model.config.image_size))
    try:
        return [run_episode(env, model, ctl, t, max_steps) for t in tasks]
    finally:
        env.close()


def ros_reach(ckpt, n, seed, max_steps, log_dir=None, world='two_rooms', wm_params=None,
              progress=None):
    """n goals through the multi-process graph -> list of (success, message, seconds)."""
    ov = graph_overrides(ckpt, world, seed,
                         configurator={'success_energy': 0.0, 'use_sim_success': True,
                                       'feedback_rate': 10.0, **(wm_params or {})})
    out = []
    with running_graph('reach_goal_client', world, ov, log_dir) as (op, check):
        for _ in range(n):
            op.reset_sim()
            out.append(run_goal(op, timeout_s=max_steps * 0.1))
            if progress:
                progress(out[-1])
            check()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help='short windows / fewer goals')
    ap.add_argument('--ckpt', default=DEFAULT_CKPT)
    ap.add_argument('--reach', type=int, default=0, metavar='N',
                    help='instead of latency: N seeded goals through ReachGoal vs rollouts')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--max-steps', type=int, default=150)
    ap.add_argument('--log-dir', default=None)
    ap.add_argument('--no-write', action='store_true', help='do not touch BENCHMARKS.md')
    args = ap.parse_args(argv)
    ros_env()
    from jepa_ros.nodes.lifecycle_util import resolve_path
    ckpt = resolve_path(args.ckpt)
    if not os.path.exists(ckpt):
        print(f'{args.ckpt} not found (train it first: make train)', file=sys.stderr)
        return 2
    cmd = 'python -m jepa_ros.tools.bench_latency' + (' --quick' if args.quick else '')
    if args.reach:
        return reach_main(args, ckpt, cmd + f' --reach {args.reach}')
    seconds = 5.0 if args.quick else 20.0
    rows = bench_latency(ckpt, seconds, args.log_dir)
    for r in rows:
        print(json.dumps(r))
    if not args.no_write:
        from jepa_ros.tools.benchmarks import write_section
        write_section('latency', 'ROS graph latency and rates', cmd,
                      latency_markdown(rows, args.ckpt, seconds))
    return 0


def reach_main(args, ckpt, cmd):
    from jepa_ros.nodes.graph import node_params
    from jepa_ros.nodes.lifecycle_util import resolve_path
    wm = node_params('world_model', 'two_rooms')
    cf = node_params('configurator', 'two_rooms')
    tasks = reference_tasks(args.reach, args.seed)
    t0 = time.monotonic()
    ros = ros_reach(ckpt, args.reach, args.seed, args.max_steps, args.log_dir,
                    progress=lambda r: print('ros', r, flush=True))
    ros_s = time.monotonic() - t0
    # configurator values win over world_model's (it pushes them)
    ref = reference_success(ckpt, tasks, node_planning_params(wm, cf), args.max_steps,
                            execute_steps=max(1, round(10.0 / wm['plan_rate'])),
                            critic=resolve_path(wm['critic_checkpoint'])
                            if wm['critic_checkpoint'] else None)
    ros_rate = sum(s for s, _, _ in ros) / len(ros)
    ref_rate = sum(r.success for r in ref) / len(ref)
    print(f'ros {ros_rate:.2f} reference {ref_rate:.2f}')
    if not args.no_write:
        from jepa_ros.tools.benchmarks import md_table, write_section
        rows = [[i, 'cross' if t.cross_room else 'same', f'{t.true_distance:.2f}',
                 'yes' if ros[i][0] else 'no', f'{ros[i][2]:.1f}',
                 'yes' if ref[i].success else 'no', ref[i].steps]
                for i, t in enumerate(tasks)]
        body = (f'{args.reach} goals, sim_bridge seed {args.seed}, planner `{cf["planner"]}` '
                f'(horizon {cf["horizon"]}, budget {cf["budget_s"]} s), max '
                f'{args.max_steps} steps; ROS: multi-process graph, ReachGoal client, '
                f'success = simulator ground truth; reference: `jepa_ros.core.rollouts.'
                f'run_episode` on the same start/goal pairs and planner settings.\n\n'
                f'**ROS success {100 * ros_rate:.0f} %, reference {100 * ref_rate:.0f} %** '
                f'(difference {100 * abs(ros_rate - ref_rate):.0f} points; ROS wall time '
                f'{ros_s:.0f} s)\n\n'
                + md_table(['goal', 'rooms', 'true distance m', 'ROS success', 'ROS s',
                            'reference success', 'reference steps'], rows) + '\n')
        write_section('ros_reach_goal', 'Goal reaching through the ROS graph', cmd, body)
    return 0


if __name__ == '__main__':
    sys.exit(main())
