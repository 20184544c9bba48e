"""Executors and the main() body of every node: spin until a signal, shut down
cleanly, and a multi-threaded executor that waits instead of busy-spinning (rclpy#1452)."""
import signal
import threading
import time


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


def spin_until_shutdown(executor, period_s=0.1):
    """Spin until SIGINT/SIGTERM shuts the context down, without a traceback.

    A signal invalidates the context between two callbacks; a callback already running
    then fails to publish. That error is the shutdown itself, not a fault: swallow it once
    the context is no longer ok, re-raise it otherwise. The executor is drained on the way
    out so no callback error is left to be printed at exit.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException
    try:
        while rclpy.ok(context=executor.context):
            try:
                executor.spin_once(timeout_sec=period_s)
            except (KeyboardInterrupt, ExternalShutdownException):
                break
            except Exception:
                if rclpy.ok(context=executor.context):
                    raise
                break
    finally:
        if not rclpy.ok(context=executor.context):
            drain_executor(executor)


def make_multithreaded_executor(num_threads, context=None):
    """A MultiThreadedExecutor that does not spin the CPU while its workers are busy.

    rclpy's own (up to the kilted wheels at least; ros2/rclpy#1452) hands a ready
    callback to its thread pool and returns; until a worker has actually started it, the
    next wait yields the same callback again, so the spinning thread loops at full speed
    and holds the interpreter lock. On 2 cores that starved the other nodes (the
    simulator used 70-95 % of a core for a 10 Hz timer; command latency p99 0.2-1.6 s).
    This one waits, briefly, until the worker has picked the callback up.
    """
    from rclpy.executors import (
        ConditionReachedException,
        ExternalShutdownException,
        MultiThreadedExecutor,
        ShutdownException,
        TimeoutException,
    )

    class PatientMultiThreadedExecutor(MultiThreadedExecutor):
        PICKUP_WAIT_S = 0.02     # at most this long per callback (then as rclpy does)

        def _spin_once_impl(self, timeout_sec=None, wait_condition=lambda: False):
            pool, futures = getattr(self, '_executor', None), getattr(self, '_futures', None)
            if pool is None or futures is None:   # another rclpy: its own behaviour
                return super()._spin_once_impl(timeout_sec, wait_condition)
            try:
                handler, _, _ = self.wait_for_ready_callbacks(timeout_sec, None,
                                                              wait_condition)
            except (ExternalShutdownException, ShutdownException, TimeoutException,
                    ConditionReachedException):
                return
            pool.submit(handler)
            futures.append(handler)
            end = time.monotonic() + self.PICKUP_WAIT_S
            while not (handler.executing() or handler.done()) and time.monotonic() < end:
                time.sleep(0.0002)
            for future in futures[:]:
                if future.done():
                    futures.remove(future)
                    future.result()  # raise any exception of the callback

    return PatientMultiThreadedExecutor(num_threads=num_threads, context=context)


def run_node(node_cls, args=None, threads=1, on_ready=None):
    """main() body of every node: init, construct, `on_ready(node)`, spin until a signal.

    SIGINT/SIGTERM end the process with exit code 0 and no traceback whenever they arrive
    after rclpy.init, also while the node is constructed or `on_ready` (a lifecycle
    autostart loading a checkpoint) runs: an error raised once the context is down is
    the shutdown itself.
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    rclpy.init(args=args)
    node = executor = None
    try:
        # The executor first: creating it needs a valid context, and construction plus
        # autostart are the slow part a signal is most likely to interrupt.
        executor = (make_multithreaded_executor(threads) if threads > 1
                    else SingleThreadedExecutor())
        node = node_cls()
        executor.add_node(node)
        if on_ready is not None:
            on_ready(node)
        spin_until_shutdown(executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
    finally:
        # Shutting down: Ctrl-C in a terminal reaches a node twice (from the tty and again
        # from ros2 launch), and ros2 launch follows with SIGTERM when the teardown takes
        # over its sigterm_timeout (5 s; a loaded machine). Neither may interrupt the
        # teardown, where memory closes its recording: rclpy's handler would shut the
        # context down and destroy the node's entities from another thread while this one
        # destroys them (a segfault in destroy_publisher, seen in CI). SIGKILL still ends
        # a teardown that hangs.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if executor is not None:
            drain_executor(executor)
        if node is not None:
            try:
                node.destroy_node()  # the memory node closes its open chunk here
            except Exception:  # destroying entities of a dead context
                if rclpy.ok():
                    raise
        if rclpy.ok():
            rclpy.shutdown()
