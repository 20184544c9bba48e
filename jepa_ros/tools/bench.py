"""`jepa-ros bench`: run every benchmark; each writes its own section of docs/BENCHMARKS.md.

Benchmarks run one after another in their own process (fresh torch state, no
thread contention between them); a failing one is reported and the rest go on.
"""
import os
import subprocess
import sys
import time

from jepa_ros.share import share_dir

# The benchmarks name the shipped checkpoints relative to the share dir (checkout or install).
ROOT = share_dir()
# (name, module, extra arguments): each module has a main() that writes its section.
PLANNING = ['--episodes', '100', '--far-episodes', '30', '--max-steps', '100']
BENCHMARKS = [
    ('sim', 'jepa_ros.tools.bench_sim', []),
    ('world_model', 'jepa_ros.tools.bench_world_model', []),
    ('distributed', 'jepa_ros.tools.bench_distributed', []),
    ('planning', 'jepa_ros.tools.bench_planning',
     ['--ckpt', 'models/two_rooms_world_model.pt', '--critic', 'models/two_rooms_critic.pt',
      '--actor', 'models/two_rooms_actor.pt'] + PLANNING),
    ('planning_reach', 'jepa_ros.tools.bench_planning',
     ['--world', 'reach', '--ckpt', 'models/reach_world_model.pt',
      '--critic', 'models/reach_critic.pt', '--planners', 'gd,mppi,random'] + PLANNING),
    ('export', 'jepa_ros.tools.bench_export',
     ['--ckpt', 'models/two_rooms_world_model.pt', '--critic', 'models/two_rooms_critic.pt',
      '--actor', 'models/two_rooms_actor.pt', '--episodes', '50']),
    ('latency', 'jepa_ros.tools.bench_latency', []),
    ('learning', 'jepa_ros.tools.bench_learning', ['--out', 'runs/learning']),
    ('ros_reach_goal', 'jepa_ros.tools.bench_latency', ['--reach', '10']),
]


def add_arguments(parser):
    parser.add_argument('--only', nargs='*', default=None,
                        help='run only these benchmarks (%s)' % ', '.join(b[0] for b in BENCHMARKS))
    parser.add_argument('--quick', action='store_true',
                        help='smaller episode counts (for a smoke run, not for the record)')


def run(args):
    names = [b[0] for b in BENCHMARKS]
    for n in args.only or []:
        if n not in names:
            raise ValueError(f'unknown benchmark {n!r}; choose from {names}')
    failed = []
    for name, module, extra in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        cmd = [sys.executable, '-m', module] + extra + (['--quick'] if args.quick else [])
        print(f'== bench {name}: {" ".join(cmd[1:])}', flush=True)
        t0 = time.monotonic()
        rc = subprocess.call(cmd, env=dict(os.environ), cwd=ROOT)  # models/ paths are relative
        print(f'== bench {name}: exit {rc} after {time.monotonic() - t0:.0f} s', flush=True)
        if rc != 0:
            failed.append(name)
    print('results: docs/BENCHMARKS.md' + (f'; FAILED: {failed}' if failed else ''))
    return 1 if failed else 0
