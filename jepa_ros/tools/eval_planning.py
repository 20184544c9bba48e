"""`jepa-ros eval planning`: success rate and plan time of a planner on seeded tasks.

The tasks depend on --seed and --task-kind only, so every planner faces the same start/goal
pairs. Success is the simulator's ground truth. The loop is jepa_ros.core.rollouts.
`--world rooms` (procedural layouts: --grid, --layout-split) is jepa_ros.tools.eval_rooms.
"""
import json
import math
import os

from jepa_ros.core.planners import PLANNERS, planning_params

# far: reach, and rooms (goal 3+ rooms away); adjacent: rooms (1 room away)
TASK_KINDS = ['any', 'same_room', 'cross_room', 'cross_far', 'far', 'adjacent']


def add_arguments(parser):
    parser.add_argument('--world', default='two_rooms')
    parser.add_argument('--ckpt', required=True, help='world model checkpoint')
    parser.add_argument('--planner', default='gd', choices=list(PLANNERS))
    parser.add_argument('--episodes', type=int, default=20)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--task-kind', default='any', choices=TASK_KINDS)
    parser.add_argument('--critic', default=None, help='critic checkpoint (terminal cost term)')
    parser.add_argument('--actor', default=None, help='actor checkpoint (planner mode1)')
    parser.add_argument('--json', default=None, help='write the results here')
    parser.add_argument('--max-steps', type=int, default=150, help='step budget per episode')
    parser.add_argument('--horizon', type=int, default=12)
    parser.add_argument('--execute-steps', type=int, default=1,
                        help='actions executed between re-plans')
    parser.add_argument('--budget-ms', type=float, default=None,
                        help='anytime budget per plan (default: run all iterations)')
    parser.add_argument('--iterations', type=int, default=None)
    parser.add_argument('--samples', type=int, default=None, help='cem/mppi samples')
    parser.add_argument('--num-inits', type=int, default=None, help='gd initialisations')
    parser.add_argument('--terminal-weight', type=float, default=4.0)
    parser.add_argument('--critic-weight', type=float, default=1.0,
                        help='weight of the critic term (steps) when --critic is given')
    parser.add_argument('--smoothness-weight', type=float, default=0.0)
    parser.add_argument('--device', default='auto')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (1: what the world_model node runs with; more '
                             'threads on a busy machine make planning much slower)')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')
    parser.add_argument('--grid', default=None, help='rooms: R x C rooms (default 1x2)')
    parser.add_argument('--layout-split', default=None, choices=['train', 'held-out'],
                        help='rooms: layouts of task i = index seed + i of this split '
                             '(default held-out)')
    parser.add_argument('--no-random-floor', action='store_true',
                        help='rooms: skip the random-policy floor on the same tasks')
    add_planning_arguments(parser)


# Declared settings with a flag of their own above (kept for the recorded commands).
_OWN_FLAGS = {'planner', 'horizon', 'seed', 'samples', 'iterations'}


def _parse_bool(text):
    if text.lower() in ('1', 'true', 'yes', 'on'):
        return True
    if text.lower() in ('0', 'false', 'no', 'off'):
        return False
    raise ValueError(f'not a boolean: {text!r}')


def add_planning_arguments(parser, skip=_OWN_FLAGS):
    """One flag per declared planner/cost setting (jepa_ros.core.planners/cost), named
    like the world_model parameter: --gd.lr, --mppi.temperature, --cost.terms, ...
    Not given: the planner's own default (cost: the declared default)."""
    group = parser.add_argument_group('planner and cost settings (declared in core; '
                                      'the world_model parameters of the same name)')
    for p in planning_params():
        if p.name in skip:
            continue
        kw = {'default': None, 'dest': p.name,
              'help': f'{p.description} (default {p.default!r})'}
        if isinstance(p.default, list):
            kw.update(nargs='+', metavar='NAME')
        elif isinstance(p.default, bool):
            kw.update(type=_parse_bool, metavar='BOOL')
        else:
            kw['type'] = type(p.default)
        group.add_argument(f'--{p.name}', **kw)


def declared_flag_values(args):
    """{setting: value} of the declared-setting flags given on the command line."""
    return {p.name: getattr(args, p.name) for p in planning_params()
            if getattr(args, p.name, None) is not None}


def _legacy_iterations_key(planner):
    """What --iterations / --num-inits mean for `planner` (gd keeps them under gd.*)."""
    if planner == 'hierarchical':
        return 'gd'
    return planner


