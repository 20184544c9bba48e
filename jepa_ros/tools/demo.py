"""`jepa-ros demo` (what `make demo` runs): the whole architecture, end to end, with a report.

1. Make sure the two_rooms checkpoints exist and load (train them when missing,
   incompatible, or with --train).
2. Start the ROS 2 graph in this process (sim_bridge, perception, world_model, actor,
   configurator, memory recording into the run folder).
3. Send a series of seeded ReachGoal goals (goal images sampled by the simulator) from a
   separate client node (jepa_ros.nodes.stack_client.StackClient, on its own context),
   printing per goal: reached or not, steps, energy.
4. Write runs/<timestamp>/: report.md/html, plots, episode GIF, the MCAP recording, config.
"""
import datetime
import json
import os
import threading
import time

import numpy as np

from jepa_ros.tools import make_train
from jepa_ros.tools.report import GoalRecord, RunRecord, write_report

CRITIC_WEIGHT = 1.0  # as in `jepa-ros eval planning` (docs/BENCHMARKS.md)


def add_arguments(parser):
    parser.add_argument('--world', default='two_rooms', choices=['two_rooms'],
                        help='simulated world (the shipped checkpoints are for two_rooms)')
    parser.add_argument('--goals', type=int, default=10, help='number of goal images (>= 1)')
    parser.add_argument('--seed', type=int, default=0, help='seed of the goal series')
    parser.add_argument('--goal-timeout', type=float, default=30.0,
                        help='seconds allowed per goal (sim runs in real time)')
    parser.add_argument('--planner', default=None,
                        help='Mode-2 planner (gd, cem, mppi, hierarchical); default from config')
    parser.add_argument('--mode', default='mode2', choices=['mode2', 'mode1'],
                        help='mode2: plan with the world model; mode1: the reactive actor only')
    parser.add_argument('--train', action='store_true',
                        help='collect data and retrain world model, critic and actor first')
    parser.add_argument('--models', default=make_train.MODELS, help='checkpoint folder')
    parser.add_argument('--out', default=None, help='run folder (default runs/<timestamp>)')
    parser.add_argument('--gif-goal', type=int, default=0, help='which goal to animate')


def check_models(paths):
    """None when every checkpoint loads, else the reason (missing / incompatible)."""
    from jepa_ros.core import actor, critic  # noqa: F401  (register their checkpoint kinds)
    from jepa_ros.core.checkpoint import CheckpointError, load_checkpoint
    for kind, path in paths.items():
        if not os.path.exists(path):
            return f'{kind} checkpoint {path} is missing'
        try:
            load_checkpoint(path, kind=kind)
        except CheckpointError as exc:
            return f'{kind} checkpoint {path} is incompatible: {exc}'
    return None


def training_curves(wm_path):
    """Loss curves stored in the world-model checkpoint's provenance, if any."""
    from jepa_ros.core.checkpoint import read_checkpoint
    try:
        extra = read_checkpoint(wm_path).get('extra') or {}
    except Exception:
        return None
    curves = extra.get('curves') or (extra.get('metrics') or {}).get('curves')
    if isinstance(curves, dict):
        return {k: [float(x) for x in v] for k, v in curves.items() if isinstance(v, list)}
    return None


class LatentProbe:
    """Linear read-out latent -> (x, y) and world (x, y) -> image pixel, fitted on renders.

    Only for the report (the stack never uses ground truth): it shows where the
    latent trajectory and the planner's predicted latents lie in the room.
    """

    def __init__(self, env, model, n=300, seed=0):
        import torch
        rng = np.random.default_rng(seed)
        states, images = [], []
        for _ in range(n):
            s = np.asarray(env.sample_goal(rng), dtype=np.float64)
            states.append(s)
            images.append(env.render_state(s))
        states, images = np.asarray(states), np.asarray(images)
        with torch.no_grad():
            z = model.encode(images).cpu().numpy().astype(np.float64)
        self.w = _ridge(z, states[:, :2])
        # Pixel position of the robot = centroid of where the image differs from the
        # per-pixel median (the empty arena): fitted affine world -> pixel.
        bg = np.median(images.astype(np.float32), axis=0)
        px = []
        for img in images:
            diff = np.abs(img.astype(np.float32) - bg).sum(axis=2)
            ys, xs = np.nonzero(diff > 60)
            px.append([xs.mean(), ys.mean()] if len(xs) else [np.nan, np.nan])
        px = np.asarray(px)
        ok = np.all(np.isfinite(px), axis=1)
        self.px = _ridge(states[ok, :2], px[ok], alpha=1e-6)

    def xy(self, latents):
        z = np.atleast_2d(np.asarray(latents, dtype=np.float64))
        return np.c_[z, np.ones(len(z))] @ self.w

    def pixels(self, xy):
        xy = np.atleast_2d(np.asarray(xy, dtype=np.float64))
        return np.c_[xy, np.ones(len(xy))] @ self.px


