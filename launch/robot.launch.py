"""Real robot: the jepa_ros graph of config/stack.yaml without the simulator.

    ros2 launch jepa_ros robot.launch.py camera:=/camera/color/image_raw \
        cmd_vel:=/base/cmd_vel world:=two_rooms

The camera topic and the command topic are remapped to the robot's; lifecycle nodes
configure and activate themselves (autostart parameter). Same description as
`jepa-ros bringup --robot --multiprocess`. `learn:=true` also starts the learner
(`jepa-ros learn` on the memory's data_dir, versions into the configurator's models_dir,
validated on held-out recordings).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration

from jepa_ros.nodes.graph import launch_nodes
from jepa_ros.tools.learn import launch_learner


def _nodes(context):
    def arg(name):
        return LaunchConfiguration(name).perform(context)
    return (launch_nodes('robot', arg('world'), remap={'camera/image_raw': arg('camera'),
                                                        'cmd_vel': arg('cmd_vel')},
                         params_file=arg('params_file'))
            + launch_learner(context, 'robot'))


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument('world', default_value='two_rooms',
                              description='world whose checkpoints to load '
                                          '(config/stack.yaml worlds)'),
        DeclareLaunchArgument('camera', default_value='camera/image_raw',
                              description='the robot camera topic (sensor_msgs/Image)'),
        DeclareLaunchArgument('cmd_vel', default_value='cmd_vel',
                              description='the robot velocity command topic (Twist, or '
                                          'TwistStamped for reach)'),
        DeclareLaunchArgument('params_file', default_value='',
                              description='YAML of ros__parameters per node (your own '
                                          'checkpoints, limits) applied over the defaults'),
        DeclareLaunchArgument('learn', default_value='false', choices=['true', 'false'],
                              description='true: also run the learner (jepa-ros learn), '
                                          'which fine-tunes on the memory\'s recordings and '
                                          'swaps validated models in'),
        OpaqueFunction(function=_nodes),
    ])
