"""jepa_ros_interfaces over real DDS (loopback) between two processes.

A helper process echoes LatentState messages (doubling the data) and serves ReachGoal and
SetMode; this process talks to it. Exercises the generated Python classes, the C
typesupport libraries (serialisation in both processes) and action plumbing.
"""
import os
import subprocess
import sys
import textwrap
import time

import pytest
import rclpy
from rclpy.action import ActionClient
from rclpy.node import Node

from jepa_ros.nodes.waiting import spin_until
from jepa_ros_interfaces.action import ReachGoal
from jepa_ros_interfaces.msg import LatentState, Plan
from jepa_ros_interfaces.srv import SetMode

PEER = textwrap.dedent('''
    import rclpy
    from rclpy.action import ActionServer
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from jepa_ros_interfaces.action import ReachGoal
    from jepa_ros_interfaces.msg import LatentState, Plan
    from jepa_ros_interfaces.srv import SetMode

    class Peer(Node):
        def __init__(self):
            super().__init__('iface_peer')
            self.pub = self.create_publisher(LatentState, 'iface/echo', 10)
            self.plan_pub = self.create_publisher(Plan, 'iface/plan', 10)
            self.create_subscription(LatentState, 'iface/in', self.on_state, 10)
            self.create_service(SetMode, 'iface/set_mode', self.on_mode)
            ActionServer(self, ReachGoal, 'iface/reach_goal', self.execute)

        def on_state(self, msg):
            out = LatentState(header=msg.header, level=msg.level + 1,
                              data=[2.0 * x for x in msg.data])
            self.pub.publish(out)
            self.plan_pub.publish(Plan(header=msg.header, planner='cem', horizon=2,
                                       action_dim=2, actions=[0.1, -0.2, 0.3, -0.4],
                                       cost=1.5, compute_ms=3.0))

        def on_mode(self, req, resp):
            resp.success = req.mode in ('mode1', 'mode2')
            resp.message = 'ok' if resp.success else f'unknown mode {req.mode!r}'
            return resp

        def execute(self, handle):
            g = handle.request
            for i in range(3):
                fb = ReachGoal.Feedback(energy=float(3 - i), steps=i, mode='mode2')
                handle.publish_feedback(fb)
            handle.succeed()
            return ReachGoal.Result(success=True, final_energy=0.25,
                                    steps=g.goal_image.width,
                                    message=f'{g.goal_image.encoding} {g.timeout_s:.1f}')

    rclpy.init()
    node = Peer()
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    try:
        while rclpy.ok():
            ex.spin_once(timeout_sec=0.1)
    except Exception:
        pass
''')


@pytest.fixture
def peer():
    proc = subprocess.Popen([sys.executable, '-c', PEER], env=dict(os.environ))
    yield proc
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_message_defaults_and_types():
    m = LatentState()
    assert m.level == 0 and len(m.data) == 0
    m.data = [1.0, 2.5]
    p = Plan(planner='gd', horizon=3, action_dim=2)
    assert p.planner == 'gd' and p.horizon == 3
    p.actions = [0.1, 0.2, 0.3, 0.4]
    from rclpy.serialization import deserialize_message, serialize_message
    back = deserialize_message(serialize_message(p), Plan)
    assert back.horizon == 3 and len(back.actions) == 4
    assert abs(back.actions[2] - 0.3) < 1e-7  # float32 on the wire


def test_roundtrip_between_processes(peer):
    rclpy.init()
    node = Node('iface_test')
    try:
        got, plans = [], []
        pub = node.create_publisher(LatentState, 'iface/in', 10)
        node.create_subscription(LatentState, 'iface/echo', got.append, 10)
        node.create_subscription(Plan, 'iface/plan', plans.append, 10)
        assert spin_until(node, lambda: pub.get_subscription_count() > 0
                          and node.count_publishers('iface/echo') > 0
                          and node.count_publishers('iface/plan') > 0, 20), 'peer not up'

        msg = LatentState(level=1, data=[0.5, -1.0, 3.0])
        msg.header.stamp.sec, msg.header.stamp.nanosec = 12, 345
        msg.header.frame_id = 'camera'
        # Publish until the echo arrives (the subscription may match before the data path).
        end = time.monotonic() + 10
        while not got and time.monotonic() < end:
            pub.publish(msg)
            spin_until(node, lambda: bool(got), 0.5)
        assert got, 'no echo'
        echo = got[0]
        assert echo.level == 2
        assert list(echo.data) == [1.0, -2.0, 6.0]
        assert (echo.header.stamp.sec, echo.header.stamp.nanosec) == (12, 345)
        assert echo.header.frame_id == 'camera'
        assert spin_until(node, lambda: bool(plans), 5)
        assert plans[0].planner == 'cem' and plans[0].action_dim == 2
        assert [round(x, 3) for x in plans[0].actions] == [0.1, -0.2, 0.3, -0.4]

        cli = node.create_client(SetMode, 'iface/set_mode')
        assert cli.wait_for_service(timeout_sec=10)
        fut = cli.call_async(SetMode.Request(mode='mode7'))
        assert spin_until(node, fut.done, 10)
        assert not fut.result().success and 'mode7' in fut.result().message

        ac = ActionClient(node, ReachGoal, 'iface/reach_goal')
        assert ac.wait_for_server(timeout_sec=10)
        feedback = []
        goal = ReachGoal.Goal(sample_in_sim=False, timeout_s=4.0)
        goal.goal_image.width, goal.goal_image.encoding = 7, 'rgb8'
        send = ac.send_goal_async(goal, feedback_callback=lambda f: feedback.append(f.feedback))
        assert spin_until(node, send.done, 10)
        handle = send.result()
        assert handle.accepted
        res_fut = handle.get_result_async()
        assert spin_until(node, res_fut.done, 10)
        result = res_fut.result().result
        assert result.success and result.steps == 7
        assert result.message == 'rgb8 4.0'
        assert abs(result.final_energy - 0.25) < 1e-6
        assert all(f.mode == 'mode2' for f in feedback)
    finally:
        node.destroy_node()
        rclpy.shutdown()
