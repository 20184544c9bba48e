"""Action-conditioned residual predictor: s' = s + f(s, a, z)."""
import torch
from torch import nn


def mlp(sizes, act=nn.GELU):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class ResidualPredictor(nn.Module):
    def __init__(self, latent_dim, action_dim, z_dim=0, hidden=256, layers=2):
        super().__init__()
        self.z_dim = z_dim
        self.net = mlp([latent_dim + action_dim + z_dim] + [hidden] * layers + [latent_dim])
        self._zero_last()

    def reset(self):
        """Fresh weights, as after construction."""
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
        self._zero_last()

    def _zero_last(self):
        # Start as the identity map (the copy-last-latent baseline) so early rollouts are
        # stable and the net only has to learn the change.
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, s, a, z=None):
        parts = [s, a]
        if self.z_dim:
            if z is None:
                z = s.new_zeros(s.shape[0], self.z_dim)
            parts.append(z)
        return s + self.net(torch.cat(parts, dim=-1))


class InverseDynamicsHead(nn.Module):
    """Predicts a_t from (s_t, s_{t+1}): forces the latent to keep what actions change."""

    def __init__(self, latent_dim, action_dim, hidden=256):
        super().__init__()
        self.net = mlp([2 * latent_dim, hidden, action_dim])

    def forward(self, s, s_next):
        return self.net(torch.cat([s, s_next], dim=-1))


def rollout_by_steps(predict, s0, actions, z=None):
    """Open-loop rollout by chaining `predict(s, a[, z])`: (B,D), (B,T,A), z None | (B,Z) |
    (B,T,Z) -> (B,T,D). Any one-step predictor (a level, an exported network) rolls out
    the same way."""
    s, out = s0, []
    for t in range(actions.shape[1]):
        if z is None:
            s = predict(s, actions[:, t])
        else:
            s = predict(s, actions[:, t], z[:, t] if z.dim() == 3 else z)
        out.append(s)
    return torch.stack(out, dim=1)
