"""The lifecycle base of the model nodes, and helpers every lifecycle node shares.

The nodes are rclpy LifecycleNodes (unconfigured -> inactive -> active). `autostart`
walks a node through configure + activate in-process (bringup does this for every
lifecycle node; a node process started alone does it itself unless autostart:=false).

`ModelLifecycleNode` is the one base class of perception, world_model and actor (the
nodes that run a model from a checkpoint), in the manner of nav2::LifecycleNode and
ros2/demos lifecycle_py: parameters declared once, entities made in configure/activate
and released in deactivate/cleanup, checkpoints found through jepa_ros.share, the torch
device picked by jepa_ros.core.device, parts handed in by bringup/tests used instead of
the files, and /diagnostics levels by name.

Model versions and the two-phase switch (hot swap) are here too: every model node knows
the version of the world model it runs (`jepa_ros.core.checkpoint.model_version` of its
checkpoint), drops input messages of another version (`version_ok`), and serves
`~/prepare_model` (load and check a candidate into a staging slot, the running networks
untouched), `~/commit_model` (staging -> live, atomically, between callbacks) and
`~/abort_model` (drop the staging slot). The configurator's `~/swap_model` drives them.
"""
import threading
import time
from collections import namedtuple

import numpy as np

from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

from jepa_ros.nodes.diagnostics import Diagnostics
from jepa_ros.nodes.parameters import ParamSpec, declare_params
from jepa_ros.share import resolve_data_path

SUCCESS = TransitionCallbackReturn.SUCCESS
FAILURE = TransitionCallbackReturn.FAILURE
PATH_LOOKUP = ('a relative path is looked up in the working directory, then in the '
               'jepa_ros share dir (the checkout or install/share/jepa_ros)')


def checkpoint_param(purpose=''):
    """The `checkpoint` parameter of a model node (the world model it loads)."""
    return ParamSpec('checkpoint', 'models/two_rooms_world_model.pt',
                     f'world model checkpoint{purpose}; {PATH_LOOKUP}', read_only=True)


def resolve_path(path):
    """A checkpoint path as given (absolute, or existing relative to the working directory),
    else relative to the package's share directory (the checkout, or install/share/jepa_ros):
    see jepa_ros.share.resolve_data_path."""
    return resolve_data_path(path)


def load_world_model(path, device='cpu'):
    """(model, extra) of a world model checkpoint (path resolved as resolve_path does);
    CheckpointError/ImportError with a clear message."""
    from jepa_ros.core.checkpoint import load_checkpoint
    return load_checkpoint(resolve_path(path), map_location=device, kind='world_model')


def autostart(node):
    """configure + activate; True when the node ends up active (errors are logged).

    A signal that shuts the context down during configure (loading a checkpoint takes
    seconds) is a shutdown, not a configuration error: nothing is logged then.
    """
    ret = node.trigger_configure()
    if ret != SUCCESS:
        if node.context.ok():
            node.get_logger().error('configure failed: the node stays unconfigured')
        return False
    ret = node.trigger_activate()
    if ret != SUCCESS:
        if node.context.ok():
            node.get_logger().error('activate failed: the node stays inactive')
        return False
    return True


class RateLimitedLog:
    """At most one log line per `period_s` per key; counts what it suppressed."""

    def __init__(self, logger, period_s=5.0):
        self.logger, self.period_s = logger, period_s
        self.last, self.suppressed = {}, {}

    def warn(self, key, text):
        now = time.monotonic()
        if now - self.last.get(key, -1e9) >= self.period_s:
            n = self.suppressed.pop(key, 0)
            self.logger.warning(text + (f' ({n} similar suppressed)' if n else ''))
            self.last[key] = now
        else:
            self.suppressed[key] = self.suppressed.get(key, 0) + 1


# ---- model versions and candidates ------------------------------------------------------
# A candidate model version held by a node between ~/prepare_model and ~/commit_model:
# its version, the world model file it came from, and the node's parts built from it.
Staged = namedtuple('Staged', 'version path parts')
ROBOT_KEYS = ('action_dim', 'action_mode', 'image_size')


