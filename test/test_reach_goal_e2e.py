"""End to end: the multi-process graph in two_rooms (config/*.yaml, trained checkpoint)
reaches seeded goals through ReachGoal, as often as the in-process reference loop
(`jepa_ros.core.rollouts.run_episode`, same start/goal pairs, same planner settings).

CI runs N_GOALS goals (real time: up to 15 s each); the full 10-goal comparison (issue:
within 10 points) is `python -m jepa_ros.tools.bench_latency --reach 10`, section
`ros_reach_goal` of docs/BENCHMARKS.md. Needs the shipped checkpoints under models/ (`make train`).
"""
import os

import pytest

import rclpy  # noqa: F401,E402  (the graph needs it; no skip: it is a dependency)

from jepa_ros.nodes.lifecycle_util import resolve_path  # noqa: E402
from jepa_ros.tools import bench_latency as bl  # noqa: E402

CKPT = resolve_path(bl.DEFAULT_CKPT)
N_GOALS = 3
SEED = 0
MAX_STEPS = 150


def test_graph_reaches_seeded_goals_like_the_reference(tmp_path):
    assert os.path.exists(CKPT), f'{bl.DEFAULT_CKPT} missing: run `make train`'

    from jepa_ros.nodes.graph import node_params
    wm = node_params('world_model', 'two_rooms')   # what the graph's nodes start with
    cf = node_params('configurator', 'two_rooms')
    tasks = bl.reference_tasks(N_GOALS, SEED)
    ros = bl.ros_reach(CKPT, N_GOALS, SEED, MAX_STEPS, log_dir=str(tmp_path / 'logs'))
    assert len(ros) == N_GOALS
    for ok, message, seconds in ros:
        assert message and (ok == message.startswith('reached')), message
        assert seconds < MAX_STEPS * 0.1 + 30
    ref = bl.reference_success(CKPT, tasks, bl.node_planning_params(wm, cf), MAX_STEPS,
                               execute_steps=max(1, round(10.0 / wm['plan_rate'])),
                               critic=resolve_path(wm['critic_checkpoint'])
                               if wm['critic_checkpoint'] else None)
    n_ros = sum(ok for ok, _, _ in ros)
    n_ref = sum(r.success for r in ref)
    # Same tasks, same planner: at most one goal of difference out of N_GOALS (timing of
    # the asynchronous graph differs from the lock-step loop), and the graph does reach.
    assert abs(n_ros - n_ref) <= 1, (ros, [r.success for r in ref])
    if n_ref >= 2:
        assert n_ros >= 1
