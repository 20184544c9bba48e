"""memory node: raw recording to chunked MCAP, read back with rosbags and load_episodes;
SIGKILL mid-recording, unwritable folders, full disk, path escapes.

The memory node runs as a real subprocess; this process publishes camera/cmd_vel/odom
like the sim bridge does, over DDS on loopback (conftest sets the domain).
"""
import json
import math
import os
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import rclpy
from support import call_trigger
from rclpy.node import Node

from jepa_ros.data.paths import PathEscapeError, resolve_inside
from jepa_ros.nodes.messages import rgb_to_image
from jepa_ros.nodes.qos import SENSOR_QOS

pytestmark = pytest.mark.ros
H = W = 16


def wait_for(pred, timeout, node=None, period=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        if node is not None:
            rclpy.spin_once(node, timeout_sec=period)
        else:
            time.sleep(period)
    return pred()


@pytest.fixture(scope='module')
def ros():
    rclpy.init()
    node = Node('memory_test_driver')
    yield node
    node.destroy_node()
    rclpy.shutdown()


def start_memory(data_dir, *params, preexec_fn=None, name='memory'):
    args = [sys.executable, '-m', 'jepa_ros.nodes.memory', '--ros-args',
            '-r', f'__node:={name}', '-p', f'data_dir:={data_dir}',
            '-p', "metadata_topic:=''", '-p', 'discovery_period:=0.2']
    for p in params:
        args += ['-p', p]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=preexec_fn)


def stop(proc, sig=signal.SIGTERM, timeout=10):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.stdout.read().decode(errors='replace')


class Publisher:
    """Publishes what the sim bridge would: images, commands, ground-truth odom."""

    def __init__(self, node):
        from geometry_msgs.msg import Twist
        from nav_msgs.msg import Odometry
        from sensor_msgs.msg import Image
        self.node = node
        self.img = node.create_publisher(Image, 'camera/image_raw', SENSOR_QOS)
        self.cmd = node.create_publisher(Twist, 'cmd_vel', 10)
        self.odom = node.create_publisher(Odometry, 'odom', 10)
        self.t = 0

    def matched(self):
        return all(p.get_subscription_count() > 0 for p in (self.img, self.cmd, self.odom))

    def step(self, vx=0.3, vy=-0.15, bad_cmd=False):
        from geometry_msgs.msg import Twist
        from nav_msgs.msg import Odometry
        k = self.t
        odom = Odometry()
        odom.pose.pose.position.x = 0.01 * k
        odom.pose.pose.position.y = -0.02 * k
        odom.pose.pose.orientation.w = 1.0
        self.odom.publish(odom)
        image = np.full((H, W, 3), k % 256, np.uint8)
        self.img.publish(rgb_to_image(image, self.node.get_clock().now().to_msg()))
        cmd = Twist()
        cmd.linear.x, cmd.linear.y = (float('nan'), 0.0) if bad_cmd else (vx, vy)
        self.cmd.publish(cmd)
        self.t += 1

    def run(self, seconds, rate=20.0, **kw):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.step(**kw)
            rclpy.spin_once(self.node, timeout_sec=1.0 / rate)


def _closed_chunks(session_dir):
    return sorted(os.path.join(session_dir, f) for f in os.listdir(session_dir)
                  if f.endswith('.mcap'))


