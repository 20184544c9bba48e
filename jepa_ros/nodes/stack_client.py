"""The user's side of the stack, as one rclpy client: send ReachGoal goals, drive the
simulator (reset, sample_goal, goal_status), switch modes, swap model versions, set
parameters, and record what the stack publishes (latent states, plans, commands, odometry,
diagnostics, the active model version).

`jepa-ros demo`, the ROS benchmarks (tools/bench_latency) and the end-to-end tests all
drive the stack through this class. It is an rclpy adapter and nothing else: what is
measured from the records (latency, rates, reports) lives with the caller.

    client = StackClient('my_client')                # rclpy.init() done by the caller
    client.wait_up()
    client.reset_sim()
    response = client.reach(timeout_s=15.0)          # GetResult response, or None
    client.close()

Spinning: by default the caller spins it (spin_until / wait_future block and spin);
`spin_thread=True` spins it in a background thread (the demo, whose main thread runs the
report), and `own_context=True` puts it on its own rclpy context, which other code's
rclpy.init/shutdown does not touch.

Commands: cmd_vel carries the action mode's message type (jepa_ros.core.action_modes):
Twist for the bases, TwistStamped for the reach arm. Give the world's `action_mode` (or
`world`) so that the client subscribes the type the actor publishes; `twist_of(msg)` reads
either.
"""
import json
import threading
import time
from collections import namedtuple

from jepa_ros.core import action_modes
from jepa_ros.nodes.messages import stamp_to_sec

# One received message: header stamp (s; None for a message without a header), receipt
# time (s, the client node's clock: the system clock unless use_sim_time) and the message.
Received = namedtuple('Received', 'stamp receipt msg')

SIM = '/sim_bridge'


def twist_of(msg):
    """The Twist of a Twist or TwistStamped command."""
    return getattr(msg, 'twist', msg)


def is_zero(msg):
    """True for a command with every component 0 (a stop)."""
    t = twist_of(msg)
    return not any((t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y,
                    t.angular.z))


