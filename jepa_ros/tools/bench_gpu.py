"""`make bench-gpu`: one prepared, short (<= 8 min) GPU benchmark of planning and training.

    python -m jepa_ros.tools.bench_gpu --out runs/bench_gpu            # on a CUDA machine
    python -m jepa_ros.tools.bench_gpu --device cpu --out /tmp/b --horizons 4 --plans 3 \
        --planners gd,mppi_128 --train-steps 2 --train-batch 8       # CPU smoke run

Records, on the shipped two_rooms world model (models/two_rooms_world_model.pt):

* plan time (p50, p90) and plans/s of one Mode-2 re-plan (RecedingHorizon, warm start
  from the previous plan, as the world_model node plans) at horizon 12 and 16 for
  gd (the shipped 1 Adam step x 4 inits), gd with 256 inits, MPPI with 128 and 1,024
  samples (4 iterations) and hierarchical (gd at both levels);
* each in torch eager, with the world-model rollout replayed from CUDA graphs, and
  through `torch.compile` (mode reduce-overhead), in fp32 and fp16 (autocast);
  TensorRT via an exported ONNX rollout (jepa_ros.core.export / core.backends) for the
  sampling planners when the `tensorrt` package is installed;
* world-model training steps/s (the shipped architecture, batch 64) on the device and on
  the CPU, and the fp16 rollout error relative to fp32.

A row that cannot run here is recorded as skipped with the reason (no CUDA, no tensorrt,
gd needs autograd, time budget spent), a row that fails as error with the message: one
bad row never loses the others. Rows run in order of importance and stop starting once
`--budget-s` is spent. Writes OUT/bench_gpu.json and OUT/bench_gpu.md; with `--section`
(a CUDA run only) also section `gpu` of docs/BENCHMARKS.md.

torch must be a CUDA build for `--device cuda` (check: python -c "import torch;
print(torch.cuda.is_available())"); the project's lock installs the CPU wheel.
"""
import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

from jepa_ros.share import share_dir

DEFAULT_CKPT = os.path.join('models', 'two_rooms_world_model.pt')
# name -> flat planning settings (jepa_ros.core.planners names; the rest keep defaults)
PLANNER_SPECS = {
    'gd': {'planner': 'gd'},
    'gd_256': {'planner': 'gd', 'gd.num_inits': 256},
    'mppi_128': {'planner': 'mppi', 'samples': 128, 'iterations': 4},
    'mppi_1024': {'planner': 'mppi', 'samples': 1024, 'iterations': 4},
    'hierarchical': {'planner': 'hierarchical'},
}
MODES = ('eager', 'cuda_graph', 'compile', 'tensorrt')
PRECISIONS = ('fp32', 'fp16')
TARGET_MS = 5.0   # issue 14: a Mode-2 re-plan <= 5 ms (>= 200 plans/s) on one GPU


class Skip(Exception):
    """A row that cannot run on this machine (the message says why)."""


# ---- precision and rollout variants --------------------------------------------------------
def precision_context(precision, device):
    if precision == 'fp32':
        return contextlib.nullcontext()
    if not str(device).startswith('cuda'):
        raise Skip('fp16 is measured on CUDA only')
    import torch
    # cache_enabled=False: autocast's weight-cast cache must not live inside CUDA graphs.
    return torch.autocast('cuda', dtype=torch.float16, cache_enabled=False)


