"""MCAP I/O: rosbag2-compatible files that rosbags and rclpy agree on."""
from pathlib import Path

import numpy as np
import pytest

from jepa_ros.data.mcap_io import (McapFormatError, McapReader, McapWriter, make_msg,
                                   read_messages, read_metadata)


def _twist(x, wz):
    v3 = 'geometry_msgs/msg/Vector3'
    return make_msg('geometry_msgs/msg/Twist', linear=make_msg(v3, x=x, y=0.0, z=0.0),
                    angular=make_msg(v3, x=0.0, y=0.0, z=wz))


def test_anyreader_reads_our_file(tmp_path):
    from rosbags.highlevel import AnyReader
    path = tmp_path / 'ep.mcap'
    img = make_msg('sensor_msgs/msg/Image', height=2, width=3, encoding='rgb8', step=9,
                   data=np.arange(18, dtype=np.uint8))
    with McapWriter(path) as w:
        for i in range(5):
            w.write_msg('cmd_vel', 'geometry_msgs/msg/Twist', _twist(0.1 * i, -i), 100 + i)
        w.write_msg('camera/image_raw', 'sensor_msgs/Image', img, 200)
        w.add_metadata('jepa_ros', {'world': 'two_rooms', 'action_scale': [0.6, 0.6]})
    with AnyReader([Path(path)]) as reader:
        assert {c.topic: c.msgtype for c in reader.connections} == {
            'cmd_vel': 'geometry_msgs/msg/Twist', 'camera/image_raw': 'sensor_msgs/msg/Image'}
        got = [(c.topic, t, reader.deserialize(raw, c.msgtype)) for c, t, raw in
               reader.messages()]
    assert [t for _, t, _ in got] == [100, 101, 102, 103, 104, 200]
    assert got[3][2].linear.x == pytest.approx(0.3) and got[3][2].angular.z == -3
    assert got[5][2].data.tolist() == list(range(18))
    assert read_metadata(path)['jepa_ros'] == {'world': 'two_rooms', 'action_scale': [0.6, 0.6]}


def test_rclpy_cdr_round_trips(tmp_path):
    from geometry_msgs.msg import Twist
    from nav_msgs.msg import Odometry
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import Image
    twist = Twist()
    twist.linear.y, twist.angular.z = -0.25, 1.5
    odom = Odometry()
    odom.header.frame_id, odom.pose.pose.position.x = 'odom', 1.25
    odom.pose.covariance[7] = 3.0
    image = Image(height=4, width=4, encoding='rgb8', step=12)
    image.data = bytes(range(48))
    path = tmp_path / 'raw.mcap'
    with McapWriter(path, compression='lz4') as w:
        w.write_raw('cmd_vel', 'geometry_msgs/msg/Twist', serialize_message(twist), 1)
        w.write_raw('odom', 'nav_msgs/msg/Odometry', serialize_message(odom), 2)
        w.write_raw('camera/image_raw', 'sensor_msgs/msg/Image', serialize_message(image), 3)
    msgs = {topic: msg for topic, _, _, msg in read_messages(path)}
    assert msgs['cmd_vel'].linear.y == -0.25 and msgs['cmd_vel'].angular.z == 1.5
    assert msgs['odom'].header.frame_id == 'odom'
    assert msgs['odom'].pose.pose.position.x == 1.25 and msgs['odom'].pose.covariance[7] == 3
    assert bytes(msgs['camera/image_raw'].data) == bytes(range(48))
    # ...and the other way round: our raw bytes are what rclpy deserialises.
    raw = {topic: data for topic, _, _, data in read_messages(path, raw=True)}
    assert deserialize_message(raw['cmd_vel'], Twist) == twist
    assert deserialize_message(raw['odom'], Odometry) == odom


def test_file_left_readable_after_exception(tmp_path):
    path = tmp_path / 'crash.mcap'
    with pytest.raises(RuntimeError):
        with McapWriter(path) as w:
            w.write_msg('cmd_vel', 'geometry_msgs/msg/Twist', _twist(1.0, 0.0), 5)
            raise RuntimeError('recorder died')
    assert [m[2] for m in read_messages(path, strict=True)] == [5]


def test_truncated_file_reads_complete_part(tmp_path):
    path = tmp_path / 'cut.mcap'
    with McapWriter(path, compression='none', chunk_size=64) as w:
        for i in range(50):
            w.write_msg('cmd_vel', 'geometry_msgs/msg/Twist', _twist(float(i), 0.0), i)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    reader = McapReader(path)
    got = [m[3].linear.x for m in reader]
    assert reader.truncated and 0 < len(got) < 50 and got == list(range(len(got)))
    with pytest.raises(McapFormatError):
        list(read_messages(path, strict=True))


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match='compression'):
        McapWriter(tmp_path / 'x.mcap', compression='gzip')
    with McapWriter(tmp_path / 'y.mcap') as w:
        with pytest.raises(McapFormatError, match='unknown message type'):
            w.write_raw('t', 'nosuch_msgs/msg/Thing', b'\x00\x01\x00\x00', 1)
        with pytest.raises(McapFormatError, match='bad message type'):
            w.write_raw('t', 'not a type', b'', 1)
        w.write_msg('cmd_vel', 'geometry_msgs/msg/Twist', _twist(0.0, 0.0), 1)
        with pytest.raises(McapFormatError, match='already carries'):
            w.write_raw('cmd_vel', 'std_msgs/msg/String', b'', 2)
    with pytest.raises(FileNotFoundError):
        McapReader(tmp_path / 'missing.mcap')


def test_custom_type_from_msgdef(tmp_path):
    path = tmp_path / 'custom.mcap'
    msgdef = 'float32 cost\nuint32 iterations\n'
    import struct
    cdr = b'\x00\x01\x00\x00' + struct.pack('<fI', 2.5, 7)
    with McapWriter(path) as w:
        w.write_raw('jepa/plan_info', 'my_pkg/msg/PlanInfo', cdr, 1, msgdef=msgdef)
    (topic, msgtype, _, msg), = list(read_messages(path))
    assert msgtype == 'my_pkg/msg/PlanInfo' and msg.cost == 2.5 and msg.iterations == 7
