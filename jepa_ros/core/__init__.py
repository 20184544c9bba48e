"""jepa_ros.core"""
