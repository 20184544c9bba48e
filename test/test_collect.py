"""`jepa-ros collect` and `jepa-ros sim` end to end (in-process, short)."""
from pathlib import Path

import numpy as np
import pytest

from jepa_ros.cli import main
from jepa_ros.data.episodes import load_episodes
from jepa_ros.sim import make_env


def test_collect_two_episodes(tmp_path, capsys):
    out = tmp_path / 'eps'
    rc = main(['collect', '--world', 'two_rooms', '--episodes', '2', '--steps', '12', '--out',
               str(out), '--seed', '3', '--quiet'])
    assert rc == 0
    assert 'wrote 2 episodes' in capsys.readouterr().out
    files = sorted(out.glob('*.mcap'))
    assert len(files) == 2
    episodes = load_episodes(out, cache_dir=tmp_path / 'cache')
    env = make_env('two_rooms')
    for ep in episodes:
        assert ep.images.shape == (12, 64, 64, 3) and ep.actions.shape == (12, 2)
        assert ep.meta['world'] == 'two_rooms' and ep.meta['action_scale'] == [1.5, 1.5]
        assert np.all(np.abs(ep.actions) <= 1) and np.abs(ep.actions).max() > 0.05
        # Odometry is ground truth: each image is exactly the render of its state...
        for t in (0, 5, 11):
            np.testing.assert_array_equal(ep.images[t], env.render_state(ep.states[t]))
        # ...and the states follow the recorded actions (holonomic, 1.5 m/s, 0.1 s),
        # except where a wall stopped the robot.
        step = np.diff(ep.states[:, :2], axis=0)
        free = np.linalg.norm(step - ep.actions[:-1] * 0.15, axis=1) < 1e-3
        assert free.mean() > 0.5
    env.close()
    # rosbag2 tooling reads the same files.
    from rosbags.highlevel import AnyReader
    with AnyReader([Path(files[0])]) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
        assert topics == {'camera/image_raw': 'sensor_msgs/msg/Image',
                          'cmd_vel': 'geometry_msgs/msg/Twist', 'odom': 'nav_msgs/msg/Odometry'}
        assert sum(1 for _ in reader.messages()) == 36


@pytest.mark.parametrize('argv, message', [
    (['--episodes', '0'], '--episodes'),
    (['--steps', '1'], '--steps'),
    (['--image-size', '4'], '--image-size'),
    (['--push-prob', '1.5'], '--push-prob'),
    (['--world', 'mars'], '--world'),
    (['--world', 'reach', '--door-block-prob', '0.5'], 'two_rooms options'),
    (['--action-mode', 'walk'], 'action_mode'),
])
def test_collect_bad_arguments(tmp_path, capsys, argv, message):
    rc = main(['collect', '--out', str(tmp_path / 'x'), '--quiet'] + argv)
    err = capsys.readouterr().err
    assert rc == 2 and 'error' in err and message in err
    assert not list(tmp_path.glob('x/*.mcap'))


def test_collect_refuses_to_overwrite(tmp_path, capsys):
    args = ['collect', '--episodes', '1', '--steps', '3', '--out', str(tmp_path), '--quiet']
    assert main(args) == 0
    assert main(args) == 2 and 'exist already' in capsys.readouterr().err
    assert main(args + ['--overwrite']) == 0


def test_sim_command_prints_fps(capsys, tmp_path):
    png = tmp_path / 'last.png'
    assert main(['sim', '--world', 'two_rooms', '--steps', '20', '--save', str(png)]) == 0
    assert 'frames/s' in capsys.readouterr().out and png.stat().st_size > 0
    assert main(['sim', '--steps', '0']) == 2
