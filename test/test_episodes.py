"""Episodes: write_episode/load_episodes round trip and alignment of asynchronous logs."""
import os

import numpy as np
import pytest

from jepa_ros.data.episodes import (EpisodeError, image_msg, load_episodes, read_episode,
                                    write_episode)
from jepa_ros.data.mcap_io import McapWriter, make_msg

META = {'world': 'two_rooms', 'action_mode': 'holonomic', 'action_dim': 2, 'dt': 0.1,
        'action_fields': ['linear.x', 'linear.y'], 'action_scale': [0.6, 0.6],
        'state_fields': ['x', 'y', 'yaw']}


def _data(rng, t=12):
    images = rng.integers(0, 256, (t, 8, 10, 3), dtype=np.uint8)
    actions = rng.uniform(-1, 1, (t, 2)).astype(np.float32)
    states = np.column_stack([rng.uniform(-1.4, 1.4, (t, 2)), rng.uniform(-3.1, 3.1, t)])
    return images, actions, states.astype(np.float32)


def test_round_trip_and_cache(tmp_path):
    rng = np.random.default_rng(0)
    images, actions, states = _data(rng)
    write_episode(tmp_path / 'a.mcap',
                  images, actions, states, META)
    cache = tmp_path / 'cache'
    for _ in range(2):  # second pass comes from the .npz cache
        ep, = load_episodes(tmp_path, cache_dir=cache)
        np.testing.assert_array_equal(ep.images, images)
        np.testing.assert_allclose(ep.actions, actions, atol=1e-6)
        np.testing.assert_allclose(ep.states, states, atol=1e-5)
        assert ep.meta['action_scale'] == [0.6, 0.6] and ep.meta['world'] == 'two_rooms'
    assert len(os.listdir(cache)) == 1
    # A rewritten file (new mtime/size) is decoded again, not served stale.
    images2, actions2, states2 = _data(rng, t=5)
    write_episode(tmp_path / 'a.mcap', images2, actions2, states2, META)
    ep, = load_episodes(tmp_path, cache_dir=cache)
    np.testing.assert_array_equal(ep.images, images2)


def test_differential_drive_twist_fields(tmp_path):
    from jepa_ros.data.mcap_io import read_messages
    meta = dict(META, action_mode='diff_drive', action_fields=['linear.x', 'angular.z'],
                action_scale=[0.6, 2.0])
    images, actions, states = _data(np.random.default_rng(1), t=3)
    write_episode(tmp_path / 'd.mcap', images, actions, states, meta)
    cmds = [m for topic, _, _, m in read_messages(tmp_path / 'd.mcap') if topic == 'cmd_vel']
    assert cmds[1].linear.x == pytest.approx(actions[1, 0] * 0.6)
    assert cmds[1].angular.z == pytest.approx(actions[1, 1] * 2.0) and cmds[1].linear.y == 0
    ep = read_episode(tmp_path / 'd.mcap')
    np.testing.assert_allclose(ep.actions, actions, atol=1e-6)


def _twist(vx, vy):
    v3 = 'geometry_msgs/msg/Vector3'
    return make_msg('geometry_msgs/msg/Twist', linear=make_msg(v3, x=vx, y=vy, z=0.0),
                    angular=make_msg(v3, x=0.0, y=0.0, z=0.0))


def test_async_commands_align_to_next_image(tmp_path):
    """Action t = last command received before image t+1; none yet -> zero."""
    path = tmp_path / 'live.mcap'
    ms = 10 ** 6
    image = np.zeros((4, 4, 3), np.uint8)
    with McapWriter(path) as w:
        w.add_metadata('jepa_ros', META)
        for i, t in enumerate([0, 100, 200, 300]):
            w.write_msg('camera/image_raw', 'sensor_msgs/msg/Image',
                        image_msg(image + i, t * ms), t * ms)
        # image 0 at 0 ms: no command before image 1 at 100 ms except the one at 50 ms.
        for t, vx in [(50, 0.06), (120, 0.12), (180, 0.18), (200, 0.3), (350, 0.42)]:
            w.write_msg('cmd_vel', 'geometry_msgs/msg/Twist', _twist(vx, -9.0), t * ms)
    ep = read_episode(path)
    # commands at 120 and 180 precede image 2 (200): the later wins; the one *at* 200 ms
    # arrives with image 2 and counts for image 2's action (before image 3 at 300 ms).
    np.testing.assert_allclose(ep.actions[:, 0], [0.1, 0.3, 0.5, 0.7], atol=1e-6)
    np.testing.assert_allclose(ep.actions[:, 1], -1.0)  # clipped to the normalised range
    assert ep.states is None and [int(im[0, 0, 0]) for im in ep.images] == [0, 1, 2, 3]


def test_bad_episodes(tmp_path):
    images, actions, states = _data(np.random.default_rng(2), t=4)
    with pytest.raises(EpisodeError, match='action_scale'):
        write_episode(tmp_path / 'x.mcap', images, actions, states,
                      {k: v for k, v in META.items() if k != 'action_scale'})
    with pytest.raises(EpisodeError, match='actions must be'):
        write_episode(tmp_path / 'x.mcap', images, actions[:, :1], states, META)
    (tmp_path / 'junk.mcap').write_bytes(b'not an mcap at all')
    with pytest.raises(EpisodeError, match='usable'):
        with pytest.warns(UserWarning, match='skipping'):
            load_episodes(tmp_path, use_cache=False)
    with pytest.raises(FileNotFoundError):
        load_episodes(tmp_path / 'nope')