class GraphedRollout:
    """A `rollout(s0, actions)` replayed from CUDA graphs, one per input shape / dtype /
    grad mode (captured on first use): the predictor's many small kernels launched as one
    graph. With gradients (gd) forward and backward are captured
    (torch.cuda.make_graphed_callables), without (sampling planners) the forward only."""

    def __init__(self, rollout):
        self.rollout = rollout
        self.graphs = {}

    def __call__(self, s0, actions, *rest):
        import torch
        if rest or not s0.is_cuda:
            return self.rollout(s0, actions, *rest)
        grad = torch.is_grad_enabled() and (s0.requires_grad or actions.requires_grad)
        key = (tuple(s0.shape), tuple(actions.shape), s0.dtype, actions.dtype, grad,
               s0.requires_grad, torch.is_autocast_enabled('cuda'))
        if key not in self.graphs:
            self.graphs[key] = self._capture(s0, actions, grad)
        return self.graphs[key](s0, actions)

    def _capture(self, s0, actions, grad):
        import torch
        if grad:
            sample = (s0.detach().clone().requires_grad_(s0.requires_grad),
                      actions.detach().clone().requires_grad_(actions.requires_grad))
            return torch.cuda.make_graphed_callables(self.rollout, sample,
                                                     allow_unused_input=True)
        static_s0, static_a = s0.detach().clone(), actions.detach().clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):   # warm-up outside the graph (allocator, cuBLAS handles)
                self.rollout(static_s0, static_a)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self.rollout(static_s0, static_a)

        def replay(s, a):
            static_s0.copy_(s)
            static_a.copy_(a)
            graph.replay()
            return static_out.clone()   # the next replay overwrites static_out
        return replay


class CompiledRollout:
    """`torch.compile(rollout, mode='reduce-overhead')` (CUDA graphs under the hood). Each
    call starts a new cudagraph step and returns a copy: the planners keep slices of
    earlier rollouts, which the next replay would overwrite."""

    def __init__(self, rollout):
        import torch
        self.compiled = torch.compile(rollout, mode='reduce-overhead', dynamic=False)

    def __call__(self, *args):
        import torch
        torch.compiler.cudagraph_mark_step_begin()
        return self.compiled(*args).clone()


def patch_rollouts(model, mode, device):
    """Swap the rollout of the world model (and of its level 2) for the `mode` variant;
    -> a function that puts the originals back."""
    if mode == 'eager':
        return lambda: None
    if not str(device).startswith('cuda'):
        raise Skip(f'{mode} is measured on CUDA only')
    targets = [m for m in (model, getattr(model, 'level2', None)) if m is not None]
    for m in targets:
        if mode == 'cuda_graph':
            m.rollout = GraphedRollout(type(m).rollout.__get__(m))
        else:
            m.rollout = CompiledRollout(type(m).rollout.__get__(m))

    def restore():
        for m in targets:
            m.__dict__.pop('rollout', None)
    return restore


# ---- planning rows -------------------------------------------------------------------------
def task_latents(model, n_tasks, seed=0):
    """(starts (N,D), goals (N,D), source): encoded two_rooms renders of seeded tasks, or
    seeded random images when the simulator is not available here."""
    import torch
    rng = np.random.default_rng(seed)
    source = 'two_rooms renders'
    try:
        from jepa_ros.sim import make_env
        env = make_env(model.config.world)
        try:
            pairs = [env.sample_task(rng) for _ in range(n_tasks)]
            images = np.stack([env.render_state(s) for pair in pairs for s in pair])
        finally:
            env.close()
    except Exception as exc:   # no simulator on this machine: timing needs no real scene
        source = f'random images (no simulator: {type(exc).__name__})'
        size = model.config.image_size
        images = rng.integers(0, 256, (2 * n_tasks, size, size, 3), dtype=np.uint8)
    with torch.no_grad():
        z = model.encode(images)
    return z[0::2].contiguous(), z[1::2].contiguous(), source