def _ridge(x, y, alpha=1e-3):
    xa = np.c_[x, np.ones(len(x))]
    reg = alpha * np.eye(xa.shape[1])
    reg[-1, -1] = 0.0
    return np.linalg.solve(xa.T @ xa + reg, xa.T @ y)


class GifRecorder:
    """Camera frames of the animated goal, each with the plan's predicted latents at that
    time, and the goal image; fed by the StackClient's executor thread."""

    def __init__(self, client, latent_dim):
        from sensor_msgs.msg import Image
        from jepa_ros.nodes.qos import LATCHED_QOS, SENSOR_QOS
        self.client, self.latent_dim = client, latent_dim
        self.lock = threading.Lock()
        self.recording = False
        self.frames, self.plan_paths = [], []
        self.goal_image = None
        client.subscribe(Image, 'camera/image_raw', self._on_image, SENSOR_QOS)
        client.subscribe(Image, 'goal/image_raw', self._on_goal_image, LATCHED_QOS)

    def latest_plan_latents(self):
        plans = self.client.plans
        if not plans or not self.latent_dim:
            return None
        lat = np.asarray(plans[-1].msg.predicted_latents, dtype=np.float32)
        return lat.reshape(-1, self.latent_dim) if lat.size and \
            lat.size % self.latent_dim == 0 else None

    def _on_image(self, msg):
        if self.recording:
            from jepa_ros.nodes.messages import image_to_rgb
            with self.lock:
                self.frames.append(image_to_rgb(msg))
                self.plan_paths.append(self.latest_plan_latents())

    def _on_goal_image(self, msg):
        from jepa_ros.nodes.messages import image_to_rgb
        self.goal_image = image_to_rgb(msg)


def command_latencies_ms(states, cmds):
    """Image stamp -> command, as seen by a subscriber: for every moving command, its
    receipt time minus the stamp of the newest latent state received before it (that
    stamp is the stamp of the image it was encoded from: an upper bound on the actor's
    own latency). `states`, `cmds`: StackClient records."""
    from jepa_ros.nodes.stack_client import twist_of
    out, i, stamp = [], 0, None
    for c in sorted(cmds, key=lambda r: r.receipt):
        while i < len(states) and states[i].receipt <= c.receipt:
            stamp = states[i].stamp
            i += 1
        t = twist_of(c.msg)
        if stamp is not None and (t.linear.x or t.linear.y or t.angular.z):
            out.append(1000.0 * (c.receipt - stamp))
    return out


