"""Synthetic episodes for world-model tests: a square moved by 2-D velocity commands.

Small and fast (numpy only) so the tests do not depend on the simulator; the state is the
square's (x, y) in [0, 1], so probes and rollouts have a known ground truth.
"""
import numpy as np

from jepa_ros.data.episodes import Episode


def render_dot(xy, size=64, half=4):
    img = np.full((size, size, 3), 30, np.uint8)
    img[:, :size // 2, 2] = 90  # two differently coloured halves: context that never moves
    cx, cy = (np.asarray(xy) * (size - 2 * half) + half).astype(int)
    img[max(cy - half, 0):cy + half, max(cx - half, 0):cx + half] = (240, 200, 40)
    return img


def dot_episodes(n_episodes=8, length=30, seed=0, speed=0.06, push_prob=0.0, size=64):
    """Correlated random walks; with push_prob the square sometimes jumps (stochastic)."""
    rng = np.random.default_rng(seed)
    eps = []
    for _ in range(n_episodes):
        xy = rng.uniform(0.1, 0.9, 2)
        a = rng.uniform(-1, 1, 2)
        images, actions, states = [], [], []
        for _ in range(length):
            a = np.clip(0.8 * a + 0.5 * rng.normal(size=2), -1, 1)
            images.append(render_dot(xy, size))
            states.append(xy.copy())
            actions.append(a.copy())
            xy = np.clip(xy + speed * a, 0, 1)
            if push_prob and rng.random() < push_prob:
                xy = np.clip(xy + np.array([0.15, 0.0]), 0, 1)
        eps.append(Episode(images=np.stack(images), actions=np.asarray(actions, np.float32),
                           states=np.asarray(states, np.float32),
                           meta={'world': 'dots', 'action_scale': [0.5, 0.5]}))
    return eps
