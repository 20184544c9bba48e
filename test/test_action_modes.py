"""One definition of the action modes (jepa_ros.core.action_modes), used everywhere.

Canonical names, legacy aliases (older checkpoints and recordings), action dimension,
command fields and command message type; and that the worlds, recordings, checkpoint
configs, the memory node's metadata and sim_bridge all read them from there.
"""
from types import SimpleNamespace

import numpy as np
import pytest

from jepa_ros.core import action_modes as am
from jepa_ros.core import command


def test_canonical_names_fields_and_message_types():
    assert am.ACTION_MODES == ('holonomic', 'diff_drive', 'reach')
    want = {'holonomic': (('linear.x', 'linear.y'), am.TWIST),
            'diff_drive': (('linear.x', 'angular.z'), am.TWIST),
            'reach': (('linear.x', 'linear.y', 'linear.z'), am.TWIST_STAMPED)}
    for name, (fields, msgtype) in want.items():
        mode = am.get(name)
        assert (mode.name, mode.fields, mode.cmd_msgtype) == (name, fields, msgtype)
        assert mode.action_dim == len(fields)
        assert mode.stamped == (msgtype == 'geometry_msgs/msg/TwistStamped')
        assert [am.COMMAND_FIELDS[i] for i in mode.field_indices] == list(fields)
    assert command.ACTION_MODES == am.ACTION_MODES


def test_legacy_aliases_read_as_the_canonical_mode():
    assert am.canonical('ee_velocity') == 'reach'
    assert am.canonical('differential') == 'diff_drive'
    assert am.get('ee_velocity') is am.REACH
    assert set(am.known_names()) == {'holonomic', 'diff_drive', 'reach', 'ee_velocity',
                                     'differential'}
    for bad in ('walk', '', None, 3, 'Reach'):
        with pytest.raises(ValueError, match='unknown action mode'):
            am.get(bad)
    # the error names what is accepted, legacy names included
    with pytest.raises(ValueError, match='ee_velocity'):
        am.get('flying')


