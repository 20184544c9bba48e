"""Episodes on disk: one rosbag2 MCAP per episode, loaded as aligned numpy arrays.

Topics: `camera/image_raw` (sensor_msgs/Image), `cmd_vel` (geometry_msgs/Twist or
TwistStamped), `odom` (nav_msgs/Odometry, ground truth). The metadata record `jepa_ros`
says how a Twist maps to a normalised action: `action_fields` (e.g. ['linear.x',
'linear.y']) and `action_scale` (physical units per 1.0), and which odometry fields make
the state (`state_fields`, e.g. ['x', 'y', 'yaw']). `action_mode` names the mode of
jepa_ros.core.action_modes; files written with a legacy name ('ee_velocity',
'differential') read back with the canonical one, and a file without it gets the mode
its action_fields describe.

Images and commands need not be synchronous (the memory node records live topics):
action t is the last command received before image t+1 (zero if none yet), state t the
last odometry received at or before image t. Decoded episodes are cached as .npz, keyed
by file path, mtime and size, because training re-reads the same files many times.
"""
import glob
import hashlib
import math
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from jepa_ros.core import action_modes
from jepa_ros.data.mcap_io import McapFormatError, McapReader, McapWriter, make_msg

IMAGE_TOPIC = 'camera/image_raw'
CMD_TOPIC = 'cmd_vel'
ODOM_TOPIC = 'odom'
META_NAME = 'jepa_ros'
_CACHE_VERSION = 2  # 2: action_mode normalised to its canonical name
_STATE_FIELDS = ('x', 'y', 'z', 'yaw')


class EpisodeError(ValueError):
    """An episode file that cannot be turned into aligned arrays."""


@dataclass
class Episode:
    images: np.ndarray            # (T, H, W, 3) uint8
    actions: np.ndarray           # (T, A) float32 in [-1, 1]; action t applied after image t
    states: np.ndarray = None     # (T, S) float32 or None
    meta: dict = field(default_factory=dict)
    path: str = ''

    def __len__(self):
        return len(self.images)


def _check_meta(meta):
    for key in ('action_fields', 'action_scale'):
        if key not in meta:
            raise EpisodeError(f'episode metadata lacks {key!r} (have {sorted(meta)})')
    fields, scale = list(meta['action_fields']), [float(s) for s in meta['action_scale']]
    if len(fields) != len(scale) or not fields:
        raise EpisodeError(f'action_fields {fields} and action_scale {scale} differ in length')
    if not all(s > 0 and math.isfinite(s) for s in scale):
        raise EpisodeError(f'action_scale must be positive, got {scale}')
    for f in fields:
        if f.split('.')[0] not in ('linear', 'angular') or f.split('.')[-1] not in 'xyz':
            raise EpisodeError(f'action field {f!r} is not linear.x|y|z or angular.x|y|z')
    for f in meta.get('state_fields', []):
        if f not in _STATE_FIELDS:
            raise EpisodeError(f'state field {f!r} is not one of {_STATE_FIELDS}')
    if meta.get('action_mode') is not None:
        mode = _action_mode(meta['action_mode'])
        if list(mode.fields) != fields:
            raise EpisodeError(f'action_mode {meta["action_mode"]!r} drives {list(mode.fields)}'
                               f', but action_fields are {fields}')
    return fields, np.asarray(scale, np.float64)


def _action_mode(name):
    try:
        return action_modes.get(name)
    except ValueError as exc:
        raise EpisodeError(f'episode metadata: {exc}') from None


def normalise_meta(meta):
    """A copy of `meta` with `action_mode` canonical (legacy names mapped) or, when it is
    absent, the mode its action_fields describe (none if they describe no known mode)."""
    meta = dict(meta)
    if meta.get('action_mode') is not None:
        meta['action_mode'] = _action_mode(meta['action_mode']).name
    else:
        mode = action_modes.from_fields(meta.get('action_fields', ()))
        if mode is not None:
            meta['action_mode'] = mode.name
    return meta