class StackClient:
    """One client node for driving and observing the stack (see the module docstring)."""

    def __init__(self, name='jepa_stack_client', action_mode=None, world=None,
                 own_context=False, spin_thread=False, action='reach_goal'):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import Twist, TwistStamped
        from nav_msgs.msg import Odometry
        from rclpy.action import ActionClient
        from rclpy.executors import SingleThreadedExecutor
        from std_msgs.msg import String
        from std_srvs.srv import Trigger

        from jepa_ros_interfaces.action import ReachGoal
        from jepa_ros_interfaces.msg import LatentState, Plan
        from jepa_ros_interfaces.srv import SetMode, SwapModel
        from jepa_ros.nodes.qos import LATCHED_QOS
        if action_mode is None and world is not None:
            action_mode = action_modes.for_world(world).name
        self.mode = action_modes.get(action_mode or 'holonomic')
        self.context = None
        if own_context:
            self.context = rclpy.Context()
            rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.ReachGoal, self.Trigger, self.SetMode = ReachGoal, Trigger, SetMode
        self.SwapModel = SwapModel
        self.states, self.plans, self.cmds, self.odoms = [], [], [], []
        self.diag = {}         # node name (last segment) -> newest DiagnosticStatus
        self.model_versions = []   # jepa/model_version (latched) as received, newest last
        n = self.node
        n.create_subscription(LatentState, 'jepa/state', self._recorder(self.states), 50)
        n.create_subscription(Plan, 'jepa/plan', self._recorder(self.plans), 50)
        n.create_subscription(TwistStamped if self.mode.stamped else Twist, 'cmd_vel',
                              self._recorder(self.cmds), 100)
        n.create_subscription(Odometry, 'odom', self._recorder(self.odoms), 50)
        n.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 50)
        n.create_subscription(String, 'jepa/model_version',
                              lambda m: self.model_versions.append(m.data), LATCHED_QOS)
        self.action = ActionClient(n, ReachGoal, action)
        self.services = {name: n.create_client(Trigger, f'{SIM}/{name}')
                         for name in ('reset', 'sample_goal', 'goal_status')}
        self.mode_cli = n.create_client(SetMode, '/configurator/set_mode')
        self.swap_cli = n.create_client(SwapModel, '/configurator/swap_model')
        self.param_clients = {}
        self.executor = SingleThreadedExecutor(context=n.context)
        self.executor.add_node(n)
        self._stop = threading.Event()
        self.thread = None
        if spin_thread:
            self.thread = threading.Thread(target=self._spin_forever, daemon=True)
            self.thread.start()

    # ---- recording --------------------------------------------------------------------
    def _recorder(self, into):
        def record(msg):
            header = getattr(msg, 'header', None)
            stamp = stamp_to_sec(header.stamp) if header is not None else None
            into.append(Received(stamp, self.now(), msg))
        return record

    def _on_diag(self, msg):
        for st in msg.status:
            self.diag[st.name.split('/')[-1]] = st

    def diag_values(self, node_name):
        """{key: value} of the newest diagnostics of `node_name` ({} when none yet)."""
        st = self.diag.get(node_name)
        return {kv.key: kv.value for kv in st.values} if st is not None else {}

    def subscribe(self, msg_type, topic, callback, qos=10):
        """An extra subscription on the client node (e.g. camera images for a report)."""
        return self.node.create_subscription(msg_type, topic, callback, qos)

    def clear(self):
        """Forget the recorded messages."""
        for records in (self.states, self.plans, self.cmds, self.odoms):
            records.clear()

    # ---- spinning ---------------------------------------------------------------------
    def now(self):
        return self.node.get_clock().now().nanoseconds * 1e-9

    def _spin_forever(self):
        while not self._stop.is_set() and self.node.context.ok():
            self.executor.spin_once(timeout_sec=0.05)

    def spin_until(self, pred, timeout_s):
        """Wait until pred() holds (spinning, unless a thread spins); the final pred()."""
        end = time.monotonic() + float(timeout_s)
        while not pred():
            if time.monotonic() >= end:
                return bool(pred())
            if self.thread is None:
                self.executor.spin_once(timeout_sec=0.01)
            else:
                time.sleep(0.01)
        return True

    def spin_for(self, seconds):
        self.spin_until(lambda: False, seconds)

    def wait_future(self, fut, timeout_s):
        """The rclpy future's result; TimeoutError when it is not done in time."""
        if not self.spin_until(fut.done, timeout_s):
            raise TimeoutError(f'no answer within {timeout_s} s')
        return fut.result()

    # ---- the stack ----------------------------------------------------------------------
    def wait_up(self, timeout_s=120.0, sim=True, states=True):
        """ReachGoal server, (sim) the simulator's reset service, (states) a flowing latent
        state; RuntimeError naming what is missing."""
        if not self.spin_until(self.action.server_is_ready, timeout_s):
            raise RuntimeError('the configurator\'s reach_goal action server did not come up')
        if sim and not self.spin_until(self.services['reset'].service_is_ready, timeout_s):
            raise RuntimeError(f'{SIM}/reset did not come up')
        if states and not self.spin_until(lambda: len(self.states) > 2, timeout_s):
            raise RuntimeError('no jepa/state: perception is not running')

    def _trigger(self, name, timeout_s=10.0):
        cli = self.services[name]
        if not self.spin_until(cli.service_is_ready, timeout_s):
            raise RuntimeError(f'{SIM}/{name} is not available')
        return self.wait_future(cli.call_async(self.Trigger.Request()), timeout_s)

    def reset_sim(self):
        """~/reset of the simulator: its answer (JSON) as a dict; RuntimeError if refused."""
        r = self._trigger('reset')
        if not r.success:
            raise RuntimeError(f'{SIM}/reset: {r.message}')
        return json.loads(r.message)

    def sample_goal(self):
        """~/sample_goal of the simulator (publishes a new goal image): its answer."""
        r = self._trigger('sample_goal')
        if not r.success:
            raise RuntimeError(f'{SIM}/sample_goal: {r.message}')
        return json.loads(r.message)

    def goal_status(self, timeout_s=5.0):
        """Simulator ground truth (goal state, distance, reached) as a dict; {} when the
        simulator does not answer (a real robot has none)."""
        try:
            r = self._trigger('goal_status', timeout_s)
            return json.loads(r.message)
        except (RuntimeError, TimeoutError, ValueError):
            return {}

    def set_mode(self, mode, timeout_s=30.0):
        if not self.spin_until(self.mode_cli.service_is_ready, timeout_s):
            raise RuntimeError('/configurator/set_mode not available')
        r = self.wait_future(self.mode_cli.call_async(self.SetMode.Request(mode=mode)), 10)
        if not r.success:
            raise RuntimeError(f'set_mode {mode}: {r.message}')
        return r

    def swap_model(self, world_model_checkpoint, critic_checkpoint='', actor_checkpoint='',
                   timeout_s=120.0):
        """/configurator/swap_model: the SwapModel response (success, message,
        active_version, previous_version). Paths are relative to the configurator's
        models_dir. RuntimeError when the service is not there, TimeoutError."""
        if not self.spin_until(self.swap_cli.service_is_ready, min(timeout_s, 30.0)):
            raise RuntimeError('/configurator/swap_model not available')
        req = self.SwapModel.Request(world_model_checkpoint=str(world_model_checkpoint),
                                     critic_checkpoint=str(critic_checkpoint),
                                     actor_checkpoint=str(actor_checkpoint))
        return self.wait_future(self.swap_cli.call_async(req), timeout_s)

    def send_goal(self, timeout_s, feedback=None, sample_in_sim=True, goal=None):
        """Send a ReachGoal (default: a goal the simulator samples, `timeout_s` to reach
        it); the accepted goal handle. RuntimeError when it is rejected."""
        if goal is None:
            goal = self.ReachGoal.Goal(sample_in_sim=bool(sample_in_sim),
                                       timeout_s=float(timeout_s))
        h = self.wait_future(self.action.send_goal_async(goal, feedback_callback=feedback),
                             15.0)
        if h is None or not h.accepted:
            raise RuntimeError('goal was rejected by the configurator')
        return h

    def result(self, handle, timeout_s):
        """The GetResult response (.status, .result) of a goal; TimeoutError."""
        return self.wait_future(handle.get_result_async(), timeout_s)

    def cancel(self, handle, timeout_s=10.0):
        return self.wait_future(handle.cancel_goal_async(), timeout_s)

    def reach(self, timeout_s, feedback=None, slack_s=30.0):
        """One ReachGoal to its end: the GetResult response, or None when no result came
        within timeout_s + slack_s (the goal is then cancelled)."""
        h = self.send_goal(timeout_s, feedback)
        try:
            return self.result(h, timeout_s + slack_s)
        except TimeoutError:
            h.cancel_goal_async()
            return None

    # ---- parameters ---------------------------------------------------------------------
    def _params(self, target, timeout_s=30.0):
        from rclpy.parameter_client import AsyncParameterClient
        if target not in self.param_clients:
            self.param_clients[target] = AsyncParameterClient(self.node, target)
        c = self.param_clients[target]
        if not self.spin_until(c.services_are_ready, timeout_s):
            raise RuntimeError(f'{target}: parameter services not available')
        return c

    def get_params(self, target, names, timeout_s=10.0):
        """{name: value} of parameters of node `target`."""
        from rclpy.parameter import parameter_value_to_python
        names = list(names)
        res = self.wait_future(self._params(target).get_parameters(names), timeout_s)
        return {k: parameter_value_to_python(v) for k, v in zip(names, res.values)}

    def set_params(self, target, timeout_s=10.0, **values):
        """SetParametersResult list of setting `values` on node `target`."""
        from rclpy.parameter import Parameter
        res = self.wait_future(self._params(target).set_parameters(
            [Parameter(k, value=v) for k, v in values.items()]), timeout_s)
        return res.results

    def wait_param(self, target, name, value, timeout_s):
        """True once parameter `name` of `target` reads `value` (polled)."""
        end = time.monotonic() + timeout_s
        got = None
        while time.monotonic() < end:
            try:
                got = self.get_params(target, [name])[name]
            except (TimeoutError, RuntimeError):
                got = None
            if got == value:
                return True
            self.spin_for(0.2)
        return got == value

    # ---- shutdown -----------------------------------------------------------------------
    def close(self):
        import rclpy
        self._stop.set()
        if self.thread is not None:
            self.thread.join(timeout=3.0)
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        if self.context is not None:
            rclpy.shutdown(context=self.context)
