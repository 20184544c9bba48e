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
    parser.add_argument('--far-kind', default=None,
                        help='task kind of the long task (default: cross_far in two_rooms, '
                             'far in reach)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (1: what the world_model node uses)')
    parser.add_argument('--results-dir', default=None,
                        help='keep each run\'s JSON here and reuse one that matches '
                             '(resume a benchmark cut short; runs are deterministic)')
    parser.add_argument('--no-write', action='store_true', help='print only')
    parser.add_argument('--quick', action='store_true',
                        help='10 episodes (5 on the long task): a smoke run, not the record')


def _sha256(path):
    import hashlib
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def _eval_argv(args, planner, kind, episodes, critic=True):
    argv = ['--world', args.world, '--ckpt', args.ckpt, '--planner', planner,
            '--episodes', str(episodes), '--seed', str(args.seed), '--task-kind', kind,
            '--max-steps', str(args.max_steps)]
    if args.critic and critic:
        argv += ['--critic', args.critic]
    if args.actor:
        argv += ['--actor', args.actor]
    return argv + ['--threads', str(args.threads)]


def _eval(args, planner, kind, episodes, out_json, critic=True):
    parser = argparse.ArgumentParser()
    eval_planning.add_arguments(parser)
    argv = _eval_argv(args, planner, kind, episodes, critic) + ['--json', out_json]
    if os.path.exists(out_json):
        with open(out_json) as f:
            data = json.load(f)
        inputs = [x for x in (args.ckpt, args.critic, args.actor) if x]
        same = (data.get('episodes') == episodes and data.get('seed') == args.seed
                and data.get('max_steps') == args.max_steps and data.get('ckpt') == args.ckpt
                and data.get('critic') == args.critic and data.get('actor') == args.actor
                and data.get('task_kind') == kind
                and all(os.path.getmtime(out_json) > os.path.getmtime(x) for x in inputs))
        if same:
            print(f'reusing {out_json}', file=sys.stderr)
            return data
    argv += ['--quiet']
    eval_planning.run(parser.parse_args(argv))
    with open(out_json) as f:
        return json.load(f)


def target_lines(rows, world='two_rooms', far_kind='cross_far'):
    """'- target: measured (met/MISSED)' lines for the issue-4 targets whose runs exist;
    rows: {(planner, task_kind): summary row of all tasks}."""
    def rate(p, k='any'):
        return rows[(p, k)]['success_rate'] if (p, k) in rows else None

    def verdict(ok):
        return 'met' if ok else 'MISSED'
    out = []
    if world == 'reach':
        best = max(((r['success_rate'], p) for (p, k), r in rows.items()
                    if k == 'any' and p != 'random'), default=None)
        if best is not None:
            out.append(f'- best planner success >= 90 %: {best[1]} {100 * best[0]:.0f} % '
                       f'({verdict(best[0] >= 0.9)})')
        r = rate('random')
        if r is not None:
            out.append(f'- random is the floor: {100 * r:.0f} %')
        out += _hierarchy_lines(rate, far_kind)
        return out
    for planner, need in (('mppi', 0.95), ('gd', 0.90), ('mode1', 0.85)):
        r = rate(planner)
        if r is not None:
            out.append(f'- {planner} success >= {100 * need:.0f} %: {100 * r:.0f} % '
                       f'({verdict(r >= need)})')
    if ('gd', 'any') in rows and ('mppi', 'any') in rows:
        ratio = rows[('gd', 'any')]['plan_ms_p50'] / rows[('mppi', 'any')]['plan_ms_p50']
        out.append(f'- gd plan time p50 <= 25 % of mppi\'s: {100 * ratio:.0f} % '
                   f'({verdict(ratio <= 0.25)})')
    r = rate('random')
    if r is not None:
        out.append(f'- random is the floor: {100 * r:.0f} %')
    return out + _hierarchy_lines(rate, far_kind)


def _hierarchy_lines(rate, far_kind):
    out = []
    for kind in (far_kind, far_kind + ' no-critic'):
        h, f = rate('hierarchical', kind), rate('gd', kind)
        if h is not None and f is not None:
            out.append(f'- hierarchical vs flat gd on {kind}: {100 * h:.0f} % vs '
                       f'{100 * f:.0f} %')
    return out


def run(args):
    import torch

    from jepa_ros.tools.benchmarks import write_section
    torch.set_num_threads(max(1, args.threads))
    if args.quick:
        args.episodes, args.far_episodes = min(args.episodes, 10), min(args.far_episodes or 5, 5)
    far_kind = args.far_kind or ('far' if args.world == 'reach' else 'cross_far')
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.results_dir or scratch
        os.makedirs(tmp, exist_ok=True)
        plan = [(p, 'any', args.episodes, True) for p in args.planners.split(',') if p]
        far = [p for p in args.far_planners.split(',') if p]
        plan += [(p, far_kind, args.far_episodes or args.episodes, True) for p in far]
        if args.critic:   # the long task without the critic too: what level 2 adds alone
            plan += [(p, far_kind, args.far_episodes or args.episodes, False) for p in far]
        for planner, kind, n, critic in plan:
            if planner == 'mode1' and not args.actor:
                print('skipping mode1: no --actor', file=sys.stderr)
                continue
            tag = '' if critic or not args.critic else '_no_critic'
            data = _eval(args, planner, kind, n,
                         os.path.join(tmp, f'{planner}_{kind}{tag}.json'), critic)
            runs.append((planner, kind + tag.replace('_', ' ', 1).replace('_', '-'),
                         data['summary'], 'jepa-ros eval planning ' + ' '.join(
                             shlex.quote(a) for a in _eval_argv(args, planner, kind, n,
                                                                critic))))
    tables = []
    for planner, kind, summary, _ in runs:
        tables.append(eval_planning.format_table(summary, f'{planner} ({kind})'))
    commands = '\n'.join(f'- `{cmd}`' for *_, cmd in runs)
    checks = target_lines({(p, k): summ['all'] for p, k, summ, _ in runs}, args.world,
                          far_kind)
    files = ', '.join(f'{os.path.basename(x)} sha256 {_sha256(x)[:12]}'
                      for x in (args.ckpt, args.critic, args.actor) if x)
    body = ('Success is the simulator\'s ground truth within the step budget; the same '
            f'seeded tasks (seed {args.seed}) for every planner. Mean steps count successful '
            'episodes only. Plan time is per re-plan (one action executed per plan), '
            f'{args.threads} torch thread(s). Checkpoints: {files}.\n\n'
            + '\n\n'.join(tables)
            + ('\n\nTargets (issue 4, for 100 episodes; measured on the episodes '
               'above):\n\n' + '\n'.join(checks) if checks else '')
            + '\n\nThe same runs one by one:\n\n' + commands)
    print(body)
    if not args.no_write:
        command = 'python -m jepa_ros.tools.bench_planning ' + ' '.join(
            shlex.quote(a) for a in sys.argv[1:])
        if args.world == 'two_rooms':
            write_section('planning', 'Planning (two_rooms, from pixels)', command, body)
        else:
            write_section(f'planning_{args.world}', f'Planning ({args.world}, from pixels)',
                          command, body)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