# ---- writing ----------------------------------------------------------------------------
def _twist_msg(action, fields, scale, msgtype, stamp):
    values = {'linear': [0.0, 0.0, 0.0], 'angular': [0.0, 0.0, 0.0]}
    for a, f, s in zip(action, fields, scale):
        part, axis = f.split('.')
        values[part]['xyz'.index(axis)] = float(a) * float(s)
    twist = make_msg('geometry_msgs/msg/Twist', **{
        k: make_msg('geometry_msgs/msg/Vector3', x=v[0], y=v[1], z=v[2])
        for k, v in values.items()})
    if msgtype.endswith('TwistStamped'):
        return make_msg('geometry_msgs/msg/TwistStamped', header=_header(stamp, 'base_link'),
                        twist=twist)
    return twist


def _header(stamp_ns, frame_id):
    return make_msg('std_msgs/msg/Header', frame_id=frame_id,
                    stamp=make_msg('builtin_interfaces/msg/Time', sec=int(stamp_ns // 10**9),
                                   nanosec=int(stamp_ns % 10**9)))


def image_msg(image, stamp_ns, frame_id='camera'):
    image = np.ascontiguousarray(image, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise EpisodeError(f'images must be HxWx3 uint8, got shape {image.shape}')
    h, w = image.shape[:2]
    return make_msg('sensor_msgs/msg/Image', header=_header(stamp_ns, frame_id), height=h,
                    width=w, encoding='rgb8', is_bigendian=0, step=w * 3,
                    data=image.reshape(-1))


def odom_msg(state, velocity, state_fields, stamp_ns):
    values = dict(zip(state_fields, (float(s) for s in state)))
    yaw = values.get('yaw', 0.0)
    position = make_msg('geometry_msgs/msg/Point', x=values.get('x', 0.0),
                        y=values.get('y', 0.0), z=values.get('z', 0.0))
    orientation = make_msg('geometry_msgs/msg/Quaternion', x=0.0, y=0.0,
                           z=math.sin(yaw / 2), w=math.cos(yaw / 2))
    vel = dict(zip(state_fields, (float(v) for v in velocity)))
    twist = make_msg('geometry_msgs/msg/Twist',
                     linear=make_msg('geometry_msgs/msg/Vector3', x=vel.get('x', 0.0),
                                     y=vel.get('y', 0.0), z=vel.get('z', 0.0)),
                     angular=make_msg('geometry_msgs/msg/Vector3', x=0.0, y=0.0,
                                      z=vel.get('yaw', 0.0)))
    pose = make_msg('geometry_msgs/msg/Pose', position=position, orientation=orientation)
    return make_msg('nav_msgs/msg/Odometry', header=_header(stamp_ns, 'odom'),
                    child_frame_id='base_link',
                    pose=make_msg('geometry_msgs/msg/PoseWithCovariance', pose=pose),
                    twist=make_msg('geometry_msgs/msg/TwistWithCovariance', twist=twist))


def write_episode(path, images, actions, states, meta, start_ns=0):
    """Write one episode as MCAP. `actions` normalised; `meta` holds dt, action_fields,
    action_scale (and state_fields when `states` is given). Returns `path`."""
    images = np.asarray(images)
    actions = np.asarray(actions, dtype=np.float64)
    fields, scale = _check_meta(meta)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise EpisodeError(f'images must be (T,H,W,3) uint8, got {images.shape} {images.dtype}')
    if actions.shape != (len(images), len(fields)):
        raise EpisodeError(f'actions must be ({len(images)}, {len(fields)}), got {actions.shape}')
    state_fields = list(meta.get('state_fields', []))
    if states is not None:
        states = np.asarray(states, dtype=np.float64)
        if states.shape != (len(images), len(state_fields)):
            raise EpisodeError(f'states must be ({len(images)}, {len(state_fields)}) to match '
                               f'state_fields {state_fields}, got {states.shape}')
    meta = normalise_meta(meta)
    dt_ns = int(round(float(meta.get('dt', 0.1)) * 1e9))
    mode = action_modes.MODES.get(meta.get('action_mode'))
    cmd_type = meta.get('cmd_msgtype') or (mode.cmd_msgtype if mode else action_modes.TWIST)
    with McapWriter(path) as writer:
        writer.add_metadata(META_NAME, dict(meta))
        for t in range(len(images)):
            stamp = int(start_ns) + t * dt_ns
            writer.write_msg(IMAGE_TOPIC, 'sensor_msgs/msg/Image', image_msg(images[t], stamp),
                             stamp)
            if states is not None:
                prev = states[max(t - 1, 0)]
                velocity = (states[t] - prev) / (dt_ns * 1e-9)
                writer.write_msg(ODOM_TOPIC, 'nav_msgs/msg/Odometry',
                                 odom_msg(states[t], velocity, state_fields, stamp), stamp)
            # The command follows its image: the controller saw image t, then acted.
            cmd_stamp = stamp + min(10**6, dt_ns // 2)
            writer.write_msg(CMD_TOPIC, cmd_type,
                             _twist_msg(actions[t], fields, scale, cmd_type, cmd_stamp),
                             cmd_stamp)
    return path


# ---- reading ----------------------------------------------------------------------------
def decode_image(msg):
    """rosbags sensor_msgs/Image -> HxWx3 uint8 RGB."""
    channels = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1}
    enc = str(msg.encoding).lower()
    if enc not in channels:
        raise EpisodeError(f'unsupported image encoding {msg.encoding!r}')
    c, h, w, step = channels[enc], int(msg.height), int(msg.width), int(msg.step)
    data = np.asarray(msg.data, dtype=np.uint8)
    if h <= 0 or w <= 0 or step < w * c or data.size != step * h:
        raise EpisodeError(f'inconsistent image {w}x{h} step {step} with {data.size} bytes')
    arr = data.reshape(h, step)[:, :w * c].reshape(h, w, c)
    if enc == 'mono8':
        return np.repeat(arr, 3, axis=2)
    if enc.startswith('bgr'):
        return np.ascontiguousarray(arr[:, :, 2::-1])
    return np.ascontiguousarray(arr[:, :, :3])


def _twist_values(msg, fields):
    twist = msg.twist if hasattr(msg, 'twist') else msg
    return [getattr(getattr(twist, f.split('.')[0]), f.split('.')[1]) for f in fields]


def _odom_state(msg, state_fields):
    p, q = msg.pose.pose.position, msg.pose.pose.orientation
    yaw = math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))
    values = {'x': p.x, 'y': p.y, 'z': p.z, 'yaw': yaw}
    return [values[f] for f in state_fields]


