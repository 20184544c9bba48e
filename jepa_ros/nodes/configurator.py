"""Configurator: the ReachGoal action server and the owner of mode, cost weights and
horizon (the paper's configurator module).

* ReachGoal: sets the goal (publishes goal/image_raw, or asks sim_bridge ~/sample_goal),
  then reports energy = mean squared distance between jepa/state and jepa/goal_state as
  feedback; succeeds when energy < success_energy (or the simulator says the goal is
  reached), aborts on timeout; cancel holds the robot; a new goal preempts the running one.
* Owns `mode`, `horizon`, `planner`, `budget_s` and cost weights (OWNED_KEYS): sets them on
  world_model / actor through their `~/set_owned_parameters` service, and again whenever a
  node's values differ (e.g. after a restart), checked every `sync_period_s`. While it is up,
  those nodes refuse `ros2 param set` of these keys with a reason that says to set them here
  (ParameterOwnership); set here, they reach the node at once and stay.
* Repeated planner deadline misses (Plan.compute_ms over the budget) switch to Mode-1;
  the switch is logged, shown in /diagnostics (mode, mode_reason) and in the message of the
  goal that was running.
"""
import threading
import time

import numpy as np
from rcl_interfaces.srv import SetParameters
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.parameter_client import AsyncParameterClient
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger

from jepa_ros.core.planners import planner_params
from jepa_ros.nodes.diagnostics import DIAG_OK, DIAG_WARN, Diagnostics
from jepa_ros.nodes.executors import run_node
from jepa_ros.nodes.messages import ImageError, image_to_rgb
from jepa_ros.nodes.ownership import (COST_WEIGHT_PARAMS, OWNED_PARAMETERS_SERVICE,
                                      owned_values)
from jepa_ros.nodes.parameters import ParamSpec, declare_params
from jepa_ros.nodes.qos import LATCHED_QOS

# Planner and cost weight declarations live in core (planners / cost terms).
PLANNER_PARAM = next(p for p in planner_params() if p.name == 'planner')

PARAMS = [
    ParamSpec('mode', 'mode2', 'mode2: plan with the world model; mode1: reactive '
              'actor policy', choices=['mode2', 'mode1']),
    ParamSpec('planner', PLANNER_PARAM.default, 'planner pushed to world_model',
              choices=PLANNER_PARAM.choices),
    ParamSpec('horizon', 12, 'planning horizon pushed to world_model', min=1,
              max=128),
    ParamSpec('budget_s', 0.05, 'plan time budget pushed to world_model (s)',
              min=0.001, max=10.0),
    # One weight per registered cost term (jepa_ros.core.cost), same default and range.
    *[ParamSpec(p.name, p.default, p.description + ', pushed to world_model',
                min=p.min, max=p.max) for p in COST_WEIGHT_PARAMS],
    ParamSpec('success_energy', 0.02, 'goal reached when the latent energy is below '
              'this', min=0.0, max=1e6),
    ParamSpec('use_sim_success', True, 'also succeed when sim_bridge ~/goal_status '
              'says the goal is reached'),
    ParamSpec('default_timeout_s', 60.0, 'goal timeout when the goal gives 0 (s)',
              min=0.1, max=3600.0),
    ParamSpec('feedback_rate', 5.0, 'feedback messages per second', min=0.1,
              max=100.0),
    ParamSpec('max_deadline_misses', 5, 'consecutive plans over budget before '
              'switching to mode1 (0 = never)', min=0, max=1000),
    ParamSpec('deadline_tolerance', 1.5, 'a plan misses its deadline when it took '
              'longer than budget * this', min=1.0, max=100.0),
    ParamSpec('sync_period_s', 1.0, 'how often managed parameters are checked and '
              're-pushed (s)', min=0.05, max=60.0),
    ParamSpec('world_model_node', 'world_model', 'name of the world model node'),
    ParamSpec('actor_node', 'actor', 'name of the actor node'),
    ParamSpec('sim_node', 'sim_bridge', 'name of the simulator bridge node'),
]

