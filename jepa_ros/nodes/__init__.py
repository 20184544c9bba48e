"""The ROS 2 face of the stack: one node per module (sim_bridge, perception, world_model,
actor, configurator, memory), each a thin adapter from topics, services and parameters to
jepa_ros.core / sim / data; plus what the nodes share: parameters (declaration and
ownership), QoS profiles, message conversions, diagnostics, executors, the lifecycle base,
the graph description used by launch files and bringup, and a client driving the stack.

May import: rclpy and ROS messages, jepa_ros.core, jepa_ros.sim, jepa_ros.data. A node
module never imports another node module (shared pieces live in their own modules here);
nothing here imports jepa_ros.tools.
"""
