"""Helpers shared by the lifecycle nodes: checkpoint paths, autostart, rate-limited logs.

The nodes are rclpy LifecycleNodes (unconfigured -> inactive -> active). `autostart`
walks a node through configure + activate in-process (bringup does this for every
lifecycle node; a node process started alone does it itself unless autostart:=false).
"""
import time

from rclpy.lifecycle import TransitionCallbackReturn

from jepa_ros.share import resolve_data_path

SUCCESS = TransitionCallbackReturn.SUCCESS
FAILURE = TransitionCallbackReturn.FAILURE


def resolve_path(path):
    """A checkpoint path as given (absolute, or existing relative to the working directory),
    else relative to the package's share directory (the checkout, or install/share/jepa_ros):
    see jepa_ros.share.resolve_data_path."""
    return resolve_data_path(path)


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


def release(node, subscriptions=(), timers=(), guards=(), lifecycle_publishers=()):
    """Destroy what a lifecycle node made in configure/activate; None entries are skipped.

    The caller then forgets them (sets its attributes to None / [])."""
    for destroy, entities in ((node.destroy_subscription, subscriptions),
                              (node.destroy_timer, timers),
                              (node.destroy_guard_condition, guards),
                              (node.destroy_lifecycle_publisher, lifecycle_publishers)):
        for entity in entities:
            if entity is not None:
                destroy(entity)


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


def run_lifecycle_node(node_cls, args=None, executor_threads=2):
    """main() body shared by the lifecycle nodes: init, autostart, spin until shutdown.

    SIGINT and SIGTERM (rclpy's handlers shut the context down) end the process with
    exit code 0 and no traceback, whenever they arrive after rclpy.init: while the node
    is constructed, during autostart (checkpoint loading) or while timers publish. A
    signal before rclpy.init (module imports) gets the default action (-SIGTERM / -2).
    """
    from jepa_ros.nodes.common import run_node

    def start(node):
        if node.get_parameter('autostart').value:
            autostart(node)
    run_node(node_cls, args, threads=executor_threads, on_ready=start)