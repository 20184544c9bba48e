"""The configurator over real DDS (loopback) with the real sim_bridge, perception, actor
and world_model: ReachGoal (feedback, result, cancel, preemption), ~/set_mode, parameter
ownership (pushed, re-pushed after a world_model restart, sets of owned keys on
world_model refused) and the deadline-miss fallback.

sim_bridge + perception + actor + configurator run as one in-process graph in a
subprocess; world_model runs in its own process so the test can restart it. The model is
a tiny randomly initialised WorldModel (predictor weights scattered so actions matter).
This process is the operator: the StackClient (ReachGoal, parameters, cmd_vel listener).
"""
import json
import math
import os
import signal
import subprocess
import sys

import pytest
import rclpy
from action_msgs.msg import GoalStatus
from support import save_tiny_world_model

from jepa_ros.nodes.stack_client import StackClient, is_zero
from jepa_ros_interfaces.srv import SetMode

SIZE = 16
HORIZON = 6          # the configurator's value; world_model.yaml says 12


def tiny_checkpoint(path, seed=3):
    # scattered predictor: an untrained one ignores actions
    return save_tiny_world_model(path, seed=seed, scatter=True, image_size=SIZE,
                                 action_scale=[0.6, 0.6])


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


class Operator(StackClient):
    """The test's ROS side: the stack client, plus when the robot moved."""

    def moving_since(self, t0):
        return any(math.hypot(c.msg.linear.x, c.msg.linear.y) > 1e-3
                   for c in self.cmds if c.receipt >= t0)


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
    op = Operator('configurator_test')
    try:
        assert op.spin_until(op.action.server_is_ready, 60), 'reach_goal server never came up'
        yield op, procs
    finally:
        op.close()
        rclpy.shutdown()
        stop_proc(procs['world_model'])
        stop_proc(graph)


def test_parameters_pushed_and_repushed_after_world_model_restart(stack):
    op, procs = stack
    # Pushed: world_model.yaml says horizon 12 and budget 0.15, the configurator owns 6/0.1.
    assert op.wait_param('world_model', 'horizon', HORIZON, 30), 'horizon never pushed'
    assert op.get_params('world_model', ['budget_s'])['budget_s'] == pytest.approx(0.1)
    # Set by hand on world_model: refused while the configurator is up, with where to set it
    # (accepting it would only last until the next check re-pushed the configurator's value).
    r = op.set_params('world_model', **{'cost.action_magnitude.weight': 3.0})[0]
    assert not r.successful
    assert 'ros2 param set /configurator cost.action_magnitude.weight 3.0' in r.reason, r.reason
    assert op.get_params('world_model', ['cost.action_magnitude.weight'])[
        'cost.action_magnitude.weight'] == 0.0
    # A changed configurator value reaches world_model.
    assert op.set_params('configurator', **{'cost.action_smoothness.weight': 0.25})[0].successful
    assert op.wait_param('world_model', 'cost.action_smoothness.weight', 0.25, 10)
    # Restart world_model: it comes back with its file values, the configurator re-pushes.
    stop_proc(procs['world_model'])
    procs['world_model'] = subprocess.Popen(world_model_cmd(procs['ck']))
    assert op.wait_param('world_model', 'horizon', HORIZON, 60), 'not re-pushed after restart'
    assert op.get_params('world_model', ['cost.action_smoothness.weight'])[
        'cost.action_smoothness.weight'] == pytest.approx(0.25)
    # An owned value the target refuses is refused by the target, not silently applied.
    res = op.set_params('configurator', **{'cost.critic.weight': 1.0})
    assert res[0].successful  # the configurator accepts its own value ...
    op.spin_until(lambda: False, 1.0)
    # ... world_model (no critic_checkpoint) refuses it and keeps 0.
    assert op.get_params('world_model', ['cost.critic.weight'])['cost.critic.weight'] == 0.0
    assert op.set_params('configurator', **{'cost.critic.weight': 0.0})[0].successful


