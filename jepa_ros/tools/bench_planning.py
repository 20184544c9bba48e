"""Planning benchmark: every planner on the same seeded tasks -> section `planning` of
docs/BENCHMARKS.md (success, mean steps, plan time p50/p95, cross-room separately).

    python -m jepa_ros.tools.bench_planning --ckpt models/two_rooms_world_model.pt \
        --critic models/two_rooms_critic.pt --actor models/two_rooms_actor.pt --episodes 100
"""
import argparse
import json
import os
import shlex
import sys
import tempfile

from jepa_ros.tools import eval_planning


def add_arguments(parser):
    parser.add_argument('--ckpt', required=True)
    parser.add_argument('--critic', default=None)
    parser.add_argument('--actor', default=None)
    parser.add_argument('--world', default='two_rooms')
    parser.add_argument('--episodes', type=int, default=100)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--max-steps', type=int, default=150)
    parser.add_argument('--planners', default='random,gd,cem,mppi,mode1',
                        help='comma-separated; mode1 is skipped without --actor')
    parser.add_argument('--far-planners', default='gd,hierarchical',
                        help='planners also run on the cross_far task (flat vs hierarchical)')
    parser.add_argument('--far-episodes', type=int, default=None)
    parser.add_argument('--no-write', action='store_true', help='print only')


def _eval(args, planner, kind, episodes, out_json):
    parser = argparse.ArgumentParser()
    eval_planning.add_arguments(parser)
    argv = ['--world', args.world, '--ckpt', args.ckpt, '--planner', planner,
            '--episodes', str(episodes), '--seed', str(args.seed), '--task-kind', kind,
            '--max-steps', str(args.max_steps), '--json', out_json]
    if args.critic:
        argv += ['--critic', args.critic]
    if args.actor:
        argv += ['--actor', args.actor]
    eval_planning.run(parser.parse_args(argv))
    with open(out_json) as f:
        return json.load(f)


def run(args):
    from jepa_ros.tools.benchmarks import write_section
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        plan = [(p, 'any', args.episodes) for p in args.planners.split(',') if p]
        plan += [(p, 'cross_far', args.far_episodes or args.episodes)
                 for p in args.far_planners.split(',') if p]
        for planner, kind, n in plan:
            if planner == 'mode1' and not args.actor:
                print('skipping mode1: no --actor', file=sys.stderr)
                continue
            data = _eval(args, planner, kind, n, os.path.join(tmp, f'{planner}_{kind}.json'))
            runs.append((planner, kind, data['summary']))
    tables = []
    for planner, kind, summary in runs:
        tables.append(eval_planning.format_table(summary, f'{planner} ({kind})'))
    body = ('Success is the simulator\'s ground truth within the step budget; the same '
            f'seeded tasks (seed {args.seed}) for every planner. Mean steps count successful '
            'episodes only.\n\n' + '\n\n'.join(tables))
    print(body)
    if not args.no_write:
        command = 'python -m jepa_ros.tools.bench_planning ' + ' '.join(
            shlex.quote(a) for a in sys.argv[1:])
        write_section('planning', 'Planning (two_rooms, from pixels)', command, body)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
