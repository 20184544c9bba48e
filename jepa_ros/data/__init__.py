"""Recorded experience on disk: rosbag2-compatible MCAP reading and writing, the chunked
recorder behind the memory node, episodes as training data, message-definition text for
MCAP schemas, and paths kept inside the data directory.

May import: jepa_ros.core, mcap, rosbags, numpy; never rclpy, jepa_ros.nodes or
jepa_ros.tools (training and tests read recordings without a running ROS graph).
"""
