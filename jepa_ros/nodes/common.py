"""Helpers every node shares: parameter specs, QoS profiles, image conversion, diagnostics.

Parameters are data (`ParamSpec` lists at module level of each node), so that
`jepa-ros params` can print the reference without starting ROS, and every node
declares them the same way: a descriptor with description and range, validated
again in an on-set callback that gives a reason when it refuses.
"""
from dataclasses import dataclass, field
import math
import signal
import threading
import time
from typing import Any, Callable, Optional, Sequence

import numpy as np
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)
from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy,
                       qos_profile_sensor_data)

# Camera frames: best effort, newest only (a late frame is worth nothing to a controller).
SENSOR_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                        reliability=ReliabilityPolicy.BEST_EFFORT,
                        durability=DurabilityPolicy.VOLATILE)
# Goal images and other latched state: late joiners get the last one.
LATCHED_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
RELIABLE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                          reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)
assert qos_profile_sensor_data is not None  # re-exported for nodes that want the ROS default


@dataclass
class ParamSpec:
    name: str
    default: Any
    description: str
    min: Optional[float] = None
    max: Optional[float] = None
    choices: Optional[Sequence[Any]] = None
    read_only: bool = False
    # Extra validation beyond range/choices; returns an error string or None.
    check: Optional[Callable[[Any], Optional[str]]] = field(default=None, repr=False)

    def descriptor(self):
        d = ParameterDescriptor(description=self.description, read_only=self.read_only)
        if self.choices:
            d.additional_constraints = 'one of: ' + ', '.join(str(c) for c in self.choices)
        if self.min is not None and self.max is not None:
            if isinstance(self.default, bool):
                pass
            elif isinstance(self.default, int):
                d.integer_range = [IntegerRange(from_value=int(self.min), to_value=int(self.max),
                                                step=0)]
            elif isinstance(self.default, float):
                d.floating_point_range = [FloatingPointRange(from_value=float(self.min),
                                                             to_value=float(self.max), step=0.0)]
        return d

    def validate(self, value):
        """None when `value` is acceptable, else the reason it is not."""
        if isinstance(self.default, bool) != isinstance(value, bool):
            return f'{self.name}: expected {type(self.default).__name__}, got {value!r}'
        if isinstance(self.default, float) and isinstance(value, (int, float)):
            if not math.isfinite(float(value)):
                return f'{self.name}: must be finite, got {value!r}'
        elif not isinstance(value, type(self.default)) and not (
                isinstance(self.default, (list, tuple)) and isinstance(value, (list, tuple))):
            return f'{self.name}: expected {type(self.default).__name__}, got {value!r}'
        if self.choices is not None and value not in self.choices:
            return f'{self.name}: {value!r} is not one of {list(self.choices)}'
        if self.min is not None and isinstance(value, (int, float)) and value < self.min:
            return f'{self.name}: {value} is below the minimum {self.min}'
        if self.max is not None and isinstance(value, (int, float)) and value > self.max:
            return f'{self.name}: {value} is above the maximum {self.max}'
        if self.check is not None:
            return self.check(value)
        return None


