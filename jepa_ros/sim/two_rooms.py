"""two_rooms: a robot in two rooms joined by a door, seen by a fixed top-down camera.

PyBullet (DIRECT, TinyRenderer) with primitive shapes only, so one core steps and renders
well over 500 frames/s at 64x64. The robot is a cylinder moved by velocities through the
physics (never teleported), so walls stop it. Layout and colours: sim/two_rooms.yaml.

Actions are normalised to [-1, 1]^2: holonomic [vx, vy] / max_linear_speed (world frame,
the heading stays 0), or differential drive [v / max_linear_speed, w / max_angular_speed].
State: (x, y, yaw). Reward (for evaluation only) is minus the geodesic distance to the goal.
"""
import math

import gymnasium as gym
import numpy as np
import pybullet

from jepa_ros.core import action_modes
from jepa_ros.sim.bullet import Bullet
from jepa_ros.sim.layout import TwoRoomsLayout

ACTION_MODES = action_modes.WORLD_MODES['two_rooms']


class TwoRoomsEnv(gym.Env):
    metadata = {'render_modes': ['rgb_array'], 'render_fps': 10}

    def __init__(self, image_size=64, action_mode='holonomic', max_linear_speed=1.5,
                 max_angular_speed=2.0, dt=0.1, substeps=10, success_distance=0.2,
                 push_prob=0.0, push_scale=0.3, door_block_prob=0.0, max_episode_steps=None,
                 render_mode='rgb_array', layout=None):
        try:  # legacy names ('differential') read as their canonical mode
            mode = action_modes.for_world('two_rooms', action_mode)
        except ValueError as exc:
            raise ValueError(f'action_mode: {exc}') from None
        for name, value in [('image_size', image_size), ('max_linear_speed', max_linear_speed),
                            ('max_angular_speed', max_angular_speed), ('dt', dt),
                            ('substeps', substeps), ('success_distance', success_distance)]:
            if not value > 0:
                raise ValueError(f'{name} must be positive, got {value!r}')
        for name, value in [('push_prob', push_prob), ('door_block_prob', door_block_prob)]:
            if not 0.0 <= value <= 1.0:
                raise ValueError(f'{name} must be in [0, 1], got {value!r}')
        if push_scale < 0:
            raise ValueError(f'push_scale must be >= 0, got {push_scale!r}')
        self.layout = layout or TwoRoomsLayout()
        self.image_size = int(image_size)
        self.mode = mode
        self.action_mode = mode.name
        self.max_linear_speed = float(max_linear_speed)
        self.max_angular_speed = float(max_angular_speed)
        self.dt, self.substeps = float(dt), int(substeps)
        self.success_distance = float(success_distance)
        self.push_prob, self.push_scale = float(push_prob), float(push_scale)
        self.door_block_prob = float(door_block_prob)
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        self.action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = gym.spaces.Box(0, 255, (self.image_size, self.image_size, 3),
                                                np.uint8)
        self._pb = Bullet()
        self._build_world()
        self.door_open = True
        self.goal_state = np.zeros(3)
        self.goal_image = None
        self._obs = None
        self._steps = 0

    # ---- world ---------------------------------------------------------------------------
    def _box(self, half_extents, position, colour, collide=True):
        pb = self._pb
        vis = pb.createVisualShape(pybullet.GEOM_BOX, halfExtents=half_extents,
                                   rgbaColor=list(colour) + [1])
        col = pb.createCollisionShape(pybullet.GEOM_BOX, halfExtents=half_extents) \
            if collide else -1
        return pb.createMultiBody(0, col, vis, position)

    def _build_world(self):
        pb, lay, c = self._pb, self.layout, self.layout.config
        colours = c['colours']
        pb.setGravity(0, 0, 0)  # planar world: the robot glides, walls alone constrain it
        pb.setTimeStep(self.dt / self.substeps)
        h, t, wh = lay.half, lay.wall_t, float(c['wall_height']) / 2
        dx = lay.divider_x
        # Floors are visual only (no gravity, nothing to stand on): one colour per room.
        self._box([(dx + h) / 2, h, 0.005], [(dx - h) / 2, 0, -0.005], colours['left_floor'],
                  collide=False)
        self._box([(h - dx) / 2, h, 0.005], [(dx + h) / 2, 0, -0.005], colours['right_floor'],
                  collide=False)
        o = h + t / 2
        for pos, ext in [([0, o, wh], [h + t, t / 2, wh]), ([0, -o, wh], [h + t, t / 2, wh]),
                         ([o, 0, wh], [t / 2, h + t, wh]), ([-o, 0, wh], [t / 2, h + t, wh])]:
            self._box(ext, pos, colours['wall'])
        seg = (h - lay.door_half) / 2  # the divider: two segments either side of the door
        for sign in (1, -1):
            self._box([t / 2, seg, wh], [dx, sign * (lay.door_half + seg), wh], colours['wall'])
        self._door_pos = [dx, 0, wh]
        self._door_away = [dx, 0, -10.0]  # parked below the floor when the door is open
        self._door_block = self._box([t / 2, lay.door_half, wh], self._door_away,
                                     colours['door_block'])
        self._add_robot(0.0, 0.0)
        self._add_camera(h + t)

    def _add_robot(self, x, y):
        """The robot: a cylinder with a flat heading bar on top, pointing along +x of its
        frame, at (x, y)."""
        pb, lay, c = self._pb, self.layout, self.layout.config
        colours = c['colours']
        r, rh = lay.radius, float(c['robot_height']) / 2
        body_vis = pb.createVisualShape(pybullet.GEOM_CYLINDER, radius=r, length=2 * rh,
                                        rgbaColor=list(colours['robot']) + [1])
        body_col = pb.createCollisionShape(pybullet.GEOM_CYLINDER, radius=r, height=2 * rh)
        bar_vis = pb.createVisualShape(pybullet.GEOM_BOX, halfExtents=[r * 0.5, r * 0.3, 0.01],
                                       rgbaColor=list(colours['heading']) + [1])
        self._z = rh
        self._robot = pb.createMultiBody(
            baseMass=1.0, baseCollisionShapeIndex=body_col, baseVisualShapeIndex=body_vis,
            basePosition=[x, y, rh], linkMasses=[0], linkCollisionShapeIndices=[-1],
            linkVisualShapeIndices=[bar_vis], linkPositions=[[r * 0.5, 0, rh + 0.01]],
            linkOrientations=[[0, 0, 0, 1]], linkInertialFramePositions=[[0, 0, 0]],
            linkInertialFrameOrientations=[[0, 0, 0, 1]], linkParentIndices=[0],
            linkJointTypes=[pybullet.JOINT_FIXED], linkJointAxis=[[0, 0, 1]])
        pb.changeDynamics(self._robot, -1, lateralFriction=0.0, restitution=0.0,
                          linearDamping=0.0, angularDamping=0.0)

    def _add_camera(self, extent):
        """Top-down camera seeing +-extent around the origin. TinyRenderer ignores
        orthographic projections, so: a narrow field of view from high up (nearly
        orthographic; the wall tops lean out by under a pixel at 64x64)."""
        fov = 20.0
        height = extent / math.tan(math.radians(fov / 2))
        self._view = self._pb.computeViewMatrix([0, 0, height], [0, 0, 0], [0, 1, 0])
        self._proj = self._pb.computeProjectionMatrixFOV(fov, 1.0, height - 1.0,
                                                         height + 1.0)

    # ---- state ---------------------------------------------------------------------------
    def _get_state(self):
        pos, orn = self._pb.getBasePositionAndOrientation(self._robot)
        yaw = self._pb.getEulerFromQuaternion(orn)[2]
        return np.array([pos[0], pos[1], yaw], dtype=np.float64)

    def _put(self, state):
        x, y = float(state[0]), float(state[1])
        yaw = float(state[2]) if len(state) > 2 else 0.0
        self._pb.resetBasePositionAndOrientation(
            self._robot, [x, y, self._z], self._pb.getQuaternionFromEuler([0, 0, yaw]))
        self._pb.resetBaseVelocity(self._robot, [0, 0, 0], [0, 0, 0])

    def _check_state(self, state, what):
        state = np.asarray(state, dtype=np.float64).reshape(-1)
        if state.size not in (2, 3) or not np.all(np.isfinite(state)):
            raise ValueError(f'{what} must be finite (x, y[, yaw]), got {state.tolist()}')
        # 5 mm of slack: contacts leave a resting robot a fraction of a millimetre inside a
        # wall, and states the simulator itself produced must render.
        if not self.layout.is_free(state[:2], tol=5e-3):
            raise ValueError(f'{what} {state[:2].tolist()} is inside a wall or outside the '
                             'arena')
        if state.size == 2 or self.action_mode == 'holonomic':
            state = np.array([state[0], state[1], 0.0])  # holonomic robots never turn
        return state

    def render_state(self, state):
        """Image of the robot at `state`, leaving the episode exactly as it was."""
        state = self._check_state(state, 'state')
        pos, orn = self._pb.getBasePositionAndOrientation(self._robot)
        lin, ang = self._pb.getBaseVelocity(self._robot)
        self._put(state)
        image = self._render_now()
        self._pb.resetBasePositionAndOrientation(self._robot, pos, orn)
        self._pb.resetBaseVelocity(self._robot, lin, ang)
        return image

    def _render_now(self):
        n = self.image_size
        _, _, rgba, _, _ = self._pb.getCameraImage(
            n, n, self._view, self._proj, shadow=0, lightDirection=[0, 0, 1],
            renderer=pybullet.ER_TINY_RENDERER, flags=pybullet.ER_NO_SEGMENTATION_MASK)
        return np.ascontiguousarray(np.asarray(rgba, np.uint8).reshape(n, n, 4)[:, :, :3])

    # ---- goals and tasks -----------------------------------------------------------------
    def sample_goal(self, rng=None):
        rng = rng if rng is not None else self.np_random
        state = self._get_state()
        room = None if self.door_open else self.layout.room_of(state)
        xy = self.layout.sample_position(rng, room)
        yaw = 0.0 if self.action_mode == 'holonomic' else rng.uniform(-math.pi, math.pi)
        return np.array([xy[0], xy[1], yaw])

    def set_goal(self, state):
        """Make `state` the goal; returns (and keeps in `goal_image`) its image."""
        self.goal_state = self._check_state(state, 'goal_state')
        self.goal_image = self.render_state(self.goal_state)
        return self.goal_image

    def sample_task(self, rng=None, kind='any'):
        """(start_state, goal_state) of a task kind: any, same_room, cross_room, cross_far."""
        rng = rng if rng is not None else self.np_random
        start, goal = self.layout.sample_task(rng, kind, min_distance=self.success_distance * 2)
        yaws = [0.0, 0.0] if self.action_mode == 'holonomic' else rng.uniform(-math.pi,
                                                                                math.pi, 2)
        return np.append(start, yaws[0]), np.append(goal, yaws[1])

    def true_distance(self, a, b):
        return self.layout.true_distance(a, b, door_open=self.door_open)

    # ---- gym API -------------------------------------------------------------------------
    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {'start_state', 'goal_state', 'door_open'}
        if unknown:
            raise ValueError(f'unknown reset options {sorted(unknown)}')
        if 'door_open' in options:
            self.door_open = bool(options['door_open'])
        else:
            self.door_open = not (self.np_random.random() < self.door_block_prob)
        self._pb.resetBasePositionAndOrientation(
            self._door_block, self._door_away if self.door_open else self._door_pos, [0, 0, 0, 1])
        if 'start_state' in options:
            start = self._check_state(options['start_state'], 'start_state')
        else:
            xy = self.layout.sample_position(self.np_random)
            yaw = 0.0 if self.action_mode == 'holonomic' else \
                self.np_random.uniform(-math.pi, math.pi)
            start = np.array([xy[0], xy[1], yaw])
        self._put(start)
        goal = options.get('goal_state')
        self.set_goal(goal if goal is not None else self.sample_goal(self.np_random))
        self._steps = 0
        self._obs = self._render_now()
        return self._obs, self._info()

    def _info(self):
        state = self._get_state()
        distance = self.true_distance(state, self.goal_state)
        return {'state': state, 'goal_state': self.goal_state.copy(), 'distance': distance,
                'success': bool(distance < self.success_distance),
                'door_open': self.door_open}

    def action_to_velocity(self, action):
        """Normalised action -> (vx, vy, wz) in the world frame for the current heading."""
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (2,) or not np.all(np.isfinite(a)):
            raise ValueError(f'action must be 2 finite numbers, got {a.tolist()}')
        a = np.clip(a, -1.0, 1.0)
        if self.action_mode == 'holonomic':
            return a[0] * self.max_linear_speed, a[1] * self.max_linear_speed, 0.0
        yaw = self._get_state()[2]
        v = a[0] * self.max_linear_speed
        return v * math.cos(yaw), v * math.sin(yaw), a[1] * self.max_angular_speed

    def step(self, action):
        self.action_to_velocity(action)  # validates before anything moves
        push = np.zeros(2)
        if self.push_prob > 0 and self.np_random.random() < self.push_prob:
            # An unobserved shove: the stochastic part the world model's z has to capture.
            push = self.np_random.normal(0.0, self.push_scale, 2)
        for _ in range(self.substeps):
            # Recomputed each substep so a turning differential-drive robot follows its arc.
            vx, vy, wz = self.action_to_velocity(action)
            v = self._slide_along_contacts(np.array([vx + push[0], vy + push[1]]))
            self._pb.resetBaseVelocity(self._robot, [v[0], v[1], 0.0], [0.0, 0.0, wz])
            self._pb.stepSimulation()
        self._keep_planar()
        self._steps += 1
        self._obs = self._render_now()
        info = self._info()
        truncated = self.max_episode_steps is not None and self._steps >= self.max_episode_steps
        reward = -min(info['distance'], 10.0)  # finite even when the door is blocked
        return self._obs, float(reward), False, bool(truncated), info

    def _slide_along_contacts(self, v):
        """Remove the part of the planar velocity that drives into a touching wall.

        Setting the base velocity every substep overrides the contact solver's impulse, so
        without this a fast robot sinks into walls; with it the robot stops at the wall and
        slides along it, as a real base does.
        """
        for c in self._pb.getContactPoints(bodyA=self._robot):
            n = np.asarray(c[7][:2], dtype=np.float64)  # normal on the wall, towards the robot
            norm = np.linalg.norm(n)
            if norm < 1e-9:
                continue
            n /= norm
            into = float(v @ n)
            if into < 0.0:
                v = v - into * n
        return v

    def _keep_planar(self):
        """Undo numerical drift out of the plane (height, tilt) left by wall contacts."""
        x, y, yaw = self._get_state()
        pos, orn = self._pb.getBasePositionAndOrientation(self._robot)
        roll, pitch, _ = self._pb.getEulerFromQuaternion(orn)
        if self.action_mode == 'holonomic':
            yaw = 0.0  # contacts must not turn a robot that has no way to turn back
        if abs(pos[2] - self._z) > 1e-4 or max(abs(roll), abs(pitch)) > 1e-4 or \
                (self.action_mode == 'holonomic' and self._get_state()[2] != 0.0):
            self._pb.resetBasePositionAndOrientation(
                self._robot, [x, y, self._z], self._pb.getQuaternionFromEuler([0, 0, yaw]))

    def data_meta(self):
        """The `jepa_ros` metadata of episodes recorded in this world (see episodes.py)."""
        holonomic = self.action_mode == 'holonomic'
        return {'world': 'two_rooms', 'action_dim': self.mode.action_dim,
                'action_mode': self.mode.name, 'action_fields': list(self.mode.fields),
                'action_scale': [self.max_linear_speed] * 2 if holonomic
                else [self.max_linear_speed, self.max_angular_speed],
                'max_linear_speed': self.max_linear_speed,
                'max_angular_speed': self.max_angular_speed,
                'cmd_msgtype': self.mode.cmd_msgtype, 'state_fields': ['x', 'y', 'yaw'],
                'dt': self.dt, 'image_size': self.image_size,
                'success_distance': self.success_distance, 'push_prob': self.push_prob,
                'push_scale': self.push_scale, 'door_block_prob': self.door_block_prob}

    def render(self):
        if self._obs is None:
            raise RuntimeError('call reset() before render()')
        return self._obs

    def close(self):
        if getattr(self, '_pb', None) is not None:
            self._pb.disconnect()
            self._pb = None
