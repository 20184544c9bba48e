"""Conversions between ROS messages and numpy: images and stamps."""
import numpy as np

CHANNELS = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1}


class ImageError(ValueError):
    """An Image message that cannot be turned into an RGB array."""


def image_to_rgb(msg, expect_hw=None):
    """sensor_msgs/Image -> HxWx3 uint8 (RGB), without cv_bridge. Raises ImageError."""
    enc = msg.encoding.lower()
    if enc not in CHANNELS:
        raise ImageError(f'unsupported encoding {msg.encoding!r} (want one of {list(CHANNELS)})')
    c = CHANNELS[enc]
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        raise ImageError(f'empty image {w}x{h}')
    if step < w * c:
        raise ImageError(f'step {step} < width*channels {w * c}')
    data = msg.data
    if len(data) != step * h:
        raise ImageError(f'data has {len(data)} bytes, expected step*height = {step * h}')
    if expect_hw is not None and (h, w) != tuple(expect_hw):
        raise ImageError(f'image is {w}x{h}, expected {expect_hw[1]}x{expect_hw[0]}')
    arr = np.frombuffer(bytes(data), dtype=np.uint8).reshape(h, step)[:, :w * c].reshape(h, w, c)
    if enc == 'mono8':
        arr = np.repeat(arr, 3, axis=2)
    elif enc in ('bgr8', 'bgra8'):
        arr = arr[:, :, 2::-1]
    else:
        arr = arr[:, :, :3]
    # Always a writable copy: the message buffer is read-only and torch warns on it.
    return np.array(arr, dtype=np.uint8, order='C', copy=True)


def rgb_to_image(arr, stamp=None, frame_id='camera'):
    """HxWx3 uint8 -> sensor_msgs/Image (rgb8). Data assigned as bytes (fast path)."""
    from sensor_msgs.msg import Image
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    msg = Image()
    if stamp is not None:
        msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(arr.shape[0]), int(arr.shape[1])
    msg.encoding = 'rgb8'
    msg.is_bigendian = 0
    msg.step = int(arr.shape[1]) * 3
    msg.data = arr.tobytes()
    return msg


def stamp_to_sec(stamp):
    return stamp.sec + stamp.nanosec * 1e-9