def robot_of(config):
    """What a world model config says about the robot it drives: {'action_dim',
    'action_mode' (canonical name), 'image_size'}, from a config dataclass or dict."""
    from jepa_ros.core import action_modes

    def get(key, default=None):
        if isinstance(config, dict):
            return config.get(key, default)
        return getattr(config, key, default)
    scale = get('action_scale') or []
    return {'action_dim': int(get('action_dim', len(scale))),
            'action_mode': action_modes.canonical(str(get('action_mode') or 'holonomic')),
            'image_size': int(get('image_size', 64))}


def check_same_robot(candidate, running):
    """ValueError naming every difference between a candidate's robot and the running one
    (action dimension, action mode, image size; a running value None is not checked)."""
    diffs = [f'{k} {candidate.get(k)!r} (running: {running[k]!r})' for k in ROBOT_KEYS
             if running.get(k) is not None and candidate.get(k) != running[k]]
    if diffs:
        raise ValueError('does not fit the running robot: ' + ', '.join(diffs))


def probe_image(size):
    """A fixed (1, size, size, 3) uint8 test image (gradients, not a constant) that a
    candidate encoder must turn into finite latents."""
    ramp = np.linspace(0, 255, int(size), dtype=np.float32)
    img = np.stack([ramp[None, :].repeat(size, 0), ramp[:, None].repeat(size, 1),
                    np.full((size, size), 96.0, np.float32)], axis=-1)
    return img.astype(np.uint8)[None]


def short_reason(text, limit=200):
    """The first line of an error text, at most `limit` characters (torch's own messages
    run to a page; the log has them in full)."""
    first = str(text).strip().splitlines()[0] if str(text).strip() else ''
    return first if len(first) <= limit else first[:limit - 3] + '...'


def check_finite(what, value):
    """ValueError when the tensor/array `value` holds NaN or inf (a broken candidate)."""
    import torch
    t = torch.as_tensor(value).detach()
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f'{what} gives non-finite values on a probe input')
    return value


class CheckpointLoadError(RuntimeError):
    """A checkpoint named by a node parameter could not be loaded (message names the path
    as the user gave it, and why)."""


def _destroy(node, entity):
    """Destroy one entity a lifecycle node made, whatever its kind."""
    from rclpy.guard_condition import GuardCondition
    from rclpy.lifecycle import LifecyclePublisher
    from rclpy.publisher import Publisher
    from rclpy.subscription import Subscription
    from rclpy.timer import Timer
    if isinstance(entity, LifecyclePublisher):
        node.destroy_lifecycle_publisher(entity)
    elif isinstance(entity, Publisher):
        node.destroy_publisher(entity)
    elif isinstance(entity, Subscription):
        node.destroy_subscription(entity)
    elif isinstance(entity, Timer):
        node.destroy_timer(entity)
    elif isinstance(entity, GuardCondition):
        node.destroy_guard_condition(entity)
    else:
        raise TypeError(f'cannot release {type(entity).__name__}')


