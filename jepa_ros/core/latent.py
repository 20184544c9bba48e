"""Latent variable z of the predictor: a small discrete code inferred per transition.

The future is not always a function of (s, a): a door may be blocked, the robot may be
pushed. z carries that missing information. It is *inferred*, not encoded: for each
training transition we pick the code that minimises the prediction energy
||pred(s, a, z) - s_target||^2, plus a fixed cost for any code other than 0. The
information limit is the codebook size: at most log2(K) bits per transition, so z cannot
smuggle the whole next state through and the predictor still has to model the dynamics.
Code 0 is fixed at the zero vector, so `z=None` (zeros) is the most common outcome.
"""
import torch
from torch import nn


class LatentCodebook(nn.Module):
    def __init__(self, num_codes, z_dim):
        super().__init__()
        if num_codes < 1 or z_dim < 1:
            raise ValueError('LatentCodebook needs num_codes >= 1 and z_dim >= 1')
        self.num_codes, self.z_dim = num_codes, z_dim
        self.learned = nn.Parameter(torch.randn(num_codes - 1, z_dim) * 0.5)

    def codes(self):
        """(K, z_dim); row 0 is the zero code."""
        return torch.cat([self.learned.new_zeros(1, self.z_dim), self.learned], dim=0)

    def energies(self, predictor, s, a, target):
        """(B, K) prediction energy of every code for each transition."""
        codes = self.codes()
        k = codes.shape[0]
        b = s.shape[0]
        s_rep = s.unsqueeze(1).expand(b, k, s.shape[-1]).reshape(b * k, -1)
        a_rep = a.unsqueeze(1).expand(b, k, a.shape[-1]).reshape(b * k, -1)
        z_rep = codes.unsqueeze(0).expand(b, k, self.z_dim).reshape(b * k, -1)
        pred = predictor(s_rep, a_rep, z_rep).reshape(b, k, -1)
        return ((pred - target.unsqueeze(1)) ** 2).mean(-1)

    def infer(self, predictor, s, a, target, code_cost=0.0):
        """Pick the code of least energy (+ code_cost for non-zero codes).

        Returns (z (B, z_dim) with gradient into the chosen codes, index (B,)).
        """
        with torch.no_grad():
            e = self.energies(predictor, s, a, target)
            e[:, 1:] += code_cost
            index = e.argmin(dim=1)
        return self.codes()[index], index


def rollout_with_inferred_z(model, s0, actions, targets, code_cost=0.0, zero_fraction=0.0):
    """Open-loop rollout where each step's z is inferred against its target latent.

    s0 (B,D), actions (B,T,A), targets (B,T,D) -> (pred (B,T,D), code index (B,T)).
    `zero_fraction` of the samples (drawn from torch's RNG) keep z = 0 whatever fits best:
    trained that way, code 0 predicts the average outcome, so running without z (z=None)
    degrades to a deterministic predictor instead of one arbitrary mode.
    """
    s, preds, idx = s0, [], []
    forced = (torch.rand(s0.shape[0], device=s0.device) < zero_fraction) if zero_fraction \
        else None
    for t in range(actions.shape[1]):
        z, i = model.codebook.infer(model.predictor, s, actions[:, t], targets[:, t], code_cost)
        if forced is not None:
            i = torch.where(forced, torch.zeros_like(i), i)
            z = model.codebook.codes()[i]
        s = model.predict(s, actions[:, t], z)
        preds.append(s)
        idx.append(i)
    return torch.stack(preds, dim=1), torch.stack(idx, dim=1)


def best_of_k_rollout_error(model, s0, actions, targets):
    """Per-step error of the best code chosen greedily per step (oracle z), (T,) tensor."""
    with torch.no_grad():
        pred, _ = rollout_with_inferred_z(model, s0, actions, targets)
        return ((pred - targets) ** 2).mean(dim=(0, 2))