def _last_before(times, queries, inclusive):
    """Index of the last `times` entry < (or <=) each query; -1 where there is none."""
    side = 'right' if inclusive else 'left'
    return np.searchsorted(times, queries, side=side) - 1


def read_episode(path, meta_override=None):
    """Decode one MCAP file into an Episode (no cache)."""
    reader = McapReader(path, topics={IMAGE_TOPIC, CMD_TOPIC, ODOM_TOPIC})
    images, image_t, cmds, cmd_t, odoms, odom_t = [], [], [], [], [], []
    for topic, _, t_ns, msg in reader:
        if topic == IMAGE_TOPIC:
            images.append(decode_image(msg))
            image_t.append(t_ns)
        elif topic == CMD_TOPIC:
            cmds.append(msg)
            cmd_t.append(t_ns)
        else:
            odoms.append(msg)
            odom_t.append(t_ns)
    if reader.truncated:
        warnings.warn(f'{path}: file is cut short; using the complete part')
    meta = dict(reader.metadata.get(META_NAME, {}))
    meta.update(meta_override or {})
    fields, scale = _check_meta(meta)
    meta = normalise_meta(meta)
    if not images:
        raise EpisodeError(f'{path}: no {IMAGE_TOPIC} messages')
    if len({im.shape for im in images}) != 1:
        raise EpisodeError(f'{path}: image size changes within the episode')
    order = np.argsort(image_t, kind='stable')
    images = np.stack([images[i] for i in order])
    image_t = np.asarray(image_t, np.int64)[order]
    # Action t: the last command before image t+1 (the last image takes the last command).
    next_t = np.append(image_t[1:], np.iinfo(np.int64).max)
    actions = np.zeros((len(images), len(fields)), np.float32)
    if cmds:
        corder = np.argsort(cmd_t, kind='stable')
        values = np.asarray([_twist_values(cmds[i], fields) for i in corder], np.float64)
        idx = _last_before(np.asarray(cmd_t, np.int64)[corder], next_t, inclusive=False)
        valid = idx >= 0
        actions[valid] = np.clip(values[idx[valid]] / scale, -1.0, 1.0)
    states = None
    state_fields = list(meta.get('state_fields', []))
    if odoms and state_fields:
        oorder = np.argsort(odom_t, kind='stable')
        values = np.asarray([_odom_state(odoms[i], state_fields) for i in oorder], np.float32)
        idx = _last_before(np.asarray(odom_t, np.int64)[oorder], image_t, inclusive=True)
        states = values[np.maximum(idx, 0)]
    return Episode(images=images, actions=actions, states=states, meta=meta,
                   path=os.fspath(path))


