"""jepa_ros.data"""
