"""Reward-free exploration: temporally correlated random actions.

White-noise actions make a robot jitter on the spot; a world model then never sees the
far side of the door. Here an Ornstein-Uhlenbeck process gives smooth wandering, and now
and then a "go straight" segment holds one strong action for a while, which is what
carries the robot across a room and through the door.
"""
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
