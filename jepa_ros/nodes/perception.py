"""Perception module: camera image -> latent state s_t (the JEPA encoder), as a ROS node.

camera/image_raw (sensor QoS) -> jepa/state (LatentState, level 1, stamped with the image
stamp); goal/image_raw (latched) -> jepa/goal_state (latched). Lifecycle: configure loads
the checkpoint (on error: logged, node stays unconfigured), activate subscribes,
deactivate unsubscribes, cleanup frees the model. Bad images are rejected, counted and
logged at a limited rate; the node keeps processing good frames.

Every state and goal state carries the node's model version (LatentState.model_version,
the version of the encoder that made it). Hot swap (lifecycle_util): a candidate encoder
is loaded and checked (same image size, action dim and mode as the running model, finite
latents on a probe image) into the staging slot; on commit it replaces the running one
between two frames, and the last goal image is encoded again and republished with the
new version, so the planner gets a goal in the new latent space.
"""
import threading

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from sensor_msgs.msg import Image

from jepa_ros.nodes.backend import backend_params, load_node_backend
from jepa_ros.nodes.diagnostics import RateMeter
from jepa_ros.nodes.lifecycle_util import (ModelLifecycleNode, check_finite, check_same_robot,
                                           checkpoint_param, load_world_model, probe_image,
                                           robot_of, run_lifecycle_node)
from jepa_ros.nodes.messages import CHANNELS, ImageError, image_to_rgb
from jepa_ros.nodes.parameters import ParamSpec
from jepa_ros.nodes.qos import LATCHED_QOS, SENSOR_QOS

PARAMS = [
    checkpoint_param(),
    ParamSpec('device', 'cpu', 'torch device for the encoder', choices=['cpu', 'cuda'],
              read_only=True),
    *backend_params('the encoder'),
    ParamSpec('resize', False, 'resize images of another size to the model input '
              'size instead of rejecting them'),
    ParamSpec('torch_threads', 1, 'torch intra-op threads of this node', min=1, max=64,
              read_only=True),
    ParamSpec('log_period_s', 5.0, 'at most one warning per this many seconds per '
              'kind of bad input', min=0.1, max=3600.0),
    ParamSpec('autostart', True, 'configure and activate on start (own process)',
              read_only=True),
]


# Why an image was refused (counted per kind on /diagnostics, logged per kind).
REJECT_KINDS = ('encoding', 'empty', 'step', 'truncated', 'size', 'nonfinite', 'other')


def classify_bad_image(msg, image_size, resize=False):
    """The REJECT_KINDS entry for an Image that image_to_rgb refused (same order
    of checks): encoding, empty, step (< width*channels), truncated (data length is not
    step*height), size (not the model input size), else other."""
    channels = CHANNELS.get(str(msg.encoding).lower())
    if channels is None:
        return 'encoding'
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h <= 0 or w <= 0:
        return 'empty'
    if step < w * channels:
        return 'step'
    if len(msg.data) != step * h:
        return 'truncated'
    if not resize and (h, w) != (image_size, image_size):
        return 'size'
    return 'other'


class NonFiniteLatent(ImageError):
    """A well-formed image whose latent is not finite (a broken model, not the camera)."""


