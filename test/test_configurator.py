"""The configurator over real DDS (loopback) with the real sim_bridge, perception, actor
and world_model: ReachGoal (feedback, result, cancel, preemption), ~/set_mode, parameter
ownership (pushed, re-pushed after a world_model restart, sets of owned keys on
world_model refused) and the deadline-miss fallback.

sim_bridge + perception + actor + configurator run as one in-process graph in a
subprocess; world_model runs in its own process so the test can restart it. The model is
a tiny randomly initialised WorldModel (predictor weights scattered so actions matter).
This process is the operator: ReachGoal client, parameter client, cmd_vel listener.
"""
import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest

rclpy = pytest.importorskip('rclpy')
torch = pytest.importorskip('torch')
from action_msgs.msg import GoalStatus  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from geometry_msgs.msg import Twist  # noqa: E402
from rclpy.action import ActionClient  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter, parameter_value_to_python  # noqa: E402
from rclpy.parameter_client import AsyncParameterClient  # noqa: E402

from jepa_ros.nodes.common import spin_until, wait_future  # noqa: E402
from jepa_ros_interfaces.action import ReachGoal  # noqa: E402
from jepa_ros_interfaces.msg import Plan  # noqa: E402
from jepa_ros_interfaces.srv import SetMode  # noqa: E402

SIZE = 16
HORIZON = 6          # the configurator's value; world_model.yaml says 12


def tiny_checkpoint(path, seed=3):
    from jepa_ros.core.checkpoint import save_checkpoint
    from jepa_ros.core.world_model import WorldModel, WorldModelConfig
    torch.manual_seed(seed)
    cfg = WorldModelConfig(image_size=SIZE, latent_dim=8, encoder_channels=[4, 4],
                           predictor_hidden=16, action_scale=[0.6, 0.6])
    model = WorldModel(cfg)
    with torch.no_grad():  # an untrained predictor ignores actions; make them matter
        for p in model.predictor.parameters():
            p.normal_(0.0, 0.5)
    save_checkpoint(path, model)
    return path


def world_model_cmd(ck):
    return [sys.executable, '-m', 'jepa_ros.nodes.world_model', '--ros-args',
            '--params-file', os.path.join(os.path.dirname(__file__), '..', 'config',
                                          'world_model.yaml'),
            '-p', f'checkpoint:={ck}', '-p', 'plan_rate:=5.0', '-p', 'samples:=32',
            '-p', 'iterations:=2', '-p', "critic_checkpoint:=''",
            '-p', 'cost.critic.weight:=0.0']


def stop_proc(proc, timeout=15):
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def is_zero(m):
    return m.linear.x == 0.0 and m.linear.y == 0.0 and m.angular.z == 0.0


class Operator:
    """The test's ROS side: clients and recorders."""

    def __init__(self):
        self.node = Node('configurator_test')
        n = self.node
        self.cmds = []      # (monotonic receive time, Twist)
        self.plans = []
        self.diag = {}      # node name -> latest DiagnosticStatus
        n.create_subscription(Twist, 'cmd_vel', lambda m: self.cmds.append(
            (time.monotonic(), m)), 50)
        n.create_subscription(Plan, 'jepa/plan', self.plans.append, 10)
        n.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 50)
        self.reach = ActionClient(n, ReachGoal, 'reach_goal')
        self.set_mode = n.create_client(SetMode, '/configurator/set_mode')
        self.params = {name: AsyncParameterClient(n, name)
                       for name in ('configurator', 'world_model', 'actor')}

    def _on_diag(self, msg):
        for st in msg.status:
            self.diag[st.name.split('/')[-1]] = st

    def spin(self, pred, timeout):
        return spin_until(self.node, pred, timeout)

    def get(self, target, names):
        c = self.params[target]
        assert c.wait_for_services(timeout_sec=30), f'{target} parameter services missing'
        res = wait_future(self.node, c.get_parameters(list(names)), 10)
        return {k: parameter_value_to_python(v) for k, v in zip(names, res.values)}

    def set(self, target, **values):
        c = self.params[target]
        res = wait_future(self.node, c.set_parameters(
            [Parameter(k, value=v) for k, v in values.items()]), 10)
        return res.results

    def wait_param(self, target, name, value, timeout):
        end = time.monotonic() + timeout
        got = None
        while time.monotonic() < end:
            try:
                got = self.get(target, [name])[name]
            except TimeoutError:
                got = None
            if got == value:
                return True
            self.spin(lambda: False, 0.2)
        return got == value

    def send(self, timeout_s=0.0, feedback=None):
        goal = ReachGoal.Goal(sample_in_sim=True, timeout_s=float(timeout_s))
        fut = self.reach.send_goal_async(goal, feedback_callback=feedback)
        handle = wait_future(self.node, fut, 15)
        return handle

    def result(self, handle, timeout):
        return wait_future(self.node, handle.get_result_async(), timeout)

    def moving_since(self, t0):
        return any(math.hypot(m.linear.x, m.linear.y) > 1e-3 for t, m in self.cmds if t >= t0)


