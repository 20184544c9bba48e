"""memory: the short-term memory of the architecture, a recorder of the stack's topics.

Every topic in `topics` is subscribed with raw=True as soon as a publisher of it appears
in the graph (its type is taken from the graph, so types we do not know in advance, like
jepa/plan, are fine). The CDR bytes go unchanged into rosbag2-compatible MCAP files via
`jepa_ros.data.mcap_io`, split into chunk files by size and time:

    <data_dir>/<session>/<session>_0000.mcap, _0001.mcap, ...

A chunk is written as `<name>.mcap.part` and renamed to `.mcap` once closed, so a
SIGKILL loses at most the open chunk (which the non-strict reader still reads up to its
last complete record). Each chunk carries the `jepa_ros` metadata record (world, action
fields and scales, state fields, dt), so chunks load with
`jepa_ros.data.episodes.load_episodes` as training data without conversion. The
metadata comes from the parameters, overridden by the JSON the sim bridge latches on
`metadata_topic`.

Recent transitions (image, action after it, ground-truth state) are kept in a RAM ring
buffer (`jepa_ros.core.ring_buffer`); ~/save (std_srvs/Trigger) writes them as one
episode file under <data_dir>/<session>/<save_dir>/ and starts the next episode.
Paths from parameters stay inside `data_dir` (no absolute paths, no `..`, no symlink
escapes). A write error (disk full, unwritable directory) stops recording with an error
in the log and on /diagnostics; the node stays up and ~/start retries.

Surprise events (the world model's jepa/surprise_event, JSON with the state's stamp) are
kept: `surprise_save_after_s` after an event the ring buffer is saved as above, cut to the
transitions from `surprise_save_before_s` before the event's stamp, as
<save_dir>/surprise_NNNN.mcap; events arriving meanwhile go into the same episode.
"""
import datetime
import importlib
import json
import math
import os
import time

import numpy as np
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from jepa_ros.core import action_modes
from jepa_ros.core.ring_buffer import RingBuffer, RingBufferError
from jepa_ros.data.msgdef import msgdef_from_class
from jepa_ros.data.paths import resolve_inside
from jepa_ros.data.recorder import ChunkedRecorder, RecorderError
from jepa_ros.nodes.diagnostics import Diagnostics
from jepa_ros.nodes.executors import run_node
from jepa_ros.nodes.messages import ImageError, image_to_rgb, stamp_to_sec
from jepa_ros.nodes.parameters import ParamSpec, declare_params

DEFAULT_TOPICS = ['camera/image_raw', 'cmd_vel', 'odom', 'goal/image_raw', 'jepa/state',
                  'jepa/goal_state', 'jepa/plan']
DEFAULT_META = {'world': 'two_rooms', 'action_dim': 2,
                'action_mode': action_modes.HOLONOMIC.name,
                'action_fields': list(action_modes.HOLONOMIC.fields),
                'action_scale': [1.5, 1.5], 'state_fields': ['x', 'y', 'yaw'], 'dt': 0.1,
                'cmd_msgtype': action_modes.HOLONOMIC.cmd_msgtype}


def _relative_path_check(value):
    v = str(value)
    if os.path.isabs(v) or v.startswith('~') or '..' in v.replace('\\', '/').split('/'):
        return f'{v!r} must be a relative path inside data_dir (no absolute path, no ..)'
    return None


