"""Simulation: the whole jepa_ros graph of config/stack.yaml (sim_bridge included).

    ros2 launch jepa_ros sim.launch.py world:=two_rooms

Same description as `jepa-ros bringup --multiprocess` (nodes, executables, parameter
files, world overrides, remappings all come from config/stack.yaml); an unknown world
stops the launch with the list of known ones.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration

from jepa_ros.nodes.graph import launch_nodes


def _nodes(context):
    def arg(name):
        return LaunchConfiguration(name).perform(context)
    return launch_nodes('sim', arg('world'), params_file=arg('params_file'))


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument('world', default_value='two_rooms',
                              description='two_rooms or reach (config/stack.yaml worlds)'),
        DeclareLaunchArgument('params_file', default_value='',
                              description='YAML of ros__parameters per node (your own '
                                          'checkpoints, limits) applied over the defaults'),
        OpaqueFunction(function=_nodes),
    ])
