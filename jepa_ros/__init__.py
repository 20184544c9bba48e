"""jepa_ros: the autonomous-intelligence architecture (LeCun 2022) as a ROS 2 stack."""
__version__ = '0.1.0'
