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
* `~/swap_model` (SwapModel) switches perception, world_model and actor to another model
  version together, in two phases: `~/prepare_model` on all three (each loads and checks
  the candidate beside its running networks), and only when all three succeeded
  `~/commit_model` on each (consumers first: actor, world_model, then perception, whose
  re-encoded goal then reaches nodes already on the new version); any refusal or timeout
  aborts all three and the old version keeps running. Paths are files inside `models_dir`.
  The active version goes out latched on jepa/model_version (std_msgs/String); until the
  first swap it is the version of the states perception publishes. The energy of a goal is
  computed only from a state and a goal state of the same version.
"""
import os
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
from std_msgs.msg import String
from std_srvs.srv import Trigger

from jepa_ros.core.planners import planner_params
from jepa_ros.data.paths import PathEscapeError, resolve_inside
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
    ParamSpec('models_dir', 'data/models', 'folder ~/swap_model takes checkpoints from '
              '(relative: to the directory the configurator was launched from); request '
              'paths are relative to it and may not leave it', read_only=True),
    ParamSpec('swap_timeout_s', 60.0, 'how long ~/swap_model waits for each node to load '
              'and check a candidate (s); a node slower than this fails the swap',
              min=1.0, max=3600.0),
    ParamSpec('perception_node', 'perception', 'name of the perception node'),
    ParamSpec('world_model_node', 'world_model', 'name of the world model node'),
    ParamSpec('actor_node', 'actor', 'name of the actor node'),
    ParamSpec('sim_node', 'sim_bridge', 'name of the simulator bridge node'),
]

PENDING_TIMEOUT_S = 3.0   # a parameter call unanswered this long is dropped and retried
COMMIT_TIMEOUT_S = 10.0   # a commit only swaps references: seconds mean a node is stuck
# Commit order: consumers before producers, so that what a producer sends in the new
# version (perception's re-encoded goal, world_model's plans) finds its consumers ready.
SWAP_ORDER = ('actor', 'world_model', 'perception')
SWAP_GRACE_S = 2.0        # states of the old version still in flight after a swap


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
        self.state_version = self.goal_version = ''   # model versions of the two latents
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
        self._init_swap()
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
            self.state_version = str(msg.model_version)
            self._note_running_version(self.state_version)

    def _on_goal_state(self, msg):
        if msg.level == 1:
            self.goal_state = np.asarray(msg.data, np.float32)
            self.goal_version = str(msg.model_version)
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
            if fresh_goal and self.state is not None and self.goal_state is not None \
                    and self.state_version == self.goal_version:   # one latent space
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


    # ---- model versions: ~/swap_model --------------------------------------------------
    def _init_swap(self):
        from jepa_ros_interfaces.srv import CommitModel, PrepareModel, SwapModel
        self.active_version = ''        # '' until known (perception's states, or a swap)
        self.swap_count = 0
        self.swap_time = -1e9           # monotonic time of the last successful swap
        self.version_pub = self.create_publisher(String, 'jepa/model_version', LATCHED_QOS)
        names = {'perception': self.p['perception_node'],
                 'world_model': self.p['world_model_node'], 'actor': self.p['actor_node']}
        self.swap_nodes = names
        # Clients answer in the reentrant group while the swap waits in its own group.
        self.prepare_clients = {t: self.create_client(PrepareModel, f'/{n}/prepare_model',
                                                      callback_group=self.cb)
                                for t, n in names.items()}
        self.commit_clients = {t: self.create_client(CommitModel, f'/{n}/commit_model',
                                                     callback_group=self.cb)
                               for t, n in names.items()}
        self.abort_clients = {t: self.create_client(Trigger, f'/{n}/abort_model',
                                                    callback_group=self.cb)
                              for t, n in names.items()}
        self.swap_group = MutuallyExclusiveCallbackGroup()   # one swap at a time
        self.create_service(SwapModel, '~/swap_model', self._on_swap_model,
                            callback_group=self.swap_group)
        self.diag.set('model_version', '')
        self.diag.set('model_swaps', 0)

    def _publish_version(self, version):
        self.active_version = version
        self.version_pub.publish(String(data=version))
        self.diag.set('model_version', version)

    def _note_running_version(self, version):
        """Before any swap the active version is the one perception runs (its states)."""
        if version and not self.active_version and not self.swap_count:
            self._publish_version(version)
            self.get_logger().info(f'model version {version} (from perception\'s states)')
        elif version and self.active_version and version != self.active_version \
                and time.monotonic() - self.swap_time > SWAP_GRACE_S:   # not in flight
            self.get_logger().warning(
                f'perception publishes model version {version}, the active version is '
                f'{self.active_version} (a node restarted with its launch checkpoint?): '
                f'the other nodes ignore its states; ~/swap_model switches all three',
                throttle_duration_sec=10.0)

    def _model_file(self, relpath, field):
        """The absolute file `relpath` names inside models_dir; ValueError otherwise."""
        root = os.path.abspath(os.path.expanduser(self.p['models_dir']))
        if not relpath:
            raise ValueError(f'{field}: no file given')
        try:
            path = resolve_inside(root, relpath)
        except PathEscapeError as exc:
            raise ValueError(f'{field}: {exc}') from None
        if not os.path.isfile(path):
            raise ValueError(f'{field}: no file {relpath!r} in models_dir {root}')
        return path

    def _wait(self, futures, timeout_s):
        """Wait (polling, in the swap's own callback group: the answers arrive through the
        other executor threads) until every future is done or `timeout_s` passes.

        Not an awaited coroutine: rclpy's executor re-runs a waiting coroutine in a busy
        loop, which would spin a core for the seconds a candidate takes to load."""
        end = time.monotonic() + timeout_s
        while not all(f.done() for f in futures.values()) and time.monotonic() < end \
                and self.context.ok():
            time.sleep(0.01)

    def _abort_all(self, targets):
        from std_srvs.srv import Trigger
        futures = {t: self.abort_clients[t].call_async(Trigger.Request())
                   for t in targets if self.abort_clients[t].service_is_ready()}
        self._wait(futures, COMMIT_TIMEOUT_S)

    def _on_swap_model(self, req, resp):
        from jepa_ros_interfaces.srv import CommitModel, PrepareModel
        previous = self.active_version
        resp.previous_version = resp.active_version = previous
        try:
            paths = PrepareModel.Request(
                world_model_checkpoint=self._model_file(req.world_model_checkpoint,
                                                        'world_model_checkpoint'),
                critic_checkpoint=(self._model_file(req.critic_checkpoint, 'critic_checkpoint')
                                   if req.critic_checkpoint else ''),
                actor_checkpoint=(self._model_file(req.actor_checkpoint, 'actor_checkpoint')
                                  if req.actor_checkpoint else ''))
        except ValueError as exc:
            return self._swap_failed(resp, f'configurator refused: {exc}')
        missing = [t for t in SWAP_ORDER if not (self.prepare_clients[t].service_is_ready()
                                                 and self.commit_clients[t].service_is_ready())]
        if missing:
            return self._swap_failed(resp, '; '.join(
                f'{self.swap_nodes[t]}: ~/prepare_model not available (is the node running?)'
                for t in missing))
        self.get_logger().info(f'swap: preparing {req.world_model_checkpoint!r} on '
                               f'{", ".join(self.swap_nodes[t] for t in SWAP_ORDER)}')
        t0 = time.monotonic()
        timeout = float(self.p['swap_timeout_s'])
        futures = {t: self.prepare_clients[t].call_async(paths) for t in SWAP_ORDER}
        self._wait(futures, timeout)
        problems, versions = [], {}
        for t in SWAP_ORDER:
            name = self.swap_nodes[t]
            fut = futures[t]
            if not fut.done():
                problems.append(f'{name}: no answer to ~/prepare_model within {timeout:g} s')
                continue
            try:
                r = fut.result()
            except Exception as exc:
                problems.append(f'{name}: ~/prepare_model failed: {exc!r}')
                continue
            if not r.success:
                why = r.message[len(name) + 2:] if r.message.startswith(f'{name}: ') \
                    else r.message
                problems.append(f'{name} refused: {why}')
            else:
                versions[t] = r.version
            if not previous and r.active_version:
                previous = r.active_version
        resp.previous_version = resp.active_version = previous
        if not problems and len(set(versions.values())) != 1:
            problems.append(f'the nodes staged different versions {versions} (the file '
                            f'changed during the swap)')
        if problems:
            self._abort_all(SWAP_ORDER)
            return self._swap_failed(resp, '; '.join(problems))
        version = versions['world_model']
        committed = []
        for t in SWAP_ORDER:
            name = self.swap_nodes[t]
            fut = {t: self.commit_clients[t].call_async(CommitModel.Request(version=version))}
            self._wait(fut, COMMIT_TIMEOUT_S)
            try:
                r = fut[t].result() if fut[t].done() else None
            except Exception:
                r = None
            if r is None or not r.success:
                why = r.message if r is not None else f'no answer within {COMMIT_TIMEOUT_S:g} s'
                self._abort_all([x for x in SWAP_ORDER if x not in committed])
                running = {self.swap_nodes[x]: version if x in committed else previous
                           for x in SWAP_ORDER}
                return self._swap_failed(
                    resp, f'{name} did not commit version {version}: {why}; nodes now run '
                          f'{running}: they ignore each other\'s messages (the actor holds the '
                          f'robot); call ~/swap_model again')
            committed.append(t)
        self.swap_count += 1
        self.swap_time = time.monotonic()
        self._publish_version(version)
        self.diag.set('model_swaps', self.swap_count)
        self.diag.set('last_swap_error', '')
        resp.success, resp.active_version = True, version
        resp.message = (f'switched perception, world_model and actor from '
                        f'{previous or "(unknown)"} to {version} in '
                        f'{time.monotonic() - t0:.2f} s')
        self.get_logger().info(resp.message)
        return resp

    def _swap_failed(self, resp, message):
        resp.success, resp.message = False, message
        self.diag.set('last_swap_error', message)
        self.get_logger().error(f'swap_model failed: {message}')
        return resp


def main(args=None):
    run_node(ConfiguratorNode, args, threads=4)


if __name__ == '__main__':
    main()
