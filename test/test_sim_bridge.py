"""sim_bridge over real DDS (loopback): camera rate, bad commands, watchdog, goals.

The bridge runs as its own process (as it would on a robot); this process is a plain
rclpy client. Rates are asserted loosely (30 %): the point is "publishes at the
configured rate", the exact numbers live in the benchmarks.
"""
import json
import signal
import subprocess
import sys
import time

import pytest
import rclpy
from support import call_trigger
from rclpy.node import Node

from jepa_ros.nodes.messages import image_to_rgb, stamp_to_sec
from jepa_ros.nodes.qos import LATCHED_QOS, RELIABLE_QOS, SENSOR_QOS

pytestmark = pytest.mark.ros
CAMERA_RATE = 15.0
CMD_TIMEOUT = 0.4


def wait_for(pred, timeout, node, period=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        rclpy.spin_once(node, timeout_sec=period)
    return pred()


class Client:
    """A plain rclpy node watching the bridge: images, odom, diagnostics."""

    def __init__(self):
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import Twist
        from nav_msgs.msg import Odometry
        from sensor_msgs.msg import Image
        self.node = Node('sim_bridge_test_client')
        self.images, self.odoms, self.diag = [], [], {}
        self.node.create_subscription(
            Image, 'camera/image_raw',
            lambda m: self.images.append((time.monotonic(), m)), SENSOR_QOS)
        self.node.create_subscription(
            Odometry, 'odom', lambda m: self.odoms.append((time.monotonic(), m)), 10)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 10)
        self.cmd = self.node.create_publisher(Twist, 'cmd_vel', RELIABLE_QOS)

    def _on_diag(self, msg):
        for st in msg.status:
            if st.name == '/sim_bridge':
                self.diag = {kv.key: kv.value for kv in st.values}

    def send(self, vx=0.0, vy=0.0, wz=0.0):
        from geometry_msgs.msg import Twist
        msg = Twist()
        msg.linear.x, msg.linear.y, msg.angular.z = vx, vy, wz
        self.cmd.publish(msg)

    def spin_for(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rclpy.spin_once(self.node, timeout_sec=0.02)


@pytest.fixture(scope='module')
def bridge():
    rclpy.init()
    proc = subprocess.Popen(
        [sys.executable, '-m', 'jepa_ros.nodes.sim_bridge', '--ros-args',
         '-p', f'camera_rate:={CAMERA_RATE}', '-p', f'cmd_timeout:={CMD_TIMEOUT}',
         '-p', 'image_size:=48', '-p', 'seed:=3'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    client = Client()
    try:
        assert wait_for(lambda: len(client.images) > 2 or proc.poll() is not None, 30,
                        client.node), 'no image from the bridge'
        assert proc.poll() is None
        assert wait_for(lambda: client.cmd.get_subscription_count() > 0, 10, client.node)
        yield proc, client
    finally:
        client.node.destroy_node()
        rclpy.shutdown()
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        out = proc.stdout.read().decode(errors='replace')
        print(out)


def test_images_arrive_at_the_configured_rate(bridge):
    proc, client = bridge
    client.spin_for(0.5)  # settle after matching
    start = len(client.images)
    t0 = time.monotonic()
    client.spin_for(3.0)
    rate = (len(client.images) - start) / (time.monotonic() - t0)
    print(f'camera rate over DDS: {rate:.2f} Hz (configured {CAMERA_RATE})')
    assert abs(rate - CAMERA_RATE) <= 0.3 * CAMERA_RATE, f'{rate:.1f} Hz vs {CAMERA_RATE}'
    msg = client.images[-1][1]
    assert (msg.height, msg.width, msg.encoding, msg.step) == (48, 48, 'rgb8', 144)
    assert len(msg.data) == 48 * 48 * 3
    stamps = [stamp_to_sec(m.header.stamp) for _, m in client.images[start:]]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))


def test_nan_and_bad_commands_rejected_node_keeps_publishing(bridge):
    proc, client = bridge
    assert wait_for(lambda: 'nonfinite' in client.diag, 5, client.node)
    before = {k: int(client.diag[k]) for k in ('nonfinite', 'over_range', 'malformed')}
    client.send(vx=float('nan'))
    client.send(vx=float('inf'), vy=0.1)
    client.send(vx=50.0)            # far above max_linear_speed
    client.send(vx=0.1, wz=1.0)     # a holonomic two_rooms robot cannot turn
    assert wait_for(lambda: int(client.diag.get('nonfinite', 0)) >= before['nonfinite'] + 2
                    and int(client.diag.get('over_range', 0)) >= before['over_range'] + 1
                    and int(client.diag.get('malformed', 0)) >= before['malformed'] + 1,
                    5, client.node), client.diag
    assert proc.poll() is None
    n = len(client.images)
    client.spin_for(1.0)
    assert len(client.images) >= n + CAMERA_RATE * 0.5, 'bridge stopped publishing'
    # No rejected command moved the robot.
    assert all(o.twist.twist.linear.x == 0.0 for _, o in client.odoms[-5:])


def test_watchdog_stops_the_robot_when_commands_stop(bridge):
    proc, client = bridge
    # Drive for a while, then go silent.
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        client.send(vx=0.2)
        client.spin_for(0.05)
    assert client.odoms[-1][1].twist.twist.linear.x == pytest.approx(0.2, abs=1e-6)
    t_last = time.monotonic()
    assert wait_for(lambda: client.odoms[-1][1].twist.twist.linear.x == 0.0
                    and client.odoms[-1][0] > t_last, 5, client.node)
    stopped_after = client.odoms[-1][0] - t_last
    print(f'watchdog: robot stopped {stopped_after:.3f} s after the last command '
          f'(cmd_timeout {CMD_TIMEOUT})')
    # cmd_timeout plus one control period plus delivery; loose on a shared 2-core machine.
    assert CMD_TIMEOUT - 0.1 <= stopped_after <= CMD_TIMEOUT + 0.6, stopped_after
    pos = client.odoms[-1][1].pose.pose.position.x
    client.spin_for(0.5)
    assert client.odoms[-1][1].pose.pose.position.x == pytest.approx(pos, abs=1e-3)


def test_sample_goal_publishes_latched_goal_image_and_status(bridge):
    from sensor_msgs.msg import Image
    proc, client = bridge
    resp = call_trigger(client.node, '/sim_bridge/sample_goal')
    assert resp.success, resp.message
    goal = json.loads(resp.message)['goal_state']
    assert len(goal) == 3
    # A subscriber that joins after the goal was published still gets it (latched).
    got = []
    sub = client.node.create_subscription(Image, 'goal/image_raw', got.append,
                                          LATCHED_QOS)
    try:
        assert wait_for(lambda: got, 10, client.node)
        img = image_to_rgb(got[-1])
        assert img.shape == (48, 48, 3) and img.std() > 0
    finally:
        client.node.destroy_subscription(sub)
    status = json.loads(call_trigger(client.node, '/sim_bridge/goal_status').message)
    assert status['has_goal'] and status['goal_state'] == pytest.approx(goal)
    assert status['distance'] > 0
    resp = call_trigger(client.node, '/sim_bridge/reset')
    assert resp.success and len(json.loads(resp.message)['state']) == 3
    assert not json.loads(call_trigger(client.node, '/sim_bridge/goal_status').message)[
        'has_goal']
