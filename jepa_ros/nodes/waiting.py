"""Waiting on a ROS graph (discovery, answers, messages) by spinning with a
deadline, never a fixed sleep: for tools, clients and tests."""
import time


def spin_until(node, pred, timeout_s, tick=None, tick_period_s=0.05, period_s=0.01):
    """Spin `node` (its context's default executor; or an executor holding the nodes)
    until `pred()` is true or `timeout_s` passes; `tick()` (if given, e.g. publishing a
    camera frame) runs at most every `tick_period_s`. Returns the final `pred()`.

    For tests and tools that wait on discovery, answers or messages: never a fixed sleep."""
    import rclpy
    end = time.monotonic() + float(timeout_s)
    next_tick = 0.0
    while not pred():
        now = time.monotonic()
        if now >= end:
            return bool(pred())
        if tick is not None and now >= next_tick:
            tick()
            next_tick = now + tick_period_s
        if hasattr(node, 'spin_once'):   # an executor holding the nodes
            node.spin_once(timeout_sec=period_s)
        else:
            rclpy.spin_once(node, timeout_sec=period_s)
    return True


def call_until_answered(node, send, timeout_s, tick=None, resend_s=3.0):
    """Result of an idempotent service call `send()` (returns a future), re-sent every
    `resend_s` until one answer arrives or `timeout_s` passes (then None).

    A client made just after its server was discovered can lose its first request's
    answer: the request goes out before the server's reply writer has matched the client
    (DDS discovery is per endpoint). Re-sending is the cure; it is safe only for calls
    whose effect does not depend on how often they run, e.g. setting parameters."""
    end = time.monotonic() + float(timeout_s)
    futures = []
    while time.monotonic() < end:
        futures.append(send())
        wait = min(float(resend_s), end - time.monotonic())
        if spin_until(node, lambda: any(f.done() for f in futures), wait, tick):
            return next(f for f in futures if f.done()).result()
    return None


def spin_for(node, seconds, tick=None, tick_period_s=0.05):
    """Spin `node` for `seconds`, calling `tick()` at most every `tick_period_s`."""
    spin_until(node, lambda: False, seconds, tick, tick_period_s)


def wait_future(node, fut, timeout_s):
    """Spin until the rclpy future is done; its result, or TimeoutError."""
    if not spin_until(node, fut.done, timeout_s):
        raise TimeoutError(f'no answer within {timeout_s} s')
    return fut.result()
