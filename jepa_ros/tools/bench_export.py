"""Export benchmark -> section `export` of docs/BENCHMARKS.md: CPU latency per call of torch
(eager, TorchScript) vs onnxruntime for the encoder (batch 1), the actor (batch 1), the
critic and the batched MPPI rollout (128 x 12); parity of every exported network with torch
on real sim images (fp32 and fp16); planning success of MPPI on torch vs MPPI on
onnxruntime (encoder, rollout and critic all exported) on the same seeded tasks.

    python -m jepa_ros.tools.bench_export --ckpt models/two_rooms_world_model.pt \
        --critic models/two_rooms_critic.pt --actor models/two_rooms_actor.pt --episodes 50
"""
import argparse
import os
import shlex
import sys
import tempfile
import time

import numpy as np


def add_arguments(parser):
    parser.add_argument('--ckpt', required=True)
    parser.add_argument('--critic', default=None)
    parser.add_argument('--actor', default=None)
    parser.add_argument('--world', default='two_rooms')
    parser.add_argument('--episodes', type=int, default=50,
                        help='seeded planning tasks per backend (0: no planning runs)')
    parser.add_argument('--fp16-episodes', type=int, default=None,
                        help='tasks for MPPI on the fp16 export (default: --episodes)')
    parser.add_argument('--task-kinds', default='any,cross_far',
                        help='comma-separated task kinds, --episodes tasks each (cross_far: '
                             'the long cross-room tasks, where planners differ)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--max-steps', type=int, default=100)
    parser.add_argument('--device', default='auto',
                        help='auto (cuda when available), cpu or cuda: torch modules, '
                             'TorchScript and the onnxruntime provider (CUDA when it has '
                             'it); on cuda also TensorRT when the tensorrt package is there')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads and onnxruntime intra-op threads (1: as a node)')
    parser.add_argument('--calls', type=int, default=200, help='timed calls per latency row')
    parser.add_argument('--no-write', action='store_true', help='print only')
    parser.add_argument('--quick', action='store_true',
                        help='10 tasks, fewer calls: a smoke run, not the record')