@pytest.fixture(scope='module')
def stack(tmp_path_factory):
    ck = tiny_checkpoint(str(tmp_path_factory.mktemp('ck') / 'tiny.pt'))
    overrides = {
        'sim_bridge': {'image_size': SIZE, 'seed': 1},
        'perception': {'checkpoint': ck},
        'actor': {'checkpoint': ck, 'actor_checkpoint': ''},
        'configurator': {'planner': 'cem', 'horizon': HORIZON, 'budget_s': 0.1,
                         'cost.critic.weight': 0.0,
                         'sync_period_s': 0.3, 'success_energy': 0.0, 'feedback_rate': 10.0,
                         'max_deadline_misses': 3, 'use_sim_success': True},
    }
    graph = subprocess.Popen([sys.executable, '-m', 'jepa_ros.cli', 'bringup',
                              *[a for n in overrides for a in ('--only', n)],
                              '--overrides', json.dumps(overrides)])
    wm = subprocess.Popen(world_model_cmd(ck))
    procs = {'graph': graph, 'world_model': wm, 'ck': ck}
    rclpy.init()
    op = Operator()
    try:
        assert op.reach.wait_for_server(timeout_sec=60), 'reach_goal server never came up'
        yield op, procs
    finally:
        op.node.destroy_node()
        rclpy.shutdown()
        stop_proc(procs['world_model'])
        stop_proc(graph)


def test_parameters_pushed_and_repushed_after_world_model_restart(stack):
    op, procs = stack
    # Pushed: world_model.yaml says horizon 12 and budget 0.15, the configurator owns 6/0.1.
    assert op.wait_param('world_model', 'horizon', HORIZON, 30), 'horizon never pushed'
    assert op.get('world_model', ['budget_s'])['budget_s'] == pytest.approx(0.1)
    # Set by hand on world_model: refused while the configurator is up, with where to set it
    # (accepting it would only last until the next check re-pushed the configurator's value).
    r = op.set('world_model', **{'cost.action_magnitude.weight': 3.0})[0]
    assert not r.successful
    assert 'ros2 param set /configurator cost.action_magnitude.weight 3.0' in r.reason, r.reason
    assert op.get('world_model', ['cost.action_magnitude.weight'])[
        'cost.action_magnitude.weight'] == 0.0
    # A changed configurator value reaches world_model.
    assert op.set('configurator', **{'cost.action_smoothness.weight': 0.25})[0].successful
    assert op.wait_param('world_model', 'cost.action_smoothness.weight', 0.25, 10)
    # Restart world_model: it comes back with its file values, the configurator re-pushes.
    stop_proc(procs['world_model'])
    procs['world_model'] = subprocess.Popen(world_model_cmd(procs['ck']))
    assert op.wait_param('world_model', 'horizon', HORIZON, 60), 'not re-pushed after restart'
    assert op.get('world_model', ['cost.action_smoothness.weight'])[
        'cost.action_smoothness.weight'] == pytest.approx(0.25)
    # An owned value the target refuses is refused by the target, not silently applied.
    res = op.set('configurator', **{'cost.critic.weight': 1.0})
    assert res[0].successful  # the configurator accepts its own value ...
    op.spin(lambda: False, 1.0)
    # ... world_model (no critic_checkpoint) refuses it and keeps 0.
    assert op.get('world_model', ['cost.critic.weight'])['cost.critic.weight'] == 0.0
    assert op.set('configurator', **{'cost.critic.weight': 0.0})[0].successful