def sync(device):
    import torch
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def time_plans(model, spec, horizon, starts, goals, args, device):
    """Plan times (ms) of `args.plans` re-plans after `args.warmup`: RecedingHorizon with
    the previous plan as warm start, a new task (and reset) every `args.replans` plans."""
    from jepa_ros.core.planners import RecedingHorizon, build_planning
    planner, cost = build_planning({**spec, 'horizon': horizon, 'seed': 0}, model)
    rh = RecedingHorizon(planner, cost)
    times = []
    t_first = None
    for i in range(args.warmup + args.plans):
        k = (i // args.replans) % len(starts)
        if i % args.replans == 0:
            rh.reset()
        sync(device)
        t0 = time.perf_counter()
        actions, _ = rh.act(starts[k], goals[k])
        float(actions[0, 0])   # the command leaves the device, as the node publishes it
        sync(device)
        dt = (time.perf_counter() - t0) * 1e3
        if i == 0:
            t_first = dt
        if i >= args.warmup:
            times.append(dt)
    return times, t_first


def plan_row(model, name, horizon, mode, precision, starts, goals, args, device, ckpt):
    row = {'planner': name, 'horizon': horizon, 'mode': mode, 'precision': precision}
    spec = PLANNER_SPECS[name]
    t_setup = time.perf_counter()
    if mode == 'tensorrt':
        plan_model = tensorrt_model(ckpt, horizon, precision, spec, device, args)
        restore, ctx = (lambda: None), contextlib.nullcontext()
    else:
        ctx = precision_context(precision, device)
        restore = patch_rollouts(model, mode, device)
        plan_model = model
    try:
        with ctx:
            times, first = time_plans(plan_model, spec, horizon, starts, goals, args, device)
    finally:
        restore()
    p50 = statistics.median(times)
    row.update(status='ok', plans=len(times), plan_ms_p50=round(p50, 3),
               plan_ms_p90=round(float(np.percentile(times, 90)), 3),
               plans_per_s=round(1e3 / p50, 1), first_plan_ms=round(first, 1),
               setup_s=round(time.perf_counter() - t_setup - sum(times) / 1e3, 2))
    return row


def tensorrt_model(ckpt, horizon, precision, spec, device, args):
    """The world model of an ONNX export of `ckpt` (rollout horizon `horizon`) on the
    TensorRT backend; Skip when that cannot run here."""
    if not str(device).startswith('cuda'):
        raise Skip('TensorRT runs on CUDA only')
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        raise Skip('the tensorrt package is not installed') from None
    try:
        from jepa_ros.core import backends, export
    except ImportError as exc:
        raise Skip(f'jepa_ros.core.export / backends not importable: {exc}') from None
    if backends.planner_needs_gradients(spec):
        raise Skip('gradient planning needs autograd (torch only)')
    folder = os.path.join(args.out, f'export_h{horizon}_{precision}')
    if not os.path.exists(os.path.join(folder, export.MANIFEST)):
        export.export_checkpoint(ckpt, folder, fmt='onnx', fp16=precision == 'fp16',
                                 horizon=horizon)
    return backends.load_exported(folder, 'tensorrt', device=device,
                                  parts=None).world_model


# ---- training and accuracy -----------------------------------------------------------------
def synthetic_episodes(n, length, size, seed=0):
    """Random-image episodes: training throughput does not depend on what the frames show."""
    from jepa_ros.data.episodes import Episode
    rng = np.random.default_rng(seed)
    return [Episode(images=rng.integers(0, 256, (length, size, size, 3), dtype=np.uint8),
                    actions=rng.uniform(-1, 1, (length, 2)).astype(np.float32),
                    meta={'world': 'synthetic', 'action_scale': [1.0, 1.0]})
            for _ in range(n)]


def training_row(config, device, steps, batch, warmup=2):
    """Level-1 training steps/s of the shipped architecture on `device` (after `warmup`
    steps: cuDNN autotuning and allocation are not the steady state)."""
    from jepa_ros.core.train_world_model import FrameBank, TrainConfig, train_world_model
    from jepa_ros.core.world_model import WorldModelConfig
    cfg = WorldModelConfig.from_dict({**config.to_dict(), 'level2_k': 0})
    bank = FrameBank(synthetic_episodes(8, 40, cfg.image_size), cfg.image_size)
    rates = []
    for n in (warmup, steps):
        tc = TrainConfig(steps=n, batch_size=batch, finetune_steps=0, level2_steps=0,
                         log_every=10 ** 9, warmup_steps=1)
        _, summary = train_world_model(bank, cfg, tc, device=device, log=lambda *a: None)
        rates.append(summary['steps'] / max(summary['level1_time_s'], 1e-9))
    return {'device': str(device), 'batch': batch, 'steps': steps,
            'steps_per_s': round(rates[-1], 3), 'status': 'ok'}


def fp16_rollout_error(model, starts, device, horizon=16, samples=1024):
    """max |fp16 - fp32| of a batched rollout, relative to the latent std (autocast)."""
    import torch
    if not str(device).startswith('cuda'):
        raise Skip('fp16 is measured on CUDA only')
    gen = torch.Generator(device=device).manual_seed(0)
    s0 = starts[:1].expand(samples, -1).contiguous()
    acts = torch.rand(samples, horizon, model.config.action_dim, generator=gen,
                      device=device) * 2 - 1
    with torch.no_grad():
        ref = model.rollout(s0, acts)
        with torch.autocast('cuda', dtype=torch.float16):
            half = model.rollout(s0, acts).float()
    scale = float(ref.std(dim=0).mean())
    return {'horizon': horizon, 'samples': samples,
            'max_abs_error_rel': round(float((half - ref).abs().max()) / scale, 6),
            'mean_abs_error_rel': round(float((half - ref).abs().mean()) / scale, 6),
            'latent_std': round(scale, 6), 'status': 'ok'}


# ---- the run -------------------------------------------------------------------------------
def machine(device):
    import torch
    info = {'python': platform.python_version(), 'torch': torch.__version__,
            'cpu': platform.processor() or platform.machine(), 'cores': os.cpu_count(),
            'device': str(device), 'cuda': torch.version.cuda}
    if str(device).startswith('cuda'):
        info['gpu'] = torch.cuda.get_device_name(torch.device(device))
    return info


def plan_jobs(args):
    """(mode, precision, planner, horizon) in the order they run: the eager fp32 baseline
    first, the variants after, TensorRT (slow engine builds) last."""
    jobs = []
    order = [('eager', 'fp32'), ('cuda_graph', 'fp32'), ('eager', 'fp16'),
             ('cuda_graph', 'fp16'), ('compile', 'fp32'), ('compile', 'fp16'),
             ('tensorrt', 'fp32'), ('tensorrt', 'fp16')]
    for mode, precision in order:
        if mode not in args.modes or precision not in args.precisions:
            continue
        planners = args.planners
        if mode == 'compile':   # compiling each shape takes long: the chosen few only
            planners = [p for p in planners if p in args.compile_planners]
        for name in planners:
            for h in args.horizons:
                jobs.append((mode, precision, name, h))
    return jobs


def run(args):
    import torch
    from jepa_ros.core.checkpoint import load_checkpoint
    from jepa_ros.core.device import pick_device
    t_start = time.monotonic()
    deadline = t_start + args.budget_s
    device = pick_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    ckpt = args.ckpt if os.path.isabs(args.ckpt) or os.path.exists(args.ckpt) \
        else os.path.join(share_dir(), args.ckpt)
    model, _ = load_checkpoint(ckpt, map_location=device)
    model.eval().requires_grad_(False)
    starts, goals, source = task_latents(model, args.tasks)
    results = {'machine': machine(device), 'checkpoint': os.path.abspath(ckpt),
               'settings': {k: v for k, v in vars(args).items() if k != 'argv'},
               'tasks_from': source, 'planning': [], 'training': [], 'fp16_accuracy': None}
    out = results['planning']

    def note(row):
        print(json.dumps(row), flush=True)

    def attempt(fn, base):
        if time.monotonic() >= deadline:
            return {**base, 'status': 'skipped', 'reason': 'time budget spent'}
        try:
            return fn()
        except Skip as exc:
            return {**base, 'status': 'skipped', 'reason': str(exc)}
        except Exception as exc:   # one failing variant must not lose the others
            return {**base, 'status': 'error', 'reason': f'{type(exc).__name__}: {exc}'}

    jobs = plan_jobs(args)
    # the eager fp32 baseline, then training (a headline figure), then the variants
    n_base = sum(1 for j in jobs if j[:2] == ('eager', 'fp32'))
    for i, (mode, precision, name, h) in enumerate(jobs):
        if i == n_base:
            run_training(results, model, device, args, attempt, note)
        base = {'planner': name, 'horizon': h, 'mode': mode, 'precision': precision}
        row = attempt(lambda: plan_row(model, name, h, mode, precision, starts, goals, args,
                                       device, ckpt), base)
        out.append(row)
        note(row)
    if not results['training']:
        run_training(results, model, device, args, attempt, note)
    if 'fp16' in args.precisions:
        results['fp16_accuracy'] = attempt(lambda: fp16_rollout_error(model, starts, device),
                                           {})
        note({'fp16_accuracy': results['fp16_accuracy']})
    results['targets'] = targets(results)
    results['elapsed_s'] = round(time.monotonic() - t_start, 1)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'bench_gpu.json'), 'w') as f:
        json.dump(results, f, indent=1)
    md = markdown(results)
    with open(os.path.join(args.out, 'bench_gpu.md'), 'w') as f:
        f.write(md + '\n')
    if args.section and not str(device).startswith('cuda'):
        print('not writing section gpu of docs/BENCHMARKS.md: this was not a CUDA run')
    elif args.section:
        from jepa_ros.tools.benchmarks import write_section
        write_section('gpu', 'GPU: planning and training', 'make bench-gpu (python -m '
                      'jepa_ros.tools.bench_gpu ' + ' '.join(args.argv) + ')', md)
    print(md)
    print(f'wrote {args.out}/bench_gpu.json and bench_gpu.md in {results["elapsed_s"]} s')
    return 0


