"""Critic: learns shortest-path steps from random-walk episodes (better than hindsight)."""
import pytest
import torch

from jepa_ros.core.checkpoint import load_checkpoint, save_checkpoint
from jepa_ros.core.cost import IntrinsicCost
from jepa_ros.core.critic import (Critic, CriticConfig, CriticTrainConfig, load_critic,
                                  train_critic)
from support import save_tiny_world_model

STEP = 0.25


class LineModel:
    """1-D integrator: latent = position, s' = s + STEP * a."""
    action_dim = 1

    def rollout(self, s0, actions):
        return s0.unsqueeze(1) + STEP * torch.cumsum(actions, dim=1)


def random_walks(n=20, length=150, seed=0):
    g = torch.Generator().manual_seed(seed)
    eps = []
    for _ in range(n):
        a = torch.rand(length, 1, generator=g) * 2 - 1
        z = torch.cat([torch.zeros(1, 1), STEP * torch.cumsum(a[:-1], 0)])
        eps.append((z, a))
    return eps


@pytest.fixture(scope='module')
def trained():
    torch.manual_seed(0)
    eps = random_walks()
    critic, stats = train_critic(eps, LineModel(), CriticConfig(latent_dim=1, hidden=64,
                                                                layers=2, step_scale=20.0),
                                 CriticTrainConfig(steps=1500, batch_size=256, lr=2e-3,
                                                   td_start=200, max_offset=149))
    return critic, eps, stats


def test_critic_beats_hindsight_steps_of_a_random_walk(trained):
    critic, eps, stats = trained
    z, _ = eps[0]
    t = torch.arange(0, 100, 3)
    k = torch.full_like(t, 40)
    s, g = z[t], z[t + k]
    true_steps = ((g - s).abs() / STEP).squeeze(1)
    with torch.no_grad():
        pred = critic(s, g)
    err_critic = (pred - true_steps).abs().mean()
    err_hindsight = (k.float() - true_steps).abs().mean()
    assert err_critic < 0.35 * err_hindsight, (err_critic, err_hindsight)
    assert stats['steps'] == 1500


def test_critic_orders_distances_and_is_zero_at_the_goal(trained):
    critic, _, _ = trained
    goal = torch.zeros(1, 1)
    starts = torch.tensor([[0.0], [0.5], [1.0], [2.0], [-2.0]])
    with torch.no_grad():
        v = critic(starts, goal.expand(5, 1))
    assert v[0] < 3.0           # 0.5 away is 2 steps: the goal itself must score lower
    assert v[0] < v[1] < v[2] < v[3]
    assert (v >= 0).all()


def test_checkpoint_round_trip_and_cost_term(tmp_path, trained):
    critic, _, _ = trained
    path = save_checkpoint(tmp_path / 'critic.pt', critic, {'note': 'test'})
    loaded, extra = load_critic(path)
    x, g = torch.randn(4, 1), torch.randn(4, 1)
    with torch.no_grad():
        assert torch.allclose(loaded(x, g), critic(x, g))
    assert extra['note'] == 'test'
    with pytest.raises(Exception):
        load_checkpoint(path, kind='world_model')
    cost = IntrinsicCost({'goal': (0.0, False), 'critic': (1.0, True)}, critic=loaded)
    with torch.no_grad():
        c = cost(torch.tensor([[[0.0], [0.1]], [[0.0], [2.0]]]), torch.zeros(2, 2, 1),
                 torch.zeros(1))
    assert c[0] < c[1]


def test_bad_inputs():
    with pytest.raises(ValueError):
        train_critic([], LineModel())
    with pytest.raises(ValueError):
        train_critic(random_walks(2, 10), LineModel(), CriticConfig(latent_dim=3))
    assert Critic(CriticConfig(latent_dim=4))(torch.zeros(2, 4), torch.zeros(4)).shape == (2,)


def test_train_critic_command(tmp_path):
    import numpy as np

    from jepa_ros import cli
    from jepa_ros.data.episodes import write_episode
    rng = np.random.default_rng(0)
    (tmp_path / 'data').mkdir()
    meta = {'world': 'two_rooms', 'action_fields': ['linear.x', 'linear.y'],
            'action_scale': [0.6, 0.6], 'dt': 0.1}
    for i in range(2):
        write_episode(tmp_path / 'data' / f'ep{i}.mcap',
                      rng.integers(0, 255, (12, 64, 64, 3), dtype=np.uint8),
                      rng.uniform(-1, 1, (12, 2)).astype(np.float32), None, meta)
    ckpt = save_tiny_world_model(tmp_path / 'wm.pt', seed=0, image_size=64,
                                 encoder_channels=(4, 4, 4))
    out = tmp_path / 'critic.pt'
    assert cli.main(['train', 'critic', '--data', str(tmp_path / 'data'), '--ckpt', str(ckpt),
                     '--out', str(out), '--steps', '30', '--td-start', '10', '--hidden', '16',
                     '--batch-size', '32']) == 0
    critic, extra = load_critic(out)
    assert critic.config.latent_dim == 8 and extra['episodes'] == 2
    assert extra['final']['steps'] == 30
    assert cli.main(['train', 'critic', '--data', str(tmp_path / 'data'), '--ckpt', str(ckpt),
                     '--out', str(out), '--steps', '0']) == 2
