"""jepa_ros.nodes"""