def time_calls(fn, calls, warmup=10, sync=None):
    """(median ms, p90 ms) of `calls` calls of fn() after `warmup` untimed ones; `sync`
    (torch.cuda.synchronize on a GPU) runs before the clock stops."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        out.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(out)), float(np.percentile(out, 90))


def _rel(ref, got, absolute=False):
    scale = 1.0 if absolute else float(ref.std())
    return float((got.float().to(ref.device) - ref).abs().max()) / scale if scale > 0 \
        else float('nan')


def parity(model, critic, actor, exported, images, latents, actions):
    """{network: max|diff| / std(torch output)} (actor: absolute, actions are in [-1, 1])."""
    import torch
    w = exported.world_model
    goals = latents.flip(0)
    out = {}
    with torch.no_grad():
        out['encoder'] = _rel(latents, w.encode(images))
        out['predictor_step'] = _rel(model.predict(latents, actions[:, 0]),
                                     w.predict(latents, actions[:, 0]))
        out['rollout'] = _rel(model.rollout(latents, actions), w.rollout(latents, actions))
        if model.level2 is not None and w.level2 is not None:
            s2 = model.level2.encode(latents)
            out['level2_encoder'] = _rel(s2, w.level2.encode(latents))
            out['level2_step'] = _rel(model.level2.predict(s2, actions[:, 0]),
                                      w.level2.predict(s2, actions[:, 0]))
        if critic is not None and exported.critic is not None:
            out['critic'] = _rel(critic(latents, goals), exported.critic(latents, goals))
        if actor is not None and exported.actor is not None:
            out['actor'] = _rel(actor(latents, goals), exported.actor(latents, goals), True)
    return out


def plan_eval(args, model, critic, episodes, kind):
    """MPPI (the shipped planning settings of bench_planning) on `model`: summary dict."""
    from jepa_ros.core.planners import build_planning
    from jepa_ros.core.rollouts import evaluate, make_tasks, summarise
    from jepa_ros.sim import make_env
    values = {'planner': 'mppi', 'horizon': 12, 'seed': args.seed,
              'cost.terminal_weight': 4.0, 'cost.action_smoothness.weight': 0.0,
              'cost.critic.weight': 1.0 if critic is not None else 0.0}
    planner, cost = build_planning(values, model, critic=critic,
                                   action_dim=model.config.action_dim)
    env = make_env(args.world)
    try:
        tasks = make_tasks(env, episodes, args.seed, kind)
        t0 = time.monotonic()
        results = evaluate(env, model, planner, cost, tasks, args.max_steps)
        wall = time.monotonic() - t0
    finally:
        env.close()
    summary = summarise(results)['all']
    summary['wall_s'] = wall
    summary['successes'] = [bool(r.success) for r in results]
    return summary


def _backends_to_load(device):
    """[(column, folder tag, backend, device)] this machine can run."""
    import onnxruntime as ort
    cuda = device.startswith('cuda')
    ort_device = device if cuda and 'CUDAExecutionProvider' in \
        ort.get_available_providers() else 'cpu'
    out = [('torchscript', 'torchscript', 'torch', device),
           ('onnxruntime', 'onnx', 'onnxruntime', ort_device),
           ('torchscript_fp16', 'torchscript_fp16', 'torch', device),
           ('onnxruntime_fp16', 'onnx_fp16', 'onnxruntime', ort_device)]
    if cuda:
        try:
            import tensorrt  # noqa: F401
            out += [('tensorrt', 'onnx', 'tensorrt', device),
                    ('tensorrt_fp16', 'onnx_fp16', 'tensorrt', device)]
        except ImportError:
            pass
    return out


def run(args):
    import torch

    from jepa_ros.core.actor import load_actor
    from jepa_ros.core.backends import load_exported
    from jepa_ros.core.checkpoint import load_checkpoint
    from jepa_ros.core.critic import load_frozen_critic
    from jepa_ros.core.device import pick_device
    from jepa_ros.core.export import export_checkpoint, sha256_of
    from jepa_ros.tools.benchmarks import md_table, write_section
    from jepa_ros.sim import make_env

    if args.quick:
        args.episodes, args.calls = min(args.episodes, 10), min(args.calls, 50)
    load_start = os.getloadavg()[0]
    device = pick_device(args.device)
    sync = torch.cuda.synchronize if device.startswith('cuda') else None
    fp16_episodes = args.episodes if args.fp16_episodes is None else args.fp16_episodes
    torch.set_num_threads(max(1, args.threads))
    model, _ = load_checkpoint(args.ckpt, map_location=device)
    model.requires_grad_(False)
    critic = load_frozen_critic(args.critic, device) if args.critic else None
    actor = load_actor(args.actor, device)[0].requires_grad_(False) if args.actor else None
    c = model.config

    # Real inputs: renders of seeded task states, their latents, random actions.
    env = make_env(args.world)
    rng = np.random.default_rng(args.seed)
    images = np.stack([env.render_state(s) for _ in range(16) for s in env.sample_task(rng)])
    env.close()
    gen = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():
        latents = model.encode(images)
    actions = (torch.rand(len(images), 12, c.action_dim, generator=gen) * 2 - 1).to(device)

    scratch = tempfile.TemporaryDirectory()
    folders, export_s = {}, {}
    for tag, fmt, fp16 in (('onnx', 'onnx', False), ('torchscript', 'torchscript', False),
                           ('onnx_fp16', 'onnx', True), ('torchscript_fp16', 'torchscript', True)):
        folders[tag] = os.path.join(scratch.name, tag)
        t0 = time.monotonic()
        export_checkpoint(args.ckpt, folders[tag], fmt, fp16=fp16, critic=args.critic,
                          actor=args.actor, horizon=12)
        export_s[tag] = time.monotonic() - t0
        print(f'exported {tag} in {export_s[tag]:.1f} s', file=sys.stderr)
    threads = max(1, args.threads)
    loaded, where = {}, {}
    for column, tag, backend, dev in _backends_to_load(device):
        loaded[column] = load_exported(folders[tag], backend, dev, threads=threads)
        where[column] = dev if backend != 'onnxruntime' else \
            ('CUDA provider' if 'CUDAExecutionProvider' in loaded[column].providers
             else 'CPU provider')

    # ---- parity ------------------------------------------------------------------------
    par = {name: parity(model, critic, actor, ex, images, latents, actions)
           for name, ex in loaded.items()}
    nets = list(par['onnxruntime'])
    parity_rows = [[n] + [f'{par[b][n]:.1e}' for b in loaded] for n in nets]

    # ---- latency -----------------------------------------------------------------------
    one_image = images[:1]
    z1, g1 = latents[:1], latents[1:2]
    s128 = latents.repeat(128 // len(latents) + 1, 1)[:128]
    a128 = (torch.rand(128, 12, c.action_dim, generator=gen) * 2 - 1).to(device)
    g128 = latents[1:2].expand(128, -1)
    rows = []

    def row(what, eager, call, calls):
        """eager(): the torch module call; call(exported models) -> the same call."""
        out = [what]
        with torch.no_grad():
            med, p90 = time_calls(eager, calls, sync=sync)
            out.append(f'{med:.2f} / {p90:.2f}')
            for ex in loaded.values():
                m, p = time_calls(lambda: call(ex), calls, sync=sync)
                out.append(f'{m:.2f} / {p:.2f} ({med / m:.1f}x)')
        rows.append(out)

    row('encoder, batch 1 (uint8 image in)', lambda: model.encode(one_image),
        lambda ex: ex.world_model.encode(one_image), args.calls)
    if actor is not None:
        row('actor, batch 1', lambda: actor(z1, g1), lambda ex: ex.actor(z1, g1), args.calls)
    if critic is not None:
        row('critic, batch 128', lambda: critic(s128, g128),
            lambda ex: ex.critic(s128, g128), args.calls)
    roll_calls = max(20, args.calls // 4)
    row('rollout, 128 samples x 12 steps (one MPPI iteration)',
        lambda: model.rollout(s128, a128), lambda ex: ex.world_model.rollout(s128, a128),
        roll_calls)

    # ---- planning ----------------------------------------------------------------------
    plan_rows, plan_runs = [], []
    kinds = [k for k in args.task_kinds.split(',') if k] if args.episodes > 0 else []
    for kind in kinds:
        ort32, ort16 = loaded['onnxruntime'], loaded['onnxruntime_fp16']
        runs = [(f'torch (checkpoint modules, {device})', model, critic, args.episodes),
                (f'onnxruntime fp32 (encoder, rollout, critic exported; '
                 f'{where["onnxruntime"]})', ort32.world_model,
                 ort32.critic if critic is not None else None, args.episodes)]
        if fp16_episodes > 0:
            runs.append((f'onnxruntime fp16 export ({where["onnxruntime_fp16"]})',
                         ort16.world_model, ort16.critic if critic is not None else None,
                         fp16_episodes))
        for label, m, cr, n in runs:
            s = plan_eval(args, m, cr, n, kind)
            print(f'{label} ({kind}): {100 * s["success_rate"]:.0f} % in {s["wall_s"]:.0f} s',
                  file=sys.stderr)
            plan_runs.append((kind, label, s))
            plan_rows.append([label, kind, s['episodes'], f'{100 * s["success_rate"]:.0f} %',
                              f'{s["mean_steps"]:.1f}', f'{s["plan_ms_p50"]:.1f}',
                              f'{s["plan_ms_p95"]:.1f}', f'{s["wall_s"]:.0f}'])

    # ---- report ------------------------------------------------------------------------
    files = ', '.join(f'{os.path.basename(x)} sha256 {sha256_of(x)[:12]}'
                      for x in (args.ckpt, args.critic, args.actor) if x)
    body = [f'Checkpoints: {files}. {threads} CPU thread(s) for torch and for onnxruntime '
            f'(intra-op), as a node runs with `torch_threads: 1`. Export times: '
            + ', '.join(f'{k} {v:.1f} s' for k, v in export_s.items()) + '. '
            f'Load average (1 min) at the start {load_start:.1f}, at the end '
            f'{os.getloadavg()[0]:.1f}: above 1 other jobs shared the cores and the '
            'timings (p90 most) are inflated.',
            '',
            f'**Latency per call on {device}** (onnxruntime: '
            + ', '.join(sorted({w for k, w in where.items() if 'onnxruntime' in k}))
            + '), ms median / p90 over '
            f'{args.calls} calls (rollout {roll_calls}); speed-up vs torch eager in '
            'brackets. On a CPU the fp16 columns are not float16-kernel timings: where a '
            'CPU kernel for float16 is missing onnxruntime inserts casts and computes in '
            'float32, and torch\'s CPU float16 kernels are slow; fp16 is meant for GPUs.',
            '',
            md_table(['network', 'torch eager'] + list(loaded), rows),
            '',
            f'**Parity** on {len(images)} real {args.world} renders (their latents, random '
            'actions, reversed latents as goals): max |exported - torch| / std(torch '
            'output) (the latent scale; critic: std of its steps; actor: absolute, actions '
            'in [-1, 1]). The fp32 target is <= 1e-4 (test/test_export.py checks it).',
            '',
            md_table(['network'] + list(loaded), parity_rows)]
    if plan_rows:
        body += ['',
                 f'**Planning**: MPPI (128 samples x 4 iterations, horizon 12, critic weight '
                 f'1, terminal weight 4, as in section planning) on the same seeded '
                 f'{args.world} tasks per kind (seed {args.seed}, at most {args.max_steps} '
                 'steps); the onnxruntime runs encode the camera and goal images, roll out '
                 'and score the critic with the exported networks.',
                 '',
                 md_table(['backend', 'tasks', 'episodes', 'success',
                           'mean steps (successes)', 'plan ms p50', 'plan ms p95', 'wall s'],
                          plan_rows),
                 '']
        for kind in kinds:
            by = [(label, s) for k, label, s in plan_runs if k == kind]
            ref = by[0][1]
            for label, s in by[1:]:
                same = sum(a == b for a, b in zip(ref['successes'], s['successes']))
                n = min(len(ref['successes']), len(s['successes']))
                body.append(f'- {kind}: {label.split(" (")[0]} vs torch: '
                            f'{100 * (s["success_rate"] - ref["success_rate"]):+.0f} points'
                            + (' (target for fp32: within 2 points)' if 'fp32' in label
                               else '')
                            + f'; {same} of {n} episodes end the same way.')
    if not device.startswith('cuda'):
        body += ['',
                 'Not measured here: any GPU figure (CUDA execution provider, TensorRT, fp16 '
                 'kernels): this machine has no GPU. See README, "Deploying on a Jetson".']
    text = '\n'.join(body)
    print(text)
    scratch.cleanup()
    if not args.no_write:
        command = 'python -m jepa_ros.tools.bench_export ' + ' '.join(
            shlex.quote(a) for a in sys.argv[1:])
        if device.startswith('cuda'):
            write_section('export_gpu', f'Export and inference backends ({device})', command,
                          text)
        else:
            write_section('export', 'Export and inference backends (CPU)', command, text)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
