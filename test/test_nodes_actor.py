"""The actor over real DDS: NaN and huge plans in, safe commands out; stale state -> one
zero command; idle means silent (one zero command on going idle, then nothing on cmd_vel)
unless `publish_when_idle`; the reach mode publishes TwistStamped.

The actor runs in its own rclpy context (its own executor thread), the test node in the
default one, so all traffic goes through DDS on loopback. Windows are counted in control
ticks of the actor (its `counts['ticks']`), not in seconds.
"""
import math
import threading
import time

import pytest
import rclpy
from geometry_msgs.msg import Twist, TwistStamped
from rclpy.node import Node
from rclpy.parameter import Parameter

from jepa_ros.nodes.lifecycle_util import SUCCESS
from jepa_ros.nodes.qos import LATCHED_QOS
from jepa_ros.nodes.waiting import spin_for, spin_until
from jepa_ros_interfaces.msg import LatentState, Plan

D = 4
IDLE_TICKS = 25  # a window of 0.5 s at 50 Hz


def vec(m):
    return [m.linear.x, m.linear.y, m.linear.z, m.angular.x, m.angular.y, m.angular.z]


class Harness:
    """An actor in its own context + a test node that feeds it and records cmd_vel."""

    def __init__(self, action_config, params=(), cmd_type=Twist):
        from rclpy.executors import SingleThreadedExecutor

        from jepa_ros.nodes.actor import ActorNode
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx)
        args = ['--ros-args']
        for p in params:
            args += ['-p', p]
        self.actor = ActorNode(action_config=action_config, context=self.ctx, cli_args=args)
        assert self.actor.trigger_configure() == SUCCESS
        ex = SingleThreadedExecutor(context=self.ctx)
        ex.add_node(self.actor)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: [ex.spin_once(timeout_sec=0.02)
                                                       for _ in iter(self.stop.is_set, True)],
                                       daemon=True)
        self.thread.start()
        rclpy.init()
        self.node = n = Node('actor_test')
        self.cmds = []   # (monotonic receive time, msg)
        self.sub = n.create_subscription(cmd_type, 'cmd_vel', lambda m: self.cmds.append(
            (time.monotonic(), m)), 1000)
        self.st = n.create_publisher(LatentState, 'jepa/state', 10)
        self.gl = n.create_publisher(LatentState, 'jepa/goal_state', LATCHED_QOS)
        self.pl = n.create_publisher(Plan, 'jepa/plan', 10)
        # cmd_vel matched both ways before the actor goes active: its first message counts
        assert spin_until(n, lambda: self.actor.cmd_pub.get_subscription_count() > 0
                          and self.sub.get_publisher_count() > 0, 20), 'cmd_vel never matched'
        assert self.actor.trigger_activate() == SUCCESS
        assert spin_until(n, lambda: self.pl.get_subscription_count() > 0
                          and self.st.get_subscription_count() > 0
                          and self.gl.get_subscription_count() > 0, 20)

    def ticks(self):
        return self.actor.counts['ticks']

    def spin_ticks(self, n, feed=None):
        """Spin the test node while the actor runs `n` more control ticks."""
        end = self.ticks() + n
        assert spin_until(self.node, lambda: self.ticks() >= end, 30, feed), 'actor stalled'

    def delivered(self):
        """Wait until every command the actor published arrived; their number."""
        assert spin_until(self.node, lambda: len(self.cmds) >= self.actor.counts['published'],
                          10), (len(self.cmds), self.actor.counts)
        return len(self.cmds)

    def feed(self, actions=(0.5, 0.0), state=True, plan=True):
        now = self.node.get_clock().now().to_msg()
        if state:
            s = LatentState(level=1, data=[0.1] * D)
            s.header.stamp = now
            self.st.publish(s)
        if plan:
            n = len(actions)
            p = Plan(planner='test', horizon=5, action_dim=n, actions=list(actions) * 5)
            p.header.stamp = now
            self.pl.publish(p)

    def set(self, **params):
        res = self.actor.set_parameters([Parameter(k, value=v) for k, v in params.items()])
        assert all(r.successful for r in res), res

    def close(self):
        self.node.destroy_node()
        rclpy.shutdown()
        self.stop.set()
        self.thread.join(timeout=5)
        self.actor.destroy_node()
        self.ctx.try_shutdown()


@pytest.fixture
def harness():
    made = []

    def make(*args, **kwargs):
        made.append(Harness(*args, **kwargs))
        return made[-1]
    try:
        yield make
    finally:
        for h in made:
            h.close()


