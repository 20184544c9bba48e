"""The actor over real DDS: NaN and huge plans in, safe commands out; stale state -> zero.

The actor runs in its own rclpy context (its own executor thread), the test node in the
default one, so all traffic goes through DDS on loopback.
"""
import math
import threading
import time

import pytest

rclpy = pytest.importorskip('rclpy')
from geometry_msgs.msg import Twist  # noqa: E402
from rclpy.node import Node  # noqa: E402

from jepa_ros.nodes import common  # noqa: E402
from jepa_ros.nodes.common import spin_for, spin_until  # noqa: E402
from jepa_ros_interfaces.msg import LatentState, Plan  # noqa: E402


def test_actor_sanitises_and_stops_on_stale_inputs():
    """Actor in its own context; NaN and huge plans in, safe commands out; no state -> 0."""
    from jepa_ros.nodes.actor import ActorNode
    from jepa_ros.nodes.lifecycle_util import autostart
    from rclpy.executors import SingleThreadedExecutor
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    actor = ActorNode(action_config=([0.8, 0.8], 'holonomic', 4), context=ctx,
                      cli_args=['--ros-args', '-p', 'max_linear_speed:=0.3',
                                '-p', 'watchdog_timeout:=0.2'])
    assert autostart(actor)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(actor)
    stop = threading.Event()
    th = threading.Thread(target=lambda: [ex.spin_once(timeout_sec=0.02)
                                          for _ in iter(stop.is_set, True)], daemon=True)
    th.start()
    rclpy.init()
    node = Node('actor_test')
    try:
        cmds = []
        node.create_subscription(Twist, 'cmd_vel', lambda m: cmds.append(
            (time.monotonic(), m)), 10)
        st = node.create_publisher(LatentState, 'jepa/state', 10)
        gl = node.create_publisher(LatentState, 'jepa/goal_state', common.LATCHED_QOS)
        pl = node.create_publisher(Plan, 'jepa/plan', 10)
        assert spin_until(node, lambda: pl.get_subscription_count() > 0
                          and st.get_subscription_count() > 0
                          and gl.get_subscription_count() > 0, 20)
        gl.publish(LatentState(level=1, data=[0.0] * 4))
        values = [float('nan'), 1e30, -float('inf'), 5.0, 1.0]

        def feed():
            now = node.get_clock().now().to_msg()
            s = LatentState(level=1, data=[0.1] * 4)
            s.header.stamp = now
            st.publish(s)
            p = Plan(planner='test', horizon=5, action_dim=2)
            p.header.stamp = now
            p.actions = [values[int(time.monotonic() * 10) % 5]] * 10
            pl.publish(p)

        spin_for(node, 2.0, feed)
        moving = [m for _, m in cmds if abs(m.linear.x) > 1e-6]
        assert len(cmds) > 20 and moving, 'actor never executed a plan'
        for _, m in cmds:
            v = [m.linear.x, m.linear.y, m.linear.z, m.angular.x, m.angular.y, m.angular.z]
            assert all(math.isfinite(x) for x in v), v
            assert math.hypot(m.linear.x, m.linear.y) <= 0.3 + 1e-6
        # perception dies: zero within the watchdog (+ one control period + delivery)
        t_dead = time.monotonic()
        spin_for(node, 1.0)
        late = [m for t, m in cmds if t > t_dead + 0.45]
        assert late and all(m.linear.x == 0 and m.linear.y == 0 for m in late)
        # a malformed plan (wrong action_dim) is rejected, not executed
        assert actor.counts['rejected_plans'] == 0
        pl.publish(Plan(planner='x', horizon=2, action_dim=3, actions=[1.0] * 6))
        assert spin_until(node, lambda: actor.counts['rejected_plans'] == 1, 5)
    finally:
        node.destroy_node()
        rclpy.shutdown()
        stop.set()
        th.join(timeout=5)
        actor.destroy_node()
        ctx.try_shutdown()
