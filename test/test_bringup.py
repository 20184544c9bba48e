"""Bringup: stack.yaml is consistent, launch files compile, `jepa-ros bringup` starts the
graph and stops cleanly on SIGTERM."""
import os
import py_compile
import signal
import subprocess
import sys
import time

import pytest

from jepa_ros.nodes.graph import ROOT, load_stack, ros_args, select_nodes


def test_launch_files_compile():
    for name in ('sim.launch.py', 'robot.launch.py'):
        py_compile.compile(os.path.join(ROOT, 'launch', name), doraise=True)


def test_stack_description_and_ros_args():
    stack = load_stack()
    names = [n['name'] for n in stack['nodes']]
    for n in ('perception', 'world_model', 'actor', 'configurator'):
        assert n in names
    robot = [n['name'] for n in select_nodes(stack, 'robot')]
    assert 'sim_bridge' not in robot and 'perception' in robot
    spec = next(n for n in stack['nodes'] if n['name'] == 'perception')
    args = ros_args(spec, stack, 'reach', remap={'camera/image_raw': '/cam'})
    assert args[0] == '--ros-args' and '--params-file' in args
    assert 'checkpoint:=models/reach_world_model.pt' in args
    assert 'camera/image_raw:=/cam' in args


def test_bringup_unknown_world_is_a_user_error():
    r = subprocess.run([sys.executable, '-m', 'jepa_ros.cli', 'bringup', '--world', 'moon',
                        '--duration', '1'], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and 'unknown world' in r.stderr


def test_node_selection_and_overrides_are_checked():
    from jepa_ros.tools.bringup import parse_overrides
    stack = load_stack()
    assert [n['name'] for n in select_nodes(stack, only=['actor', 'perception'])] == \
        ['perception', 'actor']
    with pytest.raises(ValueError, match='unknown node'):
        select_nodes(stack, only=['actuator'])
    with pytest.raises(ValueError, match='unknown node'):
        select_nodes(stack, skip=['camera'])
    assert parse_overrides('{"actor": {"max_linear_speed": 0.5}}') == \
        {'actor': {'max_linear_speed': 0.5}}
    assert parse_overrides(None) is None
    for bad in ('{actor', '[1, 2]', '{"actor": 0.5}'):
        with pytest.raises(ValueError, match='--overrides'):
            parse_overrides(bad)
    r = subprocess.run([sys.executable, '-m', 'jepa_ros.cli', 'bringup', '--overrides',
                        '{"actr": {"max_linear_speed": 0.5}}', '--duration', '1'],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and 'unknown node' in r.stderr, r.stderr


def test_bringup_starts_and_stops_on_sigterm():
    """Real checkpoint absent is fine: model nodes stay unconfigured and say so."""
    p = subprocess.Popen([sys.executable, '-m', 'jepa_ros.cli', 'bringup',
                          '--world', 'two_rooms', '--skip', 'memory'],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        end = time.monotonic() + 90
        while time.monotonic() < end:
            line = p.stdout.readline()
            if not line:
                break
            lines.append(line)
            if 'graph up' in line:
                break
        assert any('graph up' in ln for ln in lines), ''.join(lines)
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
        assert p.returncode == 0, out
        assert 'bringup: stopped' in out
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_node_params_merge_the_file_and_the_world_and_name_shipped_checkpoints():
    from jepa_ros.nodes.graph import node_params
    wm = node_params('world_model', 'two_rooms')
    assert wm['critic_checkpoint'] == 'models/two_rooms_critic.pt'   # from the world
    assert wm['horizon'] == 12 and wm['gd.num_inits'] == 4           # from world_model.yaml
    assert node_params('world_model', None)['critic_checkpoint'] == ''
    # every checkpoint a world names is shipped (a robot launch would otherwise fail)
    for world, nodes in load_stack()['worlds'].items():
        for name, params in nodes.items():
            for key, value in params.items():
                if key.endswith('checkpoint') and value:
                    assert os.path.exists(os.path.join(ROOT, value)), (world, name, value)
    with pytest.raises(ValueError):
        node_params('no_such_node')
