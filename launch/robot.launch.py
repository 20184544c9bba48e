"""Real robot: the jepa_ros graph of config/stack.yaml without the simulator.

    ros2 launch jepa_ros robot.launch.py camera:=/camera/color/image_raw \
        cmd_vel:=/base/cmd_vel world:=two_rooms

The camera topic and the command topic are remapped to the robot's; lifecycle nodes
configure and activate themselves (autostart parameter). Same description as
`jepa-ros bringup --robot --multiprocess`.
"""
import os

import yaml
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

from jepa_ros.share import share_dir

TARGET = 'robot'


def _nodes(context):
    share = share_dir()  # install/share/jepa_ros (ament index), or the checkout
    config = os.path.join(share, 'config')
    with open(os.path.join(config, 'stack.yaml')) as f:
        stack = yaml.safe_load(f)
    world = LaunchConfiguration('world').perform(context)
    camera = LaunchConfiguration('camera').perform(context)
    cmd_vel = LaunchConfiguration('cmd_vel').perform(context)
    out = []
    for spec in stack['nodes']:
        if TARGET not in spec.get('targets', ['sim', 'robot']):
            continue
        params = []
        pfile = os.path.join(config, spec.get('params') or '')
        if spec.get('params') and os.path.exists(pfile):
            params.append(pfile)
        params.append(dict(((stack.get('worlds') or {}).get(world) or {}).get(spec['name'])
                           or {}))
        remaps = dict(spec.get('remappings') or {})
        remaps['camera/image_raw'] = camera
        remaps['cmd_vel'] = cmd_vel
        kind = LifecycleNode if spec.get('lifecycle') else Node
        kw = {'namespace': ''} if spec.get('lifecycle') else {}
        out.append(kind(package='jepa_ros', executable=spec['executable'],
                        name=spec['name'], parameters=params,
                        remappings=list(remaps.items()), output='screen', **kw))
    return out


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument('world', default_value='two_rooms',
                              description='world whose checkpoint to load'),
        DeclareLaunchArgument('camera', default_value='camera/image_raw',
                              description='the robot camera topic (sensor_msgs/Image)'),
        DeclareLaunchArgument('cmd_vel', default_value='cmd_vel',
                              description='the robot velocity command topic (Twist)'),
        OpaqueFunction(function=_nodes),
    ])