def run_demo(world='two_rooms', goals=10, seed=0, goal_timeout=30.0, planner=None,
             mode='mode2', train=False, models_dir=make_train.MODELS, out=None, gif_goal=0,
             log=print):
    import torch
    from jepa_ros.core.checkpoint import load_checkpoint
    from jepa_ros.nodes.graph import start_graph
    from jepa_ros.nodes.stack_client import StackClient
    from jepa_ros.sim import make_env
    if goals < 1:
        raise ValueError('--goals must be at least 1')
    if goal_timeout <= 0:
        raise ValueError('--goal-timeout must be positive')
    stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
    run_dir = os.path.abspath(out or os.path.join('runs', stamp))
    os.makedirs(run_dir, exist_ok=True)
    paths = make_train.model_paths(world, models_dir)
    t_start = time.monotonic()

    reason = None if train else check_models(paths)
    curves = None
    if train or reason:
        log(f'[demo] training ({reason or "requested"}) - this takes several minutes')
        make_train.train_all(world, os.path.join(run_dir, 'train_data'), models_dir, log=log)
        reason = check_models(paths)
        if reason:
            raise RuntimeError(f'training finished but {reason}')
        curves = training_curves(paths['world_model'])

    torch.set_num_threads(1)
    model, _ = load_checkpoint(paths['world_model'], kind='world_model')
    model.eval()
    latent_dim = int(model.config.latent_dim)
    env = make_env(world)
    env.reset(seed=seed)
    log('[demo] fitting the report\'s latent read-out (ground truth is used for the report only)')
    probe = LatentProbe(env, model, seed=seed)
    env.close()

    overrides = {
        'sim_bridge': {'seed': int(seed)},
        'perception': {'checkpoint': paths['world_model']},
        # The shipped critic as a terminal cost term, weighted as in the planning benchmark.
        'world_model': {'checkpoint': paths['world_model'], 'critic_checkpoint': paths['critic'],
                        'cost.critic.weight': CRITIC_WEIGHT},
        'actor': {'checkpoint': paths['world_model'], 'actor_checkpoint': paths['actor'],
                  'mode': mode},
        'configurator': {'mode': mode, 'cost.critic.weight': CRITIC_WEIGHT},
        'memory': {'data_dir': run_dir, 'session': 'recording'},
    }
    if planner:
        overrides['world_model']['planner'] = planner
        overrides['configurator']['planner'] = planner
    config = {'world': world, 'goals': goals, 'seed': seed, 'goal_timeout_s': goal_timeout,
              'mode': mode, 'planner': planner or 'config default', 'models': paths,
              'overrides': overrides, 'trained': bool(curves is not None or train)}
    with open(os.path.join(run_dir, 'config.json'), 'w') as f:
        json.dump(config, f, indent=2, default=str)

    log(f'[demo] starting the ROS 2 graph ({world}) ...')
    graph = start_graph(world, overrides=overrides)
    client = gif_rec = None
    records = []
    gif = {'frames': [], 'paths': [], 'goal': None}
    t_graph = time.monotonic()
    try:
        client = StackClient('jepa_demo_client', world=world, own_context=True,
                             spin_thread=True)
        gif_rec = GifRecorder(client, latent_dim)
        client.wait_up(timeout_s=30.0, sim=False, states=False)
        for i in range(goals):
            energies = []
            n_odom, n_states = len(client.odoms), len(client.states)
            gif_rec.recording = i == gif_goal
            t0 = time.monotonic()
            modes = set()

            def on_feedback(fb, energies=energies, modes=modes):
                energies.append(float(fb.feedback.energy))
                modes.add(fb.feedback.mode)

            response = client.reach(goal_timeout, on_feedback, slack_s=20.0)
            result = response.result if response is not None else None
            gif_rec.recording = False
            xy = [(m.msg.pose.pose.position.x, m.msg.pose.pose.position.y)
                  for m in client.odoms[n_odom:]]
            lat = [np.asarray(m.msg.data, dtype=np.float32) for m in client.states[n_states:]]
            status = client.goal_status()
            goal_xy = (status.get('goal_state') or [None])[:2] if status.get('goal_state') \
                else None
            if result is None:
                rec = GoalRecord(index=i, success=False, steps=len(energies),
                                 final_energy=float(energies[-1]) if energies else float('nan'),
                                 message='no result (timeout)')
            else:
                rec = GoalRecord(index=i, success=bool(result.success), steps=int(result.steps),
                                 final_energy=float(result.final_energy),
                                 message=result.message)
            rec.mode = mode if len(modes) <= 1 else '+'.join(sorted(modes))
            rec.energies = energies
            rec.true_xy = [list(p) for p in xy]
            rec.probe_xy = probe.xy(np.asarray(lat)).tolist() if lat else []
            rec.goal_xy = list(goal_xy) if goal_xy is not None else None
            rec.wall_s = time.monotonic() - t0
            if status.get('distance') is not None:
                rec.message = (rec.message +
                               f'; true distance {status["distance"]:.2f} m').strip('; ')
            records.append(rec)
            if i == gif_goal:
                with gif_rec.lock:
                    gif['frames'] = list(gif_rec.frames)
                    gif['paths'] = [probe.pixels(probe.xy(p)).tolist() if p is not None else []
                                    for p in gif_rec.plan_paths]
                gif['goal'] = gif_rec.goal_image
            log(f'[demo] goal {i + 1}/{goals}: {"REACHED" if rec.success else "missed"} '
                f'in {rec.steps} steps, final energy {rec.final_energy:.3f} '
                f'({rec.wall_s:.1f} s) {rec.message}')
        elapsed = time.monotonic() - t_graph
        rates = {'plan (jepa/plan)': len(client.plans) / elapsed,
                 'control (cmd_vel)': len(client.cmds) / elapsed,
                 'perception (jepa/state)': len(client.states) / elapsed}
        actor_diag = client.diag_values('actor')
        modes_count = {k: int(actor_diag[k]) for k in ('plan', 'mode1', 'stop')
                       if k in actor_diag and str(actor_diag[k]).isdigit()}
        plan_ms = [float(m.msg.compute_ms) for m in client.plans]
        latency = command_latencies_ms(list(client.states), list(client.cmds))
    finally:
        if client is not None:
            client.close()
        graph.stop()

    recording = os.path.join(run_dir, 'recording')
    run = RunRecord(world=world, goals=records, plan_ms=plan_ms, latency_ms=latency,
                    rates=rates, modes=modes_count, training=curves, config=config,
                    gif_frames=gif['frames'], gif_goal=gif['goal'], gif_paths_px=gif['paths'],
                    recording=os.path.relpath(recording, run_dir) if os.path.isdir(recording)
                    else '')
    out_files = write_report(run, run_dir)
    s = out_files['summary']
    log(f'[demo] {s["successes"]}/{s["goals"]} goals reached; plan p50 '
        f'{s["plan_ms_p50"]:.1f} ms; total {time.monotonic() - t_start:.0f} s')
    log(f'[demo] report: {out_files["report_md"]}')
    log(f'[demo]         {out_files["report_html"]}')
    return run_dir, out_files


def run(args):
    run_demo(world=args.world, goals=args.goals, seed=args.seed, goal_timeout=args.goal_timeout,
             planner=args.planner, mode=args.mode, train=args.train, models_dir=args.models,
             out=args.out, gif_goal=args.gif_goal)
    return 0