def test_reach_goal_feedback_result_cancel_and_preempt(stack):
    op, procs = stack
    assert op.wait_param('world_model', 'horizon', HORIZON, 60)
    # 1) accepted, feedback (energy, steps, mode), ends with a result (timeout: the random
    #    model does not reach the goal; success_energy 0 never triggers).
    fb = []
    h = op.send_goal(timeout_s=2.5, feedback=lambda m: fb.append(m.feedback))
    assert h.accepted
    res = op.result(h, 20)
    assert res.status == GoalStatus.STATUS_ABORTED, res.result.message
    assert 'timed out' in res.result.message
    assert len(fb) >= 5 and [f.steps for f in fb] == sorted(f.steps for f in fb)
    assert all(f.mode == 'mode2' for f in fb)
    assert any(math.isfinite(f.energy) and f.energy > 0 for f in fb), 'energy never computed'
    assert res.result.steps >= len(fb) and math.isfinite(res.result.final_energy)

    # 2) cancel stops the robot: commands are non-zero while the goal runs, zero soon after.
    t0 = op.now()
    h = op.send_goal(timeout_s=30)
    assert op.spin_until(lambda: op.moving_since(t0), 20), 'robot never moved under a goal'
    cancel_t = op.now()
    op.cancel(h)
    res = op.result(h, 10)
    assert res.status == GoalStatus.STATUS_CANCELED
    # Bounded: a zero command follows the cancel (the actor sends one going idle, then is
    # silent), and every command received 1 s after the cancel request is exactly zero.
    stopped = op.spin_until(
        lambda: any(c.receipt >= cancel_t and is_zero(c.msg) for c in op.cmds), 5)
    assert stopped, 'no stop command after the cancel'
    op.spin_until(lambda: False, 2.0)
    assert is_zero(op.cmds[-1].msg)
    assert all(is_zero(c.msg) for c in op.cmds if c.receipt >= cancel_t + 1.0)

    # 3) a second goal preempts the first cleanly; the second then runs (robot moves again).
    h1 = op.send_goal(timeout_s=30)
    op.spin_until(lambda: False, 0.5)
    t1 = op.now()
    h2 = op.send_goal(timeout_s=30)
    assert h2.accepted
    r1 = op.result(h1, 10)
    assert r1.status == GoalStatus.STATUS_ABORTED and 'preempted' in r1.result.message
    assert op.spin_until(lambda: op.moving_since(t1 + 0.3), 15), 'second goal did not drive'
    op.cancel(h2)
    assert op.result(h2, 10).status == GoalStatus.STATUS_CANCELED


def test_set_mode_and_deadline_misses_switch_to_mode1(stack):
    op, procs = stack
    assert op.spin_until(op.mode_cli.service_is_ready, 20)
    resp = op.wait_future(op.mode_cli.call_async(SetMode.Request(mode='mode1')), 10)
    assert resp.success, resp.message
    assert op.wait_param('actor', 'mode', 'mode1', 10), 'actor not switched to mode1'
    # Mode-1 needs no plans: the planner is paused, and resumes with Mode-2.
    assert op.wait_param('world_model', 'planning', False, 10), 'planner not paused in mode1'
    bad = op.wait_future(op.mode_cli.call_async(SetMode.Request(mode='mode3')), 10)
    assert not bad.success and 'mode3' in bad.message
    resp = op.wait_future(op.mode_cli.call_async(SetMode.Request(mode='mode2')), 10)
    assert resp.success and op.wait_param('actor', 'mode', 'mode2', 10)
    assert op.wait_param('world_model', 'planning', True, 10), 'planner not resumed in mode2'

    # Deadline misses: a 1 ms budget with 2048 candidates cannot be met.
    assert op.set_params('world_model', samples=2048)[0].successful
    assert all(r.successful for r in op.set_params('configurator', budget_s=0.001,
                                            deadline_tolerance=1.0))
    fb = []
    h = op.send_goal(timeout_s=8, feedback=lambda m: fb.append(m.feedback))
    res = op.result(h, 30)
    assert 'deadline' in res.result.message and 'mode1' in res.result.message, \
        res.result.message
    assert any(f.mode == 'mode1' for f in fb)
    assert op.wait_param('actor', 'mode', 'mode1', 10)
    assert op.get_params('configurator', ['mode'])['mode'] == 'mode1'
    assert op.spin_until(lambda: 'configurator' in op.diag and any(
        kv.key == 'mode_reason' and 'deadline' in kv.value
        for kv in op.diag['configurator'].values), 5), 'diagnostics do not say why'
    # Mode-1 without an actor policy: the robot is held (the last command is zero and
    # nothing else follows), never NaN.
    t = op.now()
    op.spin_until(lambda: False, 1.0)
    assert op.cmds and is_zero(op.cmds[-1].msg)
    assert all(is_zero(c.msg) for c in op.cmds if c.receipt >= t)
    assert procs['graph'].poll() is None and procs['world_model'].poll() is None
