"""H-JEPA level 2: a coarser latent state and a predictor on a k-times longer time step.

Level 2 reads level-1 latents (not pixels), so it is trained on top of a trained level-1
encoder. One level-2 action is the mean of the k level-1 actions it spans.
"""
from torch import nn

from jepa_ros.core.predictor import ResidualPredictor, mlp, rollout_by_steps


class Level2(nn.Module):
    def __init__(self, latent_dim, action_dim, k, level2_dim=64, hidden=256):
        super().__init__()
        self.k = k
        self.latent_dim = level2_dim
        self.encoder = mlp([latent_dim, hidden, level2_dim])
        self.predictor = ResidualPredictor(level2_dim, action_dim, 0, hidden)
        self.inverse = mlp([2 * level2_dim, hidden, action_dim])

    def encode(self, s1):
        return self.encoder(s1)

    def predict(self, s2, a2):
        return self.predictor(s2, a2)

    def rollout(self, s2, a2_seq):
        return rollout_by_steps(self.predict, s2, a2_seq)

    def aggregate_actions(self, actions):
        """(B, T*k, A) level-1 actions -> (B, T, A) level-2 actions (means over k)."""
        b, n, a = actions.shape
        if n % self.k:
            raise ValueError(f'{n} level-1 actions are not a multiple of k={self.k}')
        return actions.reshape(b, n // self.k, self.k, a).mean(dim=2)
