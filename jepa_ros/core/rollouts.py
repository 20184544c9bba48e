"""Closed-loop goal reaching in simulation: env + encode + plan + step (no rclpy).

The evaluation tool, the actor's data collection, the demo and the ROS tests all use this
one loop, so a result measured here is the behaviour the ROS graph should reproduce.
"""
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from jepa_ros.core.planners import RecedingHorizon


@dataclass
class Task:
    start_state: list
    goal_state: list
    kind: str              # the kind it was drawn as (any, same_room, cross_room, cross_far)
    cross_room: bool       # start and goal in different rooms (None if the world has no rooms)
    true_distance: float


@dataclass
class EpisodeResult:
    success: bool
    steps: int
    plan_ms: list = field(default_factory=list)
    start_distance: float = math.nan
    final_distance: float = math.nan
    cross_room: bool = None
    kind: str = 'any'

    def to_dict(self):
        return asdict(self)


def make_tasks(env, n, seed, kind='any'):
    """`n` start/goal pairs drawn from a generator seeded with `seed` only, so every
    planner evaluated with the same seed faces exactly the same tasks."""
    base = env.unwrapped
    rng = np.random.default_rng(seed)
    layout = getattr(base, 'layout', None)
    tasks = []
    for _ in range(int(n)):
        start, goal = base.sample_task(rng, kind)
        cross = None
        if layout is not None and hasattr(layout, 'room_of'):
            cross = layout.room_of(start[:2]) != layout.room_of(goal[:2])
        dist = float(base.true_distance(start, goal)) if hasattr(base, 'true_distance') \
            else math.nan
        tasks.append(Task([float(x) for x in start], [float(x) for x in goal], kind, cross,
                          dist))
    return tasks


def encode_image(model, image):
    with torch.no_grad():
        return model.encode(np.asarray(image)[None])[0]


def run_episode(env, model, controller, task, max_steps, on_step=None):
    """Reach `task`'s goal image with `controller` (a RecedingHorizon, or anything with
    reset() and act(latent, goal_latent) -> (actions (k,A), PlanResult)).

    Success is the simulator's ground truth (info['success']), checked after every step;
    the episode ends at success or after `max_steps` actions. `on_step(latent, goal_latent,
    actions, result, info)` sees every plan (used to record the actor's training data).
    """
    obs, info = env.reset(options={'start_state': np.asarray(task.start_state),
                                   'goal_state': np.asarray(task.goal_state)})
    goal_latent = encode_image(model, env.unwrapped.goal_image)
    controller.reset()
    result = EpisodeResult(success=bool(info['success']), steps=0,
                           start_distance=float(info.get('distance', math.nan)),
                           cross_room=task.cross_room, kind=task.kind)
    while not info['success'] and result.steps < max_steps:
        latent = encode_image(model, obs)
        t0 = time.perf_counter()
        actions, plan = controller.act(latent, goal_latent)
        result.plan_ms.append((time.perf_counter() - t0) * 1e3)
        if on_step is not None:
            on_step(latent, goal_latent, actions, plan, info)
        for a in actions.detach().cpu().numpy():
            obs, _, terminated, truncated, info = env.step(a.astype(np.float32))
            result.steps += 1
            if info['success'] or result.steps >= max_steps or terminated:
                break
        if terminated:
            break
    result.success = bool(info['success'])
    result.final_distance = float(info.get('distance', math.nan))
    return result


def evaluate(env, model, planner, cost, tasks, max_steps, execute_steps=1, budget_s=None,
             progress=None):
    """run_episode over `tasks` with one receding-horizon controller; -> [EpisodeResult]."""
    controller = RecedingHorizon(planner, cost, execute_steps=execute_steps, budget_s=budget_s)
    results = []
    for task in tasks:
        results.append(run_episode(env, model, controller, task, max_steps))
        if progress is not None:
            progress(results[-1])
    return results


def summarise(results):
    """{'all': row, 'same_room': row, 'cross_room': row}; a row has episodes, success_rate,
    mean_steps (of successful episodes), plan_ms_p50, plan_ms_p95."""
    def row(rs):
        if not rs:
            return None
        ms = np.concatenate([np.asarray(r.plan_ms, dtype=float) for r in rs]) \
            if any(r.plan_ms for r in rs) else np.array([math.nan])
        ok = [r for r in rs if r.success]
        return {'episodes': len(rs),
                'success_rate': len(ok) / len(rs),
                'mean_steps': float(np.mean([r.steps for r in ok])) if ok else math.nan,
                'plan_ms_p50': float(np.nanpercentile(ms, 50)),
                'plan_ms_p95': float(np.nanpercentile(ms, 95))}

    out = {'all': row(results)}
    if any(r.cross_room is not None for r in results):
        out['same_room'] = row([r for r in results if r.cross_room is False])
        out['cross_room'] = row([r for r in results if r.cross_room])
    return {k: v for k, v in out.items() if v is not None}
