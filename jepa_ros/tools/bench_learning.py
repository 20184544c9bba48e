"""Benchmark `learning`: the robot learns from its own experience (issue 15).

The robot starts with a world model and critic trained only on data from the left room of
two_rooms with the door blocked: it has never seen the right room or an open door, and
cannot reach goals there. Then it acts in the normal world (door open): it explores with
the planner (the curiosity cost term rewards latent states unlike those it remembers)
mixed with plain exploration, its episodes go to the learner, and the learner
(jepa_ros.core.learner) fine-tunes world model and critic on new plus replayed old data,
validates each candidate on held-out recordings and seeded sim tasks, and swaps it in only
if it is not worse. Each accepted version is scored on fixed cross-room and same-room tasks
(the evaluation clock is paused: it only measures), which gives the curve over the wall
time of the loop (acting + learning).

    python -m jepa_ros.tools.bench_learning --out runs/learning --minutes 30
"""
import argparse
import json
import os
import sys
import time

import numpy as np


def one_room_start(env, rng, room='left'):
    xy = env.layout.sample_position(rng, room)
    return np.array([xy[0], xy[1], 0.0])


def collect_one_room(out, episodes, steps, seed, room='left', log=print):
    """Exploration episodes that never leave `room`: the door is blocked and every episode
    starts there. Returns the episode paths."""
    from jepa_ros.data.episodes import write_episode
    from jepa_ros.sim import make_env
    from jepa_ros.sim.exploration import ExplorationPolicy
    from jepa_ros.tools.collect import collect_episode, episode_path

    os.makedirs(out, exist_ok=True)
    env = make_env('two_rooms')
    rng = np.random.default_rng(seed)
    policy = ExplorationPolicy(env.action_space.shape[0], rng)
    meta = dict(env.data_meta(), source='bench_learning one-room', policy='ExplorationPolicy',
                room=room)
    paths = []
    try:
        for i in range(episodes):
            path = episode_path(out, seed, i)
            options = {'door_open': False, 'start_state': one_room_start(env, rng, room)}
            images, actions, states, _ = collect_episode(env, policy, steps, seed + i, options)
            if any(env.layout.room_of(s) != room for s in states):
                raise RuntimeError('a one-room episode left its room')
            write_episode(path, images, actions, states, dict(meta, seed=seed + i))
            paths.append(path)
    finally:
        env.close()
    log(f'wrote {len(paths)} one-room episodes x {steps} frames to {out}')
    return paths


PLANNING = {'planner': 'gd', 'horizon': 12, 'cost.terminal_weight': 4.0,
            'cost.critic.weight': 1.0}


def planning(model, critic, values):
    from jepa_ros.core.planners import build_planning
    return build_planning(values, model, critic=critic, action_dim=model.config.action_dim)


def make_task_success(tasks, max_steps, values=PLANNING):
    """success(world_model, critic) -> success rate on `tasks` (the learner's sim check)."""
    from jepa_ros.core.rollouts import evaluate
    from jepa_ros.sim import make_env
    env = make_env('two_rooms')

    def success(model, critic):
        planner, cost = planning(model, critic, values)
        results = evaluate(env, model, planner, cost, tasks, max_steps)
        return float(np.mean([r.success for r in results]))
    return success