def default_cache_dir():
    return os.environ.get('JEPA_ROS_CACHE',
                          os.path.join(os.path.expanduser('~'), '.cache', 'jepa_ros', 'episodes'))


def _cache_file(path, cache_dir, meta_override):
    st = os.stat(path)
    key = f'{_CACHE_VERSION}|{os.path.abspath(path)}|{st.st_mtime_ns}|{st.st_size}|' \
          f'{sorted((meta_override or {}).items())}'
    return os.path.join(cache_dir, hashlib.sha1(key.encode()).hexdigest() + '.npz')


def _load_cached(path, cache_dir, meta_override):
    import json
    cache = _cache_file(path, cache_dir, meta_override)
    if os.path.exists(cache):
        try:
            with np.load(cache, allow_pickle=False) as z:
                states = z['states'] if z['has_states'] else None
                return Episode(images=z['images'], actions=z['actions'], states=states,
                               meta=json.loads(str(z['meta'])), path=os.fspath(path))
        except (OSError, ValueError, KeyError):
            pass  # a stale or half-written cache entry: decode again
    ep = read_episode(path, meta_override)
    os.makedirs(cache_dir, exist_ok=True)
    tmp = cache + f'.{os.getpid()}.tmp.npz'
    np.savez(tmp, images=ep.images, actions=ep.actions,
             states=ep.states if ep.states is not None else np.zeros(0, np.float32),
             has_states=ep.states is not None, meta=json.dumps(ep.meta))
    os.replace(tmp, cache)  # atomic: parallel loaders never read a partial file
    return ep


def episode_files(dir_or_files):
    """Expand folders (recursively) and globs into a sorted list of .mcap files."""
    items = [dir_or_files] if isinstance(dir_or_files, (str, os.PathLike)) else dir_or_files
    files = []
    for item in items:
        item = os.fspath(item)
        if os.path.isdir(item):
            files += glob.glob(os.path.join(item, '**', '*.mcap'), recursive=True)
        elif os.path.isfile(item):
            files.append(item)
        elif glob.has_magic(item):
            files += [f for f in glob.glob(item) if f.endswith('.mcap')]
        else:
            raise FileNotFoundError(f'no such episode file or folder: {item}')
    return sorted(set(files))


def load_episodes(dir_or_files, cache_dir=None, use_cache=True, min_length=2,
                  meta_override=None):
    """Load every episode below `dir_or_files` (folder, file, glob or a list of them).

    Files that cannot be decoded are skipped with a warning, as are episodes shorter than
    `min_length`; finding no usable episode at all is an error.
    """
    files = episode_files(dir_or_files)
    if not files:
        raise FileNotFoundError(f'no .mcap episodes in {dir_or_files}')
    cache_dir = cache_dir or default_cache_dir()
    episodes = []
    for f in files:
        try:
            ep = (_load_cached(f, cache_dir, meta_override) if use_cache
                  else read_episode(f, meta_override))
        except (EpisodeError, McapFormatError) as exc:
            warnings.warn(f'skipping {f}: {exc}')
            continue
        if len(ep) >= min_length:
            episodes.append(ep)
    if not episodes:
        raise EpisodeError(f'none of the {len(files)} files in {dir_or_files} is a usable '
                           'episode')
    return episodes
