"""SIGTERM to every node process exits cleanly: exit code 0, no traceback, nothing left
half-reported ("exception was never retrieved"), in two situations:

* busy: the whole stack runs and publishes (camera frames in, plans and commands at
  rate, actor at 200 Hz) when the signal arrives, so timers are publishing while the
  context goes down (the crash a colleague reported);
* starting: the signal arrives as soon as the node shows up in the ROS graph, i.e. while
  autostart is still configuring (loading the checkpoint) or just after.

A signal before rclpy.init (during the Python imports) gets the default action; that is
not tested here (documented in lifecycle_util.run_lifecycle_node).
"""
import signal
import time

import numpy as np
import pytest
import rclpy
from rclpy.node import Node
from sensor_msgs.msg import Image
from support import ProcSet, random_image, tiny_checkpoints

from jepa_ros.nodes.qos import LATCHED_QOS, SENSOR_QOS
from jepa_ros.nodes.waiting import spin_until

pytestmark = pytest.mark.ros

BAD_OUTPUT = ('Traceback', 'never retrieved', 'Segmentation fault', 'core dumped')


def node_args(name, wm, data_dir):
    return {
        'perception': ['-p', f'checkpoint:={wm}'],
        'world_model': ['-p', f'checkpoint:={wm}', '-p', 'horizon:=4', '-p', 'samples:=32',
                        '-p', 'plan_rate:=20.0', '-p', 'budget_s:=0.03'],
        'actor': ['-p', f'checkpoint:={wm}', '-p', 'control_rate:=200.0'],
        'sim_bridge': ['-p', 'image_size:=32', '-p', 'real_time_factor:=2.0'],
        'memory': ['-p', f'data_dir:={data_dir}', '-p', 'session:=sigterm'],
        'configurator': [],
    }[name]


NODES = ('perception', 'world_model', 'actor', 'sim_bridge', 'memory', 'configurator')


@pytest.fixture(scope='module')
def ros(tmp_path_factory):
    folder = tmp_path_factory.mktemp('sigterm')
    wm, _ = tiny_checkpoints(str(folder))
    procs = ProcSet()
    rclpy.init()
    node = Node('faults_sigterm_test')
    try:
        yield node, procs, wm, folder
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        procs.stop_all()


def _names(node):
    return {n.lstrip('/') for n in node.get_node_names()}


def _check_exit(results):
    bad = {name: (rc, out) for name, (rc, out, _) in results.items()
           if rc != 0 or any(b in out for b in BAD_OUTPUT)}
    assert not bad, '\n\n'.join(f'--- {n} rc={rc}\n{out}' for n, (rc, out) in bad.items())


def test_sigterm_while_busy_exits_cleanly(ros):
    node, procs, wm, folder = ros
    p = {n: procs.start(f'jepa_ros.nodes.{n}', node_args(n, wm, folder / 'rec'))
         for n in NODES}
    cam = node.create_publisher(Image, 'camera/image_raw', SENSOR_QOS)
    goal = node.create_publisher(Image, 'goal/image_raw', LATCHED_QOS)
    rng = np.random.default_rng(1)
    goal.publish(random_image(rng))
    plans = []
    from jepa_ros_interfaces.msg import Plan
    node.create_subscription(Plan, 'jepa/plan', plans.append, 10)

    def camera():
        cam.publish(random_image(rng, node.get_clock().now().to_msg()))
    assert spin_until(node, lambda: set(NODES) <= _names(node) or
                      not all(q.alive() for q in p.values()), 90, camera) and \
        all(q.alive() for q in p.values()), \
        (_names(node), {n: q.output for n, q in p.items() if not q.alive()})
    assert spin_until(node, lambda: len(plans) >= 5, 60, camera), 'stack never got busy'
    results = {}
    for name in NODES:
        camera()
        t0 = p[name].signal(signal.SIGTERM)
        rc = p[name].wait(20)
        results[name] = (rc, p[name].output, time.monotonic() - t0)
    print('\nSIGTERM while busy -> exit after ' +
          ', '.join(f'{n} {r[2]:.2f} s (rc {r[0]})' for n, r in results.items()))
    _check_exit(results)


def test_sigterm_during_startup_exits_cleanly(ros):
    node, procs, wm, folder = ros
    names = ('perception', 'world_model', 'actor')
    p = {n: procs.start(f'jepa_ros.nodes.{n}', node_args(n, wm, folder / 'rec2'))
         for n in names}
    results, pending = {}, set(names)
    end = time.monotonic() + 90
    while pending and time.monotonic() < end:
        seen = _names(node)
        for n in list(pending):
            if n in seen or not p[n].alive():
                t0 = p[n].signal(signal.SIGTERM)
                results[n] = (p[n].wait(20), None, t0)
                pending.discard(n)
        rclpy.spin_once(node, timeout_sec=0.005)
    assert not pending, f'never appeared in the graph: {pending}'
    results = {n: (rc, p[n].output, t) for n, (rc, _, t) in results.items()}
    print('\nSIGTERM during startup -> ' + ', '.join(
        f'{n} rc {r[0]}' for n, r in results.items()))
    _check_exit(results)