def planning_values(args, critic):
    """Flat planner + cost settings (planning_params() names) from the options; `critic`:
    whether a critic is loaded (its term weighs --critic-weight then, else 0)."""
    values = {'planner': args.planner, 'horizon': args.horizon, 'seed': args.seed,
              'cost.terminal_weight': args.terminal_weight,
              'cost.action_smoothness.weight': args.smoothness_weight,
              'cost.critic.weight': args.critic_weight if critic else 0.0}
    own = _legacy_iterations_key(args.planner)
    if args.samples is not None:
        values['samples'] = args.samples
    if args.iterations is not None:
        values['gd.iterations' if own == 'gd' else 'iterations'] = args.iterations
    if getattr(args, 'num_inits', None) is not None:
        values['gd.num_inits'] = args.num_inits
    values.update(declared_flag_values(args))
    if not critic:
        values['cost.critic.weight'] = 0.0
    return values


def build(args, device):
    """-> (env, world model, planner, cost) as the options describe."""
    from jepa_ros.core.actor import load_actor
    from jepa_ros.core.checkpoint import load_checkpoint
    from jepa_ros.core.critic import load_critic
    from jepa_ros.core.planners import build_planning
    from jepa_ros.sim import make_env

    model, _ = load_checkpoint(args.ckpt, map_location=device)
    model.requires_grad_(False)   # planning differentiates w.r.t. actions only
    critic = None
    if args.critic:
        critic, _ = load_critic(args.critic, map_location=device)
        critic.requires_grad_(False)
    extra = {}
    if args.planner == 'mode1':
        if not args.actor:
            raise ValueError('--planner mode1 needs --actor FILE')
        actor, _ = load_actor(args.actor, map_location=device)
        extra['actor'] = actor
    planner, cost = build_planning(planning_values(args, critic is not None), model,
                                   critic=critic, action_dim=model.config.action_dim,
                                   **extra)
    if args.world == 'rooms':
        from jepa_ros.tools.eval_rooms import env_kwargs
        env = make_env(args.world, **env_kwargs(args, model))
    else:
        env = make_env(args.world)
    return env, model, planner, cost


def format_table(summary, title):
    from jepa_ros.tools.benchmarks import md_table

    def f(x, spec):
        return 'n/a' if x is None or (isinstance(x, float) and math.isnan(x)) else \
            format(x, spec)
    rows = [[title, part, s['episodes'], f(100 * s['success_rate'], '.0f') + ' %',
             f(s['mean_steps'], '.1f'), f(s['plan_ms_p50'], '.1f'), f(s['plan_ms_p95'], '.1f')]
            for part, s in summary.items()]
    return md_table(['planner', 'tasks', 'episodes', 'success', 'mean steps (successes)',
                     'plan ms p50', 'plan ms p95'], rows)


def run(args):
    from tqdm import tqdm

    from jepa_ros.core.rollouts import evaluate, make_tasks, summarise
    from jepa_ros.core.device import pick_device

    for name in ('episodes', 'max_steps', 'horizon', 'execute_steps', 'threads'):
        if getattr(args, name) < 1:
            raise ValueError(f'--{name.replace("_", "-")} must be >= 1')
    if args.budget_ms is not None and args.budget_ms <= 0:
        raise ValueError('--budget-ms must be > 0')
    for path in (args.ckpt, args.critic, args.actor):
        if path and not os.path.exists(path):
            raise FileNotFoundError(f'{path} not found')
    from jepa_ros.tools import eval_rooms
    eval_rooms.check_arguments(args)
    import torch
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if args.world == 'rooms':
        return eval_rooms.run(args, device)
    env, model, planner, cost = build(args, device)
    tasks = make_tasks(env, args.episodes, args.seed, args.task_kind)
    bar = tqdm(total=len(tasks), desc=f'{args.planner}', disable=args.quiet)
    done = []

    def progress(result):
        done.append(result.success)
        bar.update(1)
        bar.set_postfix(success=f'{sum(done)}/{len(done)}')

    try:
        results = evaluate(env, model, planner, cost, tasks, args.max_steps,
                           execute_steps=args.execute_steps,
                           budget_s=None if args.budget_ms is None else args.budget_ms / 1e3,
                           progress=progress)
    finally:
        bar.close()
        env.close()
    summary = summarise(results)
    print(format_table(summary, args.planner))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump({'planner': args.planner, 'world': args.world, 'seed': args.seed,
                       'task_kind': args.task_kind, 'episodes': args.episodes,
                       'max_steps': args.max_steps, 'horizon': args.horizon,
                       'ckpt': args.ckpt, 'critic': args.critic, 'actor': args.actor,
                       'device': device, 'summary': summary,
                       'tasks': [t.__dict__ for t in tasks],
                       'results': [r.to_dict() for r in results]}, f, indent=1)
    return 0
