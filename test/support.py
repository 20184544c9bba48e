"""Test support shared by the test modules (a support module: no tests here; test modules
import from it, never from each other).

* tiny models and checkpoints: `tiny_world_model`, `save_tiny_world_model`,
  `tiny_critic`, `tiny_actor`, `tiny_checkpoints` (world model + Mode-1 actor files);
* node processes: `NodeProc`, `ProcSet` (every process a fixture starts, stopped in its
  finaliser), `random_image`;
* synthetic episodes for world-model tests: `dot_episodes`, `render_dot` (a square moved
  by 2-D velocity commands: numpy only, a known ground truth for probes and rollouts),
  `write_episodes` (as MCAP files for the training commands);
* `REPO`: the checkout the tests run from (jepa_ros.share.source_root()).

The driving client of the stack is jepa_ros.nodes.stack_client.StackClient; launch tests
have their own helpers in launch_support.py.
"""
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np

from jepa_ros.share import source_root

REPO = source_root()
SIZE = 16          # image size of the tiny models
LATENT = 8         # latent size of the tiny models


# ---- tiny models and checkpoints ---------------------------------------------------------
def tiny_world_model(seed=0, scatter=False, image_size=SIZE, latent_dim=LATENT,
                     encoder_channels=(4, 4), predictor_hidden=16, **config):
    """A small random WorldModel (torch seeded with `seed` first unless None).

    scatter=True spreads the predictor's (and level 2's) weights (normal, std 0.5): an
    untrained predictor ignores actions (zero last layer), a scattered one does not, so
    planners have something to optimise."""
    import torch

    from jepa_ros.core.world_model import WorldModel, WorldModelConfig
    if seed is not None:
        torch.manual_seed(seed)
    model = WorldModel(WorldModelConfig(image_size=image_size, latent_dim=latent_dim,
                                        encoder_channels=list(encoder_channels),
                                        predictor_hidden=predictor_hidden, **config))
    if scatter:
        with torch.no_grad():
            for p in model.predictor.parameters():
                p.normal_(0.0, 0.5)
            if model.level2 is not None:
                for p in model.level2.parameters():
                    p.normal_(0.0, 0.5)
    return model


def save_tiny_world_model(path, **kwargs):
    """tiny_world_model(**kwargs) saved as a world_model checkpoint at `path`; the path."""
    from jepa_ros.core.checkpoint import save_checkpoint
    return str(save_checkpoint(str(path), tiny_world_model(**kwargs), kind='world_model'))


def tiny_critic(latent_dim=LATENT, seed=1):
    import torch

    from jepa_ros.core.critic import Critic, CriticConfig
    if seed is not None:
        torch.manual_seed(seed)
    return Critic(CriticConfig(latent_dim=latent_dim, hidden=16, layers=1))


def tiny_actor(latent_dim=LATENT, action_dim=2, bias=0.8):
    """A Mode-1 actor whose output bias makes it clearly move."""
    import torch

    from jepa_ros.core.actor import Actor, ActorConfig
    actor = Actor(ActorConfig(latent_dim=latent_dim, action_dim=action_dim, hidden=16,
                              layers=1))
    with torch.no_grad():
        actor.net[-1].bias.fill_(bias)
    return actor


def tiny_checkpoints(folder):
    """(world model checkpoint, Mode-1 actor checkpoint) in `folder`, tiny and random."""
    from jepa_ros.core.checkpoint import save_checkpoint
    wm = save_tiny_world_model(os.path.join(folder, 'wm.pt'), seed=3, scatter=True,
                               action_scale=[0.5, 0.5])
    ac = save_checkpoint(os.path.join(folder, 'actor.pt'), tiny_actor(), kind='actor')
    return wm, ac


def random_image(rng, stamp=None, size=SIZE):
    from jepa_ros.nodes.messages import rgb_to_image
    return rgb_to_image(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), stamp)


def sim_images(world='two_rooms', n=16, seed=0):
    """(n, 64, 64, 3) uint8 renders of the simulated `world` at the start and goal states
    of seeded tasks (real camera images for parity checks of exported encoders)."""
    from jepa_ros.sim import make_env
    env = make_env(world)
    try:
        rng = np.random.default_rng(seed)
        states = [s for _ in range((n + 1) // 2) for s in env.sample_task(rng)][:n]
        return np.stack([env.render_state(s) for s in states])
    finally:
        env.close()


# ---- node processes ----------------------------------------------------------------------
class NodeProc:
    """One node process; its merged stdout/stderr collected by a thread, with times."""

    def __init__(self, module, args=(), name=None):
        self.name = name or module.rsplit('.', 1)[-1]
        self.cmd = [sys.executable, '-m', module, '--ros-args', *args]
        self.lines = []       # (monotonic time, text)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=dict(os.environ))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.append((time.monotonic(), raw.decode(errors='replace').rstrip()))

    @property
    def output(self):
        return '\n'.join(text for _, text in self.lines)

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)
        return time.monotonic()

    def wait(self, timeout=15.0):
        """Exit code; kill -9 after `timeout` (then the code is -9)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.reader.join(timeout=5)
        return self.proc.returncode

    def stop(self):
        if self.alive():
            self.signal(signal.SIGINT)
        return self.wait()


class ProcSet:
    """Every process a fixture starts; all stopped in the finaliser, even on failure."""

    def __init__(self):
        self.procs = []

    def start(self, module, args=(), name=None):
        p = NodeProc(module, args, name)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            if p.alive():
                p.signal(signal.SIGINT)
        for p in self.procs:
            p.wait()


# ---- synthetic episodes --------------------------------------------------------------------
def render_dot(xy, size=64, half=4):
    img = np.full((size, size, 3), 30, np.uint8)
    img[:, :size // 2, 2] = 90  # two differently coloured halves: context that never moves
    cx, cy = (np.asarray(xy) * (size - 2 * half) + half).astype(int)
    img[max(cy - half, 0):cy + half, max(cx - half, 0):cx + half] = (240, 200, 40)
    return img


def write_episodes(folder, episodes, world='dots'):
    """`episodes` written as MCAP files ep000.mcap, ep001.mcap, ... into `folder` (made,
    with the metadata `jepa-ros train` needs); the folder as a string."""
    from jepa_ros.data.episodes import write_episode
    os.makedirs(folder, exist_ok=True)
    meta = {'world': world, 'action_fields': ['linear.x', 'linear.y'],
            'action_scale': [0.5, 0.5], 'state_fields': ['x', 'y'], 'dt': 0.1}
    for i, ep in enumerate(episodes):
        write_episode(os.path.join(folder, f'ep{i:03d}.mcap'), ep.images, ep.actions,
                      ep.states, meta)
    return str(folder)


def dot_episodes(n_episodes=8, length=30, seed=0, speed=0.06, push_prob=0.0, size=64):
    """Correlated random walks; with push_prob the square sometimes jumps (stochastic)."""
    from jepa_ros.data.episodes import Episode
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


def call_trigger(node, name, timeout=10.0):
    """The response of std_srvs/Trigger service `name`, called from `node` (spun here);
    fails the test when the service is missing or does not answer within `timeout`."""
    import rclpy
    from std_srvs.srv import Trigger
    client = node.create_client(Trigger, name)
    try:
        assert client.wait_for_service(timeout_sec=timeout), f'{name} not available'
        future = client.call_async(Trigger.Request())
        rclpy.spin_until_future_complete(node, future, timeout_sec=timeout)
        assert future.done(), f'{name} did not answer'
        return future.result()
    finally:
        node.destroy_client(client)
