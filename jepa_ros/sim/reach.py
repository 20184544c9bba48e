"""reach: a Franka Panda on a table moves its hand to a goal, seen by a fixed camera.

Commands are end-effector Cartesian velocities ([vx, vy, vz] / max_ee_speed, normalised);
each step turns the commanded displacement into joint targets with PyBullet IK (hand kept
pointing down, nullspace biased to a rest pose) and the joint motors move the arm through
the physics. The end effector is clamped to a workspace box. State: hand (x, y, z).
Layout, camera and colours: sim/reach.yaml.
"""
import math
import os

import gymnasium as gym
import numpy as np
import pybullet
import pybullet_data
import yaml

from jepa_ros.core import action_modes
from jepa_ros.sim.bullet import Bullet
from jepa_ros.sim.layout import asset_path

ARM_JOINTS = list(range(7))
FINGER_JOINTS = [9, 10]
HAND_LINK, EE_LINK = 8, 11  # panda_hand; panda_grasptarget (between the fingertips)
TASK_KINDS = ('any', 'far')
MAX_LEAD = 0.05  # m


class ReachEnv(gym.Env):
    metadata = {'render_modes': ['rgb_array'], 'render_fps': 10}

    def __init__(self, image_size=64, max_ee_speed=0.25, dt=0.1, substeps=10,
                 success_distance=0.03, max_episode_steps=None, render_mode='rgb_array'):
        for name, value in [('image_size', image_size), ('max_ee_speed', max_ee_speed),
                            ('dt', dt), ('substeps', substeps),
                            ('success_distance', success_distance)]:
            if not value > 0:
                raise ValueError(f'{name} must be positive, got {value!r}')
        with open(asset_path('reach.yaml')) as f:
            self.config = yaml.safe_load(f)
        self.low = np.array(self.config['workspace']['low'], dtype=np.float64)
        self.high = np.array(self.config['workspace']['high'], dtype=np.float64)
        self.image_size = int(image_size)
        self.max_ee_speed = float(max_ee_speed)
        self.dt, self.substeps = float(dt), int(substeps)
        self.success_distance = float(success_distance)
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        self.action_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.observation_space = gym.spaces.Box(0, 255, (self.image_size, self.image_size, 3),
                                                np.uint8)
        self._pb = Bullet()
        self._build_world()
        self.goal_state = (self.low + self.high) / 2
        self.goal_image = None
        self._obs = None
        self._steps = 0

    def _build_world(self):
        pb, c = self._pb, self.config
        pb.setGravity(0, 0, -9.81)
        pb.setTimeStep(self.dt / self.substeps)
        table = c['table']
        pb.createMultiBody(0, pb.createCollisionShape(pybullet.GEOM_BOX,
                                                      halfExtents=table['half_extents']),
                           pb.createVisualShape(pybullet.GEOM_BOX,
                                                halfExtents=table['half_extents'],
                                                rgbaColor=c['colours']['table'] + [1]),
                           table['centre'])
        urdf = os.path.join(pybullet_data.getDataPath(), 'franka_panda', 'panda.urdf')
        self._robot = pb.loadURDF(urdf, [0, 0, 0], useFixedBase=True,
                                  flags=pybullet.URDF_USE_INERTIA_FROM_FILE)
        colours = c['colours']
        for link in range(-1, pb.getNumJoints(self._robot)):
            colour = colours['fingers'] if link in FINGER_JOINTS else \
                colours['hand'] if link == HAND_LINK else colours['arm']
            pb.changeVisualShape(self._robot, link, rgbaColor=list(colour) + [1])
        info = [pb.getJointInfo(self._robot, j) for j in ARM_JOINTS]
        self._lower = [i[8] for i in info]
        self._upper = [i[9] for i in info]
        self._ranges = [u - lo for lo, u in zip(self._lower, self._upper)]
        self._rest = list(c['rest_joints'])
        self._down = pb.getQuaternionFromEuler([math.pi, 0, 0])  # hand pointing down
        cam = c['camera']
        self._view = pb.computeViewMatrix(cam['eye'], cam['target'], [0, 0, 1])
        self._proj = pb.computeProjectionMatrixFOV(cam['fov'], 1.0, 0.1, 5.0)

    # ---- arm -----------------------------------------------------------------------------
    def _ik(self, position):
        return self._pb.calculateInverseKinematics(
            self._robot, EE_LINK, list(position), self._down, lowerLimits=self._lower,
            upperLimits=self._upper, jointRanges=self._ranges, restPoses=self._rest,
            maxNumIterations=100, residualThreshold=1e-5)[:7]

    def _set_joints(self, joints):
        for j, q in zip(ARM_JOINTS, joints):
            self._pb.resetJointState(self._robot, j, q, 0.0)
        for j in FINGER_JOINTS:
            self._pb.resetJointState(self._robot, j, 0.02, 0.0)

    def _place(self, position):
        """Reset the arm (not a motion) so the hand is at `position`: IK from the rest pose,
        refined a few times, so the same position always gives the same arm."""
        self._set_joints(self._rest)
        for _ in range(5):
            self._set_joints(self._ik(position))
        self._hold()

    def _hold(self):
        joints = [s[0] for s in self._pb.getJointStates(self._robot, ARM_JOINTS)]
        self._drive(joints)

    def _drive(self, joints):
        self._pb.setJointMotorControlArray(
            self._robot, ARM_JOINTS, pybullet.POSITION_CONTROL, targetPositions=list(joints),
            forces=[87.0] * 4 + [12.0] * 3)
        self._pb.setJointMotorControlArray(
            self._robot, FINGER_JOINTS, pybullet.POSITION_CONTROL, targetPositions=[0.02] * 2,
            forces=[20.0] * 2)

    def _get_state(self):
        pos = self._pb.getLinkState(self._robot, EE_LINK, computeForwardKinematics=True)[4]
        return np.array(pos, dtype=np.float64)

    def _check_state(self, state, what):
        state = np.asarray(state, dtype=np.float64).reshape(-1)
        if state.shape != (3,) or not np.all(np.isfinite(state)):
            raise ValueError(f'{what} must be 3 finite numbers (x, y, z), got {state.tolist()}')
        if np.any(state < self.low - 1e-6) or np.any(state > self.high + 1e-6):
            raise ValueError(f'{what} {state.tolist()} is outside the workspace '
                             f'{self.low.tolist()}..{self.high.tolist()}')
        return state

    # ---- rendering, goals ----------------------------------------------------------------
    def _render_now(self):
        n = self.image_size
        rgba = self._pb.getCameraImage(
            n, n, self._view, self._proj, shadow=0, lightDirection=[0.5, 0.3, 1.0],
            renderer=pybullet.ER_TINY_RENDERER, flags=pybullet.ER_NO_SEGMENTATION_MASK)[2]
        return np.ascontiguousarray(np.asarray(rgba, np.uint8).reshape(n, n, 4)[:, :, :3])

    def render_state(self, state):
        """Image with the hand at `state`, leaving the episode exactly as it was."""
        state = self._check_state(state, 'state')
        saved = [s[:2] for s in self._pb.getJointStates(self._robot, ARM_JOINTS + FINGER_JOINTS)]
        self._place(state)
        image = self._render_now()
        for j, (q, dq) in zip(ARM_JOINTS + FINGER_JOINTS, saved):
            self._pb.resetJointState(self._robot, j, q, dq)
        self._hold()
        return image

    def sample_goal(self, rng=None):
        rng = rng if rng is not None else self.np_random
        return rng.uniform(self.low, self.high)

    def set_goal(self, state):
        self.goal_state = self._check_state(state, 'goal_state')
        self.goal_image = self.render_state(self.goal_state)
        return self.goal_image

    def sample_task(self, rng=None, kind='any'):
        """(start, goal) hand positions; 'far': at least half the workspace diagonal apart."""
        if kind not in TASK_KINDS:
            raise ValueError(f'task kind must be one of {TASK_KINDS}, got {kind!r}')
        rng = rng if rng is not None else self.np_random
        min_d = 0.5 * float(np.linalg.norm(self.high - self.low)) if kind == 'far' \
            else 2 * self.success_distance
        for _ in range(1000):
            start, goal = rng.uniform(self.low, self.high), rng.uniform(self.low, self.high)
            if np.linalg.norm(goal - start) >= min_d:
                return start, goal
        raise ValueError(f'could not sample a {kind} task')

    def true_distance(self, a, b):
        return float(np.linalg.norm(np.asarray(a, float)[:3] - np.asarray(b, float)[:3]))

    # ---- gym API -------------------------------------------------------------------------
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {'start_state', 'goal_state'}
        if unknown:
            raise ValueError(f'unknown reset options {sorted(unknown)}')
        start = options.get('start_state')
        start = self.sample_goal(self.np_random) if start is None else start
        goal = options.get('goal_state')
        goal = self.sample_goal(self.np_random) if goal is None else goal
        self._place(self._check_state(start, 'start_state'))
        self._target = self._get_state()
        self.set_goal(goal)
        self._steps = 0
        self._obs = self._render_now()
        return self._obs, self._info()

    def _info(self):
        state = self._get_state()
        distance = self.true_distance(state, self.goal_state)
        return {'state': state, 'goal_state': self.goal_state.copy(), 'distance': distance,
                'success': bool(distance < self.success_distance)}

    def step(self, action):
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (3,) or not np.all(np.isfinite(a)):
            raise ValueError(f'action must be 3 finite numbers, got {a.tolist()}')
        velocity = np.clip(a, -1.0, 1.0) * self.max_ee_speed
        # The target moves at the commanded speed (so the hand tracks it without lag), but
        # never runs more than MAX_LEAD ahead of the hand (so a blocked arm cannot wind up).
        hand = self._get_state()
        target = np.clip(self._target + velocity * self.dt, self.low, self.high)
        lead = target - hand
        if np.linalg.norm(lead) > MAX_LEAD:
            target = hand + lead * (MAX_LEAD / np.linalg.norm(lead))
        self._target = target
        self._drive(self._ik(target))
        for _ in range(self.substeps):
            self._pb.stepSimulation()
        self._steps += 1
        self._obs = self._render_now()
        info = self._info()
        truncated = self.max_episode_steps is not None and self._steps >= self.max_episode_steps
        return self._obs, -float(info['distance']), False, bool(truncated), info

    def data_meta(self):
        """The `jepa_ros` metadata of episodes recorded in this world (see episodes.py)."""
        mode = action_modes.REACH
        return {'world': 'reach', 'action_dim': mode.action_dim, 'action_mode': mode.name,
                'action_fields': list(mode.fields),
                'action_scale': [self.max_ee_speed] * 3, 'max_ee_speed': self.max_ee_speed,
                'cmd_msgtype': mode.cmd_msgtype,
                'state_fields': ['x', 'y', 'z'], 'dt': self.dt, 'image_size': self.image_size,
                'success_distance': self.success_distance,
                'workspace_low': self.low.tolist(), 'workspace_high': self.high.tolist()}

    def render(self):
        if self._obs is None:
            raise RuntimeError('call reset() before render()')
        return self._obs

    def close(self):
        if getattr(self, '_pb', None) is not None:
            self._pb.disconnect()
            self._pb = None