def run_training(results, model, device, args, attempt, note):
    devices = [device] + (['cpu'] if str(device) != 'cpu' else [])
    for dev in devices:
        steps = args.cpu_train_steps if str(dev) == 'cpu' else args.train_steps
        row = attempt(lambda: training_row(model.config, dev, steps, args.train_batch),
                      {'device': str(dev), 'batch': args.train_batch, 'steps': steps})
        results['training'].append(row)
        note(row)


def targets(results):
    """The issue's target: a shipped-gd re-plan at horizon 12 <= 5 ms (>= 200 plans/s)."""
    best = [r for r in results['planning'] if r['status'] == 'ok' and r['planner'] == 'gd'
            and r['horizon'] == 12]
    fastest = min(best, key=lambda r: r['plan_ms_p50']) if best else None
    train = {r['device']: r.get('steps_per_s') for r in results['training']
             if r.get('status') == 'ok'}
    dev = results['machine']['device']
    return {'replan_ms_target': TARGET_MS,
            'gd_h12_best': None if fastest is None else
            {k: fastest[k] for k in ('mode', 'precision', 'plan_ms_p50', 'plans_per_s')},
            'gd_h12_target_met': None if fastest is None else
            fastest['plan_ms_p50'] <= TARGET_MS,
            'training_speedup_vs_cpu': (round(train[dev] / train['cpu'], 2)
                                        if dev != 'cpu' and train.get(dev) and train.get('cpu')
                                        else None)}