class Explorer:
    """The robot between evaluations: it keeps going from where it stopped, towards a
    random goal image with the curiosity term on (`curious`), or driven by the smooth
    random exploration policy (`plain`); `mixed` alternates. Its episodes are what the
    memory would record."""

    def __init__(self, env, rng, steps, mode, novelty_weight, memory):
        from jepa_ros.sim.exploration import ExplorationPolicy
        self.env, self.rng, self.steps, self.mode = env, rng, steps, mode
        self.novelty_weight, self.memory = novelty_weight, memory
        self.random_policy = ExplorationPolicy(env.action_space.shape[0], rng)
        self.state = None
        self.count = 0
        self.crossings = {'curious': [0, 0], 'plain': [0, 0]}

    def kind(self):
        if self.mode == 'mixed':
            return 'curious' if self.count % 2 == 0 else 'plain'
        return self.mode

    def episode(self, model, critic, remembered):
        """-> (images, actions, states) of one episode with the running models."""
        import torch

        from jepa_ros.core.planners import RecedingHorizon
        from jepa_ros.core.rollouts import encode_image
        env, base = self.env, self.env.unwrapped
        kind = self.kind()
        self.count += 1
        start = self.state if self.state is not None else one_room_start(base, self.rng)
        goal = base.sample_goal(self.rng)
        try:
            obs, info = env.reset(options={'start_state': start, 'goal_state': goal,
                                           'door_open': True})
        except ValueError:   # stopped touching a wall: start again nearby, in the same room
            start = one_room_start(base, self.rng, base.layout.room_of(start))
            obs, info = env.reset(options={'start_state': start, 'goal_state': goal,
                                           'door_open': True})
        images, actions, states = [], [], []
        if kind == 'curious':
            values = dict(PLANNING, **{'cost.terms': ['goal', 'critic', 'novelty'],
                                       'cost.novelty.weight': self.novelty_weight})
            planner, cost = planning(model, critic, values)
            controller = RecedingHorizon(planner, cost)
            controller.reset()
            goal_latent = encode_image(model, base.goal_image)
            visited = list(remembered)
        else:
            self.random_policy.reset()
        for _ in range(self.steps):
            if kind == 'curious':
                latent = encode_image(model, obs)
                visited.append(latent)
                cost.set_visited(torch.stack(visited[-self.memory:]))
                planned, _ = controller.act(latent, goal_latent)
                action = planned[0].detach().cpu().numpy().astype(np.float32)
            else:
                action = self.random_policy(obs)
            images.append(obs)
            actions.append(action)
            states.append(info['state'])
            obs, _, _, _, info = env.step(action)
        self.state = np.asarray(info['state'], dtype=float)
        rooms = {base.layout.room_of(s) for s in states}
        self.crossings[kind][0] += len(rooms) > 1
        self.crossings[kind][1] += 1
        return np.stack(images), np.stack(actions), np.stack(states)


def curve_point(model, critic, tasks, max_steps, values=PLANNING):
    """{task kind: success rate} of the running models on the fixed curve tasks."""
    from jepa_ros.core.rollouts import evaluate
    from jepa_ros.sim import make_env
    env = make_env('two_rooms')
    try:
        out = {}
        planner, cost = planning(model, critic, values)
        for kind, ts in tasks.items():
            results = evaluate(env, model, planner, cost, ts, max_steps)
            out[kind] = float(np.mean([r.success for r in results]))
        return out
    finally:
        env.close()


