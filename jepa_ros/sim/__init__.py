"""jepa_ros.sim"""
