"""Property tests of jepa_ros.core.command: whatever goes in, the command is safe."""
import math

import numpy as np
from hypothesis import given, settings, strategies as st

from jepa_ros.core import command as c

anyfloat = st.floats(allow_nan=True, allow_infinity=True, width=64)
LIM = c.Limits(max_linear_speed=0.5, max_angular_speed=1.0, max_linear_accel=2.0,
               max_angular_accel=4.0)


def within_limits(v, lim=LIM, tol=1e-9):
    return (np.all(np.isfinite(v)) and np.linalg.norm(v[0:3]) <= lim.max_linear_speed + tol
            and abs(v[5]) <= lim.max_angular_speed + tol and v[3] == 0 and v[4] == 0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(anyfloat, min_size=6, max_size=6), min_size=1, max_size=20),
       st.lists(anyfloat, min_size=20, max_size=20))
def test_shape_is_always_finite_and_within_speed_and_accel_limits(targets, dts):
    s = c.CommandShaper(LIM)
    prev = np.zeros(6)
    for target, dt in zip(targets, dts):
        out = s.shape(target, dt)
        assert within_limits(out)
        step = dt if (math.isfinite(dt) and dt > 0) else 0.0
        assert np.linalg.norm(out[0:3] - prev[0:3]) <= LIM.max_linear_accel * step + 1e-9
        assert abs(out[5] - prev[5]) <= LIM.max_angular_accel * step + 1e-9
        prev = out


@given(st.lists(anyfloat, min_size=2, max_size=2), st.sampled_from(['holonomic', 'diff_drive']))
def test_action_to_twist_then_shape_is_safe(action, mode):
    s = c.CommandShaper(LIM)
    out = s.shape(c.action_to_twist(action, [0.8, 2.0], mode), 10.0)
    assert within_limits(out)


def test_nan_target_counts_and_gives_zero_target():
    s = c.CommandShaper(LIM)
    s.shape([0.3, 0, 0, 0, 0, 0], 1.0)
    out = s.shape([float('nan'), 0.1, 0, 0, 0, 0], 0.01)  # decelerates towards zero
    assert s.sanitised == 1
    assert 0 < out[0] < 0.3 and out[1] == 0.0
    assert np.allclose(s.shape([1, 0, 0, 0, 0, 0], 1.0)[:3], [0.5, 0, 0])  # speed clipped
    assert np.all(s.stop() == 0) and np.all(s.previous == 0)


def test_wrong_length_or_garbage_is_not_a_command():
    s = c.CommandShaper(LIM)
    assert np.all(s.shape([1.0, 2.0], 1.0) == 0)
    assert np.all(s.shape('abc', 1.0) == 0)
    assert np.all(s.shape([0.1] * 6, 'x') == 0)  # bad dt: no change allowed
    assert s.sanitised == 2  # the bad dt is not a bad target


def test_action_mapping_and_mismatch():
    assert np.allclose(c.action_to_twist([1, -0.5], [0.5, 0.5], 'holonomic'),
                       [0.5, -0.25, 0, 0, 0, 0])
    assert np.allclose(c.action_to_twist([0.5, 1], [0.4, 2.0], 'diff_drive'),
                       [0.2, 0, 0, 0, 0, 2.0])
    assert np.allclose(c.action_to_twist([2, 0, -2], [0.1] * 3, 'reach'),
                       [0.1, 0, -0.1, 0, 0, 0])  # clipped to [-1, 1] first
    for bad in (([1, 2, 3], [1, 1], 'holonomic'), ([1, 2], [1, 1], 'flying')):
        try:
            c.action_to_twist(*bad)
        except ValueError as exc:
            assert str(exc)
        else:
            raise AssertionError(f'{bad} accepted')


def test_source_selection():
    kw = dict(watchdog_timeout=0.2, plan_timeout=0.5, mode1_available=True)
    assert c.select_source(10.0, 9.9, 9.8, 1.2, **kw)[0] == c.SOURCE_PLAN
    # perception dead -> stop, even with a fresh plan and a Mode-1 policy
    assert c.select_source(10.0, 9.7, 9.8, 1.2, **kw) == (c.SOURCE_STOP, 'perception stale')
    assert c.select_source(10.0, None, 9.8, 1.2, **kw)[0] == c.SOURCE_STOP
    # planner dead -> Mode-1, or stop without a policy
    assert c.select_source(10.0, 9.9, 9.0, 1.2, **kw)[0] == c.SOURCE_MODE1
    assert c.select_source(10.0, 9.9, None, 1.2, **kw)[0] == c.SOURCE_MODE1
    assert c.select_source(10.0, 9.9, 9.0, 1.2, watchdog_timeout=0.2,
                           plan_timeout=0.5)[0] == c.SOURCE_STOP
    assert c.select_source(10.0, 9.9, 9.8, 1.2, estop=True, **kw)[0] == c.SOURCE_STOP
    assert c.select_source(10.0, 9.9, 9.8, 1.2, goal_known=False, **kw)[0] == c.SOURCE_STOP
    assert c.select_source(10.0, 9.9, 9.8, 1.2, mode='mode1', **kw)[0] == c.SOURCE_MODE1
    assert c.select_source(10.0, float('nan'), 9.8, 1.2, **kw)[0] == c.SOURCE_STOP
    assert c.plan_step(10.25, 10.0, 0.1, 12) == 2
    assert c.plan_step(11.3, 10.0, 0.1, 12) is None
    assert c.plan_step(9.9, 10.0, 0.1, 12) == 0