def run_loop(args, log=print):
    import torch

    from jepa_ros.core.checkpoint import load_checkpoint, model_version
    from jepa_ros.core.critic import load_frozen_critic
    from jepa_ros.core.learner import Learner, LearnerConfig
    from jepa_ros.core.rollouts import encode_image, make_tasks
    from jepa_ros.data.episodes import Episode, load_episodes, write_episode
    from jepa_ros.sim import make_env

    torch.set_num_threads(args.threads)
    init = os.path.join(args.out, 'init')
    model, _ = load_checkpoint(os.path.join(init, 'world_model.pt'))
    model.eval().requires_grad_(False)
    critic = load_frozen_critic(os.path.join(init, 'critic.pt'))
    env = make_env('two_rooms')
    base = env.unwrapped
    curve_tasks = {kind: make_tasks(env, args.curve_tasks, args.curve_seed, kind)
                   for kind in ('cross_room', 'same_room')}
    check_tasks = make_tasks(env, args.check_tasks, args.check_seed, 'any')
    learner = Learner(model, critic, os.path.join(args.out, 'versions'), LearnerConfig(
        world_model_budget_s=args.round_budget, critic_budget_s=args.critic_budget,
        seed=args.seed), task_success=make_task_success(check_tasks, args.max_steps),
        say=log)
    learner.set_running(model, critic, model_version(os.path.join(init, 'world_model.pt')))
    old = load_episodes(os.path.join(args.out, 'one_room'))
    learner.add_episodes(old, new=False)
    def frames_seen(model, episodes):   # the curious robot's memory: every 5th frame
        return [encode_image(model, ep.images[i]) for ep in episodes
                for i in range(0, len(ep), 5)]
    remembered = frames_seen(model, old[:20])
    explorer = Explorer(env, np.random.default_rng(args.seed), args.steps, args.explore,
                        args.novelty_weight, args.novelty_memory)
    curve, loop_s = [], 0.0

    def point(version, note):
        t0 = time.monotonic()
        p = curve_point(learner.world_model, learner.critic, curve_tasks, args.max_steps)
        curve.append(dict(p, loop_s=round(loop_s, 1), version=version, note=note,
                          eval_s=round(time.monotonic() - t0, 1)))
        log(f'[curve] t={loop_s:.0f}s {version}: ' +
            ', '.join(f'{k} {v:.0%}' for k, v in p.items()))
        save()

    def save():
        with open(os.path.join(args.out, 'learning.json'), 'w') as f:
            json.dump({'args': vars(args), 'curve': curve, 'crossings': explorer.crossings,
                       'decisions': decisions, 'command': 'python -m jepa_ros.tools.'
                       'bench_learning ' + ' '.join(sys.argv[1:])}, f, indent=1)

    decisions = []
    point(learner.version, 'initial: one room, door blocked')
    rec_dir = os.path.join(args.out, 'recorded')
    os.makedirs(rec_dir, exist_ok=True)
    meta = dict(base.data_meta(), source='bench_learning explorer')
    n_rec = 0
    while loop_s < args.minutes * 60:
        t0 = time.monotonic()
        new = []
        for _ in range(args.episodes_per_round):
            images, actions, states = explorer.episode(learner.world_model, learner.critic,
                                                       remembered)
            path = os.path.join(rec_dir, f'episode_{n_rec:05d}.mcap')
            write_episode(path, images, actions, states, dict(meta, seed=n_rec))
            n_rec += 1
            new.append(Episode(images=images, actions=actions, states=states,
                               meta=dict(meta, seed=n_rec - 1), path=path))
        learner.add_episodes(new)
        decision = learner.round()
        loop_s += time.monotonic() - t0
        decisions.append(dict(decision.to_dict(), loop_s=round(loop_s, 1)))
        if decision.accepted:
            remembered = frames_seen(learner.world_model, old[:20] + new)
            point(decision.version, f'round {decision.round}')
        else:
            save()
    env.close()
    save()
    return curve


def prepare(args, log=print):
    """One-room data and the starting models (world model + critic), by the public CLI."""
    from jepa_ros import cli
    data = os.path.join(args.out, 'one_room')
    init = os.path.join(args.out, 'init')
    t0 = time.monotonic()
    collect_one_room(data, args.episodes, args.one_room_steps, args.seed, log=log)
    wm, critic = os.path.join(init, 'world_model.pt'), os.path.join(init, 'critic.pt')
    for argv in (['train', 'world-model', '--data', data, '--out', wm, '--time-budget',
                  str(args.init_budget), '--threads', str(args.threads), '--seed',
                  str(args.seed)],
                 ['train', 'critic', '--data', data, '--ckpt', wm, '--out', critic,
                  '--seed', str(args.seed), '--time-limit', str(args.critic_budget * 2)]):
        log(f'[prepare] jepa-ros {" ".join(argv)}')
        if cli.main(argv) != 0:
            raise RuntimeError(f'jepa-ros {" ".join(argv)} failed')
    return time.monotonic() - t0


