"""Simulation: the whole jepa_ros graph of config/stack.yaml (sim_bridge included).

    ros2 launch jepa_ros sim.launch.py world:=two_rooms

Same description as `jepa-ros bringup --multiprocess` (nodes, executables, parameter
files, world overrides, remappings all come from config/stack.yaml); an unknown world
stops the launch with the list of known ones. `learn:=true` also starts the learner
(`jepa-ros learn` on the memory's data_dir, versions into the configurator's models_dir,
validated on the recordings and, in two_rooms, on 10 seeded sim tasks).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration

from jepa_ros.nodes.graph import launch_nodes
from jepa_ros.tools.learn import launch_learner


def _nodes(context):
    def arg(name):
        return LaunchConfiguration(name).perform(context)
    return (launch_nodes('sim', arg('world'), params_file=arg('params_file'))
            + launch_learner(context, 'sim'))


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument('world', default_value='two_rooms',
                              description='two_rooms or reach (config/stack.yaml worlds)'),
        DeclareLaunchArgument('params_file', default_value='',
                              description='YAML of ros__parameters per node (your own '
                                          'checkpoints, limits) applied over the defaults'),
        DeclareLaunchArgument('learn', default_value='false', choices=['true', 'false'],
                              description='true: also run the learner (jepa-ros learn), '
                                          'which fine-tunes on the memory\'s recordings and '
                                          'swaps validated models in'),
        OpaqueFunction(function=_nodes),
    ])