def test_recording_reads_back_with_anyreader_and_load_episodes(ros, tmp_path):
    from rosbags.highlevel import AnyReader

    from jepa_ros.data.episodes import load_episodes
    proc = start_memory(tmp_path, 'session:=run1', 'chunk_max_seconds:=1.0',
                        'topics:=[camera/image_raw, cmd_vel, odom]')
    try:
        pub = Publisher(ros)
        assert wait_for(pub.matched, 20, ros), \
            'memory never subscribed'
        pub.run(2.5)
        pub.run(0.3, bad_cmd=True)   # non-finite commands are not recorded
        pub.run(0.3)
        resp = call_trigger(ros, '/memory/save')
        assert resp.success, resp.message
        saved = json.loads(resp.message)
        assert saved['transitions'] >= 20
    finally:
        out = stop(proc)
    assert proc.returncode == 0, out
    session = tmp_path / 'run1'
    chunks = _closed_chunks(session)
    assert len(chunks) >= 2, (os.listdir(session), out)  # split by time
    assert not [f for f in os.listdir(session) if f.endswith('.part')]  # SIGTERM closed it

    # rosbags reads every chunk: types from the embedded ros2msg schemas, CDR intact.
    with AnyReader([__import__('pathlib').Path(c) for c in chunks]) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
        assert topics == {'camera/image_raw': 'sensor_msgs/msg/Image',
                          'cmd_vel': 'geometry_msgs/msg/Twist', 'odom': 'nav_msgs/msg/Odometry'}
        counts = {t: 0 for t in topics}
        for conn, _t, raw in reader.messages():
            msg = reader.deserialize(raw, conn.msgtype)
            counts[conn.topic] += 1
            if conn.topic == 'cmd_vel':
                assert math.isfinite(msg.linear.x)
            if conn.topic == 'camera/image_raw':
                assert (msg.height, msg.width, msg.encoding) == (H, W, 'rgb8')
    assert counts['camera/image_raw'] >= 40, counts

    # Every frame loads, except chunks with a single frame (no transition: min_length=2),
    # which a time split can leave at the end when the machine is busy.
    per_chunk = []
    for c in chunks:
        with AnyReader([__import__('pathlib').Path(c)]) as reader:
            per_chunk.append(sum(1 for conn, _t, _r in reader.messages()
                                 if conn.topic == 'camera/image_raw'))
    assert sum(per_chunk) == counts['camera/image_raw']
    episodes = load_episodes(chunks, use_cache=False)
    assert sum(len(e) for e in episodes) == sum(n for n in per_chunk if n >= 2)
    for ep in episodes:
        assert ep.meta['world'] == 'two_rooms' and ep.meta['action_scale'] == [1.5, 1.5]
        assert ep.images.shape[1:] == (H, W, 3) and ep.states.shape[1] == 3
    # 0.3 / 1.5 and -0.15 / 1.5: the Twist turned back into normalised actions, across
    # chunk boundaries (frames before the first command matched are zero).
    actions = np.concatenate([ep.actions for ep in episodes])
    first = int(np.argmax(np.any(actions != 0, axis=1)))
    assert first < 10
    np.testing.assert_allclose(actions[first:], [[0.2, -0.1]] * (len(actions) - first),
                               atol=1e-6)
    # The ~/save episode (from the RAM ring buffer) loads the same way.
    ep = load_episodes(saved['path'], use_cache=False)[0]
    assert os.path.realpath(saved['path']).startswith(str(session / 'episodes'))
    assert len(ep) == saved['transitions']
    np.testing.assert_allclose(ep.actions[:-1], [[0.2, -0.1]] * (len(ep) - 1), atol=1e-6)
    frame_values = ep.images[:, 0, 0, 0].astype(int)
    assert np.all(np.diff(frame_values) % 256 >= 1)  # consecutive frames, in order