def pct(x):
    return 'n/a' if x is None else f'{100 * x:.0f} %'


def section_body(result, prepare_s=None):
    """Markdown of a finished run (learning.json)."""
    from jepa_ros.tools.benchmarks import md_table
    a = result['args']
    rows = [[f"{p['loop_s'] / 60:.1f}", p['version'], p['note'], pct(p.get('cross_room')),
             pct(p.get('same_room'))] for p in result['curve']]
    dec = []
    for d in result['decisions']:
        f = d['figures']
        if not f:
            continue
        dec.append([d['round'], 'accepted' if d['accepted'] else 'refused', d['version'],
                    f.get('experience'), f.get('replayed'), f.get('world_model_steps'),
                    f"{f['prediction_ratio']:.3f} / {f['running_prediction_ratio']:.3f}",
                    f"{pct(f.get('task_success'))} / {pct(f.get('running_task_success'))}",
                    f.get('round_s')])
    cross = result['crossings']
    first, last = result['curve'][0], result['curve'][-1]
    best = max(p.get('cross_room', 0.0) for p in result['curve'])
    text = [
        f"Start: a world model and critic trained only on {a['episodes']} episodes x "
        f"{a.get('one_room_steps', 100)} frames from the left room of two_rooms with the "
        'door blocked'
        + (f' ({prepare_s:.0f} s, collection included)' if prepare_s else '') + '. '
        f"Then {a['minutes']:.0f} minutes of loop wall time on {a['threads']} torch thread(s): "
        f"the robot runs {a['episodes_per_round']} episodes of {a['steps']} steps per round "
        f"(`{a['explore']}` exploration), the learner fine-tunes for {a['round_budget']:.0f} s "
        f"+ critic {a['critic_budget']:.0f} s, validates on held-out recordings and "
        f"{a['check_tasks']} seeded `any` tasks (seed {a['check_seed']}), and keeps the "
        'candidate only within the margins (jepa_ros.core.learner.LearnerConfig). After each '
        f"accepted version the curve is measured on the same {a['curve_tasks']} cross_room and "
        f"{a['curve_tasks']} same_room tasks (seed {a['curve_seed']}, gd + critic, "
        f"{a['max_steps']} steps; the loop clock is paused while it measures).",
        '',
        md_table(['loop minutes', 'version', 'after', 'cross_room', 'same_room'], rows),
        '',
        f"Cross-room success {pct(first.get('cross_room'))} -> {pct(last.get('cross_room'))} "
        f"(best {pct(best)}), same-room {pct(first.get('same_room'))} -> "
        f"{pct(last.get('same_room'))}. Target (issue 15): cross-room from <= 20 % to >= 80 % "
        f"within 30 minutes, same-room not collapsing: "
        f"{'met' if best >= 0.8 and first.get('cross_room', 1) <= 0.2 else 'missed'}."
        + (f" {result['conditions']}" if result.get('conditions') else ''),
        '',
        'Decisions (prediction: held-out 4-step error / copy-last error, candidate / running; '
        'tasks: candidate / running):',
        '',
        md_table(['round', 'decision', 'version', 'experience eps', 'replayed eps',
                  'fine-tune steps', 'prediction', 'tasks', 'round s'], dec),
        '',
        'Exploration episodes that visited both rooms: ' + ', '.join(
            f'{k} {v[0]}/{v[1]}' for k, v in cross.items() if v[1]) + '.',
    ]
    return '\n'.join(text)


