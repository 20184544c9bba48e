"""`jepa-ros train actor --ckpt WM --out FILE`: distil Mode-2 planning into a Mode-1 actor.

1. Random start/goal images from the simulator are encoded and labelled with the first
   action of a Mode-2 plan (planned in batches, which is cheap).
2. DAgger: the actor drives closed-loop episodes, the planner labels every latent the actor
   visits, and the actor is refit on everything collected so far.
"""
import os
import time

import numpy as np
import torch

from jepa_ros.core.planners import flat_planner_names
from jepa_ros.tools.eval_planning import add_planning_arguments, declared_flag_values

# Labelling is offline and plans from scratch (no warm start): a thorough teacher, not the
# planners' defaults, which assume receding-horizon warm starts. Flat settings
# (jepa_ros.core.planners.planning_params names); the flags of the same name override them.
TEACHER_DEFAULTS = {'gd': {'gd.iterations': 30, 'gd.num_inits': 8},
                    'cem': {'iterations': 6, 'samples': 256},
                    'mppi': {'iterations': 6, 'samples': 256}}
# Planners that can teach: any flat planner but the random floor.
TEACHERS = [n for n in flat_planner_names() if n != 'random']


def add_arguments(parser):
    parser.add_argument('--ckpt', required=True, help='world model checkpoint')
    parser.add_argument('--out', required=True, help='actor checkpoint to write')
    parser.add_argument('--world', default='two_rooms')
    parser.add_argument('--critic', default=None, help='critic checkpoint for the teacher')
    parser.add_argument('--critic-weight', type=float, default=1.0)
    parser.add_argument('--terminal-weight', type=float, default=4.0)
    parser.add_argument('--planner', default='mppi', choices=TEACHERS,
                        help='the Mode-2 teacher (mppi: the best closed-loop planner, '
                             'docs/BENCHMARKS.md)')
    parser.add_argument('--horizon', type=int, default=12)
    parser.add_argument('--iterations', type=int, default=None)
    parser.add_argument('--pairs', type=int, default=512, help='random start/goal pairs')
    parser.add_argument('--dagger-iters', type=int, default=6)
    parser.add_argument('--dagger-episodes', type=int, default=8)
    parser.add_argument('--max-steps', type=int, default=80)
    parser.add_argument('--epochs', type=int, default=40)
    parser.add_argument('--hidden', type=int, default=256)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--device', default='auto')
    add_planning_arguments(parser, skip={'planner', 'horizon', 'seed', 'iterations'})


def teacher_values(args, critic):
    """Flat planner + cost settings of the teacher; `critic`: whether one is loaded."""
    values = {'planner': args.planner, 'horizon': args.horizon, 'seed': args.seed,
              **TEACHER_DEFAULTS.get(args.planner, {}),
              'cost.terminal_weight': args.terminal_weight,
              'cost.critic.weight': args.critic_weight if critic else 0.0}
    if args.iterations:
        values['gd.iterations' if args.planner == 'gd' else 'iterations'] = args.iterations
    values.update(declared_flag_values(args))
    if not critic:
        values['cost.critic.weight'] = 0.0
    return values


def run(args):
    from jepa_ros.core.actor import (Actor, ActorConfig, ActorController, fit_actor,
                                     label_with_planner)
    from jepa_ros.core.checkpoint import load_checkpoint, save_checkpoint
    from jepa_ros.core.critic import load_critic
    from jepa_ros.core.planners import build_planning
    from jepa_ros.core.rollouts import make_tasks, run_episode
    from jepa_ros.sim import make_env
    from jepa_ros.core.device import pick_device

    for name in ('pairs', 'horizon', 'max_steps', 'epochs'):
        if getattr(args, name) < 1:
            raise ValueError(f'--{name.replace("_", "-")} must be >= 1')
    if args.dagger_iters < 0 or args.dagger_episodes < 0:
        raise ValueError('--dagger-iters and --dagger-episodes must be >= 0')
    for path in (args.ckpt, args.critic):
        if path and not os.path.exists(path):
            raise FileNotFoundError(f'{path} not found')
    device = pick_device(args.device)
    t0 = time.perf_counter()
    model, _ = load_checkpoint(args.ckpt, map_location=device)
    model.requires_grad_(False)
    critic = None
    if args.critic:
        critic, _ = load_critic(args.critic, map_location=device)
        critic.requires_grad_(False)
    teacher, cost = build_planning(teacher_values(args, critic is not None), model,
                                   critic=critic, action_dim=model.config.action_dim)
    env = make_env(args.world)
    rng = np.random.default_rng(args.seed)

    # 1. random pairs, labelled in batches
    starts, goals = [], []
    with torch.no_grad():
        for _ in range(args.pairs):
            s, g = env.sample_task(rng, 'any')
            starts.append(env.render_state(s))
            goals.append(env.render_state(g))
        zs = torch.cat([model.encode(np.stack(starts[i:i + 256]))
                        for i in range(0, len(starts), 256)])
        zg = torch.cat([model.encode(np.stack(goals[i:i + 256]))
                        for i in range(0, len(goals), 256)])
    labels = label_with_planner(teacher, cost, zs, zg)
    print(f'labelled {len(zs)} random pairs in {time.perf_counter() - t0:.0f}s', flush=True)
    torch.manual_seed(args.seed)
    actor = Actor(ActorConfig(latent_dim=zs.shape[1], action_dim=model.config.action_dim,
                              hidden=args.hidden)).to(device)
    loss = fit_actor(actor, zs, zg, labels, epochs=args.epochs, seed=args.seed)
    print(f'fit: loss {loss:.4f}', flush=True)

    # 2. DAgger: label the states the actor visits
    def labeller(z, g):
        return teacher.plan(z, g, cost).actions[0]

    history = []
    for it in range(args.dagger_iters):
        ctrl = ActorController(actor, labeller)
        tasks = make_tasks(env, args.dagger_episodes, args.seed + 1000 + it)
        ok = [run_episode(env, model, ctrl, t, args.max_steps).success for t in tasks]
        if ctrl.records:
            zs = torch.cat([zs, torch.stack([r[0] for r in ctrl.records])])
            zg = torch.cat([zg, torch.stack([r[1] for r in ctrl.records])])
            labels = torch.cat([labels, torch.stack([r[2] for r in ctrl.records])])
        loss = fit_actor(actor, zs, zg, labels, epochs=args.epochs, seed=args.seed + it)
        history.append({'iteration': it, 'actor_success': float(np.mean(ok)),
                        'samples': len(zs), 'loss': loss})
        print(f'dagger {it}: actor success {np.mean(ok):.2f} on {len(ok)} episodes, '
              f'{len(zs)} samples, loss {loss:.4f}', flush=True)
    env.close()
    save_checkpoint(args.out, actor, kind='actor', extra={
        'world_model': os.path.abspath(args.ckpt), 'teacher': args.planner,
        'critic': args.critic, 'pairs': args.pairs, 'dagger': history})
    print(f'wrote {args.out} ({time.perf_counter() - t0:.0f}s)')
    return 0