class ModelLifecycleNode(LifecycleNode):
    """Base class of the model nodes: the lifecycle is here, the node says what it makes.

    A subclass lists its attributes and fills in the hooks:

    * MODEL_ATTRS: the parts it runs (model, planner, policy ...): set to None at cleanup,
      at shutdown and when configure fails.
    * CONFIGURED_ENTITIES / ACTIVE_ENTITIES: attributes holding entities (publishers,
      subscriptions, timers, guard conditions; one entity or a list) made in configure /
      activate; the base destroys them at cleanup / deactivate and resets the attribute
      (None, or [] for a list). An attribute may be replaced meanwhile (a timer re-made
      for a new rate): whatever it holds then is released.
    * load(): configure, first step: take the parts handed to the constructor (`given`) or
      load them from checkpoints (`part`); raise on any problem -> the node logs it, shows
      ERROR on /diagnostics and stays unconfigured.
    * create_outputs(): configure, second step: lifecycle publishers.
    * start() / stop(): activate (subscriptions, timers) / deactivate, before the active
      entities are destroyed (e.g. a last zero command).
    * prepare_candidate(path, request, version) / install_candidate(parts, version) /
      after_commit(): the hot swap (below).

    Model version: `self.model_version` is the version of the world model the node runs,
    `core.checkpoint.model_version` of its `checkpoint` (of the source checkpoint for an
    `export_dir`; '' for parts handed in without `model_version=`), set at configure and
    by a commit. Inputs of another version are dropped with `version_ok(msg, kind)`:
    counted (`dropped_version_<kind>` on /diagnostics) and logged at a limited rate.

    Hot swap: `~/prepare_model` (PrepareModel) builds and checks the candidate's parts in
    `prepare_candidate` without touching the running ones (any exception is a refusal
    with its reason, never a crash) and keeps them in the staging slot;
    `~/commit_model` (CommitModel) hands them to `install_candidate`, which swaps them in
    under the node's lock and sets `self.model_version`; `~/abort_model` (Trigger) drops
    the slot. A node that is not active refuses prepare and commit with the reason.

    Diagnostics: STALE unconfigured, OK configured/active, WARN inactive, ERROR when
    configure failed; the node adds its own values and levels while it runs.
    """

    MODEL_ATTRS = ()
    CONFIGURED_ENTITIES = ()
    ACTIVE_ENTITIES = ()
    # The handed-in part that replaces the world model checkpoint (its version is then the
    # constructor's `model_version`, not a file's).
    VERSION_PART = 'model'

    def __init__(self, node_name, params, *, given=None, on_check=None, on_applied=None,
                 owned=None, model_version=None, **kwargs):
        """`params`: the node's ParamSpec list (with `autostart`, and `device` when it runs
        torch); `given`: parts handed in instead of checkpoints ({name: object or None});
        on_check / on_applied / owned: see declare_params; `model_version`: the version
        of handed-in parts ('' when not given: such a node exchanges messages with
        unversioned peers only)."""
        super().__init__(node_name, **kwargs)
        from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
        from std_srvs.srv import Trigger

        from jepa_ros_interfaces.srv import CommitModel, PrepareModel
        self.p = declare_params(self, params, on_check, on_applied, owned=owned)
        self.given = {k: v for k, v in (given or {}).items() if v is not None}
        self.given_version = str(model_version or '')
        self.log = RateLimitedLog(self.get_logger(), float(self.p.get('log_period_s', 5.0)))
        for name in self.MODEL_ATTRS:
            setattr(self, name, None)
        self.diag = Diagnostics(self)
        self.diag.stale('unconfigured')
        self.model_version = ''
        self.active_checkpoint = ''           # world model file of the active version
        self.lifecycle_active = False
        self.version_drops = {}               # input kind -> messages of another version
        self.swaps = 0
        self.staged = None                    # Staged, between prepare and commit
        self.staging_lock = threading.Lock()
        # Loading a candidate takes a while: its own group keeps the data callbacks going.
        self.swap_group = MutuallyExclusiveCallbackGroup()
        self.create_service(PrepareModel, '~/prepare_model', self._on_prepare_model,
                            callback_group=self.swap_group)
        self.create_service(CommitModel, '~/commit_model', self._on_commit_model,
                            callback_group=self.swap_group)
        self.create_service(Trigger, '~/abort_model', self._on_abort_model,
                            callback_group=self.swap_group)

    # ---- parts ------------------------------------------------------------------------
    @property
    def device(self):
        """The torch device of the `device` parameter (ValueError when it is unusable)."""
        from jepa_ros.core.device import pick_device
        return pick_device(self.p.get('device', 'cpu'))

    def checkpoint_path(self, param):
        """The checkpoint file named by parameter `param`, resolved as resolve_path does."""
        return resolve_path(self.p[param])

    def part(self, name, param, load, optional=False):
        """The part handed in as `given[name]`, else `load(path)` of the checkpoint named by
        parameter `param` (path resolved; the loader takes `self.device` when it needs
        torch); None when `optional` and the parameter is ''. CheckpointLoadError names
        the path as given and the reason."""
        if name in self.given:
            return self.given[name]
        given_path = self.p[param]
        if optional and not given_path:
            return None
        try:
            return load(resolve_path(given_path))
        except Exception as exc:  # CheckpointError, missing core module, I/O
            raise CheckpointLoadError(f'cannot load checkpoint {given_path!r}: {exc}') \
                from exc

    def release(self, names):
        """Destroy the entities held by the attributes `names`; reset the attributes."""
        for name in names:
            held = getattr(self, name, None)
            for entity in (held if isinstance(held, (list, tuple)) else [held]):
                if entity is not None:
                    _destroy(self, entity)
            setattr(self, name, [] if isinstance(held, (list, tuple)) else None)

    def drop_models(self):
        for name in self.MODEL_ATTRS:
            setattr(self, name, None)
        with self.staging_lock:
            self.staged = None

    # ---- model version --------------------------------------------------------------
    def source_version(self):
        """The version of what configure loads: handed-in parts -> the constructor's
        `model_version`; `export_dir` -> its source checkpoint's; else the `checkpoint`
        file's (CheckpointError when it cannot be read)."""
        from jepa_ros.core.checkpoint import model_version
        if self.VERSION_PART in self.given:
            return self.given_version
        if self.p.get('export_dir'):
            return model_version(resolve_path(self.p['export_dir']))
        return model_version(self.checkpoint_path('checkpoint'))

    def _try_source_version(self):
        try:
            return self.source_version()
        except Exception:
            return None

    def version_ok(self, msg, kind):
        """True when input `msg` (LatentState or Plan) is of this node's model version;
        else it is dropped: counted, shown on /diagnostics, logged at a limited rate."""
        version = str(getattr(msg, 'model_version', ''))
        if version == self.model_version:
            return True
        n = self.version_drops[kind] = self.version_drops.get(kind, 0) + 1
        self.diag.set(f'dropped_version_{kind}', n)
        self.log.warn(f'version:{kind}', f'ignoring {kind} of model version '
                                         f'{version or "(none)"}: this node runs '
                                         f'{self.model_version or "(none)"}')
        return False

    def _show_version(self):
        self.diag.set('model_version', self.model_version)
        self.diag.set('model_checkpoint', self.active_checkpoint)
        self.diag.set('model_swaps', self.swaps)

    # ---- hot swap ---------------------------------------------------------------------
    def swap_refusal(self):
        """Why this node cannot switch models now ('' when it can)."""
        if not self.lifecycle_active:
            return 'not active (configure and activate it first)'
        if self.p.get('export_dir'):
            return (f"runs the exported networks of export_dir {self.p['export_dir']!r}; "
                    f'a hot swap loads checkpoints (restart it with the new export instead)')
        return ''

    def prepare_candidate(self, path, request, version):
        """Build and check the node's parts of the candidate world model `path` (resolved)
        and the request's other checkpoints, without touching the running parts: return
        them (any object: install_candidate gets it back); raise with the reason."""
        raise NotImplementedError(f'{self.get_name()} has no hot swap')

    def install_candidate(self, parts, version):
        """Swap the prepared `parts` in and set self.model_version = version, under the
        node's lock (between callbacks); drop state of the old version."""
        raise NotImplementedError(f'{self.get_name()} has no hot swap')

    def after_commit(self):
        """After a commit (outside the node's lock), e.g. re-encode the goal."""

    def _on_prepare_model(self, request, response):
        from jepa_ros.core.checkpoint import model_version
        name = self.get_name()
        response.active_version = self.model_version
        given_path = str(request.world_model_checkpoint)
        refusal = self.swap_refusal()
        if not refusal and not given_path:
            refusal = 'no world_model_checkpoint given'
        if refusal:
            response.success, response.message = False, f'{name}: {refusal}'
            self.get_logger().warning(f'prepare_model refused: {refusal}')
            return response
        try:
            path = resolve_path(given_path)
            version = model_version(path)
            parts = self.prepare_candidate(path, request, version)
            if model_version(path) != version:   # replaced while it was being loaded
                raise ValueError('the file changed while it was loaded; prepare again')
        except Exception as exc:  # a bad candidate is a refusal, never a crash
            text = str(exc) or repr(exc)
            for prefix in (f'{path}: ', f'{given_path}: '):   # the path is said once
                if text.startswith(prefix):
                    text = text[len(prefix):]
            self.get_logger().error(f'prepare_model: cannot use {given_path!r}: {text}')
            response.success = False
            response.message = f'{name}: cannot use {given_path!r}: {short_reason(text)}'
            self.diag.set('last_swap_error', response.message)
            return response
        with self.staging_lock:
            self.staged = Staged(version, path, parts)
        response.success, response.version = True, version
        response.message = f'{name}: version {version} staged from {path}'
        self.get_logger().info(response.message)
        return response

    def _on_commit_model(self, request, response):
        name = self.get_name()
        refusal = self.swap_refusal()
        with self.staging_lock:
            staged = self.staged
            if not refusal and staged is None:
                refusal = 'nothing staged (call ~/prepare_model first)'
            elif not refusal and staged.version != request.version:
                refusal = (f'staged version is {staged.version}, not {request.version!r}')
            if not refusal:
                self.staged = None
        if refusal:
            response.success, response.message = False, f'{name}: {refusal}'
            self.get_logger().warning(f'commit_model refused: {refusal}')
            return response
        previous = self.model_version
        try:
            self.install_candidate(staged.parts, staged.version)
        except Exception as exc:  # install_candidate swaps nothing before it cannot fail
            response.success = False
            response.message = f'{name}: commit failed, still {previous}: {exc!r}'
            self.get_logger().error(response.message)
            return response
        self.active_checkpoint = staged.path
        self.swaps += 1
        self._show_version()
        self.diag.set('last_swap_error', '')
        self.get_logger().info(f'model version {previous} -> {staged.version} '
                               f'({staged.path})')
        try:
            self.after_commit()
        except Exception as exc:
            self.log.warn('after_commit', f'after the switch: {exc!r}')
        response.success = True
        response.message = f'{name}: running version {staged.version} (was {previous})'
        return response

    def _on_abort_model(self, request, response):
        with self.staging_lock:
            staged, self.staged = self.staged, None
        response.success = True
        response.message = (f'{self.get_name()}: dropped staged version {staged.version}'
                            if staged is not None else f'{self.get_name()}: nothing staged')
        if staged is not None:
            self.get_logger().info(response.message)
        return response

    # ---- hooks ------------------------------------------------------------------------
    def load(self):
        pass

    def create_outputs(self):
        pass

    def start(self):
        pass

    def stop(self):
        pass

    # ---- lifecycle --------------------------------------------------------------------
    def on_configure(self, state):
        try:
            if 'torch_threads' in self.p:
                import torch
                torch.set_num_threads(int(self.p['torch_threads']))
            before = self._try_source_version()
            self.load()
            # After load: a missing file is reported by load() with its path and reason.
            version = self.source_version()
            if before is not None and before != version:
                raise ValueError('the checkpoint changed while it was loaded; configure '
                                 'again')
        except Exception as exc:
            text = str(exc) if isinstance(exc, CheckpointLoadError) else \
                f'cannot configure: {exc}'
            self.get_logger().error(text)
            self.diag.error(f'configure: {exc}')
            self.drop_models()
            return FAILURE
        self.model_version = version
        self.active_checkpoint = ('' if self.VERSION_PART in self.given else
                                  resolve_path(self.p.get('export_dir') or self.p['checkpoint']))
        self._show_version()
        self.create_outputs()
        self.diag.ok('configured')
        return SUCCESS

    def on_activate(self, state):
        self.start()
        self.lifecycle_active = True
        self.diag.ok('active')
        return super().on_activate(state)

    def on_deactivate(self, state):
        self.lifecycle_active = False
        self.stop()
        self.release(self.ACTIVE_ENTITIES)
        self.diag.warn('inactive')
        return super().on_deactivate(state)

    def on_cleanup(self, state):
        self.release(self.CONFIGURED_ENTITIES)
        self.drop_models()
        self.diag.stale('unconfigured')
        return SUCCESS

    def on_shutdown(self, state):
        self.lifecycle_active = False
        self.drop_models()
        return SUCCESS


def run_lifecycle_node(node_cls, args=None, executor_threads=2):
    """main() body shared by the lifecycle nodes: init, autostart, spin until shutdown.

    SIGINT and SIGTERM (rclpy's handlers shut the context down) end the process with
    exit code 0 and no traceback, whenever they arrive after rclpy.init: while the node
    is constructed, during autostart (checkpoint loading) or while timers publish. A
    signal before rclpy.init (module imports) gets the default action (-SIGTERM / -2).
    """
    from jepa_ros.nodes.executors import run_node

    def start(node):
        if node.get_parameter('autostart').value:
            autostart(node)
    run_node(node_cls, args, threads=executor_threads, on_ready=start)
