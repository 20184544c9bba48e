"""Fault suite: bad parameters set from ANOTHER process on every node process.

perception, world_model, actor, sim_bridge and memory run as their own processes; this
process sets out-of-range, wrongly typed, non-finite, unknown-choice, read-only and
undeclared parameters through the ROS parameter services. Each must be refused with a
reason and leave the old value in place; a good value on the same node is accepted (so
the check itself can fail). Also: the actor's limits changed live while it drives bind
the commands it publishes from the next tick on.
"""
import math
import time

import numpy as np
import pytest
import rclpy
from geometry_msgs.msg import Twist
from rclpy.node import Node
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.parameter_client import AsyncParameterClient
from support import LATENT, ProcSet, tiny_checkpoints

from jepa_ros.core.checkpoint import model_version
from jepa_ros.nodes.qos import LATCHED_QOS
from jepa_ros.nodes.waiting import call_until_answered, spin_until
from jepa_ros_interfaces.msg import LatentState, Plan

pytestmark = pytest.mark.ros

NAN, INF = float('nan'), float('inf')
# node -> [(parameter, bad value, a word the reason must contain)]
BAD = {
    'perception': [('log_period_s', 0.0, 'log_period_s'), ('log_period_s', 'fast', ''),
                   ('resize', 1, ''), ('device', 'tpu', ''), ('no_such_param', 1, '')],
    'world_model': [('horizon', 0, 'horizon'), ('horizon', 2.5, ''),
                    ('planner', 'magic', 'magic'), ('budget_s', NAN, 'budget_s'),
                    ('plan_rate', -1.0, 'plan_rate'), ('cost.goal.weight', INF, ''),
                    ('gd.num_inits', 0, 'gd.num_inits'), ('gd.lr', NAN, 'gd.lr')],
    'actor': [('mode', 'mode3', 'mode3'), ('max_linear_speed', -0.1, 'max_linear_speed'),
              ('max_linear_speed', 'fast', ''), ('control_rate', 0.0, 'control_rate'),
              ('watchdog_timeout', INF, ''), ('enabled', 'yes', ''),
              ('checkpoint', 'other.pt', '')],
    'sim_bridge': [('camera_rate', 0.0, 'camera_rate'), ('real_time_factor', 'x', ''),
                   ('cmd_timeout', -1.0, 'cmd_timeout'), ('world', 'mars', '')],
    'memory': [('save_dir', '../escape', 'relative'), ('compression', 'rar', 'rar'),
               ('chunk_max_bytes', 1, 'chunk_max_bytes'), ('discovery_period', 'x', '')],
}
GOOD = {'perception': ('log_period_s', 2.0), 'world_model': ('horizon', 6),
        'actor': ('max_angular_speed', 1.0), 'sim_bridge': ('camera_rate', 5.0),
        'memory': ('compression', 'lz4')}


@pytest.fixture(scope='module')
def graph(tmp_path_factory):
    folder = tmp_path_factory.mktemp('faults_params')
    wm, ac = tiny_checkpoints(str(folder))
    args = {'perception': ['-p', f'checkpoint:={wm}'],
            'world_model': ['-p', f'checkpoint:={wm}'],
            'actor': ['-p', f'checkpoint:={wm}', '-p', f'actor_checkpoint:={ac}',
                      '-p', 'mode:=mode1'],
            'sim_bridge': ['-p', 'image_size:=32', '-p', 'cmd_topic:=sim_cmd_vel'],
            'memory': ['-p', f'data_dir:={folder / "rec"}', '-p', 'record:=false']}
    procs = ProcSet()
    p = {n: procs.start(f'jepa_ros.nodes.{n}', a) for n, a in args.items()}
    rclpy.init()
    node = Node('faults_params_test')
    try:
        yield node, p, model_version(wm)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        procs.stop_all()


def call(node, send, timeout=10):
    """Answer to an idempotent parameter request, re-sent if its answer got lost."""
    res = call_until_answered(node, send, timeout)
    assert res is not None, 'parameter service did not answer'
    return res


def _value(v):
    try:
        return parameter_value_to_python(v)
    except Exception:
        return None