class PerceptionNode(ModelLifecycleNode):
    MODEL_ATTRS = ('model',)
    CONFIGURED_ENTITIES = ('state_pub', 'goal_pub')
    ACTIVE_ENTITIES = ('subs',)

    def __init__(self, model=None, **kwargs):
        """`model` may be handed in (bringup, tests) instead of the checkpoint."""
        super().__init__('perception', PARAMS, given={'model': model},
                         on_applied=self._on_params, **kwargs)
        self.lock = threading.Lock()
        self.group = MutuallyExclusiveCallbackGroup()
        self.counts = {'frames': 0, 'goals': 0, 'rejected': 0}
        self.rejected_by_kind = {k: 0 for k in REJECT_KINDS}
        self.last_error = ''
        self.rate = RateMeter()
        self.subs = []
        self.state_pub = self.goal_pub = None
        self.last_goal = None          # the last goal image message (re-encoded on a swap)

    def _on_params(self, changed):
        if 'log_period_s' in changed:
            self.log.period_s = float(changed['log_period_s'])

    # ---- lifecycle (ModelLifecycleNode hooks) -------------------------------------------
    def load(self):
        exported = None if 'model' in self.given else load_node_backend(self, ['encoder'])
        if exported is not None:   # the exported encoder: uint8 image in, latent out
            self.model = exported.world_model
        else:
            self.model = self.part('model', 'checkpoint',
                                   lambda path: load_world_model(path, self.device)[0])
        self.image_size = int(self.model.config.image_size)
        self.robot = robot_of(self.model.config)

    # ---- hot swap (ModelLifecycleNode hooks) --------------------------------------------
    def prepare_candidate(self, path, request, version):
        import torch
        model, _ = load_world_model(path, self.device)
        check_same_robot(robot_of(model.config), self.robot)
        with torch.no_grad():
            z = model.encode(probe_image(int(model.config.image_size)))
        check_finite('the encoder', z)
        return model

    def install_candidate(self, model, version):
        with self.lock:   # between two encodings
            self.model = model
            self.image_size = int(model.config.image_size)
            self.robot = robot_of(model.config)
            self.model_version = version

    def after_commit(self):
        """The goal in the new latent space: the last goal image encoded again."""
        msg = self.last_goal
        if msg is not None and self.goal_pub is not None:
            self._on_goal(msg)

    def create_outputs(self):
        from jepa_ros_interfaces.msg import LatentState
        self.state_pub = self.create_lifecycle_publisher(LatentState, 'jepa/state', 10)
        self.goal_pub = self.create_lifecycle_publisher(LatentState, 'jepa/goal_state',
                                                        LATCHED_QOS)

    def start(self):
        self.subs = [
            self.create_subscription(Image, 'camera/image_raw', self._on_image,
                                     SENSOR_QOS, callback_group=self.group),
            self.create_subscription(Image, 'goal/image_raw', self._on_goal,
                                     LATCHED_QOS, callback_group=self.group),
        ]

    # ---- data -------------------------------------------------------------------------
    def encode_msg(self, msg):
        """Image message -> (D,) float32 numpy latent; ImageError on bad input."""
        return self.encode_versioned(msg)[0]

    def encode_versioned(self, msg):
        """Image message -> ((D,) float32 numpy latent, model version of the encoder that
        made it: read under the same lock, so a swap cannot come between); ImageError on
        bad input."""
        import numpy as np
        import torch
        size = self.image_size
        rgb = image_to_rgb(msg, None if self.p['resize'] else (size, size))
        if rgb.shape[:2] != (size, size):
            import cv2
            rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
        with self.lock, torch.no_grad():
            z = self.model.encode(rgb[None])[0]
            version = self.model_version
        z = z.detach().cpu().numpy().astype(np.float32)
        if not np.all(np.isfinite(z)):
            raise NonFiniteLatent('encoder produced non-finite latents')
        return z, version

    def _latent_msg(self, header, z, version):
        from jepa_ros_interfaces.msg import LatentState
        out = LatentState()
        out.header = header
        out.level = 1
        out.data = z.tolist()
        out.model_version = version
        return out

    def _reject(self, source, msg, exc):
        kind = ('nonfinite' if isinstance(exc, NonFiniteLatent)
                else classify_bad_image(msg, self.image_size, self.p['resize']))
        self.counts['rejected'] += 1
        self.rejected_by_kind[kind] += 1
        self.last_error = f'{source} ({kind}): {exc}'
        self.log.warn(f'{source}:{kind}', f'rejected {source} image ({kind}): {exc}')
        self.update_diagnostics()

    def _on_image(self, msg):
        if self.model is None or self.state_pub is None:
            return
        try:
            z, version = self.encode_versioned(msg)
        except (ImageError, ValueError) as exc:
            self._reject('camera', msg, exc)
            return
        self.state_pub.publish(self._latent_msg(msg.header, z, version))
        self.counts['frames'] += 1
        self.rate.tick()
        self.update_diagnostics()

    def _on_goal(self, msg):
        if self.model is None or self.goal_pub is None:
            return
        try:
            z, version = self.encode_versioned(msg)
        except (ImageError, ValueError) as exc:
            self._reject('goal', msg, exc)
            return
        self.last_goal = msg
        self.goal_pub.publish(self._latent_msg(msg.header, z, version))
        self.counts['goals'] += 1
        self.get_logger().info(f'new goal latent (|z|={float((z ** 2).sum()) ** 0.5:.3f}, '
                               f'model version {version or "(none)"})')

    def update_diagnostics(self):
        for k, v in self.counts.items():
            self.diag.set(k, v)
        for k, v in self.rejected_by_kind.items():
            self.diag.set(f'rejected_{k}', v)
        self.diag.set('rate_hz', f'{self.rate.rate():.1f}')
        self.diag.set('last_error', self.last_error)


def main(args=None):
    run_lifecycle_node(PerceptionNode, args)


if __name__ == '__main__':
    main()
