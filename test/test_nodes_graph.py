"""perception -> world_model -> actor over real DDS (loopback), graph in ANOTHER process.

A tiny randomly initialised world model (the real classes, weights scattered so actions
matter) is saved as a checkpoint; `jepa_ros.nodes.graph.start_graph` runs the three
model-holding nodes in a subprocess; this process plays camera, goal and operator.
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import rclpy
import support
from geometry_msgs.msg import Twist
from rclpy.node import Node
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.parameter_client import AsyncParameterClient
from sensor_msgs.msg import Image

from jepa_ros.nodes.messages import rgb_to_image
from jepa_ros.nodes.qos import LATCHED_QOS, SENSOR_QOS
from jepa_ros.nodes.waiting import call_until_answered, spin_for, spin_until
from jepa_ros_interfaces.msg import LatentState, Plan

SIZE = 16
def graph_overrides(ck):
    ov = {n: {'checkpoint': ck} for n in ('perception', 'world_model', 'actor')}
    ov['world_model'].update(planner='cem', horizon=8, plan_rate=5.0, budget_s=0.1,
                             samples=64, iterations=3, critic_checkpoint='')
    ov['world_model']['cost.critic.weight'] = 0.0   # no critic for the tiny model
    ov['actor']['actor_checkpoint'] = ''
    ov['actor'].update(max_linear_speed=0.5)  # the limit the test checks below
    return ov


def tiny_checkpoint(path):
    # scattered predictor: an untrained one ignores actions
    return support.save_tiny_world_model(path, seed=3, scatter=True, image_size=SIZE,
                                         action_scale=[0.5, 0.5])


@pytest.fixture(scope='module')
def graph(tmp_path_factory):
    ck = tiny_checkpoint(str(tmp_path_factory.mktemp('ck') / 'tiny.pt'))
    proc = subprocess.Popen([sys.executable, '-m', 'jepa_ros.cli', 'bringup',
                             '--only', 'perception', '--only', 'world_model', '--only', 'actor',
                             '--overrides', json.dumps(graph_overrides(ck))],
                            env=dict(os.environ))
    rclpy.init()
    node = Node('graph_test')
    yield proc, node
    node.destroy_node()
    rclpy.shutdown()
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def image(rng):
    return rgb_to_image(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))


def param_call(node, send):
    """Answer to an idempotent parameter request, re-sent if its answer got lost."""
    res = call_until_answered(node, send, 10)
    assert res is not None, 'parameter service did not answer'
    return res


def test_graph_params_plans_and_bad_images(graph):
    proc, node = graph
    rng = np.random.default_rng(0)
    plans, states, cmds = [], [], []
    node.create_subscription(Plan, 'jepa/plan', plans.append, 10)
    node.create_subscription(LatentState, 'jepa/state', states.append, 10)
    node.create_subscription(Twist, 'cmd_vel', cmds.append, 10)
    cam = node.create_publisher(Image, 'camera/image_raw', SENSOR_QOS)
    goal = node.create_publisher(Image, 'goal/image_raw', LATCHED_QOS)
    wm = AsyncParameterClient(node, 'world_model')
    assert wm.wait_for_services(timeout_sec=60), 'world_model never came up'
    assert spin_until(node, lambda: cam.get_subscription_count() > 0
                      and goal.get_subscription_count() > 0, 30), 'perception not subscribed'
    goal.publish(image(rng))

    def camera_tick():
        msg = image(rng)
        msg.header.stamp = node.get_clock().now().to_msg()
        cam.publish(msg)

    assert spin_until(node, lambda: len(plans) >= 3, 30, camera_tick), 'no plans'
    assert proc.poll() is None
    assert plans[-1].horizon == 8 and plans[-1].action_dim == 2
    assert len(plans[-1].actions) == 16 and len(plans[-1].predicted_latents) == 8 * 8
    # plans are stamped with the image the state came from
    stamps = {(s.header.stamp.sec, s.header.stamp.nanosec) for s in states}
    assert (plans[-1].header.stamp.sec, plans[-1].header.stamp.nanosec) in stamps

    # --- out-of-range / wrong values refused with a reason, old value kept -----------
    res = param_call(node, lambda: wm.set_parameters([Parameter('horizon', value=0)]))
    reason = res.results[0].reason
    assert not res.results[0].successful and 'horizon' in reason
    assert 'range' in reason or 'minimum' in reason
    res = param_call(node, lambda: wm.set_parameters([Parameter('planner', value='magic')]))
    assert not res.results[0].successful and 'magic' in res.results[0].reason
    res = param_call(node, lambda: wm.set_parameters([Parameter('cost.goal.weight',
                                                            value=float('nan'))]))
    assert not res.results[0].successful and 'cost.goal.weight' in res.results[0].reason
    got = param_call(node, lambda: wm.get_parameters(['horizon', 'planner']))
    assert [parameter_value_to_python(v) for v in got.values] == [8, 'cem']

    # --- live changes change the plans ------------------------------------------------
    def mean_abs(ps):
        return float(np.mean([np.abs(np.asarray(p.actions)).mean() for p in ps]))
    base = mean_abs(plans[-3:])
    assert base > 0.05, 'plans do not use the actions (test model too flat)'
    res = param_call(node, lambda: wm.set_parameters([Parameter('horizon', value=4)]))
    assert res.results[0].successful
    plans.clear()
    assert spin_until(node, lambda: len([p for p in plans if p.horizon == 4]) >= 2, 20,
                      camera_tick), 'horizon change never reached the plans'
    res = param_call(node, lambda: wm.set_parameters(
        [Parameter('cost.action_magnitude.weight', value=1000.0),
         Parameter('cost.goal.weight', value=0.001)]))
    assert all(r.successful for r in res.results)
    plans.clear()
    assert spin_until(node, lambda: len(plans) >= 3, 20, camera_tick)
    spin_for(node, 0.6, camera_tick)  # the plan in flight may predate the change
    assert mean_abs(plans[-2:]) < 0.5 * base, (base, mean_abs(plans[-2:]))

    # --- commands: finite and within the actor's limits ---------------------------------
    assert cmds, 'actor published nothing'
    for c in cmds:
        v = [c.linear.x, c.linear.y, c.linear.z, c.angular.x, c.angular.y, c.angular.z]
        assert all(math.isfinite(x) for x in v)
        assert math.hypot(c.linear.x, c.linear.y) <= 0.5 + 1e-6

    # --- bad images: rejected, node keeps going -------------------------------------
    bad = [image(rng) for _ in range(4)]
    bad[0].encoding = '32FC1'
    bad[1].data = bytes(bad[1].data)[:-5]
    bad[2].step = 7
    bad[3].height = bad[3].width = 0
    bad[3].data = b''
    for b in bad:
        cam.publish(b)
        spin_for(node, 0.05)
    wrong_size = rgb_to_image(np.zeros((SIZE + 1, SIZE, 3), np.uint8))
    cam.publish(wrong_size)
    states.clear()
    assert spin_until(node, lambda: len(states) >= 3, 10, camera_tick), \
        'perception stopped after bad images'
    from diagnostic_msgs.msg import DiagnosticArray
    rejected = []

    def on_diag(msg):
        for st in msg.status:
            if st.name.endswith('perception'):
                rejected.extend(int(kv.value) for kv in st.values if kv.key == 'rejected')
    node.create_subscription(DiagnosticArray, '/diagnostics', on_diag, 10)
    # (sensor QoS keeps only the newest frame: one of the 5 bad ones may be dropped unseen)
    assert spin_until(node, lambda: bool(rejected) and max(rejected) >= 3, 5, camera_tick), \
        f'bad images not counted: {rejected}'
    assert proc.poll() is None

