"""`jepa-ros eval planning`: success rate and plan time of a planner on seeded tasks.

The tasks depend on --seed and --task-kind only, so every planner faces the same start/goal
pairs. Success is the simulator's ground truth. The loop is jepa_ros.core.rollouts.
"""
import json
import math
import os

import torch

PLANNER_NAMES = ['gd', 'cem', 'mppi', 'mode1', 'hierarchical', 'random']
TASK_KINDS = ['any', 'same_room', 'cross_room', 'cross_far', 'far']  # far: reach


def add_arguments(parser):
    parser.add_argument('--world', default='two_rooms')
    parser.add_argument('--ckpt', required=True, help='world model checkpoint')
    parser.add_argument('--planner', default='gd', choices=PLANNER_NAMES)
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
    parser.add_argument('--quiet', action='store_true', help='no progress bar')


def planner_config(args):
    """Parameters for make_planner from the CLI options that apply to args.planner."""
    cfg = {'horizon': args.horizon, 'seed': args.seed}
    if args.planner == 'gd':
        for opt, key in (('iterations', 'iterations'), ('num_inits', 'num_inits')):
            if getattr(args, opt) is not None:
                cfg[key] = getattr(args, opt)
    elif args.planner in ('cem', 'mppi'):
        for opt in ('iterations', 'samples'):
            if getattr(args, opt) is not None:
                cfg[opt] = getattr(args, opt)
    elif args.planner == 'hierarchical':
        level1 = {}
        if args.iterations is not None:
            level1['iterations'] = args.iterations
        if args.num_inits is not None:
            level1['num_inits'] = args.num_inits
        cfg['level1_cfg'] = level1
    return cfg


def build(args, device):
    """-> (env, world model, planner, cost) as the options describe."""
    from jepa_ros.core.actor import load_actor
    from jepa_ros.core.checkpoint import load_checkpoint
    from jepa_ros.core.cost import IntrinsicCost
    from jepa_ros.core.critic import load_critic
    from jepa_ros.core.planners import make_planner
    from jepa_ros.sim import make_env

    model, _ = load_checkpoint(args.ckpt, map_location=device)
    model.requires_grad_(False)   # planning differentiates w.r.t. actions only
    critic = None
    terms = {'goal': (1.0, True),
             'action_smoothness': (args.smoothness_weight, args.smoothness_weight > 0)}
    if args.critic:
        critic, _ = load_critic(args.critic, map_location=device)
        critic.requires_grad_(False)
        terms['critic'] = (args.critic_weight, args.critic_weight > 0)
    cost = IntrinsicCost(terms, terminal_weight=args.terminal_weight, critic=critic)
    cfg = planner_config(args)
    if args.planner == 'mode1':
        if not args.actor:
            raise ValueError('--planner mode1 needs --actor FILE')
        actor, _ = load_actor(args.actor, map_location=device)
        cfg['actor'] = actor
    planner = make_planner(args.planner, model, action_dim=model.config.action_dim, **cfg)
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
    from jepa_ros.tools.train_critic import pick_device

    for name in ('episodes', 'max_steps', 'horizon', 'execute_steps'):
        if getattr(args, name) < 1:
            raise ValueError(f'--{name.replace("_", "-")} must be >= 1')
    if args.budget_ms is not None and args.budget_ms <= 0:
        raise ValueError('--budget-ms must be > 0')
    for path in (args.ckpt, args.critic, args.actor):
        if path and not os.path.exists(path):
            raise FileNotFoundError(f'{path} not found')
    device = pick_device(args.device)
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
