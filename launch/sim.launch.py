"""Simulation: the whole jepa_ros graph of config/stack.yaml (sim_bridge included).

    ros2 launch jepa_ros sim.launch.py world:=two_rooms

Same description as `jepa-ros bringup --multiprocess` (nodes, executables, parameter
files, world overrides, remappings all come from config/stack.yaml).
"""
import os

import yaml
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

from jepa_ros.share import share_dir

TARGET = 'sim'


def _nodes(context):
    share = share_dir()  # install/share/jepa_ros (ament index), or the checkout
    config = os.path.join(share, 'config')
    with open(os.path.join(config, 'stack.yaml')) as f:
        stack = yaml.safe_load(f)
    world = LaunchConfiguration('world').perform(context)
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
        remaps = list((spec.get('remappings') or {}).items())
        kind = LifecycleNode if spec.get('lifecycle') else Node
        kw = {'namespace': ''} if spec.get('lifecycle') else {}
        out.append(kind(package='jepa_ros', executable=spec['executable'],
                        name=spec['name'], parameters=params, remappings=remaps,
                        output='screen', **kw))
    return out


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument('world', default_value='two_rooms',
                              description='two_rooms or reach'),
        OpaqueFunction(function=_nodes),
    ])
