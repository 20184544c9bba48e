"""Test-session setup: DDS on loopback only, a fresh ROS_DOMAIN_ID per session.

Set before anything imports rclpy, and inherited by every subprocess a test starts.
"""
import os
import random

import pytest

os.environ['ROS_LOCALHOST_ONLY'] = '1'
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
if 'JEPA_TEST_DOMAIN_FIXED' not in os.environ:
    # A fresh id per test session so concurrent sessions (CI, developers) never cross.
    os.environ['ROS_DOMAIN_ID'] = str(random.SystemRandom().randint(1, 100))
os.environ.setdefault('PYTHONUNBUFFERED', '1')
# Tests must not fight over the two cores with intra-op threads.
os.environ.setdefault('OMP_NUM_THREADS', '1')


@pytest.fixture(scope='session')
def colcon_ws(tmp_path_factory):
    """This working tree built by the README's colcon command into a temporary workspace,
    once per session, sourced (test/launch_support.py; the test_launch_* tests use it).
    Skips without the ROS 2 tools, fails instead under JEPA_REQUIRE_ROS_TOOLS=1."""
    import launch_support
    env = launch_support.need_tools()
    ws = launch_support.build_workspace(str(tmp_path_factory.mktemp('colcon_ws')), env)
    print(f'colcon build: {ws.build_s:.1f} s ({" ".join(ws.command)})')
    yield ws
    # The tests use --no-daemon; a daemon started on this domain anyway must not outlive us.
    launch_support.ros2(ws, 'daemon', 'stop', timeout=60)


@pytest.fixture
def ros_context():
    """An rclpy context of the test's own (nodes made in-process, no global init)."""
    import rclpy
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    context.try_shutdown()
