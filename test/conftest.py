"""Test-session setup: DDS on loopback only, a fresh ROS_DOMAIN_ID per session.

Set before anything imports rclpy, and inherited by every subprocess a test starts.
"""
import os
import random

os.environ['ROS_LOCALHOST_ONLY'] = '1'
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
if 'JEPA_TEST_DOMAIN_FIXED' not in os.environ:
    # A fresh id per test session so concurrent sessions (CI, developers) never cross.
    os.environ['ROS_DOMAIN_ID'] = str(random.SystemRandom().randint(1, 100))
os.environ.setdefault('PYTHONUNBUFFERED', '1')
# Tests must not fight over the two cores with intra-op threads.
os.environ.setdefault('OMP_NUM_THREADS', '1')
