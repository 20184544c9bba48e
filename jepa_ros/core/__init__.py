"""The architecture itself, in torch and numpy: encoder, predictor and world model, the
latent variable z, losses and training (one process, or data-parallel under torchrun:
distributed), cost terms and the critic, the Mode-1 actor,
planners (gradient, CEM, MPPI, random, hierarchical) and the receding-horizon loop,
command shaping and limits, action modes, checkpoints, metrics.

May import: torch, numpy and the standard library; never rclpy, jepa_ros.nodes,
jepa_ros.sim or jepa_ros.tools (a robot or a notebook uses core without ROS or a simulator).
"""
