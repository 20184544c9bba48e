"""`jepa-ros eval planning --world rooms`: planning success on procedural layouts.

Protocol (everything a function of --grid, --layout-split, --seed and --task-kind, so every
planner and checkpoint faces the same tasks):
- task i (0 .. episodes-1) runs in the layout of index seed + i of the split
  (jepa_ros.sim.rooms_layout.layout_seed): `--layout-split train --seed 0` replays the
  layouts `jepa-ros collect --world rooms --seed 0` recorded; held-out layouts are never
  collected for training (the collector draws from the train split unless told otherwise);
- start and goal come from one generator seeded with --seed, in that layout, with rooms as
  many doors apart as the task kind asks (RoomsLayout.hop_range: any, same_room, adjacent =
  1, cross_room = 1+, far = far_rooms (3) or more; `far` needs a grid such as 2x3 or 3x3);
- success is the simulator's ground truth (geodesic distance < success_distance) within
  --max-steps actions; the loop is jepa_ros.core.rollouts.run_episode.

Reported: `success_rate` at the top level, rows per number of rooms apart, plan time per
re-plan (p50, p95, mean), wall time per episode (planning, encoding and simulation), and a
random-policy floor on the same tasks (uniform random actions in [-1, 1]^2, no model).
"""
import json
import math
import os
import time

import numpy as np


def check_arguments(args):
    """ValueError for rooms options given to another world; fills the rooms defaults."""
    from jepa_ros.sim.rooms_layout import parse_grid
    if args.world != 'rooms':
        if args.grid is not None or args.layout_split is not None:
            raise ValueError('--grid and --layout-split are rooms options')
        return
    args.grid = parse_grid(args.grid or '1x2')
    args.layout_split = args.layout_split or 'held-out'


def env_kwargs(args, model):
    """make_env('rooms') arguments that match the checkpoint (image size, action mode)."""
    from jepa_ros.sim.rooms_layout import layout_seed
    kwargs = {'grid': args.grid, 'image_size': int(model.config.image_size),
              'layout_seed': layout_seed(args.layout_split, args.seed)}
    if model.config.action_mode in ('holonomic', 'diff_drive'):
        kwargs['action_mode'] = model.config.action_mode
    return kwargs


def rooms_tasks(env, n, seed, kind, split):
    """[(layout_seed, Task, rooms apart)]: task i in the layout of index seed + i of
    `split`; rooms apart = doors crossed on the fewest-door way from start to goal."""
    from jepa_ros.core.rollouts import Task
    from jepa_ros.sim.rooms_layout import layout_seed
    rng = np.random.default_rng(seed)
    tasks = []
    for i in range(int(n)):
        lseed = layout_seed(split, seed + i)
        env.set_layout(lseed)
        start, goal = env.sample_task(rng, kind)
        hops = _hops(env, start, goal)
        tasks.append((lseed, Task([float(x) for x in start], [float(x) for x in goal], kind,
                                  hops > 0, float(env.true_distance(start, goal))), hops))
    return tasks


def _hops(env, a, b):
    lay = env.layout
    return int(lay.room_hops(lay.room_of(a[:2]), lay.room_of(b[:2])))


def random_policy(env, tasks, max_steps, seed):
    """EpisodeResults of uniform random actions on `tasks` (no model, no planning)."""
    from jepa_ros.core.rollouts import EpisodeResult
    rng = np.random.default_rng([int(seed), 0x7a4d])
    results = []
    for lseed, task, _ in tasks:
        env.set_layout(lseed)
        _, info = env.reset(options={'start_state': np.asarray(task.start_state),
                                     'goal_state': np.asarray(task.goal_state)})
        r = EpisodeResult(success=bool(info['success']), steps=0,
                          start_distance=float(info['distance']), cross_room=task.cross_room,
                          kind=task.kind)
        while not info['success'] and r.steps < max_steps:
            info = env.step(rng.uniform(-1.0, 1.0, env.action_space.shape).astype(np.float32))[4]
            r.steps += 1
        r.success, r.final_distance = bool(info['success']), float(info['distance'])
        results.append(r)
    return results