PENDING_TIMEOUT_S = 3.0   # a parameter call unanswered this long is dropped and retried


def latent_energy(state, goal):
    """Mean squared distance between two latents (same measure as the goal cost term)."""
    s, g = np.asarray(state, np.float64), np.asarray(goal, np.float64)
    if s.shape != g.shape or s.size == 0:
        return float('nan')
    return float(np.mean((s - g) ** 2))


class ConfiguratorNode(Node):
    def __init__(self, **kwargs):
        super().__init__('configurator', **kwargs)
        from jepa_ros_interfaces.action import ReachGoal
        from jepa_ros_interfaces.msg import LatentState, Plan
        from jepa_ros_interfaces.srv import SetMode
        self.p = declare_params(self, PARAMS, on_applied=self._on_params)
        self.cb = ReentrantCallbackGroup()
        self.sync_group = MutuallyExclusiveCallbackGroup()
        self.lock = threading.Lock()
        self.state = self.goal_state = None
        self.goal_rx = 0.0              # monotonic receive time of the goal latent
        self.misses = 0
        self.mode_reason = 'initial'
        self.mode_events = []           # (monotonic time, mode, reason) of every switch
        self.sync_lock = threading.Lock()
        self.current = None             # running goal handle
        self.goal_pub = self.create_publisher(Image, 'goal/image_raw', LATCHED_QOS)
        self.create_subscription(LatentState, 'jepa/state', self._on_state, 10,
                                 callback_group=self.cb)
        self.create_subscription(LatentState, 'jepa/goal_state', self._on_goal_state,
                                 LATCHED_QOS, callback_group=self.cb)
        self.create_subscription(Plan, 'jepa/plan', self._on_plan, 10, callback_group=self.cb)
        self.create_service(SetMode, '~/set_mode', self._on_set_mode, callback_group=self.cb)
        sim = self.p['sim_node']
        self.sample_cli = self.create_client(Trigger, f'/{sim}/sample_goal',
                                             callback_group=self.cb)
        self.status_cli = self.create_client(Trigger, f'/{sim}/goal_status',
                                             callback_group=self.cb)
        targets = {'world_model': self.p['world_model_node'], 'actor': self.p['actor_node']}
        # Read through the ordinary parameter services; set through the owned channel, which
        # the targets accept from their owner only (a client on it is what makes us the owner).
        self.param_clients = {t: AsyncParameterClient(self, n) for t, n in targets.items()}
        self.owned_clients = {
            t: self.create_client(SetParameters, f'{n}/{OWNED_PARAMETERS_SERVICE}',
                                  callback_group=self.cb)
            for t, n in targets.items()}
        self.pending = {}
        self.sync_checks = {t: 0 for t in targets}   # completed checks (read, compare, push)
        self.action = ActionServer(self, ReachGoal, 'reach_goal', self._execute,
                                   goal_callback=self._on_goal_request,
                                   handle_accepted_callback=self._on_accepted,
                                   cancel_callback=self._on_cancel,
                                   callback_group=self.cb)
        self.ReachGoal = ReachGoal
        self.diag = Diagnostics(self)
        self.diag.set('mode', self.p['mode'])
        self.sync_timer = self.create_timer(self.p['sync_period_s'], self.sync,
                                            callback_group=self.sync_group)

    # ---- parameters and pushing -------------------------------------------------------
    def _on_params(self, changed):
        # After the set (self.p holds the new values): push them now, not at the next check.
        if 'mode' in changed:
            self.mode_reason = 'set by parameter'
            self.misses = 0
        if 'sync_period_s' in changed:
            self.destroy_timer(self.sync_timer)
            self.sync_timer = self.create_timer(self.p['sync_period_s'], self.sync,
                                                callback_group=self.sync_group)
        self.sync()

    def _wanted(self, target):
        return owned_values(target, self.p)

    def sync(self):
        """Compare managed parameters of each target with ours; push the differences.

        A target that restarted (fresh defaults) or drifted is corrected on the next
        check; a call left unanswered (node died mid-call) is dropped after
        PENDING_TIMEOUT_S so the next check asks again."""
        now = time.monotonic()
        with self.sync_lock:
            for target, client in self.param_clients.items():
                since = self.pending.get(target)
                if since is not None and now - since < PENDING_TIMEOUT_S:
                    continue
                self.pending.pop(target, None)
                if not (client.services_are_ready()
                        and self.owned_clients[target].service_is_ready()):
                    continue
                want = self._wanted(target)
                self.pending[target] = now
                fut = client.get_parameters(list(want))
                fut.add_done_callback(
                    lambda f, t=target, w=want, n=now: self._compare(t, w, f, n))
        self.diag.set('mode', self.p['mode'])
        self.diag.set('mode_reason', self.mode_reason)
        self.diag.set('consecutive_deadline_misses', self.misses)

    def _release(self, target, token):
        with self.sync_lock:
            self.sync_checks[target] += 1
            if self.pending.get(target) == token:
                self.pending.pop(target, None)

    def _compare(self, target, want, fut, token):
        try:
            values = fut.result().values
            have = {k: parameter_value_to_python(v) for k, v in zip(want, values)}
        except Exception:
            have = {}
        # Compared with our values now: a set here while the read was in flight wins.
        want = self._wanted(target)
        diff = {k: v for k, v in want.items() if have.get(k) != v}
        if not diff:
            self._release(target, token)
            return
        request = SetParameters.Request(
            parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in diff.items()])
        sfut = self.owned_clients[target].call_async(request)

        def done(f):
            self._release(target, token)
            try:
                for k, r in zip(diff, f.result().results):
                    if not r.successful:
                        self.get_logger().error(f'{target} refused {k}={diff[k]!r}: {r.reason}',
                                                throttle_duration_sec=10.0)
            except Exception as exc:
                self.get_logger().warning(f'pushing to {target} failed: {exc!r}')
                return
            self.get_logger().info(f'pushed to {target}: {diff}')
        sfut.add_done_callback(done)

    def set_mode(self, mode, reason):
        if mode == self.p['mode']:
            return True, f'already {mode}'
        res = self.set_parameters([Parameter('mode', value=mode)])[0]
        if not res.successful:
            return False, res.reason
        self.mode_reason = reason
        self.mode_events.append((time.monotonic(), mode, reason))
        self.get_logger().warning(f'mode -> {mode}: {reason}')
        self.diag.status(DIAG_WARN if mode == 'mode1' else DIAG_OK,
                         f'{mode}: {reason}')
        return True, f'mode {mode}: {reason}'

    def _on_set_mode(self, req, resp):
        if req.mode not in ('mode1', 'mode2'):
            resp.success, resp.message = False, f'unknown mode {req.mode!r} (mode1 or mode2)'
            return resp
        resp.success, resp.message = self.set_mode(req.mode, 'requested by ~/set_mode')
        self.misses = 0
        return resp

    # ---- inputs -----------------------------------------------------------------------
    def _on_state(self, msg):
        if msg.level == 1:
            self.state = np.asarray(msg.data, np.float32)

    def _on_goal_state(self, msg):
        if msg.level == 1:
            self.goal_state = np.asarray(msg.data, np.float32)
            self.goal_rx = time.monotonic()

    def _on_plan(self, msg):
        limit_ms = 1e3 * self.p['budget_s'] * self.p['deadline_tolerance']
        self.misses = self.misses + 1 if msg.compute_ms > limit_ms else 0
        n = self.p['max_deadline_misses']
        if n and self.misses >= n and self.p['mode'] == 'mode2':
            self.set_mode('mode1', f'{self.misses} consecutive planner deadline misses '
                                   f'(last plan {msg.compute_ms:.0f} ms > {limit_ms:.0f} ms)')

    # ---- ReachGoal --------------------------------------------------------------------
    def _on_goal_request(self, goal):
        if not goal.sample_in_sim:
            try:
                image_to_rgb(goal.goal_image)
            except ImageError as exc:
                self.get_logger().error(f'rejecting goal: bad goal image: {exc}')
                return GoalResponse.REJECT
        if goal.timeout_s < 0 or not np.isfinite(goal.timeout_s):
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _on_accepted(self, handle):
        with self.lock:
            previous, self.current = self.current, handle
        if previous is not None and previous.is_active:
            self.get_logger().info('new goal preempts the running one')
        handle.execute()

    def _on_cancel(self, handle):
        # Hold the robot at once; the goal's loop reports `canceled` on its next tick.
        if handle is self.current:
            self._hold(False)
        return CancelResponse.ACCEPT

    def _hold(self, enabled):
        """Enable or hold the actor (zero command) through its parameter service."""
        client = self.param_clients['actor']
        try:
            if client.services_are_ready():
                client.set_parameters([Parameter('enabled', value=bool(enabled))])
        except Exception:
            # A goal ending while the process shuts down: the actor stops on its own
            # watchdog; anything else is a real fault.
            if self.context.ok():
                raise

    def _call(self, client, timeout=5.0):
        if not client.wait_for_service(timeout_sec=timeout):
            raise RuntimeError(f'service {client.srv_name} not available')
        fut = client.call_async(Trigger.Request())
        end = time.monotonic() + timeout
        while not fut.done() and time.monotonic() < end:
            time.sleep(0.01)
        if not fut.done():
            raise RuntimeError(f'service {client.srv_name} timed out')
        return fut.result()

    def _execute(self, handle):
        R = self.ReachGoal
        g = handle.request
        result = R.Result()
        started = time.monotonic()
        try:
            if g.sample_in_sim:
                r = self._call(self.sample_cli)
                if not r.success:
                    raise RuntimeError(r.message)
            else:
                img = g.goal_image
                img.header.stamp = self.get_clock().now().to_msg()
                self.goal_pub.publish(img)
        except Exception as exc:
            handle.abort()
            result.message = f'could not set the goal: {exc}'
            return result
        self._hold(True)
        timeout = g.timeout_s if g.timeout_s > 0 else self.p['default_timeout_s']
        period = 1.0 / self.p['feedback_rate']
        steps, energy = 0, float('nan')
        while True:
            time.sleep(period)
            if not self.context.ok():   # first: a shutdown must not wait for service calls
                handle.abort()
                result.message = 'shutting down'
                break
            steps += 1
            fresh_goal = self.goal_rx >= started
            if fresh_goal and self.state is not None and self.goal_state is not None:
                energy = latent_energy(self.state, self.goal_state)
            if self.current is not handle:
                handle.abort()
                result.message = 'preempted by a newer goal'
                break
            if handle.is_cancel_requested:
                self._hold(False)
                handle.canceled()
                result.message = 'cancelled: robot held'
                break
            handle.publish_feedback(R.Feedback(energy=float(energy), steps=steps,
                                               mode=self.p['mode']))
            reached_sim = False
            if g.sample_in_sim and self.p['use_sim_success'] and steps % 2 == 0:
                try:
                    reached_sim = bool(self._call(self.status_cli, 1.0).success)
                except Exception:
                    reached_sim = False
            if (fresh_goal and np.isfinite(energy) and energy < self.p['success_energy']) \
                    or reached_sim:
                self._hold(False)
                handle.succeed()
                result.success = True
                result.message = ('reached (simulator ground truth)' if reached_sim
                                  else f'reached (energy {energy:.4f})')
                break
            if time.monotonic() - started > timeout:
                self._hold(False)
                handle.abort()
                result.message = f'timed out after {timeout:.1f} s (energy {energy:.4f})'
                break
        switches = [f'switched to {m}: {r}' for t, m, r in self.mode_events if t >= started]
        if switches:
            result.message += '; ' + '; '.join(switches)
        result.final_energy = float(energy)
        result.steps = steps
        return result


def main(args=None):
    run_node(ConfiguratorNode, args, threads=4)


if __name__ == '__main__':
    main()