def test_command_mapping_follows_the_mode_fields():
    assert np.allclose(command.action_to_twist([1, -1, 0.5], [0.2] * 3, 'ee_velocity'),
                       [0.2, -0.2, 0.1, 0, 0, 0])
    assert np.allclose(command.action_to_twist([0.5, 1], [1.0, 2.0], 'differential'),
                       [0.5, 0, 0, 0, 0, 2.0])
    assert np.allclose(command.action_to_twist([0.5, 1], [1.0, 2.0], am.HOLONOMIC),
                       [0.5, 2.0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match='reach needs 3'):
        command.action_to_twist([0.5, 1], [1.0, 2.0], 'reach')


def test_worlds_and_fields():
    assert am.for_world('two_rooms') is am.HOLONOMIC
    assert am.for_world('two_rooms', 'differential') is am.DIFF_DRIVE
    assert am.for_world('reach') is am.REACH
    assert am.for_world('reach', 'ee_velocity') is am.REACH
    with pytest.raises(ValueError, match='two_rooms'):
        am.for_world('two_rooms', 'reach')
    with pytest.raises(ValueError, match='unknown world'):
        am.for_world('mars')
    assert am.from_fields(['linear.x', 'angular.z']) is am.DIFF_DRIVE
    assert am.from_fields(['linear.y', 'linear.x']) is None


def test_sim_worlds_describe_their_data_with_the_definition():
    from jepa_ros.sim import make_env
    for kwargs, mode in (({}, am.HOLONOMIC), ({'action_mode': 'differential'}, am.DIFF_DRIVE)):
        env = make_env('two_rooms', image_size=16, **kwargs)
        try:
            meta = env.unwrapped.data_meta()
        finally:
            env.close()
        assert env.unwrapped.action_mode == mode.name
        assert (meta['action_mode'], meta['action_fields'], meta['cmd_msgtype'],
                meta['action_dim']) == (mode.name, list(mode.fields), mode.cmd_msgtype,
                                        mode.action_dim)
    env = make_env('reach', image_size=16)
    try:
        meta = env.unwrapped.data_meta()
        assert env.action_space.shape == (am.REACH.action_dim,)
    finally:
        env.close()
    assert (meta['action_mode'], meta['action_fields'], meta['cmd_msgtype']) == (
        'reach', list(am.REACH.fields), am.TWIST_STAMPED)


def test_checkpoint_configs_normalise_legacy_names():
    from jepa_ros.core.world_model import WorldModelConfig
    cfg = WorldModelConfig.from_dict({'action_dim': 3, 'action_scale': [0.2] * 3,
                                      'action_mode': 'ee_velocity', 'world': 'reach'})
    assert cfg.action_mode == 'reach'
    with pytest.raises(ValueError, match='unknown action mode'):
        WorldModelConfig(action_mode='hover')


def test_recordings_with_legacy_names_load_with_the_canonical_one(tmp_path):
    from jepa_ros.data import episodes as ep
    from jepa_ros.data.mcap_io import McapWriter
    legacy = {'world': 'reach', 'action_mode': 'ee_velocity', 'action_dim': 3, 'dt': 0.1,
              'action_fields': ['linear.x', 'linear.y', 'linear.z'],
              'action_scale': [0.25] * 3, 'cmd_msgtype': am.TWIST_STAMPED}
    path = tmp_path / 'legacy.mcap'
    actions = np.array([[0.5, -0.5, 1.0], [0.0, 0.2, -0.4]])
    with McapWriter(path) as w:   # written as an older recorder did: legacy mode name
        w.add_metadata(ep.META_NAME, legacy)
        for t, a in enumerate(actions):
            stamp = t * 10**8
            w.write_msg(ep.IMAGE_TOPIC, 'sensor_msgs/msg/Image',
                        ep.image_msg(np.zeros((4, 4, 3), np.uint8), stamp), stamp)
            w.write_msg(ep.CMD_TOPIC, am.TWIST_STAMPED,
                        ep._twist_msg(a, legacy['action_fields'], legacy['action_scale'],
                                      am.TWIST_STAMPED, stamp + 1), stamp + 1)
    episode = ep.read_episode(path)
    assert episode.meta['action_mode'] == 'reach'
    np.testing.assert_allclose(episode.actions, actions, atol=1e-6)
    # new recordings say the canonical name; a mode that contradicts its fields is refused
    out = ep.write_episode(tmp_path / 'new.mcap', np.zeros((2, 4, 4, 3), np.uint8),
                           actions, None, legacy)
    assert ep.read_episode(out).meta['action_mode'] == 'reach'
    with pytest.raises(ep.EpisodeError, match='drives'):
        ep.read_episode(out, meta_override={'action_mode': 'holonomic'})
    with pytest.raises(ep.EpisodeError, match='unknown action mode'):
        ep.read_episode(out, meta_override={'action_mode': 'jump'})
    # no action_mode at all: the fields say which
    assert ep.normalise_meta({'action_fields': ['linear.x', 'angular.z']})['action_mode'] \
        == 'diff_drive'


def test_memory_metadata_names_mode_and_command_type_from_the_fields():
    from jepa_ros.nodes.memory import MemoryNode
    base = {'world': 'reach', 'action_fields': ['linear.x', 'linear.y', 'linear.z'],
            'action_scale': [0.25] * 3, 'state_fields': ['x', 'y', 'z'], 'dt': 0.1}
    meta = MemoryNode._meta_from_params(SimpleNamespace(p=base))
    assert (meta['action_mode'], meta['cmd_msgtype']) == ('reach', am.TWIST_STAMPED)
    meta = MemoryNode._meta_from_params(SimpleNamespace(p=dict(
        base, world='two_rooms', action_fields=['linear.x', 'angular.z'],
        action_scale=[1.5, 2.0])))
    assert (meta['action_mode'], meta['cmd_msgtype']) == ('diff_drive', am.TWIST)
    meta = MemoryNode._meta_from_params(SimpleNamespace(p=dict(
        base, world='rover', action_fields=['linear.x'], action_scale=[1.0])))
    assert 'action_mode' not in meta and meta['cmd_msgtype'] == am.TWIST


def test_sim_bridge_stepper_takes_the_mode_fields_only():
    from jepa_ros.sim.stepper import CommandError, SimStepper
    st = SimStepper(world='reach', image_size=16)
    try:
        assert st.mode is am.REACH and st.metadata()['cmd_msgtype'] == am.TWIST_STAMPED
        a = st.twist_to_action([0.1, 0.0, -0.05], [0, 0, 0])
        np.testing.assert_allclose(a, np.array([0.1, 0.0, -0.05]) / st.scales, atol=1e-6)
        with pytest.raises(CommandError, match='angular.z'):
            st.twist_to_action([0.1, 0.0, 0.0], [0, 0, 0.3])
    finally:
        st.close()
    st = SimStepper(world='two_rooms', drive='diff_drive', image_size=16)
    try:
        assert st.mode is am.DIFF_DRIVE and st.metadata()['cmd_msgtype'] == am.TWIST
        with pytest.raises(CommandError, match='linear.y'):
            st.twist_to_action([0.1, 0.2, 0.0], [0, 0, 0])
    finally:
        st.close()
