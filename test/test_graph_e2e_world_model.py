"""world_model node: the trainable critic as a terminal cost term and the level-2 subgoal
of the hierarchical planner on jepa/subgoal (real node, real DDS publish, own context)."""
import time

import numpy as np
import pytest
import rclpy
import support
import torch
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

from jepa_ros_interfaces.msg import LatentState

D, D2 = 8, 5


def tiny_model(level2_k=0):
    # scattered predictors: untrained ones ignore actions (zero last layer)
    return support.tiny_world_model(seed=0, scatter=True, latent_dim=D, level2_k=level2_k,
                                    level2_dim=D2, level2_hidden=16,
                                    action_scale=[0.6, 0.6]).requires_grad_(False)


def tiny_critic(path):
    from jepa_ros.core.checkpoint import save_checkpoint
    save_checkpoint(path, support.tiny_critic(D, seed=1))
    return path




def make_node(ros_context, model, **params):
    from jepa_ros.nodes.world_model import WorldModelNode
    args = ['--ros-args'] + sum([['-p', f'{k}:={v}'] for k, v in params.items()], [])
    node = WorldModelNode(model=model, context=ros_context, cli_args=args)
    return node


def feed(node, rng):
    from std_msgs.msg import Header
    h = Header()
    h.stamp.sec, h.stamp.nanosec = 12, 345
    s = LatentState(header=h, level=1, data=rng.normal(size=D).astype(np.float32).tolist())
    g = LatentState(level=1, data=rng.normal(size=D).astype(np.float32).tolist())
    node._on_state(s)
    node._on_goal(g)


def test_critic_term_is_added_to_the_plan_cost(ros_context, tmp_path):
    ck = tiny_critic(str(tmp_path / 'critic.pt'))
    node = make_node(ros_context, tiny_model(), critic_checkpoint=ck, planner='cem', horizon=4,
                     samples=16, iterations=2, state_timeout=60.0)
    try:
        assert node.trigger_configure() == common_success()
        assert node.critic is not None
        rng = np.random.default_rng(0)
        feed(node, rng)
        base = node.plan_once()
        assert node.cost.active() == {'goal': 1.0}
        node.set_parameters([rclpy.parameter.Parameter('cost.critic.weight', value=10.0)])
        node.previous = None
        with_critic = node.plan_once()
        assert node.cost.active()['critic'] == 10.0
        # the plan's cost now includes 10 x critic(last latent, goal) (> 0: softplus)
        last = with_critic.latents[-1:].float()
        crit = float(node.critic(last, node.goal[1].reshape(1, -1))[0])
        assert crit > 0 and base.info['cost'] > 0
        from jepa_ros.core.cost import IntrinsicCost
        goal_only = IntrinsicCost({'goal': (1.0, True)},   # the node's terminal weight
                                  terminal_weight=node.cost.ctx.terminal_weight)
        goal_cost = goal_only(with_critic.latents[None], with_critic.actions[None],
                              node.goal[1])
        assert with_critic.info['cost'] == pytest.approx(float(goal_cost[0]) + 10.0 * crit,
                                                         rel=1e-4)
    finally:
        node.destroy_node()


def test_critic_weight_without_critic_is_refused_and_planning_continues(ros_context):
    node = make_node(ros_context, tiny_model(), planner='cem', horizon=4, samples=16, iterations=2,
                     state_timeout=60.0)
    try:
        assert node.trigger_configure() == common_success()
        res = node.set_parameters([rclpy.parameter.Parameter('cost.critic.weight',
                                                             value=1.0)])[0]
        assert not res.successful and 'critic_checkpoint' in res.reason
        assert node.p['cost.critic.weight'] == 0.0
        feed(node, np.random.default_rng(1))
        assert node.plan_once() is not None
    finally:
        node.destroy_node()


def test_bad_critic_checkpoint_fails_configure(ros_context, tmp_path):
    bad = tmp_path / 'critic.pt'
    bad.write_bytes(b'not a checkpoint')
    node = make_node(ros_context, tiny_model(), critic_checkpoint=str(bad))
    try:
        assert node.trigger_configure() != common_success()
        assert node.model is None and node.critic is None
    finally:
        node.destroy_node()