def markdown(results):
    from jepa_ros.tools.benchmarks import md_table
    m = results['machine']
    rows, not_run = [], {}
    for r in results['planning']:
        if r['status'] == 'ok':
            rows.append((r['planner'], r['horizon'], r['mode'], r['precision'],
                         f'{r["plan_ms_p50"]:.2f}', f'{r["plan_ms_p90"]:.2f}',
                         f'{r["plans_per_s"]:.0f}', f'{r["first_plan_ms"]:.0f}'))
        else:
            key = (r['mode'], r['precision'], r['status'], r.get('reason', ''))
            not_run.setdefault(key, []).append(f'{r["planner"]} h{r["horizon"]}')
    skipped = [f'- {mode} {precision}, {status}: {reason} ({", ".join(which)})'
               for (mode, precision, status, reason), which in not_run.items()]
    train_rows = [(r['device'], r['batch'], r['steps'],
                   f'{r["steps_per_s"]:.2f}' if r.get('status') == 'ok'
                   else f'{r["status"]}: {r.get("reason", "")}') for r in results['training']]
    t = results['targets']
    lines = [f'Device: {m["device"]}' + (f' ({m["gpu"]})' if m.get('gpu') else '') +
             f', torch {m["torch"]}, CUDA {m["cuda"]}, {m["cores"]} CPU cores; tasks: '
             f'{results["tasks_from"]}; {results["elapsed_s"]} s in all.', '',
             'Plan time of one re-plan (warm start from the previous plan, as the world_model '
             'node plans), milliseconds; first: the first plan of the row (captures, '
             'compilation, engine build included).', '',
             md_table(['planner', 'horizon', 'mode', 'precision', 'p50 ms', 'p90 ms',
                       'plans/s', 'first ms'], rows) if rows else 'No planning row ran.', '']
    if skipped:
        lines += ['Not measured here:', ''] + skipped + ['']
    lines += [
             'World-model training (level 1, shipped architecture, synthetic frames):', '',
             md_table(['device', 'batch', 'steps', 'steps/s'], train_rows), '']
    if t['gd_h12_best'] and not str(m['device']).startswith('cuda'):
        lines.append(f'(The target, a gd re-plan at horizon 12 <= {TARGET_MS:g} ms, is for a GPU.)')
    elif t['gd_h12_best']:
        b = t['gd_h12_best']
        lines.append(f'Target (a gd re-plan at horizon 12 <= {TARGET_MS:g} ms): best '
                     f'{b["plan_ms_p50"]:.2f} ms ({b["mode"]}, {b["precision"]}): '
                     f'{"met" if t["gd_h12_target_met"] else "not met"}.')
    if t['training_speedup_vs_cpu']:
        lines.append(f'Training on {m["device"]}: {t["training_speedup_vs_cpu"]}x the '
                     'CPU steps/s.')
    acc = results.get('fp16_accuracy')
    if acc and acc.get('status') == 'ok':
        lines.append(f'fp16 (autocast) rollout, {acc["samples"]} x {acc["horizon"]} steps: '
                     f'max |error| {acc["max_abs_error_rel"]:.2e}, mean '
                     f'{acc["mean_abs_error_rel"]:.2e} of the latent std.')
    return '\n'.join(lines)