def test_actor_sanitises_and_stops_on_stale_inputs(harness):
    """NaN and huge plans in, safe commands out; perception dies -> one zero, then none."""
    h = harness(([0.8, 0.8], 'holonomic', D), ['max_linear_speed:=0.3',
                                               'watchdog_timeout:=0.2'])
    h.gl.publish(LatentState(level=1, data=[0.0] * D))
    values = [float('nan'), 1e30, -float('inf'), 5.0, 1.0]

    def feed():
        h.feed(actions=[values[int(time.monotonic() * 10) % 5]] * 2)

    spin_for(h.node, 2.0, feed)
    cmds = list(h.cmds)
    moving = [m for _, m in cmds if abs(m.linear.x) > 1e-6]
    assert len(cmds) > 20 and moving, 'actor never executed a plan'
    for _, m in cmds:
        assert all(math.isfinite(x) for x in vec(m)), vec(m)
        assert math.hypot(m.linear.x, m.linear.y) <= 0.3 + 1e-6
    # The last plan fed may be a NaN one, whose commands are sanitised zeros while it is
    # executed (not the idle zero): end on a clean plan and its moving command first.
    h.feed(actions=[1.0] * 2)
    assert spin_until(h.node, lambda: abs(h.cmds[-1][1].linear.x) > 1e-6, 5)
    # perception dies: one zero command, then silence
    n_before = len(h.cmds)
    h.spin_ticks(IDLE_TICKS)
    h.delivered()
    after = h.cmds[n_before:]
    zeros = [i for i, (_, m) in enumerate(after) if not any(vec(m))]
    # exactly one zero, and it is the last command
    assert zeros == [len(after) - 1], [vec(m) for _, m in after]
    # a malformed plan (wrong action_dim) is rejected, not executed
    assert h.actor.counts['rejected_plans'] == 0
    h.pl.publish(Plan(planner='x', horizon=2, action_dim=3, actions=[1.0] * 6))
    assert spin_until(h.node, lambda: h.actor.counts['rejected_plans'] == 1, 5)


def test_idle_is_silent_a_goal_drives_and_going_idle_sends_one_zero(harness):
    h = harness(([0.8, 0.8], 'holonomic', D), ['control_rate:=50.0'])
    # no goal: the first tick's zero command, then nothing
    h.spin_ticks(IDLE_TICKS, lambda: h.feed(plan=False))
    assert h.delivered() == 1 and not any(vec(h.cmds[0][1])), h.actor.counts
    h.spin_ticks(IDLE_TICKS, lambda: h.feed(plan=False))
    assert h.delivered() == 1, h.actor.counts
    assert h.actor.counts['stop'] >= 2 * IDLE_TICKS
    # a goal and fresh plans: a command every tick, moving
    h.gl.publish(LatentState(level=1, data=[0.0] * D))
    assert spin_until(h.node, lambda: any(abs(m.linear.x) > 1e-3 for _, m in h.cmds), 10,
                      h.feed), 'a goal with plans produced no motion'
    n0 = h.delivered()
    h.spin_ticks(IDLE_TICKS, h.feed)
    active = [m for _, m in h.cmds[n0:h.delivered()]]
    assert len(active) >= IDLE_TICKS and all(m.linear.x > 1e-3 for m in active)
    # the goal ends (the configurator holds the actor): exactly one zero, then silence
    n1 = h.delivered()
    h.set(enabled=False)
    h.spin_ticks(IDLE_TICKS, h.feed)   # plans and states keep coming: still held
    h.spin_ticks(IDLE_TICKS, h.feed)
    after = [m for _, m in h.cmds[n1:]]
    assert after and not any(vec(after[-1])), [vec(m) for m in after]
    assert sum(1 for m in after if not any(vec(m))) == 1, [vec(m) for m in after]
    assert h.delivered() == n1 + len(after)


def test_publish_when_idle_restores_the_heartbeat_and_estop_stops_once(harness):
    h = harness(([0.8, 0.8], 'holonomic', D), ['control_rate:=50.0',
                                               'publish_when_idle:=true'])
    h.spin_ticks(IDLE_TICKS)
    n = h.delivered()
    assert n >= IDLE_TICKS and all(not any(vec(m)) for _, m in h.cmds), n
    # heartbeat off while idle: silent from the next tick on
    h.set(publish_when_idle=False)
    h.spin_ticks(2)   # a tick under way may still have read the old value
    n0 = h.delivered()
    h.spin_ticks(IDLE_TICKS)
    assert h.delivered() == n0
    # driving, then ~/estop: one zero command, then silence although plans keep coming
    from std_srvs.srv import SetBool
    h.gl.publish(LatentState(level=1, data=[0.0] * D))
    assert spin_until(h.node, lambda: any(abs(m.linear.x) > 1e-3 for _, m in h.cmds), 10,
                      h.feed)
    cli = h.node.create_client(SetBool, '/actor/estop')
    assert cli.wait_for_service(timeout_sec=10)
    n1 = h.delivered()
    fut = cli.call_async(SetBool.Request(data=True))
    assert spin_until(h.node, fut.done, 10, h.feed) and fut.result().success
    h.spin_ticks(IDLE_TICKS, h.feed)
    h.delivered()
    after = [m for _, m in h.cmds[n1:]]
    zeros = [i for i, m in enumerate(after) if not any(vec(m))]
    assert len(zeros) == 1 and zeros[0] == len(after) - 1, [vec(m) for m in after]


def test_reach_mode_publishes_stamped_commands(harness):
    """A checkpoint that says the legacy 'ee_velocity' drives the arm with TwistStamped."""
    h = harness(([0.25, 0.25, 0.25], 'ee_velocity', D),
                ['control_rate:=50.0', 'cmd_frame_id:=panda_hand'], cmd_type=TwistStamped)
    assert h.actor.action_mode == 'reach'
    h.gl.publish(LatentState(level=1, data=[0.0] * D))
    def feed():
        return h.feed(actions=(0.0, 0.4, -0.8))
    assert spin_until(h.node, lambda: any(abs(m.twist.linear.z) > 1e-3 for _, m in h.cmds),
                      10, feed)
    h.spin_ticks(10, feed)   # past the acceleration ramp
    m = h.cmds[-1][1]
    assert m.header.frame_id == 'panda_hand'
    assert m.header.stamp.sec > 0
    assert m.twist.linear.y == pytest.approx(0.1) and m.twist.linear.z == pytest.approx(-0.2)
    assert m.twist.angular.z == 0.0