def test_sigkill_loses_at_most_the_open_chunk(ros, tmp_path):
    from rosbags.highlevel import AnyReader

    from jepa_ros.data.mcap_io import McapReader
    proc = start_memory(tmp_path, 'session:=killed', 'chunk_max_seconds:=0.5',
                        'topics:=[camera/image_raw, cmd_vel, odom]')
    try:
        pub = Publisher(ros)
        assert wait_for(pub.matched, 20, ros)
        session = tmp_path / 'killed'
        pub.run(1.0)
        assert wait_for(lambda: pub.step() or len(_closed_chunks(session)) >= 2, 10, ros)
        pub.run(0.3)
    finally:
        out = stop(proc, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    chunks = _closed_chunks(session)
    assert len(chunks) >= 2, out
    total = 0
    for c in chunks:  # every closed chunk reads completely, strictly
        reader = McapReader(c, strict=True)
        n = sum(1 for _ in reader)
        assert not reader.truncated and n > 0
        assert reader.metadata['jepa_ros']['world'] == 'two_rooms'
        total += n
    with AnyReader([__import__('pathlib').Path(c) for c in chunks]) as reader:
        assert sum(1 for _ in reader.messages()) == total
    # The open chunk stays a .part file (lost or partial), which the loader ignores.
    parts = [f for f in os.listdir(session) if f.endswith('.part')]
    assert len(parts) <= 1
    from jepa_ros.data.episodes import load_episodes
    episodes = load_episodes(str(session), use_cache=False)
    assert len(episodes) == len(chunks)


def _unwritable_dir(tmp_path):
    """A folder nobody can create files in, even root (who ignores chmod)."""
    d = tmp_path / 'ro'
    d.mkdir()
    d.chmod(0o500)
    if not os.access(d, os.W_OK):
        return str(d / 'rec')
    return '/proc/jepa_ros_unwritable/rec'  # procfs: mkdir fails for root too


def test_unwritable_directory_stops_recording_node_stays_up(ros, tmp_path):
    proc = start_memory(_unwritable_dir(tmp_path), 'session:=x',
                        'topics:=[camera/image_raw, cmd_vel, odom]', name='memory_ro')
    try:
        pub = Publisher(ros)
        assert wait_for(pub.matched, 20, ros)
        pub.run(0.5)
        resp = call_trigger(ros, '/memory_ro/start')
        assert not resp.success and 'cannot record' in resp.message
        # The ring buffer keeps working without a disk.
        pub.run(0.3)
        assert proc.poll() is None
    finally:
        out = stop(proc)
    assert 'cannot record' in out
    assert proc.returncode == 0, out


def test_full_disk_stops_recording_node_stays_up(ros, tmp_path):
    def limit_file_size():  # a "disk" that is full after 64 kB per file
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))

    proc = start_memory(tmp_path, 'session:=full', 'chunk_max_bytes:=100000000',
                        'topics:=[camera/image_raw, cmd_vel, odom]', name='memory_full',
                        preexec_fn=limit_file_size)
    from diagnostic_msgs.msg import DiagnosticArray
    errors = []
    sub = ros.create_subscription(
        DiagnosticArray, '/diagnostics',
        lambda m: errors.extend(s.message for s in m.status
                                if s.name == '/memory_full' and s.level == b'\x02'), 10)
    try:
        pub = Publisher(ros)
        assert wait_for(pub.matched, 20, ros)
        # 16x16 frames compress well: send noise so the file grows past the limit.
        pub_img = pub.img
        rng = np.random.default_rng(0)
        end = time.monotonic() + 15
        while not errors and time.monotonic() < end and proc.poll() is None:
            img = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
            pub_img.publish(rgb_to_image(img))
            rclpy.spin_once(ros, timeout_sec=0.02)
        assert errors, 'no error on /diagnostics after the disk filled up'
        assert 'recording stopped' in errors[-1]
        assert proc.poll() is None, 'memory node died on a full disk'
        assert call_trigger(ros, '/memory_full/stop').success  # still serving
    finally:
        ros.destroy_subscription(sub)
        out = stop(proc)
    assert proc.returncode == 0, out


def test_paths_stay_inside_the_data_directory(ros, tmp_path):
    from rclpy.parameter import Parameter

    from jepa_ros.nodes.memory import MemoryNode
    outside = tmp_path / 'outside'
    outside.mkdir()
    root = tmp_path / 'data'
    for bad in ('../escape', '/etc', 'a/../../b', '~/x'):
        with pytest.raises(ValueError):
            MemoryNode(parameter_overrides=[Parameter('data_dir', value=str(root)),
                                            Parameter('session', value=bad)])
    node = MemoryNode(parameter_overrides=[
        Parameter('data_dir', value=str(root)), Parameter('session', value='ok'),
        Parameter('record', value=False)])
    try:
        os.symlink(outside, root / 'ok' / 'link') if (root / 'ok').exists() else (
            (root / 'ok').mkdir(parents=True), os.symlink(outside, root / 'ok' / 'link'))
        for bad in ('../../etc', '/tmp/x', 'link/sub'):
            res = node.set_parameters([Parameter('save_dir', value=bad)])[0]
            assert not res.successful and res.reason, bad
            assert node.get_parameter('save_dir').value == 'episodes'
        assert node.set_parameters([Parameter('save_dir', value='mine/ep')])[0].successful
        assert node.save_dir == str(root / 'ok' / 'mine' / 'ep')
    finally:
        node.destroy_node()
    assert os.listdir(outside) == []
    for bad in ('..', 'a/../..', '/abs', 'x\x00y'):
        with pytest.raises(PathEscapeError):
            resolve_inside(root, bad)
    assert resolve_inside(root, 'a/b') == str(root / 'a' / 'b')