PARAMS = [
    ParamSpec('data_dir', 'data/recordings', 'root folder of all recordings; every '
              'other path is relative to it', read_only=True),
    ParamSpec('session', '', 'sub-folder of this recording (empty: rec_<date>_<time>)',
              check=_relative_path_check, read_only=True),
    ParamSpec('save_dir', 'episodes', 'sub-folder of the session for ~/save episodes',
              check=_relative_path_check),
    ParamSpec('topics', list(DEFAULT_TOPICS), 'topics to record (subscribed once a '
              'publisher appears)', read_only=True),
    ParamSpec('record', True, 'record to MCAP from the start (else only the ring buffer)'),
    ParamSpec('chunk_max_bytes', 16 * 1024 * 1024, 'start a new chunk file after this '
              'many message bytes', min=4096, max=2**31 - 1),
    ParamSpec('chunk_max_seconds', 60.0, 'start a new chunk file after this many '
              'seconds', min=0.1, max=86400.0),
    ParamSpec('compression', 'zstd', 'MCAP chunk compression',
              choices=('zstd', 'lz4', 'none')),
    ParamSpec('ring_capacity', 2000, 'transitions kept in RAM', min=1, max=1_000_000,
              read_only=True),
    ParamSpec('discovery_period', 0.5, 'seconds between graph checks for new topics',
              min=0.05, max=10.0),
    ParamSpec('metadata_topic', '/sim_bridge/metadata', 'latched std_msgs/String with '
              'the world metadata JSON (overrides the meta_* parameters); empty: none'),
    ParamSpec('world', 'two_rooms', 'world name written to the metadata'),
    ParamSpec('action_fields', ['linear.x', 'linear.y'], 'Twist fields that make the '
              'action (metadata action_fields)'),
    ParamSpec('action_scale', [1.5, 1.5], 'physical units per normalised action unit'),
    ParamSpec('state_fields', ['x', 'y', 'yaw'], 'odometry fields that make the state'),
    ParamSpec('dt', 0.1, 'control period of the recorded robot (s)', min=1e-4, max=10.0),
    ParamSpec('surprise_event_topic', 'jepa/surprise_event', 'surprise events (std_msgs/'
              'String JSON from world_model) that save an episode around them; empty: none',
              read_only=True),
    ParamSpec('surprise_save_before_s', 5.0, 'seconds of transitions before a surprise '
              'event kept in its episode', min=0.0, max=86400.0),
    ParamSpec('surprise_save_after_s', 2.0, 'seconds after a surprise event before its '
              'episode is saved (the transitions after it)', min=0.0, max=600.0),
]


def _import_msg_class(msgtype):
    pkg, kind, name = msgtype.split('/')
    return getattr(importlib.import_module(f'{pkg}.{kind}'), name)


def _qos_for(publishers):
    """A QoS that matches every current publisher (what rosbag2 does)."""
    reliable = bool(publishers) and all(
        p.qos_profile.reliability == ReliabilityPolicy.RELIABLE for p in publishers)
    latched = bool(publishers) and all(
        p.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for p in publishers)
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=50,
                      reliability=(ReliabilityPolicy.RELIABLE if reliable
                                   else ReliabilityPolicy.BEST_EFFORT),
                      durability=(DurabilityPolicy.TRANSIENT_LOCAL if latched
                                  else DurabilityPolicy.VOLATILE))