def test_reach_goal_feedback_result_cancel_and_preempt(stack):
    op, procs = stack
    assert op.wait_param('world_model', 'horizon', HORIZON, 60)
    # 1) accepted, feedback (energy, steps, mode), ends with a result (timeout: the random
    #    model does not reach the goal; success_energy 0 never triggers).
    fb = []
    h = op.send(timeout_s=2.5, feedback=lambda m: fb.append(m.feedback))
    assert h.accepted
    res = op.result(h, 20)
    assert res.status == GoalStatus.STATUS_ABORTED, res.result.message
    assert 'timed out' in res.result.message
    assert len(fb) >= 5 and [f.steps for f in fb] == sorted(f.steps for f in fb)
    assert all(f.mode == 'mode2' for f in fb)
    assert any(math.isfinite(f.energy) and f.energy > 0 for f in fb), 'energy never computed'
    assert res.result.steps >= len(fb) and math.isfinite(res.result.final_energy)

    # 2) cancel stops the robot: commands are non-zero while the goal runs, zero soon after.
    t0 = time.monotonic()
    h = op.send(timeout_s=30)
    assert op.spin(lambda: op.moving_since(t0), 20), 'robot never moved under a goal'
    cancel_t = time.monotonic()
    wait_future(op.node, h.cancel_goal_async(), 10)
    res = op.result(h, 10)
    assert res.status == GoalStatus.STATUS_CANCELED
    # Bounded: a zero command follows the cancel (the actor sends one going idle, then is
    # silent), and every command received 1 s after the cancel request is exactly zero.
    assert op.spin(lambda: any(t >= cancel_t and is_zero(m) for t, m in op.cmds), 5), \
        'no stop command after the cancel'
    op.spin(lambda: False, 2.0)
    assert is_zero(op.cmds[-1][1])
    assert all(is_zero(m) for t, m in op.cmds if t >= cancel_t + 1.0)

    # 3) a second goal preempts the first cleanly; the second then runs (robot moves again).
    h1 = op.send(timeout_s=30)
    op.spin(lambda: False, 0.5)
    t1 = time.monotonic()
    h2 = op.send(timeout_s=30)
    assert h2.accepted
    r1 = op.result(h1, 10)
    assert r1.status == GoalStatus.STATUS_ABORTED and 'preempted' in r1.result.message
    assert op.spin(lambda: op.moving_since(t1 + 0.3), 15), 'second goal did not drive'
    wait_future(op.node, h2.cancel_goal_async(), 10)
    assert op.result(h2, 10).status == GoalStatus.STATUS_CANCELED


def test_set_mode_and_deadline_misses_switch_to_mode1(stack):
    op, procs = stack
    assert op.set_mode.wait_for_service(timeout_sec=20)
    resp = wait_future(op.node, op.set_mode.call_async(SetMode.Request(mode='mode1')), 10)
    assert resp.success, resp.message
    assert op.wait_param('actor', 'mode', 'mode1', 10), 'actor not switched to mode1'
    # Mode-1 needs no plans: the planner is paused, and resumes with Mode-2.
    assert op.wait_param('world_model', 'planning', False, 10), 'planner not paused in mode1'
    bad = wait_future(op.node, op.set_mode.call_async(SetMode.Request(mode='mode3')), 10)
    assert not bad.success and 'mode3' in bad.message
    resp = wait_future(op.node, op.set_mode.call_async(SetMode.Request(mode='mode2')), 10)
    assert resp.success and op.wait_param('actor', 'mode', 'mode2', 10)
    assert op.wait_param('world_model', 'planning', True, 10), 'planner not resumed in mode2'

    # Deadline misses: a 1 ms budget with 2048 candidates cannot be met.
    assert op.set('world_model', samples=2048)[0].successful
    assert all(r.successful for r in op.set('configurator', budget_s=0.001,
                                            deadline_tolerance=1.0))
    fb = []
    h = op.send(timeout_s=8, feedback=lambda m: fb.append(m.feedback))
    res = op.result(h, 30)
    assert 'deadline' in res.result.message and 'mode1' in res.result.message, \
        res.result.message
    assert any(f.mode == 'mode1' for f in fb)
    assert op.wait_param('actor', 'mode', 'mode1', 10)
    assert op.get('configurator', ['mode'])['mode'] == 'mode1'
    assert op.spin(lambda: 'configurator' in op.diag and any(
        kv.key == 'mode_reason' and 'deadline' in kv.value
        for kv in op.diag['configurator'].values), 5), 'diagnostics do not say why'
    # Mode-1 without an actor policy: the robot is held (the last command is zero and
    # nothing else follows), never NaN.
    t = time.monotonic()
    op.spin(lambda: False, 1.0)
    assert op.cmds and is_zero(op.cmds[-1][1])
    assert all(is_zero(m) for tt, m in op.cmds if tt >= t)
    assert procs['graph'].poll() is None and procs['world_model'].poll() is None
