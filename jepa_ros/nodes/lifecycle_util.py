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
"""
import time

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

    Diagnostics: STALE unconfigured, OK configured/active, WARN inactive, ERROR when
    configure failed; the node adds its own values and levels while it runs.
    """

    MODEL_ATTRS = ()
    CONFIGURED_ENTITIES = ()
    ACTIVE_ENTITIES = ()

    def __init__(self, node_name, params, *, given=None, on_check=None, on_applied=None,
                 owned=None, **kwargs):
        """`params`: the node's ParamSpec list (with `autostart`, and `device` when it runs
        torch); `given`: parts handed in instead of checkpoints ({name: object or None});
        on_check / on_applied / owned: see declare_params."""
        super().__init__(node_name, **kwargs)
        self.p = declare_params(self, params, on_check, on_applied, owned=owned)
        self.given = {k: v for k, v in (given or {}).items() if v is not None}
        self.log = RateLimitedLog(self.get_logger(), float(self.p.get('log_period_s', 5.0)))
        for name in self.MODEL_ATTRS:
            setattr(self, name, None)
        self.diag = Diagnostics(self)
        self.diag.stale('unconfigured')

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
            self.load()
        except Exception as exc:
            text = str(exc) if isinstance(exc, CheckpointLoadError) else \
                f'cannot configure: {exc}'
            self.get_logger().error(text)
            self.diag.error(f'configure: {exc}')
            self.drop_models()
            return FAILURE
        self.create_outputs()
        self.diag.ok('configured')
        return SUCCESS

    def on_activate(self, state):
        self.start()
        self.diag.ok('active')
        return super().on_activate(state)

    def on_deactivate(self, state):
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
