"""The multi-threaded executor of our nodes does not burn a core while callbacks run, and
the latency benchmark's rate estimate is exact for a regular stream."""
import time

import pytest
import rclpy


def test_patient_executor_runs_callbacks_without_spinning_the_cpu():
    from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
    from rclpy.node import Node
    from std_msgs.msg import String

    from jepa_ros.nodes.executors import make_multithreaded_executor
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = Node('patient_executor_test', context=ctx)
    slow, fast = MutuallyExclusiveCallbackGroup(), MutuallyExclusiveCallbackGroup()
    pub = node.create_publisher(String, 'patient_executor_test', 10)
    got = []
    # A 50 Hz stream into a subscription, next to a 10 Hz callback that runs for half of
    # its period (a simulator step, a plan). rclpy's stock MultiThreadedExecutor spins
    # meanwhile (ros2/rclpy#1452): a whole core, and it delivered 29 of 150 messages.
    node.create_subscription(String, 'patient_executor_test', got.append, 10,
                             callback_group=fast)
    node.create_timer(0.02, lambda: pub.publish(String(data='x')), callback_group=fast)
    node.create_timer(0.1, lambda: time.sleep(0.05), callback_group=slow)
    ex = make_multithreaded_executor(2, context=ctx)
    ex.add_node(node)
    try:
        cpu0, t0 = time.process_time(), time.monotonic()
        while time.monotonic() - t0 < 2.0:
            ex.spin_once(timeout_sec=0.1)
        cpu = time.process_time() - cpu0
    finally:
        ex.shutdown()
        node.destroy_node()
        ctx.try_shutdown()
    assert len(got) >= 80, len(got)      # of about 100 published
    assert cpu < 0.6, f'spinning used {cpu:.2f} s of CPU in 2 s'


def test_rate_is_messages_per_second_between_first_and_last():
    from jepa_ros.nodes.stack_client import Received
    from jepa_ros.tools.bench_latency import rate
    times = [Received(None, 0.05 + 0.1 * i, None) for i in range(200)]    # 10 Hz
    assert rate(times, 0.0, 20.0) == pytest.approx(10.0)
    assert rate(times[:1], 0.0, 20.0) == 0.0
    assert rate(times, 5.0, 10.0) == pytest.approx(10.0)
