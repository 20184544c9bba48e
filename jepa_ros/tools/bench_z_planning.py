"""Planning under uncertainty with the latent variable z, on the shoved two_rooms world.

    python -m jepa_ros.tools.bench_z_planning [--workdir /tmp/z_model] [--tasks 100]

1. Shoved exploration episodes (`jepa-ros collect --push-prob P --push-scale S`), unless
   the work directory has them.
2. Two predictors on the latents of the shipped model's frozen encoder, trained the same
   way on those episodes (as bench_world_model's z experiment): a deterministic one and
   one with z (`z_dim` 4, `z_codes` 4). One latent space, so the shipped critic applies to
   both and the comparison is about the predictors and the planner only.
3. The same seeded tasks in the shoved world (same env seed, so the same shoves when the
   robot takes the same path) for each configuration: the deterministic predictor, the z
   predictor at z = 0 (`scenarios` 1), and the z predictor under K scenarios with the
   expected cost (`risk` mean) and a risk-sensitive one (`risk` cvar).
   Success = simulator ground truth; wall contacts = steps that end with the robot
   touching a wall (pybullet contact points of the robot; the floors do not collide).

Writes the section `z_planning` of docs/BENCHMARKS.md (--no-write: print only).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

SHIPPED = 'models/two_rooms_world_model.pt'
CRITIC = 'models/two_rooms_critic.pt'


def _cli(args):
    subprocess.run([sys.executable, '-m', 'jepa_ros.cli', *args], check=True)


def collect(out, episodes, steps, seed, push_prob, push_scale):
    if os.path.isdir(out) and len([f for f in os.listdir(out) if f.endswith('.mcap')]) \
            >= episodes:
        return 0.0
    t0 = time.monotonic()
    _cli(['collect', '--world', 'two_rooms', '--episodes', str(episodes), '--steps',
          str(steps), '--out', out, '--seed', str(seed), '--push-prob', str(push_prob),
          '--push-scale', str(push_scale), '--quiet', '--overwrite'])
    return time.monotonic() - t0


def train_predictors(base_ckpt, data_dir, out_dir, steps, seed=0, z_dim=4, z_codes=4):
    """Deterministic and z predictors on the frozen encoder of `base_ckpt`; -> paths and
    training seconds. Checkpoints already in `out_dir` are reused."""
    import torch

    from jepa_ros.core.checkpoint import load_checkpoint, save_checkpoint
    from jepa_ros.core.train_world_model import FrameBank, TrainConfig, finetune_predictor
    from jepa_ros.core.world_model import WorldModel, WorldModelConfig
    from jepa_ros.data.episodes import load_episodes
    paths = {'det': os.path.join(out_dir, 'wm_det.pt'), 'z': os.path.join(out_dir, 'wm_z.pt')}
    seconds = {}
    if all(os.path.exists(p) for p in paths.values()):
        return paths, seconds
    base, base_extra = load_checkpoint(base_ckpt)
    bank = FrameBank(load_episodes(data_dir), base.config.image_size)
    latents = bank.encode_all(base)
    tc = TrainConfig(finetune_steps=steps, finetune_batch_size=256, seed=seed,
                     log_every=10 ** 6)
    for name, extra in (('det', {}), ('z', {'z_dim': z_dim, 'z_codes': z_codes})):
        if os.path.exists(paths[name]):
            continue
        cfg = WorldModelConfig.from_dict({**base.config.to_dict(), 'level2_k': 0, **extra})
        torch.manual_seed(seed)
        model = WorldModel(cfg)
        model.encoder.load_state_dict(base.encoder.state_dict())
        t0 = time.monotonic()
        summary = finetune_predictor(model, bank, latents, tc, 'cpu', log=lambda *_: None)
        seconds[name] = time.monotonic() - t0
        save_checkpoint(paths[name], model, {
            'data': {'source': os.path.abspath(data_dir), 'encoder_from': base_ckpt,
                     'episode_meta': base_extra.get('data', {}).get('episode_meta')},
            'train_config': {'finetune_steps': steps, 'seed': seed, 'frozen_encoder': True},
            'metrics': {'finetune': {k: v for k, v in summary.items()
                                     if isinstance(v, (int, float, str, bool))}}})
    return paths, seconds


def code_report(paths, eval_dir, dt=0.1):
    """What the z codes stand for, on held-out shoved episodes: share of transitions per
    inferred code, the mean ground-truth displacement not explained by the action per code
    (m), and 1-step error / copy-last error of the deterministic predictor, z = 0 and the
    best of the codes (oracle pick)."""
    import torch

    from jepa_ros.core.checkpoint import load_checkpoint
    from jepa_ros.data.episodes import load_episodes
    zm, _ = load_checkpoint(paths['z'])
    dm, _ = load_checkpoint(paths['det'])
    scale = np.asarray(zm.config.action_scale)
    err = {'det': [], 'z0': [], 'best': [], 'copy': []}
    shift = {}
    with torch.no_grad():
        for ep in load_episodes(eval_dir):
            lat = zm.encode(ep.images)
            act = torch.as_tensor(np.asarray(ep.actions, np.float32))
            s, target, a = lat[:-1], lat[1:], act[:-1]
            e = zm.codebook.energies(zm.predictor, s, a, target)
            err['z0'].append(e[:, 0])
            err['best'].append(e.min(dim=1).values)
            err['det'].append(((dm.predict(s, a) - target) ** 2).mean(-1))
            err['copy'].append(((s - target) ** 2).mean(-1))
            xy = np.asarray(ep.states)[:, :2]
            residual = (xy[1:] - xy[:-1]) - np.asarray(ep.actions)[:-1] * scale * dt
            for code, r in zip(e.argmin(dim=1).tolist(), residual):
                shift.setdefault(code, []).append(r)
    copy = float(torch.cat(err['copy']).mean())
    n = sum(len(v) for v in shift.values())
    return {'ratio': {k: float(torch.cat(v).mean()) / copy for k, v in err.items()
                      if k != 'copy'},
            'codes': {int(c): {'share': len(v) / n,
                               'mean_shift_m': np.mean(v, axis=0).round(3).tolist()}
                      for c, v in sorted(shift.items())}}


def wall_contact(env):
    """True when the robot touches a wall after the last step (the floors have no
    collision shape, so every contact point of the robot is with a wall)."""
    base = env.unwrapped
    return len(base._pb.getContactPoints(bodyA=base._robot)) > 0


def run_config(name, model, critic, values, tasks, env_kwargs, env_seed, max_steps):
    """Closed loop on `tasks`; -> dict of per-task results."""
    import torch

    from jepa_ros.core.planners import RecedingHorizon, build_planning
    from jepa_ros.core.rollouts import run_episode
    from jepa_ros.sim import make_env
    planner, cost = build_planning(values, model, critic=critic,
                                   action_dim=model.config.action_dim)
    controller = RecedingHorizon(planner, cost)
    env = make_env('two_rooms', **env_kwargs)
    out = []
    try:
        for i, task in enumerate(tasks):
            # Task i's shoves come from a generator seeded with env_seed + i: the env draws
            # one shove-or-not per step whatever the robot does, so every configuration
            # meets the same shove at the same step of the same task.
            env.reset(seed=env_seed + i)
            contacts = []

            def on_step(*_):
                contacts.append(wall_contact(env))
            t0 = time.perf_counter()
            with torch.no_grad() if values.get('planner') != 'gd' else _nullcontext():
                res = run_episode(env, model, controller, task, max_steps, on_step=on_step)
            contacts.append(wall_contact(env))
            out.append({'success': res.success, 'steps': res.steps,
                        'final_distance': res.final_distance,
                        'contact_steps': int(sum(contacts[1:])),
                        'contact': bool(any(contacts[1:])),
                        'plan_ms': float(np.median(res.plan_ms)) if res.plan_ms else math.nan,
                        'wall_s': time.perf_counter() - t0})
    finally:
        env.close()
    return out


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def summarise(rows):
    n = len(rows)
    ok = [r for r in rows if r['success']]
    return {'tasks': n, 'success': len(ok) / n,
            'mean_steps': float(np.mean([r['steps'] for r in ok])) if ok else math.nan,
            'tasks_with_contact': sum(r['contact'] for r in rows) / n,
            'contact_steps_per_task': float(np.mean([r['contact_steps'] for r in rows])),
            'plan_ms_p50': float(np.nanmedian([r['plan_ms'] for r in rows])),
            'wall_s': float(sum(r['wall_s'] for r in rows))}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--workdir', default='/tmp/z_model')
    ap.add_argument('--tasks', type=int, nargs='+', default=[100],
                    help='tasks per kind: one number for all kinds, or one per kind')
    ap.add_argument('--seed', type=int, default=0, help='task seed (and env seed)')
    ap.add_argument('--task-kinds', nargs='+', default=['any'],
                    help='task kinds (rollouts.make_tasks)')
    ap.add_argument('--max-steps', type=int, default=100)
    ap.add_argument('--planner', default='mppi', choices=['mppi', 'cem', 'gd'])
    ap.add_argument('--scenarios', type=int, default=4)
    ap.add_argument('--cvar-alpha', type=float, default=0.25)
    ap.add_argument('--push-prob', type=float, default=0.3)
    ap.add_argument('--push-scale', type=float, default=1.5)
    ap.add_argument('--train-episodes', type=int, default=100)
    ap.add_argument('--train-steps', type=int, default=1500,
                    help='predictor fine-tune steps (256 windows each)')
    ap.add_argument('--configs', nargs='+', default=None,
                    help='subset of: det, z0, z_mean, z_cvar')
    ap.add_argument('--reuse', action='store_true',
                    help='reuse the per-task results of a configuration already run with the '
                         'same settings (kept under WORKDIR/rows)')
    ap.add_argument('--no-write', action='store_true')
    ap.add_argument('--json', default=None)
    args = ap.parse_args(argv)
    if len(args.tasks) not in (1, len(args.task_kinds)):
        ap.error('--tasks takes one number or one per task kind')
    n_tasks = dict(zip(args.task_kinds, args.tasks * len(args.task_kinds)
                       if len(args.tasks) == 1 else args.tasks))

    import torch

    from jepa_ros.core.checkpoint import load_checkpoint
    from jepa_ros.core.critic import load_critic
    from jepa_ros.core.rollouts import make_tasks
    from jepa_ros.sim import make_env
    from jepa_ros.share import share_path
    torch.set_num_threads(1)
    os.makedirs(args.workdir, exist_ok=True)
    data = os.path.join(args.workdir, 'push_train')
    t_collect = collect(data, args.train_episodes, 100, 1, args.push_prob, args.push_scale)
    paths, t_train = train_predictors(share_path(SHIPPED), data, args.workdir,
                                      args.train_steps)
    held_out = os.path.join(args.workdir, 'push_eval')
    collect(held_out, 10, 100, 5000, args.push_prob, args.push_scale)
    codes = code_report(paths, held_out)
    print('codes', json.dumps(codes), flush=True)
    critic, _ = load_critic(share_path(CRITIC))
    critic.requires_grad_(False)
    env_kwargs = {'push_prob': args.push_prob, 'push_scale': args.push_scale}
    env = make_env('two_rooms', **env_kwargs)
    tasks = {kind: make_tasks(env, n_tasks[kind], args.seed, kind) for kind in args.task_kinds}
    env.close()
    base = {'planner': args.planner, 'horizon': 12, 'seed': args.seed,
            'cost.terminal_weight': 4.0, 'cost.critic.weight': 1.0}
    k, alpha = args.scenarios, args.cvar_alpha
    configs = {
        'det': ('det', {}),
        'z0': ('z', {'scenarios': 1}),
        'z_mean': ('z', {'scenarios': k, 'risk': 'mean'}),
        'z_cvar': ('z', {'scenarios': k, 'risk': 'cvar', 'cvar_alpha': alpha}),
    }
    chosen = args.configs or list(configs)
    results = {kind: {} for kind in args.task_kinds}
    for kind in args.task_kinds:
        for name in chosen:
            which, extra = configs[name]
            cache = os.path.join(
                args.workdir, 'rows', f'{kind}_{name}_n{n_tasks[kind]}_s{args.seed}_'
                f'{args.planner}_k{k}_a{alpha}_p{args.push_prob}_{args.push_scale}_'
                f'm{args.max_steps}.json')
            if args.reuse and os.path.exists(cache):
                with open(cache) as f:
                    rows = json.load(f)
            else:
                model, _ = load_checkpoint(paths[which])
                model.requires_grad_(False)
                rows = run_config(name, model, critic, {**base, **extra}, tasks[kind],
                                  env_kwargs, args.seed, args.max_steps)
                os.makedirs(os.path.dirname(cache), exist_ok=True)
                with open(cache, 'w') as f:
                    json.dump(rows, f)
            results[kind][name] = {'settings': extra, 'model': which,
                                   'summary': summarise(rows), 'rows': rows}
            print(kind, name, json.dumps(results[kind][name]['summary']), flush=True)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'args': vars(args), 'results': results, 'collect_s': t_collect,
                       'train_s': t_train, 'codes': codes}, f, indent=1)
    if not args.no_write:
        write(args, results, codes)
    return results


READING = (
    'Reading. The intrinsic cost scores the distance of predicted latents to the goal '
    'latent; it has no term for touching a wall, so a scenario changes a plan only through '
    'its expected (or worst) goal energy, and zero-mean shoves leave the expected goal '
    'energy nearly independent of the plan. The codes do carry the shoves (table above: '
    'non-zero codes on about push_prob of the transitions, each with a shove direction), '
    'and the best code predicts a shoved frame far better than z = 0, but that is hindsight. '
    '{verdict} Where it '
    'could pay: a cost that sees the risk (a clearance or collision term on predicted '
    'latents), or disturbances with a direction (wind, slopes, a door that may be '
    'blocked).\n')
VERDICT_NONE = ('Planning over sampled codes changed neither success nor wall contacts '
                'significantly (every paired sign test p >= 0.05), at about 3x the plan time, '
                'so `scenarios` stays 1 by default.')
VERDICT_SOME = ('Some paired difference is significant (p < 0.05, above): read it against '
                'the plan-time cost before changing the default (`scenarios` 1).')


def sign_test(wins, losses):
    """Two-sided sign-test p-value of `wins` against `losses` (ties left out)."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(wins, losses) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def write(args, results, codes):
    from jepa_ros.tools.benchmarks import md_table, write_section
    labels = {'det': 'deterministic predictor',
              'z0': 'z predictor, z = 0 (scenarios 1)',
              'z_mean': f'z predictor, {args.scenarios} scenarios, risk mean',
              'z_cvar': f'z predictor, {args.scenarios} scenarios, risk cvar '
                        f'(alpha {args.cvar_alpha})'}
    rows = []
    for kind, by_config in results.items():
        for name, r in by_config.items():
            s = r['summary']
            rows.append([f'`{kind}` ({s["tasks"]})', labels[name], f"{100 * s['success']:.0f} %",
                         f"{s['mean_steps']:.1f}", f"{100 * s['tasks_with_contact']:.0f} %",
                         f"{s['contact_steps_per_task']:.2f}", f"{s['plan_ms_p50']:.0f}"])
    table = md_table(['tasks (number)', 'predictor / planner', 'success', 'mean steps (successes)',
                      'tasks with a wall contact', 'contact steps per task',
                      'plan ms p50'], rows)
    code_rows = [[c, f"{100 * v['share']:.0f} %", f"{v['mean_shift_m']}"]
                 for c, v in codes['codes'].items()]
    r = codes['ratio']
    code_text = ('What the codes stand for, on 10 held-out shoved episodes (z inferred per '
                 'transition as the least-energy code): share of transitions and mean '
                 'ground-truth displacement the action does not explain (x, y in m).\n\n'
                 + md_table(['code', 'share', 'mean unexplained shift'], code_rows)
                 + f"\n\n1-step error / copy-last error on them: deterministic {r['det']:.2f}, "
                 f"z = 0 {r['z0']:.2f}, best code (oracle pick) {r['best']:.2f}.\n")
    paired, p_values = [], []
    for kind, by_config in results.items():
        ref = by_config.get('z0')
        for name in ('z_mean', 'z_cvar'):
            if ref is None or name not in by_config:
                continue
            a, b = ref['rows'], by_config[name]['rows']
            gained = sum(y['success'] and not x['success'] for x, y in zip(a, b))
            lost = sum(x['success'] and not y['success'] for x, y in zip(a, b))
            avoided = sum(x['contact'] and not y['contact'] for x, y in zip(a, b))
            new = sum(y['contact'] and not x['contact'] for x, y in zip(a, b))
            p_values += [sign_test(gained, lost), sign_test(avoided, new)]
            paired.append(
                f'- `{kind}`, {labels[name]} vs z = 0, task by task: success {gained} gained '
                f'/ {lost} lost (sign test p {sign_test(gained, lost):.2f}); wall contact '
                f'{avoided} avoided / {new} new (p {sign_test(avoided, new):.2f})')
    cmd = 'python -m jepa_ros.tools.bench_z_planning ' + ' '.join(sys.argv[1:])
    body = (f'Shoved two_rooms world (`push_prob` {args.push_prob}, `push_scale` '
            f'{args.push_scale} m/s), seeded tasks (seed '
            f'{args.seed}), max {args.max_steps} steps, planner '
            f'`{args.planner}` (horizon 12, terminal weight 4, shipped critic weight 1). '
            'Both predictors: trained on the frozen encoder of the shipped model with the '
            f'same {args.train_steps} steps on {args.train_episodes} shoved exploration '
            'episodes; the z predictor has 4 codes of size 4. Wall contact: a step that '
            'ends with the robot touching a wall. Task i runs with the env seeded '
            f'{args.seed} + i: every row meets the same shove at the same step of a task, '
            'so the task-by-task counts below are paired.\n\n' + table + '\n\n'
            + '\n'.join(paired) + '\n\n' + code_text + '\n'
            + READING.format(verdict=VERDICT_NONE if min(p_values, default=1.0) >= 0.05
                             else VERDICT_SOME))
    write_section('z_planning', 'Planning under uncertainty with z (shoved two_rooms)',
                  cmd, body)


if __name__ == '__main__':
    main()