def declare_params(node, specs, on_change=None, on_applied=None, owned=None):
    """Declare `specs` on `node`; validate every later set; return a dict name -> value.

    A set runs in two steps, as rclpy splits them:
    * decide (on-set callback): ownership (see `owned`), range/type/choices of the spec,
      then `on_change(changed)`, the node's own check, which raises ValueError to refuse.
      Nothing may change here: a later check can still refuse the set.
    * apply (post-set callback, only once the values are stored): the returned dict is
      updated, then `on_applied(changed)` does the side effects (new timers, rebuilds).
    Both get only the parameters of `specs` that the set changes.

    `owned` (name -> the owner's parameter that sets it) makes those parameters owned by
    another node: see ParameterOwnership.
    """
    by_name = {s.name: s for s in specs}
    for s in specs:
        node.declare_parameter(s.name, s.default, s.descriptor())
    values = {s.name: node.get_parameter(s.name).value for s in specs}
    for s in specs:  # values from a params file are checked too
        reason = s.validate(values[s.name])
        if reason:
            raise ValueError(f'bad parameter from the parameter file: {reason}')
    ownership = ParameterOwnership(node, owned) if owned else None

    def _on_set(params):
        if ownership is not None:
            reason = ownership.refusal(params)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        changed = {}
        for p in params:
            spec = by_name.get(p.name)
            if spec is None:
                continue  # rclpy's own (use_sim_time, ...)
            reason = spec.validate(p.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
            changed[p.name] = p.value
        if on_change and changed:
            try:
                on_change(changed)
            except ValueError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _after_set(params):
        changed = {p.name: p.value for p in params if p.name in by_name}
        if not changed:
            return
        values.update(changed)
        if on_applied:
            try:
                on_applied(changed)
            except Exception as exc:  # the value is set; a failed side effect is logged
                node.get_logger().error(f'applying {changed} failed: {exc!r}')

    node.add_on_set_parameters_callback(_on_set)
    node.add_post_set_parameters_callback(_after_set)
    return values


OWNED_PARAMETERS_SERVICE = 'set_owned_parameters'


def _cli_value(value):
    """`value` as `ros2 param set` reads it (YAML)."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


class ParameterOwnership:
    """Parameters of a node that another node, their owner, sets (the configurator owns
    world_model's planner, horizon, ... and the actor's mode).

    The owner sets them through this node's `~/set_owned_parameters`
    (rcl_interfaces/srv/SetParameters); they are applied through the node's own parameter
    machinery, so the same checks refuse bad values and `ros2 param get` shows them.
    While an owner is in the graph (a node with a client on that service), setting an owned
    parameter through the ordinary parameter services (`ros2 param set`) is refused with a
    reason that names the owner and the command to use there: the owner would put its own
    value back on its next check, so a set that looked successful would not stay. With no
    owner (the node run alone, tests) they are ordinary parameters.
    """

    def __init__(self, node, owned):
        from rcl_interfaces.srv import SetParameters
        self.node = node
        self.owned = dict(owned)     # parameter -> the owner's parameter that sets it
        self._from_owner = threading.local()
        self.service = node.create_service(SetParameters, f'~/{OWNED_PARAMETERS_SERVICE}',
                                           self._on_owner_set)
        self.service_name = node.resolve_service_name(f'~/{OWNED_PARAMETERS_SERVICE}')

    def owner(self):
        """Fully qualified name of the node that owns these parameters now, or None."""
        name = self.service_name
        try:
            if self.node.count_clients(name) == 0:
                return None
            for node_name, ns in self.node.get_node_names_and_namespaces():
                clients = self.node.get_client_names_and_types_by_node(node_name, ns)
                if any(c == name for c, _ in clients):
                    return ns.rstrip('/') + '/' + node_name
        except Exception:  # the graph changed while we looked (a node left)
            pass
        return f'the node with a client on {name}'   # listed in the graph a moment later

    def refusal(self, params):
        """The reason an ordinary set of `params` is refused, or None when it is not."""
        if getattr(self._from_owner, 'active', False):
            return None
        mine = [p for p in params if p.name in self.owned]
        if not mine:
            return None
        owner = self.owner()
        if owner is None:
            return None
        p = mine[0]
        source = self.owned[p.name]
        if source == p.name:
            return (f'{p.name} is owned by {owner}, which would put its own value back; '
                    f'set it there: ros2 param set {owner} {source} {_cli_value(p.value)}')
        return (f'{p.name} is owned by {owner}, which sets it from its {source} and would '
                f'put its own value back; set that there: '
                f'ros2 param set {owner} {source} <value>')

    def _on_owner_set(self, request, response):
        from rclpy.exceptions import ParameterNotDeclaredException
        from rclpy.parameter import Parameter
        for msg in request.parameters:
            if msg.name not in self.owned:
                response.results.append(SetParametersResult(
                    successful=False, reason=f'{msg.name} is not an owned parameter of '
                    f'{self.node.get_fully_qualified_name()}: set it with ~/set_parameters'))
                continue
            self._from_owner.active = True
            try:
                result = self.node.set_parameters_atomically(
                    [Parameter.from_parameter_msg(msg)])
            except ParameterNotDeclaredException as exc:
                result = SetParametersResult(successful=False, reason=str(exc))
            finally:
                self._from_owner.active = False
            response.results.append(result)
        return response


def params_markdown(node_name, specs, owned=None, owner='configurator'):
    """Markdown table of `specs`; parameters in `owned` (name -> the owner's parameter)
    say where to set them instead."""
    owned = owned or {}
    rows = [f'### `{node_name}`', '', '| parameter | default | range | description |',
            '|---|---|---|---|']
    for s in specs:
        description = s.description
        if s.name in owned:
            source = owned[s.name]
            where = (f'`ros2 param set /{owner} {source}`' if source == s.name
                     else f'follows `/{owner}` `{source}`')
            description = f'**owned by {owner}**: {where}. {description}'
        if s.choices:
            rng = ' / '.join(f'`{c}`' for c in s.choices)
        elif s.min is not None or s.max is not None:
            rng = f'[{s.min}, {s.max}]'
        else:
            rng = ''
        rows.append(f'| `{s.name}` | `{s.default!r}` | {rng} | {description} |')
    return '\n'.join(rows) + '\n'


# ---- images -----------------------------------------------------------------------------
_CHANNELS = {'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1}


class ImageError(ValueError):
    """An Image message that cannot be turned into an RGB array."""


def image_to_rgb(msg, expect_hw=None):
    """sensor_msgs/Image -> HxWx3 uint8 (RGB), without cv_bridge. Raises ImageError."""
    enc = msg.encoding.lower()
    if enc not in _CHANNELS:
        raise ImageError(f'unsupported encoding {msg.encoding!r} (want one of {list(_CHANNELS)})')
    c = _CHANNELS[enc]
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


# ---- diagnostics ------------------------------------------------------------------------
class RateMeter:
    """Events per second over a sliding window (for /diagnostics)."""

    def __init__(self, window_s=2.0):
        self.window_s = window_s
        self.times = []

    def tick(self, now=None):
        now = time.monotonic() if now is None else now
        self.times.append(now)
        cutoff = now - self.window_s
        while self.times and self.times[0] < cutoff:
            self.times.pop(0)

    def rate(self, now=None):
        now = time.monotonic() if now is None else now
        recent = [t for t in self.times if t >= now - self.window_s]
        return len(recent) / self.window_s


def _diagnostic_level(name):
    """A DiagnosticStatus level constant (bytes of length 1 in rclpy) as an int."""
    from diagnostic_msgs.msg import DiagnosticStatus
    return getattr(DiagnosticStatus, name)[0]


# diagnostic_msgs/DiagnosticStatus levels, named (the message stores them as one byte).
DIAG_OK, DIAG_WARN, DIAG_ERROR, DIAG_STALE = (_diagnostic_level(n)
                                              for n in ('OK', 'WARN', 'ERROR', 'STALE'))


class Diagnostics:
    """Publishes one DiagnosticStatus for this node on /diagnostics at a fixed period.

    Set the level by name: ok(), warn(), error(), stale() (unconfigured / no data yet);
    status(level, message) takes a DIAG_* level."""

    def __init__(self, node, period_s=1.0):
        from diagnostic_msgs.msg import DiagnosticArray
        self.node = node
        self.pub = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.values = {}
        self.level = DIAG_OK
        self.message = 'ok'
        self.timer = node.create_timer(period_s, self.publish)

    def set(self, key, value):
        self.values[key] = value

    def status(self, level, message):
        """level: DIAG_OK, DIAG_WARN, DIAG_ERROR or DIAG_STALE."""
        self.level, self.message = int(level), str(message)

    def ok(self, message):
        self.status(DIAG_OK, message)

    def warn(self, message):
        self.status(DIAG_WARN, message)

    def error(self, message):
        self.status(DIAG_ERROR, message)

    def stale(self, message):
        self.status(DIAG_STALE, message)

    def publish(self):
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
        arr = DiagnosticArray()
        arr.header.stamp = self.node.get_clock().now().to_msg()
        st = DiagnosticStatus()
        st.level = bytes([self.level])
        st.name = self.node.get_fully_qualified_name()
        st.message = self.message
        st.hardware_id = 'jepa_ros'
        st.values = [KeyValue(key=str(k), value=str(v)) for k, v in self.values.items()]
        arr.status = [st]
        self.pub.publish(arr)


# ---- paths (appended by "bridge") -------------------------------------------------------
class PathEscapeError(ValueError):
    """A path from a request or parameter that would leave its root directory."""


def resolve_inside(root, relpath):
    """Absolute, symlink-resolved `root/relpath`; PathEscapeError if it leaves `root`.

    Absolute paths, `..` components and symlinks pointing outside are all refused, so a
    path taken from a request or parameter can only name something under `root`.
    """
    import os
    rel = str(relpath)
    if '\x00' in rel:
        raise PathEscapeError(f'path {relpath!r} contains a NUL byte')
    if os.path.isabs(rel) or rel.startswith('~'):
        raise PathEscapeError(f'path {relpath!r} must be relative to the data directory')
    if any(part == '..' for part in rel.replace('\\', '/').split('/')):
        raise PathEscapeError(f'path {relpath!r} may not contain ..')
    root_real = os.path.realpath(os.path.expanduser(str(root)))
    full = os.path.realpath(os.path.join(root_real, rel))
    if full != root_real and not full.startswith(root_real + os.sep):
        raise PathEscapeError(f'path {relpath!r} resolves to {full}, outside {root_real}')
    return full


def msgdef_from_class(msg_class):
    """rosbag2-style concatenated .msg text of an rclpy message class (for MCAP schemas).

    Built from `get_fields_and_field_types()`, so it works for any generated type
    (our own interfaces included) without the .msg files on disk.
    """
    import importlib
    basic = {'float': 'float32', 'double': 'float64', 'octet': 'byte', 'boolean': 'bool',
             'long double': 'float64', 'char': 'char', 'wchar': 'wchar', 'wstring': 'wstring'}
    done, order, texts = set(), [], {}

    def type_name(idl):
        bound = ''
        if idl.startswith('sequence<'):
            inner = idl[len('sequence<'):-1]
            if ',' in inner:
                inner, n = inner.rsplit(',', 1)
                bound = f'[<={n.strip()}]'
            else:
                bound = '[]'
            return type_name(inner.strip()) + bound
        if idl.endswith(']') and '[' in idl:
            base, n = idl[:-1].split('[', 1)
            return type_name(base) + f'[{n}]'
        if idl.startswith('string<'):
            return f'string<={idl[7:-1]}'
        if '/' in idl:
            visit(idl)
            return idl
        return basic.get(idl, idl)

    def visit(name):
        if name in done:
            return
        done.add(name)
        pkg, _, cls_name = name.partition('/')
        cls = getattr(importlib.import_module(f'{pkg}.msg'), cls_name)
        lines = [f'{type_name(t)} {f}' for f, t in cls.get_fields_and_field_types().items()]
        texts[name] = '\n'.join(lines) + '\n'
        order.append(name)

    module = msg_class.__module__.split('.')[0]
    top = f'{module}/{msg_class.__name__}'
    visit(top)
    out = texts[top]
    for name in order[1:]:
        pkg, _, cls_name = name.partition('/')
        out += '=' * 80 + f'\nMSG: {pkg}/msg/{cls_name}\n' + texts[name]
    return out


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
    from rclpy.executors import (ConditionReachedException, ExternalShutdownException,
                                 MultiThreadedExecutor, ShutdownException,
                                 TimeoutException)

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
        # from ros2 launch); the second must not interrupt the teardown, where memory
        # closes its recording. ros2 launch still escalates to SIGTERM if this hangs.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
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


# ---- waiting on a graph (appended by "integration") -------------------------------------
def spin_until(node, pred, timeout_s, tick=None, tick_period_s=0.05, period_s=0.01):
    """Spin `node` (its context's default executor) until `pred()` is true or `timeout_s`
    passes; `tick()` (if given, e.g. publishing a camera frame) runs at most every
    `tick_period_s`. Returns the final `pred()`.

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
