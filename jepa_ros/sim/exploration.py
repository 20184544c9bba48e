"""Reward-free exploration: temporally correlated random actions.

White-noise actions make a robot jitter on the spot; a world model then never sees the
far side of the door. Here an Ornstein-Uhlenbeck process gives smooth wandering, and now
and then a "go straight" segment holds one strong action for a while, which is what
carries the robot across a room and through the door.
"""
import math

import numpy as np


class ExplorationPolicy:
    """`policy()` -> next normalised action in [-1, 1]^action_dim."""

    def __init__(self, action_dim, rng, theta=0.15, sigma=0.35, straight_prob=0.1,
                 straight_steps=(5, 20), straight_speed=(0.6, 1.0)):
        if int(action_dim) < 1:
            raise ValueError(f'action_dim must be >= 1, got {action_dim!r}')
        if not 0.0 <= straight_prob <= 1.0:
            raise ValueError(f'straight_prob must be in [0, 1], got {straight_prob!r}')
        self.action_dim = int(action_dim)
        self.rng = rng
        self.theta, self.sigma = float(theta), float(sigma)
        self.straight_prob = float(straight_prob)
        self.straight_steps = straight_steps
        self.straight_speed = straight_speed
        self.reset()

    def reset(self):
        self.ou = self.rng.uniform(-0.5, 0.5, self.action_dim)
        self.straight_left = 0
        self.straight_action = np.zeros(self.action_dim)

    def __call__(self, obs=None):
        if self.straight_left == 0 and self.rng.random() < self.straight_prob:
            direction = self.rng.normal(size=self.action_dim)
            direction /= np.linalg.norm(direction) + 1e-9
            speed = self.rng.uniform(*self.straight_speed)
            self.straight_action = direction * speed / np.abs(direction).max()
            self.straight_left = int(self.rng.integers(self.straight_steps[0],
                                                       self.straight_steps[1] + 1))
        # The OU state keeps evolving during a straight segment, so wandering resumes
        # smoothly from where it was.
        self.ou += -self.theta * self.ou + self.sigma * self.rng.normal(size=self.action_dim)
        if self.straight_left > 0:
            self.straight_left -= 1
            action = self.straight_action
        else:
            action = self.ou
        return np.clip(action, -1.0, 1.0).astype(np.float32)


def exploration_stats(env, episodes=20, steps=200, seed=0, grid=10):
    """Door-crossing fraction and coverage of ExplorationPolicy in a two_rooms env.

    coverage: the fraction of `grid` x `grid` cells over the arena visited by all episodes
    together (`coverage_all`) and on average by one episode (`coverage_episode`).
    """
    rng = np.random.default_rng(seed)
    layout = env.layout
    crossed, per_episode, visited_all = 0, [], set()
    for ep in range(episodes):
        _, info = env.reset(seed=seed + ep)
        policy = ExplorationPolicy(env.action_space.shape[0], rng)
        rooms, cells = {layout.room_of(info['state'])}, set()
        for _ in range(steps):
            info = env.step(policy())[4]
            x, y = info['state'][:2]
            rooms.add(layout.room_of((x, y)))
            cells.add(_cell(x, y, layout.half, grid))
        crossed += len(rooms) > 1
        per_episode.append(len(cells))
        visited_all |= cells
    return {'episodes': episodes, 'steps': steps,
            'door_crossing_fraction': crossed / episodes,
            'coverage_all': len(visited_all) / grid ** 2,
            'coverage_episode': float(np.mean(per_episode)) / grid ** 2}


def _cell(x, y, half, grid):
    i = min(int((x + half) / (2 * half) * grid), grid - 1)
    j = min(int((y + half) / (2 * half) * grid), grid - 1)
    return i, j


class DoorSeekingExplorer(ExplorationPolicy):
    """ExplorationPolicy plus, now and then, a run through a door of the current room.

    In a grid of rooms the wandering alone seldom threads a 0.5 m door (in two_rooms the
    door is wide compared with the wall; here every room has several short walls), so the
    world model would never see most rooms joined. A run drives to a point in front of a
    door of the room the robot is in, then through it to a point past it, with some noise;
    then wandering resumes. The runs steer with the simulator's ground truth (`env.state()`
    and `env.layout`: door positions); nothing of it is recorded, the data stay reward-free.

    `env`: a rooms env (jepa_ros.sim.rooms.RoomsEnv) or anything with `state()`, `layout`
    (doors_of, door_crossing, room_of), `action_mode`, `max_linear_speed`, `dt`.
    """

    def __init__(self, action_dim, rng, env, door_prob=0.04, run_steps=50, run_speed=(0.6, 1.0),
                 run_noise=0.15, beyond=(0.15, 0.6), **kwargs):
        if not 0.0 <= door_prob <= 1.0:
            raise ValueError(f'door_prob must be in [0, 1], got {door_prob!r}')
        self.env = getattr(env, 'unwrapped', env)
        self.door_prob, self.run_steps = float(door_prob), int(run_steps)
        self.run_speed, self.run_noise, self.beyond = run_speed, float(run_noise), beyond
        super().__init__(action_dim, rng, **kwargs)

    def reset(self):
        super().reset()
        self.waypoints, self.run_left, self.speed = [], 0, 0.0

    def _start_run(self):
        state = self.env.state()
        layout = self.env.layout
        room = layout.room_of(state[:2])
        doors = layout.doors_of(room)
        if not doors:
            return
        door = doors[int(self.rng.integers(len(doors)))]
        approach, through = layout.door_crossing(door, room,
                                                 beyond=float(self.rng.uniform(*self.beyond)))
        self.waypoints = [approach, through]
        self.run_left = self.run_steps
        self.speed = float(self.rng.uniform(*self.run_speed))

    def __call__(self, obs=None):
        if not self.waypoints and self.straight_left == 0 and self.rng.random() < self.door_prob:
            self._start_run()
        if not self.waypoints:
            return super().__call__(obs)
        state = self.env.state()
        # Within half a step of travel of the waypoint: go on to the next one.
        step_len = self.env.max_linear_speed * self.env.dt
        while self.waypoints and np.hypot(*(self.waypoints[0] - state[:2])) < 0.5 * step_len:
            self.waypoints.pop(0)
        self.run_left -= 1
        if not self.waypoints or self.run_left <= 0:   # arrived, or stuck: wander again
            self.waypoints = []
            return super().__call__(obs)
        self.ou += -self.theta * self.ou + self.sigma * self.rng.normal(size=self.action_dim)
        return self._steer(state, self.waypoints[0], step_len)

    def _steer(self, state, target, step_len):
        offset = np.asarray(target, dtype=np.float64) - state[:2]
        dist = float(np.hypot(*offset))
        # Full speed far away, slowing to land on the waypoint rather than overshoot it.
        speed = self.speed * min(1.0, dist / step_len)
        if self.env.action_mode == 'holonomic':
            action = offset / max(dist, 1e-9) * speed + \
                self.rng.normal(0.0, self.run_noise, 2)
        else:   # diff_drive: turn towards the waypoint, drive forward as it comes into view
            err = math.atan2(offset[1], offset[0]) - state[2]
            err = (err + math.pi) % (2 * math.pi) - math.pi
            turn = err / (self.env.max_angular_speed * self.env.dt)
            action = np.array([speed * max(math.cos(err), 0.0), turn]) + \
                self.rng.normal(0.0, self.run_noise, 2)
        return np.clip(action, -1.0, 1.0).astype(np.float32)
