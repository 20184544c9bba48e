"""SimStepper: a jepa_ros.sim world stepped under physical velocity commands.

What a robot driver does between a velocity topic and the motors, without ROS: commands in
physical units are checked against the world's action mode (fields it can actuate, finite,
within the max speeds plus a tolerance) and scaled to the env's normalised action; a
watchdog stops the robot when commands stop coming; goals are sampled from a stream of
their own; ground-truth goal status judges the current goal. `jepa_ros.nodes.sim_bridge`
puts it on ROS topics and services; the latency benchmark and tests drive it directly.
"""
import threading
import time

import numpy as np

from jepa_ros.core import action_modes

WORLDS = tuple(action_modes.WORLD_MODES)
# Worlds with a mobile base, whose drive (holonomic or diff_drive) is chosen.
DRIVEN_WORLDS = ('two_rooms', 'rooms')


class CommandError(ValueError):
    """A velocity command the bridge refuses; `kind` is nonfinite/malformed/over_range."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind


def env_attr(env, names, default=None):
    """First attribute among `names` found on the env (or its unwrapped env)."""
    for obj in (env, getattr(env, 'unwrapped', None)):
        if obj is None:
            continue
        for n in names:
            v = getattr(obj, n, None)
            if v is not None:
                return v
    return default


class SimStepper:
    """Steps a jepa_ros.sim env under velocity commands with a command watchdog.

    Thread-safe: every env access holds `self.lock` (PyBullet is not thread-safe).
    Times passed in are wall seconds (time.monotonic()), used only for the watchdog.
    """

    def __init__(self, world='two_rooms', seed=0, cmd_timeout=0.5, drive='holonomic',
                 image_size=64, control_rate=10.0, physics_rate=100.0,
                 over_range_tolerance=0.01, env=None, env_kwargs=None):
        if world not in WORLDS:
            raise ValueError(f'unknown world {world!r} (want one of {WORLDS})')
        self.world = world
        self.lock = threading.RLock()
        if env is None:
            from jepa_ros.sim import make_env
            kw = dict(env_kwargs or {})
            kw.setdefault('image_size', int(image_size))
            kw.setdefault('dt', 1.0 / float(control_rate))
            kw.setdefault('substeps', max(1, int(round(float(physics_rate) / control_rate))))
            if world in DRIVEN_WORLDS:
                kw.setdefault('action_mode', drive)
            env = make_env(world, **kw)
        self.env = env
        self.dt = float(env_attr(env, ('dt',), 1.0 / float(control_rate)))
        if world in DRIVEN_WORLDS:
            drive = str(env_attr(env, ('action_mode',), drive))
        # What a command means (fields, message type) is the world's action mode.
        self.mode = action_modes.for_world(world, drive if world in DRIVEN_WORLDS else None)
        self.drive = self.mode.name
        self.action_dim = int(np.prod(env.action_space.shape))
        self.scales = self._scales()
        self.cmd_timeout = float(cmd_timeout)
        self.tolerance = float(over_range_tolerance)
        # Goals get a stream of their own: default_rng(seed) is the stream env.reset(seed)
        # draws the start from, so the first reach goal was the start itself.
        self.rng = np.random.default_rng([int(seed), 1])
        self.seed = int(seed)
        self.zero = np.zeros(self.action_dim, dtype=np.float32)
        self.action = self.zero.copy()      # normalised action applied at the next step
        self.last_cmd_time = None           # wall time of the last accepted command
        self.stopped_by_watchdog = True
        self.counts = {'accepted': 0, 'nonfinite': 0, 'malformed': 0, 'over_range': 0,
                       'watchdog_stops': 0, 'steps': 0, 'resets': 0, 'goals': 0}
        self.sim_time = 0.0
        self.goal_state = None
        self.goal_image = None
        self.obs, self.info = None, {}
        self.reset(seed=self.seed)

    def _scales(self):
        env = self.env
        if self.world == 'reach':
            s = float(env_attr(env, ('max_ee_speed',), 0.2))
            return np.full(3, s, dtype=np.float64)
        lin = float(env_attr(env, ('max_linear_speed', 'max_speed'), 1.5))
        if self.mode is action_modes.DIFF_DRIVE:
            ang = float(env_attr(env, ('max_angular_speed',), 2.0))
            return np.array([lin, ang], dtype=np.float64)
        return np.array([lin, lin], dtype=np.float64)

    def metadata(self):
        """The `jepa_ros` metadata (see jepa_ros.data.episodes) describing this world."""
        data_meta = getattr(self.env.unwrapped, 'data_meta', None)
        if callable(data_meta):
            return dict(data_meta())
        state_fields = ['x', 'y', 'z'] if self.world == 'reach' else ['x', 'y', 'yaw']
        return {'world': self.world, 'action_dim': self.mode.action_dim,
                'action_mode': self.mode.name, 'action_fields': list(self.mode.fields),
                'action_scale': [float(s) for s in self.scales], 'state_fields': state_fields,
                'dt': self.dt, 'cmd_msgtype': self.mode.cmd_msgtype}

    # ---- commands --------------------------------------------------------------------
    def twist_to_action(self, linear, angular):
        """(linear xyz, angular xyz) physical -> normalised action; raises CommandError."""
        lin = np.asarray(linear, dtype=np.float64).reshape(-1)
        ang = np.asarray(angular, dtype=np.float64).reshape(-1)
        if lin.shape != (3,) or ang.shape != (3,):
            raise CommandError('malformed', f'linear/angular must have 3 components, '
                                            f'got {lin.shape} {ang.shape}')
        if not (np.all(np.isfinite(lin)) and np.all(np.isfinite(ang))):
            raise CommandError('nonfinite', f'non-finite command linear={lin.tolist()} '
                                            f'angular={ang.tolist()}')
        vec = np.concatenate([lin, ang])
        used_idx = list(self.mode.field_indices)
        unused_idx = [i for i in range(6) if i not in used_idx]
        used, unused = vec[used_idx], vec[unused_idx]
        if np.any(np.abs(unused) > 1e-9):
            names = [action_modes.COMMAND_FIELDS[i] for i in unused_idx]
            raise CommandError('malformed', f'{self.world}/{self.mode.name} cannot actuate '
                                            f'{", ".join(names)}: got {unused.tolist()}')
        action = used / self.scales
        if np.any(np.abs(action) > 1.0 + self.tolerance):
            raise CommandError('over_range', f'command {used.tolist()} exceeds max speeds '
                                             f'{self.scales.tolist()}')
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def set_action(self, action, now=None):
        """Accept a normalised action (validated); `now` = wall time for the watchdog."""
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (self.action_dim,):
            raise CommandError('malformed', f'action needs {self.action_dim} components, '
                                            f'got {a.shape}')
        if not np.all(np.isfinite(a)):
            raise CommandError('nonfinite', f'non-finite action {a.tolist()}')
        if np.any(np.abs(a) > 1.0 + self.tolerance):
            raise CommandError('over_range', f'action {a.tolist()} outside [-1, 1]')
        with self.lock:
            self.action = np.clip(a, -1.0, 1.0).astype(np.float32)
            self.last_cmd_time = time.monotonic() if now is None else now
            self.stopped_by_watchdog = False
            self.counts['accepted'] += 1

    def command(self, linear, angular, now=None):
        """Validate and apply a Twist-like command; counts the rejection and re-raises."""
        try:
            action = self.twist_to_action(linear, angular)
        except CommandError as exc:
            self.counts[exc.kind] += 1
            raise
        self.set_action(action, now)
        return action

    def applied_velocity(self):
        """The physical velocity the current action asks for, per action component."""
        return self.action * self.scales

    # ---- stepping --------------------------------------------------------------------
    def watchdog(self, now=None):
        """Zero the action if the last command is older than cmd_timeout. True if stopped."""
        now = time.monotonic() if now is None else now
        with self.lock:
            if self.stopped_by_watchdog:
                return True
            if self.last_cmd_time is None or now - self.last_cmd_time > self.cmd_timeout:
                self.action = self.zero.copy()
                self.stopped_by_watchdog = True
                self.counts['watchdog_stops'] += 1
                return True
            return False

    def step(self, now=None):
        """One control step of dt simulated seconds. Returns (obs, info)."""
        self.watchdog(now)
        with self.lock:
            obs, _reward, terminated, truncated, info = self.env.step(self.action.copy())
            self.sim_time += self.dt
            self.counts['steps'] += 1
            self.obs, self.info = obs, info
            # A world that ends its episode (e.g. a time limit) keeps running for ROS:
            # the pose continues, the goal stays.
            if truncated and not terminated:
                pass
            return obs, info

    def reset(self, seed=None, layout_seed=None):
        """A new episode (start drawn from `seed`, or from this stepper's stream); in the
        rooms world `layout_seed` also rebuilds the walls and doors first."""
        with self.lock:
            if seed is None:
                seed = int(self.rng.integers(0, 2**31 - 1))
            options = None if layout_seed is None else {'layout_seed': int(layout_seed)}
            self.obs, self.info = self.env.reset(seed=int(seed), options=options)
            self.action = self.zero.copy()
            self.stopped_by_watchdog = True
            self.goal_state = None
            self.goal_image = None
            self.counts['resets'] += 1
            return self.obs, self.info

    def sample_goal(self):
        """Sample a goal state, set it in the env; returns (goal_state, goal_image)."""
        with self.lock:
            state = self.env.unwrapped.sample_goal(self.rng)
            image = self.env.unwrapped.set_goal(state)
            self.goal_state = np.asarray(state, dtype=np.float64).reshape(-1)
            self.goal_image = np.ascontiguousarray(image, dtype=np.uint8)
            self.counts['goals'] += 1
            return self.goal_state.copy(), self.goal_image

    def state(self):
        with self.lock:
            s = self.info.get('state') if self.info else None
            return None if s is None else np.asarray(s, dtype=np.float64).reshape(-1)

    def goal_status(self):
        """Ground truth: {'has_goal', 'reached', 'distance', 'state', 'goal_state'}."""
        with self.lock:
            state = self.state()
            has_goal = self.goal_state is not None
            distance = None
            reached = False
            if has_goal and state is not None:
                env = self.env.unwrapped
                if hasattr(env, 'true_distance'):
                    distance = float(env.true_distance(state, self.goal_state))
                else:
                    distance = float(np.linalg.norm(state[:len(self.goal_state)] -
                                                    self.goal_state))
                # From the distance now, not the last step's info: right after a new goal
                # that info still judges the previous one.
                tol = float(env_attr(env, ('success_distance', 'goal_tolerance'), 0.2))
                reached = distance < tol
            return {'has_goal': has_goal, 'reached': reached, 'distance': distance,
                    'state': None if state is None else state.tolist(),
                    'goal_state': None if not has_goal else self.goal_state.tolist(),
                    'sim_time': self.sim_time}

    def joint_state(self):
        """(names, positions) of the arm joints, or None for worlds without joints."""
        with self.lock:
            env = self.env.unwrapped
            for name in ('joint_state', 'joint_states', 'get_joint_state'):
                fn = getattr(env, name, None)
                if callable(fn):
                    out = fn()
                    if out is not None:
                        names, pos = out[0], out[1]
                        return list(names), [float(p) for p in pos]
            pb, robot = getattr(env, '_pb', None), getattr(env, '_robot', None)
            if pb is not None and robot is not None:  # reach: read the arm from PyBullet
                import importlib
                joints = getattr(importlib.import_module(type(env).__module__),
                                 'ARM_JOINTS', range(pb.getNumJoints(robot)))
                names = [pb.getJointInfo(robot, j)[1].decode() for j in joints]
                return names, [float(s[0]) for s in pb.getJointStates(robot, list(joints))]
            q = self.info.get('joint_positions') if self.info else None
            if q is not None:
                names = self.info.get('joint_names') or [f'joint{i + 1}' for i in range(len(q))]
                return list(names), [float(p) for p in q]
            return None

    def close(self):
        with self.lock:
            try:
                self.env.close()
            except Exception:  # closing twice or a dead physics server is harmless
                pass
