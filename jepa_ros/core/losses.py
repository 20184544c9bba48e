"""Every training loss of the world model, in one place; every coefficient is config.

Energy view (LeCun 2022, sec. 4): the predictor's error in latent space is the energy of a
(past, action, future) triple; VICReg variance/covariance keep the encoder from making
that energy trivially zero by collapsing; the inverse-dynamics term keeps what the actions
change; temporal smoothness keeps consecutive latents close so distances mean something.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from jepa_ros.core.latent import rollout_with_inferred_z


@dataclass
class LossConfig:
    prediction: float = 25.0      # multi-step open-loop rollout error (VICReg "sim" weight)
    variance: float = 25.0        # VICReg hinge on per-dimension std
    covariance: float = 1.0       # VICReg off-diagonal covariance
    smoothness: float = 1.0       # ||s_{t+1} - s_t||^2
    inverse: float = 1.0          # inverse dynamics a_t <- (s_t, s_{t+1})
    variance_target: float = 1.0  # std the hinge asks every dimension to reach
    rollout_discount: float = 1.0  # weight of step t is discount**t
    stop_grad_target: bool = False  # detach encoder targets of the prediction loss
    level2_prediction: float = 25.0
    level2_variance: float = 25.0
    level2_covariance: float = 1.0
    level2_inverse: float = 1.0
    z_code_cost: float = 0.0      # extra energy charged for any non-zero z code
    z_zero_fraction: float = 0.5  # share of training samples held at z = 0 (see latent.py)


def rollout_prediction_loss(pred, target, discount=1.0):
    """pred, target: (B,T,D). Mean squared error, step t weighted by discount**t."""
    per_step = ((pred - target) ** 2).mean(dim=(0, 2))
    w = discount ** torch.arange(per_step.shape[0], dtype=per_step.dtype,
                                 device=per_step.device)
    return (per_step * w).sum() / w.sum()


def variance_loss(x, target=1.0, eps=1e-4):
    """x: (N,D). Mean over dims of relu(target - std_d)."""
    std = torch.sqrt(x.var(dim=0) + eps)
    return F.relu(target - std).mean()


def covariance_loss(x):
    """x: (N,D). Sum of squared off-diagonal covariances / D."""
    n, d = x.shape
    xc = x - x.mean(dim=0)
    cov = xc.T @ xc / (n - 1)
    off = cov - torch.diag(torch.diagonal(cov))
    return (off ** 2).sum() / d


def smoothness_loss(latents):
    """latents: (B,T+1,D). Mean squared step between consecutive latents."""
    return ((latents[:, 1:] - latents[:, :-1]) ** 2).mean()


def inverse_dynamics_loss(pred_actions, actions):
    return F.mse_loss(pred_actions, actions)


def world_model_losses(model, latents, actions, cfg, z=None):
    """Level-1 loss terms.

    latents: (B,T+1,D) encoder outputs of a window; actions: (B,T,A); z: None or (B,T,Z).
    Returns (total, {name: detached tensor}).
    """
    b, t1, d = latents.shape
    target = latents[:, 1:].detach() if cfg.stop_grad_target else latents[:, 1:]
    codebook = getattr(model, 'codebook', None)
    code_idx = None
    if codebook is not None and z is None:
        pred, code_idx = rollout_with_inferred_z(model, latents[:, 0], actions,
                                                 target.detach(), cfg.z_code_cost,
                                                 cfg.z_zero_fraction)
    else:
        pred = model.rollout(latents[:, 0], actions, z)
    flat = latents.reshape(b * t1, d)
    inv = model.inverse(latents[:, :-1].reshape(-1, d), latents[:, 1:].reshape(-1, d))
    terms = {
        'prediction': rollout_prediction_loss(pred, target, cfg.rollout_discount),
        'variance': variance_loss(flat, cfg.variance_target),
        'covariance': covariance_loss(flat),
        'smoothness': smoothness_loss(latents),
        'inverse': inverse_dynamics_loss(inv, actions.reshape(-1, actions.shape[-1])),
    }
    total = sum(getattr(cfg, k) * v for k, v in terms.items())
    out = {k: v.detach() for k, v in terms.items()}
    if code_idx is not None:
        out['z_nonzero'] = (code_idx != 0).float().mean()
    return total, out


def predictor_only_loss(model, latents, actions, cfg):
    """Rollout error on fixed (detached) latents: trains the predictor (and z codes) only."""
    target = latents[:, 1:]
    if getattr(model, 'codebook', None) is not None:
        pred, _ = rollout_with_inferred_z(model, latents[:, 0], actions, target,
                                          cfg.z_code_cost, cfg.z_zero_fraction)
    else:
        pred = model.rollout(latents[:, 0], actions)
    return rollout_prediction_loss(pred, target, cfg.rollout_discount)


def level2_losses(level2, s1, actions, cfg):
    """H-JEPA level-2 terms on level-1 latents taken every k steps.

    s1: (B,T2+1,D1) level-1 latents at times 0, k, 2k...; actions: (B,T2*k,A) level-1 actions.
    """
    b, t1, d1 = s1.shape
    s2 = level2.encode(s1.reshape(b * t1, d1)).reshape(b, t1, -1)
    a2 = level2.aggregate_actions(actions)
    pred = level2.rollout(s2[:, 0], a2)
    flat = s2.reshape(b * t1, -1)
    inv = level2.inverse(torch.cat([s2[:, :-1], s2[:, 1:]], dim=-1))
    terms = {
        'prediction': rollout_prediction_loss(pred, s2[:, 1:]),
        'variance': variance_loss(flat, cfg.variance_target),
        'covariance': covariance_loss(flat),
        'inverse': inverse_dynamics_loss(inv, a2),
    }
    weights = {'prediction': cfg.level2_prediction, 'variance': cfg.level2_variance,
               'covariance': cfg.level2_covariance, 'inverse': cfg.level2_inverse}
    total = sum(weights[k] * v for k, v in terms.items())
    return total, {k: v.detach() for k, v in terms.items()}