def test_bad_parameters_are_refused_with_a_reason_and_the_old_value_kept(graph):
    node, p, _ = graph
    report = []
    for name, cases in BAD.items():
        client = AsyncParameterClient(node, name)
        assert client.wait_for_services(timeout_sec=90), \
            f'{name} has no parameter services:\n{p[name].output}'
        declared = [c[0] for c in cases if c[0] != 'no_such_param']
        before = [_value(v) for v in call(node, lambda: client.get_parameters(declared)).values]
        for pname, bad, clue in cases:
            t0 = time.monotonic()
            res = call(node, lambda: client.set_parameters([Parameter(pname, value=bad)]))
            ms = (time.monotonic() - t0) * 1e3
            r = res.results[0]
            assert not r.successful, f'{name}.{pname}={bad!r} was accepted'
            assert r.reason, f'{name}.{pname}={bad!r} refused without a reason'
            assert clue in r.reason, (name, pname, bad, r.reason)
            report.append(f'{name}.{pname}={bad!r}: {r.reason} ({ms:.0f} ms)')
        after = [_value(v) for v in call(node, lambda: client.get_parameters(declared)).values]
        assert after == before or all(
            (a == b) or (isinstance(a, float) and math.isnan(a) and math.isnan(b))
            for a, b in zip(after, before)), (name, before, after)
        gname, gvalue = GOOD[name]
        res = call(node, lambda: client.set_parameters([Parameter(gname, value=gvalue)]))
        assert res.results[0].successful, (name, gname, res.results[0].reason)
        got = call(node, lambda: client.get_parameters([gname])).values
        assert _value(got[0]) == gvalue
        assert p[name].alive(), p[name].output
    print('\n' + '\n'.join(report))


def test_actor_limits_changed_live_bind_the_next_commands(graph):
    """The actor drives (Mode-1 policy on fed latents); max_linear_speed is changed from
    another process while it runs; every command after the change obeys the new limit."""
    node, p, version = graph   # the actor drops latents of another model version
    cmds = []
    node.create_subscription(Twist, 'cmd_vel', lambda m: cmds.append((time.monotonic(), m)),
                             100)
    st = node.create_publisher(LatentState, 'jepa/state', 10)
    gl = node.create_publisher(LatentState, 'jepa/goal_state', LATCHED_QOS)
    pl = node.create_publisher(Plan, 'jepa/plan', 10)
    rng = np.random.default_rng(2)
    gl.publish(LatentState(level=1, data=rng.normal(size=LATENT).tolist(),
                           model_version=version))

    def feed():
        s = LatentState(level=1, data=rng.normal(size=LATENT).tolist(), model_version=version)
        s.header.stamp = node.get_clock().now().to_msg()
        st.publish(s)
    client = AsyncParameterClient(node, 'actor')
    assert client.wait_for_services(timeout_sec=60)
    assert spin_until(node, lambda: st.get_subscription_count() > 0
                      and pl.get_subscription_count() > 0, 30)
    def speed(m):
        return math.hypot(m.linear.x, m.linear.y, m.linear.z)
    assert spin_until(node, lambda: any(speed(m) > 0.3 for _, m in cmds), 20, feed), \
        'actor never reached speed'
    limits, lag = [], []
    for limit, accel in ((0.1, 2.0), (0.45, 0.5), (0.05, 10.0), (0.3, 2.0)):
        res = call(node, lambda: client.set_parameters([Parameter('max_linear_speed', value=limit),
                                                Parameter('max_linear_accel', value=accel)]),
                   10)
        t_set = time.monotonic()
        assert all(r.successful for r in res.results), res
        spin_until(node, lambda: False, 1.0, feed)
        after = [(t, speed(m)) for t, m in cmds if t > t_set]
        assert after, 'no commands after the change'
        # the command in flight when the answer came may predate the change: one tick
        over = [t for t, v in after if v > limit + 1e-6]
        assert not [t for t in over if t > t_set + 0.1], (limit, after[:5])
        lag.append(max(over) - t_set if over else 0.0)
        limits.append((limit, max(v for _, v in after)))
        for _, m in cmds:
            v = [m.linear.x, m.linear.y, m.linear.z, m.angular.x, m.angular.y, m.angular.z]
            assert all(math.isfinite(x) for x in v)
    print(f'\nlive max_linear_speed changes (limit, fastest command after): {limits}; '
          f'commands over the new limit at most {max(lag) * 1e3:.0f} ms after the answer')