def test_hierarchical_plan_publishes_level2_subgoal(ros_context):
    model = tiny_model(level2_k=2)
    node = make_node(ros_context, model, planner='hierarchical', horizon=4, state_timeout=60.0,
                     budget_s=5.0)
    listener = Node('subgoal_listener', context=ros_context)
    got = []
    listener.create_subscription(LatentState, 'jepa/subgoal', got.append, 10)
    ex = SingleThreadedExecutor(context=ros_context)
    ex.add_node(listener)
    try:
        assert node.trigger_configure() == common_success()
        assert node.trigger_activate() == common_success()
        end = time.monotonic() + 10
        while node.subgoal_pub.get_subscription_count() < 1 and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.05)
        assert node.subgoal_pub.get_subscription_count() >= 1
        node.destroy_timer(node.plan_timer)   # plan by hand, deterministically
        node.plan_timer = None
        feed(node, np.random.default_rng(2))
        res = node.plan_once()
        sub = node.subgoal_of(res)
        # the subgoal is the level-2 latent the coarse plan reaches at the fine horizon:
        upper = node._upper_result
        k = node.planner.k
        idx = min(max(4 // k, 1), node.planner.coarse_horizon) - 1
        assert torch.allclose(sub, upper.latents[0, idx])
        assert sub.shape == (D2,)
        # it is a level-2 latent of the model (the coarse plan starts at level2.encode(s))
        with torch.no_grad():
            s2 = model.level2.encode(node.state[1][None])[0]
        assert not torch.allclose(sub, s2)  # the plan moved
        end = time.monotonic() + 5
        while not got and time.monotonic() < end:
            ex.spin_once(timeout_sec=0.05)
        assert got, 'no subgoal published'
        msg = got[-1]
        assert msg.level == 2 and len(msg.data) == D2
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (12, 345)
        np.testing.assert_allclose(np.asarray(msg.data), sub.numpy(), rtol=1e-6)
    finally:
        ex.shutdown()
        listener.destroy_node()
        node.destroy_node()


def common_success():
    from jepa_ros.nodes.lifecycle_util import SUCCESS
    return SUCCESS


def test_gd_parameters_reach_the_gradient_planner():
    from jepa_ros.core.planners import make_planner, planner_kwargs
    from jepa_ros.nodes.world_model import PARAMS
    p = {spec.name: spec.default for spec in PARAMS}
    p.update({'planner': 'gd', 'gd.iterations': 3, 'gd.num_inits': 6, 'gd.lr': 0.05,
              'iterations': 99})
    cfg = planner_kwargs(p)
    assert cfg['iterations'] == 3 and cfg['num_inits'] == 6 and cfg['lr'] == 0.05
    gd = make_planner('gd', tiny_model(), **cfg)
    assert (gd.iterations, gd.num_inits, gd.lr) == (3, 6, 0.05)
    p['planner'] = 'mppi'
    assert planner_kwargs(p)['iterations'] == 99


def test_warm_start_is_shifted_by_the_steps_between_the_planned_states(ros_context):
    from std_msgs.msg import Header

    from jepa_ros.core.planners import shift_plan
    node = make_node(ros_context, tiny_model(), planner='gd', horizon=6, state_timeout=60.0,
                     step_dt=0.1)
    try:
        assert node.trigger_configure() == common_success()
        seen = []
        plan = node.planner.plan

        def spy(s, g, cost, warm_start=None, budget_s=None):
            seen.append(None if warm_start is None else warm_start.clone())
            return plan(s, g, cost, warm_start, budget_s)
        node.planner.plan = spy
        rng = np.random.default_rng(1)
        goal = LatentState(level=1, data=rng.normal(size=D).astype(np.float32).tolist())
        node._on_goal(goal)
        previous = []
        for sec, nanosec in ((5, 0), (5, 0), (5, 200_000_000), (5, 500_000_000)):
            h = Header()
            h.stamp.sec, h.stamp.nanosec = sec, nanosec
            node._on_state(LatentState(header=h, level=1, data=rng.normal(size=D)
                                       .astype(np.float32).tolist()))
            node.plan_once()
            previous.append(node.previous.clone())
        assert seen[0] is None                                   # first plan: cold
        assert torch.equal(seen[1], previous[0])                 # same state: no shift
        assert torch.equal(seen[2], shift_plan(previous[1], 2))  # 0.2 s later: 2 steps
        assert torch.equal(seen[3], shift_plan(previous[2], 3))  # 0.3 s later: 3 steps
    finally:
        node.destroy_node()


def test_world_model_publishes_the_cost_breakdown_of_its_plan(ros_context):
    """Diagnostics of world_model carry cost.<term> for every term in use; they add up to
    Plan.cost, and follow cost.terms when it changes."""
    from jepa_ros.nodes.lifecycle_util import SUCCESS
    node = make_node(ros_context, tiny_model(), planner='gd', horizon=4, state_timeout=60.0,
                     **{'cost.action_magnitude.weight': 0.5})
    try:
        assert node.trigger_configure() == SUCCESS
        feed(node, np.random.default_rng(0))
        res = node.plan_once()
        parts = {k: v for k, v in node.diag.values.items() if k.startswith('cost.')}
        assert set(parts) == {'cost.goal', 'cost.action_magnitude'}
        assert parts['cost.action_magnitude'] > 0
        assert sum(parts.values()) == pytest.approx(res.info['cost'], rel=1e-3)
        r = node.set_parameters([rclpy.parameter.Parameter('cost.terms', value=['goal'])])
        assert r[0].successful, r[0].reason
        node.plan_once()
        assert {k for k in node.diag.values if k.startswith('cost.')} == {'cost.goal'}
        r = node.set_parameters([rclpy.parameter.Parameter('cost.terms',
                                                           value=['goal', 'nope'])])
        assert not r[0].successful and 'nope' in r[0].reason
    finally:
        node.destroy_node()
