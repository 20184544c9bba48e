"""End to end: the multi-process graph in two_rooms (config/*.yaml, trained checkpoint)
reaches seeded goals through ReachGoal, as often as the in-process reference loop
(`jepa_ros.core.rollouts.run_episode`, same start/goal pairs, same planner settings);
and the graph in the reach (Panda) world reaches a goal sent through ReachGoal.

CI runs N_GOALS goals (real time: up to 15 s each); the full 10-goal comparison (issue:
within 10 points) is `python -m jepa_ros.tools.bench_latency --reach 10`, section
`ros_reach_goal` of docs/BENCHMARKS.md. Needs the shipped checkpoints under models/ (`make train`).
"""
import os

import pytest
import rclpy  # noqa: F401  (the graph needs it; no skip: it is a dependency)

from jepa_ros.nodes.lifecycle_util import resolve_path
from jepa_ros.tools import bench_latency as bl

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


REACH_ATTEMPTS = 3      # in-process planning reaches ~90 % of reach goals: 3 tries
REACH_TIMEOUT_S = 40.0


@pytest.mark.slow
def test_reach_world_reaches_a_goal_through_the_ros_graph():
    """The Panda world through ROS (issue 11): the `reach` action mode's TwistStamped
    commands from the actor move the arm through sim_bridge, and a ReachGoal sent through
    the action is reached by simulator ground truth; once it ends the actor falls silent."""
    from jepa_ros.nodes.graph import start_graph
    from jepa_ros.nodes.stack_client import StackClient, is_zero
    assert os.path.exists(resolve_path('models/reach_world_model.pt')), 'run `make train`'
    g = start_graph('reach', skip=('memory',), overrides={
        'sim_bridge': {'seed': SEED},
        # success only by the simulator's ground truth, not by latent energy
        'configurator': {'success_energy': 0.0, 'use_sim_success': True}})
    rclpy.init()
    # world='reach': the client subscribes cmd_vel as TwistStamped, the reach mode's type
    client = StackClient('reach_e2e_client', world='reach')
    try:
        assert all(g.active.values()), g.active
        actor = g.nodes['actor']
        assert actor.action_mode == 'reach' and actor.mode.stamped
        client.wait_up(timeout_s=60, states=False)
        assert client.spin_until(lambda: len(client.odoms) > 2 and
                                 actor.cmd_pub.get_subscription_count() > 0, 30), \
            'no odom from sim_bridge / cmd_vel not matched'
        results = []
        for _ in range(REACH_ATTEMPTS):
            client.reset_sim()
            start = client.odoms[-1].msg.pose.pose.position
            res = client.result(client.send_goal(REACH_TIMEOUT_S), REACH_TIMEOUT_S + 30).result
            end = client.odoms[-1].msg.pose.pose.position
            moved = abs(end.x - start.x) + abs(end.y - start.y) + abs(end.z - start.z)
            results.append((res.success, res.message, moved))
            if res.success:
                break
        cmds = [c.msg for c in client.cmds]
        assert any(cmd.header.frame_id and any((cmd.twist.linear.x, cmd.twist.linear.y,
                                                cmd.twist.linear.z)) for cmd in cmds), \
            'no moving TwistStamped command on cmd_vel'
        assert results[-1][0], f'no reach goal reached in {REACH_ATTEMPTS} tries: {results}'
        assert results[-1][1].startswith('reached (simulator ground truth)'), results
        assert results[-1][2] > 0.01, f'the arm did not move: {results}'
        # the goal ended, the configurator holds the actor: one zero command, then silence
        assert client.spin_until(lambda: actor.idle_sent and not actor.p['enabled'], 10)
        published, ticks = actor.counts['published'], actor.counts['ticks']
        assert client.spin_until(lambda: actor.counts['ticks'] >= ticks + 25, 10)
        assert actor.counts['published'] == published, 'the idle actor kept publishing'
        assert client.spin_until(lambda: client.cmds and is_zero(client.cmds[-1].msg), 5)
        print(f'\nreach through ROS: {results}')
    finally:
        client.close()
        rclpy.shutdown()
        g.stop()