class MemoryNode(Node):
    """Recorder + ring buffer. Construct in-process or run `memory` as its own process."""

    def __init__(self, **node_kwargs):
        super().__init__('memory', **node_kwargs)
        self.p = declare_params(self, PARAMS, self._on_params)
        p = self.p
        self.data_dir = os.path.realpath(os.path.expanduser(p['data_dir']))
        session = p['session'] or datetime.datetime.now().strftime('rec_%Y%m%d_%H%M%S')
        # Checked again here: the symlink test needs the real folder.
        self.session_dir = resolve_inside(self.data_dir, session)
        self.save_dir = resolve_inside(self.session_dir, p['save_dir'])
        self.meta = self._meta_from_params()
        self.counts = {'messages': 0, 'dropped_not_recording': 0, 'nonfinite_cmd': 0,
                       'bad_images': 0, 'saved_episodes': 0, 'surprise_events': 0,
                       'surprise_episodes': 0}
        self.ring = RingBuffer(p['ring_capacity'])
        self._last_action = np.zeros(len(self.meta['action_fields']), np.float32)
        self._last_state = None
        self.recorder = ChunkedRecorder(
            self.session_dir, os.path.basename(session.rstrip('/')) or 'rec',
            p['chunk_max_bytes'], p['chunk_max_seconds'], p['compression'], self.meta)
        self.subs = {}     # topic -> (subscription, msgtype)
        self.msgdefs = {}  # msgtype -> text
        self.group = MutuallyExclusiveCallbackGroup()
        self.diag = Diagnostics(self)
        from std_srvs.srv import Trigger
        self.create_service(Trigger, '~/save', self._on_save, callback_group=self.group)
        self.create_service(Trigger, '~/start', self._on_start, callback_group=self.group)
        self.create_service(Trigger, '~/stop', self._on_stop, callback_group=self.group)
        self._surprise_timer = None   # a pending save of a surprise episode
        self._surprise_stamp = None   # stamp of the event it is about
        if p['surprise_event_topic']:
            from std_msgs.msg import String
            self.create_subscription(String, p['surprise_event_topic'],
                                     self._on_surprise_event, 10, callback_group=self.group)
        if p['metadata_topic']:
            from std_msgs.msg import String
            qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                             reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
            self.create_subscription(String, p['metadata_topic'], self._on_metadata, qos,
                                     callback_group=self.group)
        if p['record']:
            self._start_recording()
        self.discovery_timer = self.create_timer(p['discovery_period'], self._on_discovery,
                                                 callback_group=self.group)
        self._on_discovery()

    # ---- configuration ---------------------------------------------------------------
    def _meta_from_params(self):
        p = self.p
        fields = [str(f) for f in p['action_fields']]
        scale = [float(s) for s in p['action_scale']]
        if len(fields) != len(scale) or not fields:
            raise ValueError(f'action_fields {fields} and action_scale {scale} must have the '
                             'same non-zero length')
        meta = dict(DEFAULT_META)
        meta.update(world=p['world'], action_dim=len(fields), action_fields=fields,
                    action_scale=scale, state_fields=[str(s) for s in p['state_fields']],
                    dt=float(p['dt']), source='jepa_ros memory node')
        # The mode (and so the command type) is the one driving exactly these fields; a
        # robot whose fields match no mode is recorded without one.
        mode = action_modes.from_fields(fields)
        meta.pop('action_mode')
        meta['cmd_msgtype'] = action_modes.TWIST
        if mode is not None:
            meta.update(action_mode=mode.name, cmd_msgtype=mode.cmd_msgtype)
        return meta

    def _on_params(self, changed):
        if 'save_dir' in changed:
            self.save_dir = resolve_inside(self.session_dir, changed['save_dir'])
        for key in ('chunk_max_bytes', 'chunk_max_seconds', 'compression'):
            if key in changed:
                setattr(self.recorder, key.replace('chunk_', ''), changed[key])
        if 'record' in changed:
            if changed['record']:
                self._start_recording()
            else:
                self.recorder.stop()

    def _on_metadata(self, msg):
        try:
            meta = json.loads(msg.data)
            if not isinstance(meta, dict) or 'action_scale' not in meta:
                raise ValueError('not a metadata dict with action_scale')
            if len(meta.get('action_fields', [])) != len(meta['action_scale']):
                raise ValueError('action_fields and action_scale differ in length')
            if meta.get('action_mode') is not None:  # legacy names -> canonical
                meta['action_mode'] = action_modes.canonical(meta['action_mode'])
        except ValueError as exc:
            self.get_logger().warning(f'ignored metadata on {self.p["metadata_topic"]}: {exc}',
                                      throttle_duration_sec=5.0)
            return
        meta.setdefault('source', 'jepa_ros memory node')
        if meta != self.meta:
            if len(meta['action_fields']) != len(self.meta['action_fields']):
                self.ring.clear()
            self.meta = meta
            self._last_action = np.zeros(len(meta['action_fields']), np.float32)
            self.recorder.set_metadata(meta)
            self.get_logger().info(f'metadata from {self.p["metadata_topic"]}: {meta}')

    def _start_recording(self):
        try:
            self.recorder.start()
            self.get_logger().info(f'recording into {self.session_dir}')
            return True
        except RecorderError as exc:
            self.get_logger().error(str(exc))
            return False

    # ---- discovery -------------------------------------------------------------------
    def _resolve(self, topic):
        try:
            return self.resolve_topic_name(topic)
        except Exception:  # an invalid name is reported once below
            return None

    def _on_discovery(self):
        for topic in self.p['topics']:
            if topic in self.subs:
                continue
            full = self._resolve(topic)
            if full is None:
                self.subs[topic] = (None, None)
                self.get_logger().error(f'invalid topic name {topic!r}: not recorded')
                continue
            pubs = self.get_publishers_info_by_topic(full)
            if not pubs:
                continue
            msgtype = pubs[0].topic_type
            try:
                cls = _import_msg_class(msgtype)
                if msgtype not in self.msgdefs:
                    self.msgdefs[msgtype] = msgdef_from_class(cls)
            except (ImportError, AttributeError, ValueError) as exc:
                self.get_logger().error(f'cannot record {topic} ({msgtype}): {exc}',
                                        throttle_duration_sec=10.0)
                continue
            sub = self.create_subscription(
                cls, full, lambda raw, t=topic, m=msgtype, c=cls: self._on_raw(t, m, c, raw),
                _qos_for(pubs), raw=True, callback_group=self.group)
            self.subs[topic] = (sub, msgtype)
            self.get_logger().info(f'recording {topic} ({msgtype})')
        self.recorder.maybe_rotate()
        self._update_diag()

    # ---- messages --------------------------------------------------------------------
    def _now_ns(self):
        t = self.get_clock().now().nanoseconds
        return t if t > 0 else time.time_ns()

    def _on_raw(self, topic, msgtype, cls, raw):
        t_ns = self._now_ns()
        try:
            record = self._to_ring(topic, msgtype, cls, raw, t_ns)
        except Exception as exc:  # a bad message never stops recording
            record = True
            self.get_logger().warning(f'{topic}: {exc}', throttle_duration_sec=5.0)
        if not record:
            return
        if self.recorder.write(topic, msgtype, raw, t_ns, self.msgdefs.get(msgtype)):
            self.counts['messages'] += 1
        else:
            self.counts['dropped_not_recording'] += 1
            if self.recorder.error:
                self.get_logger().error(self.recorder.error, throttle_duration_sec=5.0)

    def _to_ring(self, topic, msgtype, cls, raw, t_ns):
        """Update the ring buffer from camera/cmd/odom; False = do not record this one."""
        from rclpy.serialization import deserialize_message
        if topic == 'cmd_vel' and msgtype.startswith('geometry_msgs/msg/Twist'):
            msg = deserialize_message(raw, cls)
            twist = msg.twist if hasattr(msg, 'twist') else msg
            values = [getattr(getattr(twist, f.split('.')[0]), f.split('.')[1])
                      for f in self.meta['action_fields']]
            if not all(math.isfinite(v) for v in values):
                # The bridge rejects these too: the robot kept its previous command.
                self.counts['nonfinite_cmd'] += 1
                return False
            action = np.clip(np.asarray(values) / np.asarray(self.meta['action_scale']),
                             -1.0, 1.0)
            self._last_action = action.astype(np.float32)
            self.ring.set_last_action(self._last_action)
        elif topic == 'odom' and msgtype == 'nav_msgs/msg/Odometry':
            msg = deserialize_message(raw, cls)
            pos, q = msg.pose.pose.position, msg.pose.pose.orientation
            yaw = math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))
            values = {'x': pos.x, 'y': pos.y, 'z': pos.z, 'yaw': yaw}
            self._last_state = [values[f] for f in self.meta.get('state_fields', [])
                                if f in values] or None
        elif topic == 'camera/image_raw' and msgtype == 'sensor_msgs/msg/Image':
            msg = deserialize_message(raw, cls)
            try:
                image = image_to_rgb(msg)
                stamp = stamp_to_sec(msg.header.stamp)
                try:
                    self.ring.push(image, self._last_action, self._last_state, stamp)
                except RingBufferError:
                    # The first odometry arrived (or the image size/world changed): the
                    # episode restarts so every buffered transition has the same layout.
                    self.ring.clear()
                    self.ring.push(image, self._last_action, self._last_state, stamp)
            except (ImageError, RingBufferError) as exc:
                self.counts['bad_images'] += 1
                self.get_logger().warning(f'camera frame not buffered: {exc}',
                                          throttle_duration_sec=5.0)
        return True

    # ---- services --------------------------------------------------------------------
    def save_episode(self, since=None, prefix='episode'):
        """Write the ring buffer (the transitions stamped `since` or later, when given) as
        one episode file <save_dir>/<prefix>_NNNN.mcap; returns (path, transitions).
        Clears the buffer."""
        from jepa_ros.data.episodes import write_episode
        snap = self.ring.snapshot()
        if since is not None and len(snap['stamps']):
            keep = snap['stamps'] >= since
            snap = {k: (v[keep] if v is not None else None) for k, v in snap.items()}
        n = len(snap['images'])
        if n < 2:
            raise ValueError(f'only {n} transition(s) buffered: nothing to save')
        meta = dict(self.meta)
        states = snap['states']
        if states is not None and states.shape[1] != len(meta.get('state_fields', [])):
            states = None
        if states is None:
            meta.pop('state_fields', None)
        os.makedirs(self.save_dir, exist_ok=True)
        k = self.counts['saved_episodes']
        while True:
            path = os.path.join(self.save_dir, f'{prefix}_{k:04d}.mcap')
            if not os.path.exists(path):
                break
            k += 1
        start_ns = int(snap['stamps'][0] * 1e9)
        tmp = path + '.part'
        write_episode(tmp, snap['images'], snap['actions'], states, meta, start_ns=start_ns)
        os.replace(tmp, path)
        self.ring.clear()
        self.counts['saved_episodes'] += 1
        return path, n

    def _on_save(self, _req, resp):
        try:
            path, n = self.save_episode()
            resp.success, resp.message = True, json.dumps({'path': path, 'transitions': n})
        except (OSError, ValueError) as exc:
            resp.success, resp.message = False, f'save failed: {exc}'
            self.get_logger().error(resp.message)
        return resp

    def _on_surprise_event(self, msg):
        """Schedule the save of an episode around the event (one per pending save)."""
        self.counts['surprise_events'] += 1
        try:
            stamp = json.loads(msg.data).get('stamp')
            stamp = float(stamp) if stamp is not None else None
        except (ValueError, TypeError, AttributeError) as exc:
            self.get_logger().warning(f'surprise event without a usable stamp ({exc}): '
                                      'keeping the whole ring buffer', throttle_duration_sec=5.0)
            stamp = None
        if self._surprise_timer is not None:
            return   # a save is pending: this event goes into the same episode
        self._surprise_stamp = stamp
        self._surprise_timer = self.create_timer(
            max(float(self.p['surprise_save_after_s']), 1e-3), self._save_surprise_episode,
            callback_group=self.group)

    def _save_surprise_episode(self):
        timer, self._surprise_timer = self._surprise_timer, None
        if timer is not None:
            self.destroy_timer(timer)   # one shot
        since = None if self._surprise_stamp is None \
            else self._surprise_stamp - float(self.p['surprise_save_before_s'])
        try:
            path, n = self.save_episode(since=since, prefix='surprise')
        except (OSError, ValueError) as exc:
            self.get_logger().error(f'surprise episode not saved: {exc}')
            return
        self.counts['surprise_episodes'] += 1
        self.get_logger().info(f'surprise episode: {path} ({n} transitions)')

    def _on_start(self, _req, resp):
        ok = self._start_recording()
        resp.success = ok
        resp.message = self.session_dir if ok else (self.recorder.error or 'failed')
        return resp

    def _on_stop(self, _req, resp):
        path = self.recorder.stop()
        resp.success = True
        resp.message = json.dumps({'closed': path, 'chunks': self.recorder.closed_chunks})
        return resp

    def _update_diag(self):
        r = self.recorder
        for k, v in self.counts.items():
            self.diag.set(k, v)
        self.diag.set('recording', r.running)
        self.diag.set('chunks_closed', len(r.closed_chunks))
        self.diag.set('ring_size', len(self.ring))
        self.diag.set('topics', ','.join(t for t, (s, _) in self.subs.items() if s))
        if r.error:
            self.diag.error(r.error)
        else:
            self.diag.ok('recording' if r.running else 'idle (ring buffer only)')

    def destroy_node(self):
        # Also called on a node whose __init__ raised (rclpy's context shutdown destroys
        # every node it tracks): an error here must not hide the one that stopped it.
        recorder = getattr(self, 'recorder', None)
        if recorder is not None:
            recorder.stop()
        return super().destroy_node()


def main(args=None):
    run_node(MemoryNode, args, threads=1)


if __name__ == '__main__':
    main()
