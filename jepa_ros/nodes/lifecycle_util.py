"""Helpers shared by the lifecycle nodes: checkpoint paths, autostart, rate-limited logs.

The nodes are rclpy LifecycleNodes (unconfigured -> inactive -> active). `autostart`
walks a node through configure + activate in-process (bringup does this for every
lifecycle node; a node process started alone does it itself unless autostart:=false).
"""
import os
import time

from rclpy.lifecycle import TransitionCallbackReturn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUCCESS = TransitionCallbackReturn.SUCCESS
FAILURE = TransitionCallbackReturn.FAILURE


def resolve_path(path):
    """A checkpoint path as given, else relative to the repo root, else to share/jepa_ros."""
    if not path:
        return path
    path = os.path.expanduser(path)
    if os.path.isabs(path) or os.path.exists(path):
        return path
    for base in (ROOT, _share_dir()):
        if base and os.path.exists(os.path.join(base, path)):
            return os.path.join(base, path)
    return path


def _share_dir():
    try:
        from ament_index_python.packages import get_package_share_directory
        return get_package_share_directory('jepa_ros')
    except Exception:  # no ament index (pip venv): the repo root is enough
        return None


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


def drain_executor(executor, timeout_sec=2.0):
    """Stop `executor` and collect what its callbacks raised while the context went down.

    A multi-threaded executor hands callback errors back on a later spin; a timer that
    published just as SIGTERM invalidated the context leaves such an error behind, which
    rclpy prints at garbage collection ("exception was never retrieved"). After a shutdown
    those errors are the shutdown itself: they are fetched and dropped here.
    """
    try:
        executor.shutdown(timeout_sec=timeout_sec)
    except Exception:  # an executor of a dead context: nothing left to stop
        pass
    for future in list(getattr(executor, '_futures', ())):
        if future.done():
            future.exception()


def run_lifecycle_node(node_cls, args=None, executor_threads=2):
    """main() body shared by the lifecycle nodes: init, autostart, spin until shutdown.

    SIGINT and SIGTERM (rclpy's handlers shut the context down) end the process with
    exit code 0 and no traceback, whenever they arrive after rclpy.init: while the node
    is constructed, during autostart (checkpoint loading) or while timers publish. A
    signal before rclpy.init (module imports) gets the default action (-SIGTERM / -2).
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
    from jepa_ros.nodes.common import spin_until_shutdown
    rclpy.init(args=args)
    node = ex = None
    try:
        # The executor first: creating it needs a valid context, and node construction
        # plus autostart are the slow part a signal is most likely to interrupt.
        ex = MultiThreadedExecutor(num_threads=executor_threads)
        node = node_cls()
        ex.add_node(node)
        if node.get_parameter('autostart').value:
            autostart(node)
        spin_until_shutdown(ex)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # The context was shut down under a running call (a signal): that is the exit.
    finally:
        if ex is not None:
            drain_executor(ex)
        if node is not None:
            try:
                node.destroy_node()
            except Exception:  # destroying entities of a dead context
                if rclpy.ok():
                    raise
        if rclpy.ok():
            rclpy.shutdown()
