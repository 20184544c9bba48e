"""Command shaping for the actor: normalised action -> velocity command that is always safe.

Pure numpy (no ROS, no torch) so it can be property-tested. A command is a 6-vector
`[lin.x, lin.y, lin.z, ang.x, ang.y, ang.z]` in SI units (m/s, rad/s), the fields of a
geometry_msgs/Twist. Which of them an action drives is its action mode
(jepa_ros.core.action_modes).

Guarantees of `CommandShaper.shape` for ANY input (NaN, inf, huge, wrong length):
  * every component is finite;
  * the norm of the linear part is <= max_linear_speed, |ang.z| <= max_angular_speed,
    ang.x = ang.y = 0;
  * the change from the previous output is within accel * dt (velocity smoothing), except
    a stop, which is applied at once (a stale or e-stopped robot stops now, not gradually).
"""
from dataclasses import dataclass
import math

import numpy as np

from jepa_ros.core import action_modes

# Which source the actor should execute this tick.
SOURCE_PLAN = 'plan'      # newest fresh Mode-2 plan
SOURCE_MODE1 = 'mode1'    # Mode-1 reactive policy (plan stale/absent, or mode1 chosen)
SOURCE_STOP = 'stop'      # zero command

ACTION_MODES = action_modes.ACTION_MODES


@dataclass
class Limits:
    max_linear_speed: float = 0.5        # m/s, norm of the linear part
    max_angular_speed: float = 1.5       # rad/s, |angular.z|
    max_linear_accel: float = 2.0        # m/s^2, norm of the change of the linear part
    max_angular_accel: float = 6.0       # rad/s^2

    def __post_init__(self):
        for name in ('max_linear_speed', 'max_angular_speed', 'max_linear_accel',
                     'max_angular_accel'):
            v = float(getattr(self, name))
            if not math.isfinite(v) or v < 0:
                raise ValueError(f'{name} must be finite and >= 0, got {v!r}')
            setattr(self, name, v)


def action_to_twist(action, action_scale, action_mode='holonomic'):
    """Normalised action (A,) in [-1,1] -> 6-vector command (unshaped; may be NaN/large).

    The action mode (a name, legacy names included, or an ActionMode) says which command
    fields the action drives: holonomic [vx, vy] -> lin.x, lin.y; diff_drive [v, w] ->
    lin.x, ang.z; reach [vx, vy, vz] -> lin.x, lin.y, lin.z; each times its scale.
    Raises ValueError on an unknown mode or a dimension mismatch.
    """
    mode = (action_mode if isinstance(action_mode, action_modes.ActionMode)
            else action_modes.get(action_mode))
    a = np.asarray(action, dtype=np.float64).reshape(-1)
    scale = np.asarray(action_scale, dtype=np.float64).reshape(-1)
    want = mode.action_dim
    if a.shape[0] != want or scale.shape[0] != want:
        raise ValueError(f'{mode.name} needs {want} action components and scales, got '
                         f'{a.shape[0]} and {scale.shape[0]}')
    a = np.clip(a, -1.0, 1.0)  # NaN stays NaN here; shape() removes it
    out = np.zeros(6)
    out[list(mode.field_indices)] = a * scale
    return out


class CommandShaper:
    """Stateful limiter: call `shape(target, dt)` once per control tick."""

    def __init__(self, limits=None):
        self.limits = limits or Limits()
        self.previous = np.zeros(6)
        self.sanitised = 0    # number of ticks whose target had non-finite values

    def reset(self):
        self.previous = np.zeros(6)

    def stop(self):
        self.previous = np.zeros(6)
        return self.previous.copy()

    def _clip_speed(self, cmd):
        lim = self.limits
        cmd[3] = cmd[4] = 0.0
        n = float(np.linalg.norm(cmd[0:3]))
        if n > lim.max_linear_speed:
            cmd[0:3] *= lim.max_linear_speed / n
        cmd[5] = min(max(cmd[5], -lim.max_angular_speed), lim.max_angular_speed)
        return cmd

    def shape(self, target, dt):
        """Safe command closest to `target` reachable from the previous one within dt."""
        lim = self.limits
        try:
            t = np.asarray(target, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            t = np.full(6, np.nan)
        if t.shape[0] != 6:
            t = np.full(6, np.nan)
        if not np.all(np.isfinite(t)):
            self.sanitised += 1
            t = np.where(np.isfinite(t), t, 0.0)
            t[:] = 0.0  # a partially broken target is not trusted at all
        try:
            dt = float(dt)
        except (TypeError, ValueError):
            dt = 0.0
        if not math.isfinite(dt) or dt < 0:
            dt = 0.0
        t = self._clip_speed(np.clip(t, -1e6, 1e6))  # no overflow in the norms
        prev = self.previous
        d_lin = t[0:3] - prev[0:3]
        n = float(np.linalg.norm(d_lin))
        max_dl = lim.max_linear_accel * dt
        if n > max_dl:
            d_lin *= max_dl / n if n > 0 else 0.0
        d_ang = float(np.clip(t[5] - prev[5], -lim.max_angular_accel * dt,
                              lim.max_angular_accel * dt))
        out = prev.copy()
        out[0:3] += d_lin
        out[5] += d_ang
        out = self._clip_speed(out)
        if not np.all(np.isfinite(out)):  # cannot happen; belt and braces
            out = np.zeros(6)
        self.previous = out
        return out.copy()


def select_source(now, state_time, plan_time, plan_len_s, mode='mode2', estop=False,
                  goal_known=True, watchdog_timeout=0.2, plan_timeout=0.5,
                  mode1_available=False):
    """What to execute at time `now` (seconds, one clock for all arguments).

    state_time: receive time of the newest latent state (None: never) -> perception watchdog.
    plan_time: stamp of the newest plan (None: none); plan_len_s: its duration in seconds.
    A plan is fresh while now - plan_time <= plan_timeout and it still has steps left.
    Returns (source, reason).
    """
    if estop:
        return SOURCE_STOP, 'estop'
    if state_time is None or not (now - state_time <= watchdog_timeout):
        return SOURCE_STOP, 'perception stale'
    if not goal_known:
        return SOURCE_STOP, 'no goal'
    if mode == 'mode2' and plan_time is not None:
        age = now - plan_time
        if -watchdog_timeout <= age <= plan_timeout and age < plan_len_s:
            return SOURCE_PLAN, 'fresh plan'
    if mode1_available:
        return SOURCE_MODE1, 'mode1 selected' if mode == 'mode1' else 'plan stale or absent'
    return SOURCE_STOP, 'plan stale and no mode1 policy'


def plan_step(now, plan_time, step_dt, horizon):
    """Index of the plan action to apply at `now` (plan step t covers
    [plan_time + t*step_dt, plan_time + (t+1)*step_dt)); None when past the end."""
    if step_dt <= 0 or horizon <= 0:
        return None
    i = int(math.floor(max(0.0, now - plan_time) / step_dt))
    return i if i < horizon else None
