"""Mode-1 actor: a = A(s, s_goal), a small network distilled from Mode-2 plans.

Mode 2 (planning) is slow and deliberate; the actor imitates the first action of its
optimised plans so a reactive policy costs one forward pass. DAgger-style training: the
actor drives, the planner labels the states the actor actually visits, retrain on all.
"""
import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import nn

from jepa_ros.core import checkpoint


@dataclass
class ActorConfig:
    latent_dim: int = 128
    action_dim: int = 2
    hidden: int = 256
    layers: int = 3

    def to_dict(self):
        return dataclasses.asdict(self)


class Actor(nn.Module):
    checkpoint_kind = 'actor'

    def __init__(self, config=None):
        super().__init__()
        self.config = config or ActorConfig()
        c = self.config
        self.action_dim = c.action_dim
        dims = [3 * c.latent_dim] + [c.hidden] * c.layers
        layers = []
        for i in range(len(dims) - 1):
            layers += [nn.Linear(dims[i], dims[i + 1]), nn.LayerNorm(dims[i + 1]), nn.GELU()]
        layers.append(nn.Linear(dims[-1], c.action_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, latents, goals):
        """(B, D), (B, D) or (D,) -> (B, A) normalised actions in [-1, 1]."""
        if goals.dim() == 1:
            goals = goals.expand_as(latents)
        return torch.tanh(self.net(torch.cat([latents, goals, goals - latents], dim=-1)))


checkpoint.register_kind('actor', lambda cfg: Actor(ActorConfig(**cfg)))


def load_actor(path, map_location='cpu'):
    return checkpoint.load_checkpoint(path, map_location, kind='actor')


def label_with_planner(planner, cost, states, goals, chunk=64, budget_s=None):
    """First actions of Mode-2 plans for many (state, goal) problems, `chunk` per batch."""
    out = []
    for i in range(0, len(states), chunk):
        res = planner.plan_batch(states[i:i + chunk], goals[i:i + chunk], cost, None, budget_s)
        out.append(res.actions[:, 0])
    return torch.cat(out)


def fit_actor(actor, states, goals, actions, epochs=30, batch_size=256, lr=1e-3, seed=0):
    """Regress the actor onto labelled actions (MSE); -> final mean training loss."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(actor.parameters(), lr=lr)
    actor.train()
    n = len(states)
    loss_mean = math.nan
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen).to(states.device)
        total = 0.0
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            loss = nn.functional.mse_loss(actor(states[idx], goals[idx]), actions[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        loss_mean = total / n
    actor.eval()
    return loss_mean


class ActorController:
    """Drop-in for RecedingHorizon in rollouts.run_episode: the actor picks each action;
    optionally a `labeller(latent, goal) -> action` records DAgger labels on the way."""

    def __init__(self, actor, labeller=None):
        self.actor, self.labeller = actor, labeller
        self.records = []

    def reset(self):
        pass

    def act(self, latent, goal):
        with torch.no_grad():
            a = self.actor(latent[None], goal)[0]
        if self.labeller is not None:
            self.records.append((latent, goal, self.labeller(latent, goal)))
        return a[None], None