def plot_curve(result, path):
    """The learning curve (success over loop minutes) as a PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    curve = result['curve']
    minutes = [p['loop_s'] / 60 for p in curve]
    end = max([d.get('loop_s', 0) / 60 for d in result['decisions']] + minutes)
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=100)
    for kind, style in (('cross_room', 'o-'), ('same_room', 's--')):
        values = [100 * p[kind] for p in curve]   # the running version holds to the end
        line, = ax.plot(minutes + [end], values + values[-1:], style[1:],
                        drawstyle='steps-post', label=kind.replace('_', '-'))
        ax.plot(minutes, values, style[0], color=line.get_color())
    for d in result['decisions']:
        if d['figures'] and not d['accepted']:
            ax.axvline(d.get('loop_s', 0) / 60, color='grey', lw=0.5, ls=':')
    ax.set_xlabel('loop wall time (min): acting + learning')
    ax.set_ylabel('success (%)')
    ax.set_ylim(-3, 103)
    ax.grid(alpha=0.3)
    ax.legend(loc='lower right')
    ax.set_title('two_rooms: learning the second room from experience')
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', default='runs/learning')
    p.add_argument('--stage', default='all', choices=['prepare', 'loop', 'all', 'section'])
    p.add_argument('--episodes', type=int, default=120, help='one-room episodes')
    p.add_argument('--one-room-steps', type=int, default=100, help='frames per one-room episode')
    p.add_argument('--init-budget', type=float, default=420.0,
                   help='seconds of training of the starting world model')
    p.add_argument('--steps', type=int, default=150, help='frames per exploration episode')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--minutes', type=float, default=30.0, help='wall time of the loop')
    p.add_argument('--episodes-per-round', type=int, default=8)
    p.add_argument('--round-budget', type=float, default=120.0,
                   help='world model fine-tune seconds per round')
    p.add_argument('--critic-budget', type=float, default=45.0)
    p.add_argument('--explore', default='mixed', choices=['mixed', 'curious', 'plain'])
    p.add_argument('--novelty-weight', type=float, default=1.0)
    p.add_argument('--novelty-memory', type=int, default=2000)
    p.add_argument('--curve-tasks', type=int, default=20)
    p.add_argument('--curve-seed', type=int, default=0)
    p.add_argument('--check-tasks', type=int, default=10)
    p.add_argument('--check-seed', type=int, default=1000)
    p.add_argument('--max-steps', type=int, default=150)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--quick', action='store_true', help='small smoke run, not for the record')
    p.add_argument('--no-section', action='store_true', help='do not write BENCHMARKS.md')
    p.add_argument('--also', nargs='*', default=[],
                   help='with --stage section: runs (their --out) added to the section')
    args = p.parse_args(argv)
    if args.quick:
        args.episodes, args.init_budget, args.minutes, args.round_budget = 12, 30.0, 2.0, 15.0
        args.critic_budget, args.curve_tasks, args.check_tasks = 5.0, 4, 3
        args.episodes_per_round, args.steps, args.max_steps = 5, 40, 60
    prepare_s = None
    if args.stage in ('prepare', 'all'):
        prepare_s = prepare(args)
    if args.stage in ('loop', 'all'):
        run_loop(args)
    if args.stage in ('loop', 'all', 'section') and not (args.quick or args.no_section):
        from jepa_ros.tools.benchmarks import BENCH_FILE, write_section
        with open(os.path.join(args.out, 'learning.json')) as f:
            result = json.load(f)
        cmd = result.get('command') or \
            'python -m jepa_ros.tools.bench_learning ' + ' '.join(argv or sys.argv[1:])
        png = plot_curve(result, os.path.join(os.path.dirname(BENCH_FILE), 'learning_curve.png'))
        body = (section_body(result, prepare_s or result.get('prepare_s')) +
                f'\n\n![learning curve]({os.path.basename(png)})\n')
        for other in args.also:   # further runs on the same start, other settings
            with open(os.path.join(other, 'learning.json')) as f:
                more = json.load(f)
            body += (f"\n### Also: {more.get('label') or other}\n\n"
                     f"Command: `{more.get('command', '?')}`\n\n{section_body(more)}\n")
        write_section('learning', 'Learning from experience (two_rooms, one room to both)',
                      cmd, body)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
