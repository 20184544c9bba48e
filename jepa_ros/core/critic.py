"""Trainable critic: cost-to-go (in environment steps) from a latent to a goal latent.

Latent distance only ranks nearby states well; the critic learns how many steps a goal
really is, so a short planning horizon can aim past its end (it is the optional `critic`
term of IntrinsicCost, applied to the last predicted latent).

Training needs no labels or reward, only recorded episodes and the world model:
- hindsight goals: a frame k steps later in the same episode is reachable in <= k steps,
  so k is an upper bound on the cost-to-go;
- a Bellman target through the world model, V(s, g) <= 1 + min_a V(f(s, a), g), shortens
  the detours of random exploration to (near) shortest paths.
The regression target is min(k, 1 + min_a V_target(f(s, a), g)), V(g, g) = 0.
"""
import copy
import dataclasses
import math
import time
from dataclasses import dataclass

import torch
from torch import nn

from jepa_ros.core import checkpoint, distributed


@dataclass
class CriticConfig:
    latent_dim: int = 128
    hidden: int = 256
    layers: int = 3
    step_scale: float = 50.0   # outputs are steps; the net works in steps / step_scale

    def to_dict(self):
        return dataclasses.asdict(self)


class Critic(nn.Module):
    checkpoint_kind = 'critic'

    def __init__(self, config=None):
        super().__init__()
        self.config = config or CriticConfig()
        c = self.config
        dims = [3 * c.latent_dim] + [c.hidden] * c.layers
        layers = []
        for i in range(len(dims) - 1):
            layers += [nn.Linear(dims[i], dims[i + 1]), nn.LayerNorm(dims[i + 1]), nn.GELU()]
        layers.append(nn.Linear(dims[-1], 1))
        self.net = nn.Sequential(*layers)

    def forward(self, latents, goals):
        """(B, D), (B, D) or (D,) -> (B,) estimated steps to the goal (>= 0)."""
        if goals.dim() == 1:
            goals = goals.expand_as(latents)
        x = torch.cat([latents, goals, latents - goals], dim=-1)
        return nn.functional.softplus(self.net(x).squeeze(-1)) * self.config.step_scale


def _build(config_dict):
    return Critic(CriticConfig(**config_dict))


checkpoint.register_kind('critic', _build)


def load_critic(path, map_location='cpu'):
    model, extra = checkpoint.load_checkpoint(path, map_location, kind='critic')
    return model, extra


def load_frozen_critic(path, map_location='cpu'):
    """The critic network of a `critic` checkpoint, in eval mode without gradients (for
    planning: the cost term reads it, nothing trains it)."""
    critic, _ = load_critic(path, map_location)
    critic.eval().requires_grad_(False)
    return critic


def default_action_set(action_dim, device=None):
    """Candidate actions for the Bellman minimum: zero, +-1 on each axis, and (for 2-D)
    the diagonals; the recorded action is added per sample."""
    acts = [torch.zeros(action_dim)]
    for i in range(action_dim):
        for sgn in (1.0, -1.0):
            a = torch.zeros(action_dim)
            a[i] = sgn
            acts.append(a)
    if action_dim == 2:
        d = 1 / math.sqrt(2)
        acts += [torch.tensor([sx * d, sy * d]) for sx in (1, -1) for sy in (1, -1)]
    return torch.stack(acts).to(device)


@dataclass
class CriticTrainConfig:
    steps: int = 3000
    batch_size: int = 256
    lr: float = 1e-3
    max_offset: int = 200        # longest hindsight gap sampled (steps)
    zero_offset_fraction: float = 0.1
    target_ema: float = 0.99
    td_start: int = 300          # pure hindsight regression before Bellman targets begin
    seed: int = 0
    time_limit_s: float = None