def _stats(values):
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return {'p50': math.nan, 'p95': math.nan, 'mean': math.nan, 'max': math.nan, 'n': 0}
    return {'p50': float(np.percentile(v, 50)), 'p95': float(np.percentile(v, 95)),
            'mean': float(v.mean()), 'max': float(v.max()), 'n': int(v.size)}


def summary_rows(results, hops):
    """{'all': row, '<k> rooms apart': row, ...} with rollouts.summarise's rows."""
    from jepa_ros.core.rollouts import summarise
    rows = {'all': summarise(results)['all']}
    for k in sorted(set(hops)):
        rows[f'{k} rooms apart'] = summarise([r for r, h in zip(results, hops) if h == k])['all']
    return rows


def run(args, device):
    """The rooms evaluation (arguments already checked by eval_planning.run)."""
    from tqdm import tqdm

    from jepa_ros.core.planners import RecedingHorizon
    from jepa_ros.core.rollouts import run_episode
    from jepa_ros.sim.rooms_layout import grid_name
    from jepa_ros.tools.eval_planning import build, format_table

    env, model, planner, cost = build(args, device)
    results, walls = [], []
    try:
        tasks = rooms_tasks(env, args.episodes, args.seed, args.task_kind, args.layout_split)
        hops = [h for _, _, h in tasks]
        controller = RecedingHorizon(
            planner, cost, execute_steps=args.execute_steps,
            budget_s=None if args.budget_ms is None else args.budget_ms / 1e3)
        bar = tqdm(total=len(tasks), desc=f'{args.planner} rooms {grid_name(args.grid)}',
                   disable=args.quiet)
        try:
            for lseed, task, _ in tasks:
                env.set_layout(lseed)
                t0 = time.perf_counter()
                results.append(run_episode(env, model, controller, task, args.max_steps))
                walls.append(time.perf_counter() - t0)
                bar.update(1)
                bar.set_postfix(success=f'{sum(r.success for r in results)}/{len(results)}')
        finally:
            bar.close()
        floor = None if args.no_random_floor else \
            random_policy(env, tasks, args.max_steps, args.seed)
    finally:
        env.close()
    summary = summary_rows(results, hops)
    plan_ms = _stats([ms for r in results for ms in r.plan_ms])
    wall_s = _stats(walls)
    title = f'{args.planner} ({grid_name(args.grid)} {args.layout_split})'
    print(format_table(summary, title))
    print(f'plan time per re-plan: p50 {plan_ms["p50"]:.1f} ms, mean {plan_ms["mean"]:.1f} ms '
          f'({plan_ms["n"]} re-plans); wall time per episode: mean {wall_s["mean"]:.2f} s, '
          f'max {wall_s["max"]:.2f} s')
    floor_row = None
    if floor is not None:
        ok = [r.steps for r in floor if r.success]
        floor_row = {'episodes': len(floor), 'success_rate': len(ok) / len(floor),
                     'mean_steps': float(np.mean(ok)) if ok else math.nan,
                     'by_rooms_apart': {f'{k} rooms apart': float(np.mean(
                         [r.success for r, h in zip(floor, hops) if h == k]))
                         for k in sorted(set(hops))}}
        print(f'random-policy floor (same tasks): {100 * floor_row["success_rate"]:.0f} %')
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump({'success_rate': summary['all']['success_rate'],
                       'planner': args.planner, 'world': 'rooms',
                       'grid': grid_name(args.grid), 'layout_split': args.layout_split,
                       'seed': args.seed, 'task_kind': args.task_kind,
                       'episodes': args.episodes, 'max_steps': args.max_steps,
                       'horizon': args.horizon, 'execute_steps': args.execute_steps,
                       'image_size': int(model.config.image_size),
                       'ckpt': args.ckpt, 'critic': args.critic, 'actor': args.actor,
                       'device': device, 'plan_ms': plan_ms, 'episode_wall_s': wall_s,
                       'summary': summary, 'random_policy': floor_row,
                       'layout_seeds': [s for s, _, _ in tasks],
                       'tasks': [dict(t.__dict__, layout_seed=s, rooms_apart=h)
                                 for s, t, h in tasks],
                       'results': [dict(r.to_dict(), layout_seed=s, rooms_apart=h, wall_s=w)
                                   for r, (s, _, h), w in zip(results, tasks, walls)]},
                      f, indent=1)
    return 0