def csv(text):
    return [x for x in text.split(',') if x]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', default=os.path.join('runs', 'bench_gpu'),
                   help='folder for bench_gpu.json and bench_gpu.md (and exports)')
    p.add_argument('--device', default='cuda', help='cuda, cuda:N, or cpu (a smoke run)')
    p.add_argument('--ckpt', default=DEFAULT_CKPT, help='world model checkpoint')
    p.add_argument('--horizons', default='12,16')
    p.add_argument('--planners', default=','.join(PLANNER_SPECS),
                   help=f'of {list(PLANNER_SPECS)}')
    p.add_argument('--modes', default=','.join(MODES), help=f'of {list(MODES)}')
    p.add_argument('--precisions', default=','.join(PRECISIONS))
    p.add_argument('--compile-planners', default='gd,mppi_1024',
                   help='planners measured with torch.compile (each shape compiles)')
    p.add_argument('--plans', type=int, default=60, help='measured plans per row')
    p.add_argument('--warmup', type=int, default=5, help='plans per row not measured')
    p.add_argument('--replans', type=int, default=10, help='re-plans per task')
    p.add_argument('--tasks', type=int, default=4, help='start/goal pairs')
    p.add_argument('--train-steps', type=int, default=100,
                   help='measured training steps on the GPU')
    p.add_argument('--cpu-train-steps', type=int, default=5,
                   help='measured training steps on the CPU (for the comparison)')
    p.add_argument('--train-batch', type=int, default=64)
    p.add_argument('--threads', type=int, default=0, help='torch CPU threads (0: default)')
    p.add_argument('--budget-s', type=float, default=420.0,
                   help='no new row starts after this many seconds')
    p.add_argument('--section', action='store_true',
                   help='also write section gpu of docs/BENCHMARKS.md')
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.horizons = [int(h) for h in csv(args.horizons)]
    args.planners, args.modes = csv(args.planners), csv(args.modes)
    args.precisions, args.compile_planners = csv(args.precisions), csv(args.compile_planners)
    bad = ([x for x in args.planners if x not in PLANNER_SPECS] +
           [x for x in args.modes if x not in MODES] +
           [x for x in args.precisions if x not in PRECISIONS])
    if bad:
        p.error(f'unknown planner / mode / precision {bad}')
    if min(args.plans, args.replans, args.tasks, args.train_steps, args.cpu_train_steps,
           args.train_batch) < 1 or args.warmup < 0 or not args.horizons \
            or min(args.horizons) < 1:
        p.error('counts must be >= 1 (--warmup >= 0)')
    from jepa_ros.core.device import pick_device
    try:
        pick_device(args.device)
    except ValueError as exc:
        print(f'bench_gpu: {exc}. This benchmark is for a CUDA machine; --device cpu runs '
              'a CPU smoke version.', file=sys.stderr)
        return 2
    return run(args)


if __name__ == '__main__':
    sys.exit(main())