def train_critic(episodes, world_model, config=None, train_config=None, log=None):
    """episodes: list of (latents (T, D), actions (T, A)) encoded with `world_model`;
    world_model: anything with rollout(s0, actions). -> (Critic, stats dict).

    Inside a torch.distributed process group (jepa_ros.core.distributed), `episodes` is
    this rank's shard: gradients are averaged over the ranks (DDP), rank 0's clock decides
    the time limit, and every rank returns the same critic."""
    tc = train_config or CriticTrainConfig()
    ctx = distributed.current()
    episodes = [(z.detach(), a.detach()) for z, a in episodes if len(z) >= 2]
    if not ctx.all_true(bool(episodes)):
        raise ValueError('need at least one episode with 2 or more frames' +
                         (' in every shard' if ctx.active else ''))
    device = episodes[0][0].device
    dim, adim = episodes[0][0].shape[1], episodes[0][1].shape[1]
    cfg = config or CriticConfig(latent_dim=dim)
    if cfg.latent_dim != dim:
        raise ValueError(f'critic latent_dim {cfg.latent_dim} != episode latents {dim}')
    torch.manual_seed(tc.seed)
    critic = Critic(cfg).to(device)
    target = copy.deepcopy(critic).requires_grad_(False)
    trained = ctx.wrap(critic)   # DDP under torchrun, the critic itself otherwise
    opt = torch.optim.Adam(critic.parameters(), lr=tc.lr)
    gen = torch.Generator().manual_seed(distributed.rank_seed(tc.seed, ctx.rank))
    # All frames in one tensor; a frame t may start a pair when t + 1 is in its episode.
    all_z = torch.cat([z for z, _ in episodes])
    all_a = torch.cat([a for _, a in episodes]).to(all_z)
    ends = torch.cat([torch.full((len(z),), len(z)) for z, _ in episodes])
    ends = ends + torch.repeat_interleave(
        torch.cumsum(torch.tensor([0] + [len(z) for z, _ in episodes[:-1]]), 0),
        torch.tensor([len(z) for z, _ in episodes]))   # global end index (exclusive)
    starts = torch.nonzero(torch.arange(len(all_z)) < ends - 1).squeeze(1)
    cand = default_action_set(adim, device)
    n_cand = cand.shape[0]
    t_start = time.perf_counter()
    stats = {'loss': math.nan}
    for step in range(tc.steps):
        t = starts[torch.randint(0, len(starts), (tc.batch_size,), generator=gen)]
        room = (ends[t] - 1 - t).clamp(max=tc.max_offset).float()
        # log-uniform gaps: short gaps (where detours are small) dominate
        k = torch.exp(torch.rand(tc.batch_size, generator=gen) * torch.log(room + 1)).floor()
        k = torch.maximum(torch.ones_like(k), torch.minimum(k, room))
        k[torch.rand(tc.batch_size, generator=gen) < tc.zero_offset_fraction] = 0
        k = k.long()
        s, g = all_z[t], all_z[t + k]
        k = k.to(s)
        target_steps = k
        if step >= tc.td_start:
            with torch.no_grad():
                b = s.shape[0]
                actions = torch.cat([cand.expand(b, -1, -1), all_a[t][:, None]], 1)
                nxt = world_model.rollout(s.repeat_interleave(n_cand + 1, 0),
                                          actions.reshape(-1, 1, adim))[:, 0]
                v_next = target(nxt, g.repeat_interleave(n_cand + 1, 0)).view(b, -1)
                bellman = 1.0 + v_next.min(dim=1).values
                target_steps = torch.minimum(k, bellman)
                target_steps = torch.where(k == 0, torch.zeros_like(k), target_steps)
        pred = trained(s, g)
        loss = nn.functional.smooth_l1_loss(pred / cfg.step_scale, target_steps / cfg.step_scale)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            for p_t, p in zip(target.parameters(), critic.parameters()):
                p_t.lerp_(p, 1 - tc.target_ema)
        stats = {'loss': float(loss.detach()), 'steps': step + 1}
        if log is not None and (step % 200 == 0 or step == tc.steps - 1):
            log(step, stats)
        if tc.time_limit_s is not None and \
                ctx.from_main(time.perf_counter() - t_start) > tc.time_limit_s:
            break
    critic.eval()
    return critic, stats
