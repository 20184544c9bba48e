"""Benchmark `distributed`: the world model trained by 1 process and by 2 under torchrun.

Same data, same optimiser steps, same global batch (1 process x B windows against 2
processes x B/2, gloo on CPU), each from seeds 0..K-1; every model evaluated on the same
held-out episodes with jepa_ros.core.metrics (the `jepa-ros eval world-model` figures).
The seed-to-seed spread of each setting is the noise the 1-vs-2 difference is judged
against. Every process runs `--threads` torch threads (default 1: on a loaded 2-core
machine two threads in one process were 2-4x slower than one). Writes section
`distributed` of docs/BENCHMARKS.md.

    python -m jepa_ros.tools.bench_distributed [--quick]

Wall time includes process start-up and data loading (what a user waits for). On a
cluster each process has a GPU or a node of its own; here the two share a 2-core CPU.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time

from jepa_ros.share import source_root
from jepa_ros.tools.bench_world_model import collect, evaluate

ROOT = source_root() or os.getcwd()


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def train_command(args, processes, seed, out):
    """The `jepa-ros train world-model` command line of one run, torchrun for N > 1."""
    batch = args.batch // processes
    train = ['-m', 'jepa_ros.cli', 'train', 'world-model', '--data', f'{args.workdir}/train',
             '--out', out, '--steps', str(args.train_steps), '--batch-size', str(batch),
             '--finetune-steps', str(args.finetune_steps), '--level2-steps',
             str(args.level2_steps), '--seed', str(seed), '--device', 'cpu',
             '--no-progress', '--log-every', '1000', '--threads', str(args.threads)]
    if processes == 1:
        return [sys.executable] + train
    # Loopback rendezvous: a benchmark on one machine (a cluster uses --rdzv-endpoint).
    return [sys.executable, '-m', 'torch.distributed.run', '--nnodes', '1',
            '--nproc_per_node', str(processes), '--master_addr', '127.0.0.1',
            '--master_port', str(free_port())] + train


def run_one(args, processes, seed):
    out = f'{args.workdir}/wm_p{processes}_s{seed}.pt'
    cmd = train_command(args, processes, seed, out)
    env = dict(os.environ)
    if processes > 1:
        env.update(OMP_NUM_THREADS=str(args.threads),
                   GLOO_SOCKET_IFNAME=env.get('GLOO_SOCKET_IFNAME', 'lo'))
    print('$ ' + ' '.join(cmd[1:]), flush=True)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f'training failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n'
                           f'{proc.stderr[-3000:]}')
    _, extra, res = evaluate(out, f'{args.workdir}/eval', f'{args.workdir}/train')
    m = extra.get('metrics', {})
    row = {'processes': processes, 'seed': seed, 'wall_s': round(wall, 1),
           'train_s': m.get('train_time_s'), 'steps': m.get('steps'),
           'params_in_sync': m.get('distributed', {}).get('params_in_sync'),
           'probe_r2': res.get('probe_r2'),
           'ratio1': res['multistep'][1]['ratio'], 'ratio8': res['multistep'][8]['ratio'],
           'spearman': res.get('spearman_true_distance'),
           'eff_rank': res['collapse']['effective_rank'],
           'loss_vs_copy': m.get('finetune', {}).get('loss_vs_copy')}
    print(json.dumps(row), flush=True)
    return row


def spread(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    if not vals:
        return None
    mean = sum(vals) / len(vals)
    return mean, (max(vals) - min(vals))


def write(results, args):
    from jepa_ros.tools.benchmarks import md_table, write_section
    rows = results['runs']

    def f(x, fmt):
        return 'n/a' if x is None else format(x, fmt)
    table = [(r['processes'], r['seed'], f'{r["wall_s"]:.0f} s', f(r['train_s'], '.0f') + ' s',
              f(r['probe_r2'], '.4f'), f(r['ratio1'], '.3f'), f(r['ratio8'], '.3f'),
              f(r['spearman'], '.3f'), f(r['eff_rank'], '.1f'),
              {None: '-', True: 'yes', False: 'NO'}[r['params_in_sync']]) for r in rows]
    lines = []
    for key, name in (('probe_r2', 'probe R^2'), ('ratio8', '8-step / copy'),
                      ('spearman', 'Spearman vs geodesic'), ('wall_s', 'wall time (s)')):
        one = spread([r for r in rows if r['processes'] == 1], key)
        two = spread([r for r in rows if r['processes'] == 2], key)
        if one and two:
            within = abs(two[0] - one[0]) <= max(one[1], two[1])
            lines.append(f'| {name} | {one[0]:.4g} (spread {one[1]:.3g}) | '
                         f'{two[0]:.4g} (spread {two[1]:.3g}) | {two[0] - one[0]:+.3g} | '
                         f'{"yes" if within else "no"} |')
    summary = ('| metric | 1 process: mean (seed spread) | 2 processes: mean (seed spread) '
               '| 2 - 1 | within the spread |\n|---|---|---|---|---|\n' + '\n'.join(lines) +
               '\n\nSpread: max - min over the seeds of one setting; "within the spread": '
               '|2 - 1| is no larger than the larger of the two spreads.')
    body = (f'two_rooms, {args.episodes} x {args.steps} frames for training (collect seed 0, '
            f'{results["collect_s"]:.0f} s), {max(4, args.episodes // 4)} held-out episodes '
            f'(another seed) for every metric. Each run: {args.train_steps} joint steps with '
            f'a global batch of {args.batch} windows (1 process x {args.batch}, or 2 x '
            f'{args.batch // 2} under torchrun with gloo), then {args.finetune_steps} '
            f'predictor fine-tune and {args.level2_steps} level-2 steps (those phases take '
            '256 windows per process: the 2-process runs see twice as many there). Every '
            f'process uses {args.threads} torch thread(s), so 2 processes use 2 cores for '
            'the work 1 process does on one. Wall: the whole command, process start-up and '
            'loading included; train: the training loop. in sync: the replicas were '
            'bit-identical at the end.\n\n'
            'Measured on the shared 2-core development machine while other jobs (tests, '
            'trainings, builds of other sessions) were running on it: the times are upper '
            'bounds, noisy, and say little about scaling on real hardware, where each '
            'process has a GPU or a node of its own. The quality columns are what to '
            'compare.\n\n' +
            md_table(['processes', 'seed', 'wall', 'train', 'probe R^2', '1-step / copy',
                      '8-step / copy', 'Spearman geodesic', 'eff. rank', 'in sync'], table) +
            '\n\n' + summary)
    cmd = ' '.join(['python -m jepa_ros.tools.bench_distributed'] + args.argv)
    write_section('distributed', 'Distributed training: 1 vs 2 processes (CPU, gloo)', cmd,
                  body)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--quick', action='store_true', help='small smoke run, not for the record')
    p.add_argument('--workdir', default=os.path.join(ROOT, 'runs', 'bench_distributed'))
    p.add_argument('--episodes', type=int, default=40)
    p.add_argument('--steps', type=int, default=100, help='frames per episode')
    p.add_argument('--train-steps', type=int, default=250, help='joint (level-1) steps')
    p.add_argument('--batch', type=int, default=32, help='global batch (windows per step)')
    p.add_argument('--finetune-steps', type=int, default=500)
    p.add_argument('--level2-steps', type=int, default=250)
    p.add_argument('--seeds', type=int, default=2, help='training seeds per setting')
    p.add_argument('--threads', type=int, default=1, help='torch CPU threads per process')
    p.add_argument('--no-section', action='store_true', help='do not touch BENCHMARKS.md')
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.episodes, args.steps, args.train_steps = 8, 30, 10
        args.finetune_steps, args.level2_steps, args.seeds = 20, 10, 1
    if args.batch < 2 or args.batch % 2:
        raise SystemExit('--batch must be even (it is split over 2 processes)')
    os.makedirs(args.workdir, exist_ok=True)
    results = {'collect_s': collect(f'{args.workdir}/train', args.episodes, args.steps, 0)}
    collect(f'{args.workdir}/eval', max(4, args.episodes // 4), args.steps, 10_000)
    results['runs'] = [run_one(args, n, seed) for seed in range(args.seeds) for n in (1, 2)]
    with open(f'{args.workdir}/results.json', 'w') as f:
        json.dump(results, f, indent=2, default=str)
    if not args.no_section and not args.quick:
        write(results, args)
    return 0


if __name__ == '__main__':
    sys.exit(main())
