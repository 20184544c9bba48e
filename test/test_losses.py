"""World-model losses and collapse monitors against hand-computed values."""
import math

import numpy as np
import pytest
import torch

from jepa_ros.core import losses as L
from jepa_ros.core.metrics import (collapse_report, effective_rank, per_dim_std, r2_score,
                                   rankdata, ridge_fit, spearman)
from jepa_ros.core.world_model import WorldModel, WorldModelConfig


def test_rollout_prediction_loss_weights_steps():
    pred = torch.zeros(1, 2, 1)
    target = torch.tensor([[[1.0], [2.0]]])
    assert L.rollout_prediction_loss(pred, target).item() == pytest.approx(2.5)
    # step errors 1 and 4, weights 1 and 0.5: (1 + 2) / 1.5
    assert L.rollout_prediction_loss(pred, target, discount=0.5).item() == pytest.approx(2.0)


def test_variance_loss_hinges_on_std():
    x = torch.tensor([[0.0, 5.0], [2.0, 5.0]])
    # dim 0: std sqrt(2) > 1 -> 0; dim 1: std sqrt(1e-4) = 0.01 -> 0.99
    assert L.variance_loss(x).item() == pytest.approx(0.99 / 2, abs=1e-6)
    assert L.variance_loss(x, target=2.0).item() == pytest.approx(
        ((2 - math.sqrt(2 + 1e-4)) + (2 - 0.01)) / 2, abs=1e-5)


def test_covariance_loss_off_diagonal_only():
    x = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])
    # cov = [[2, 2], [2, 2]]; off-diagonal squares 4 + 4, / D=2
    assert L.covariance_loss(x).item() == pytest.approx(4.0)
    decorrelated = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    assert L.covariance_loss(decorrelated).item() == pytest.approx(0.0, abs=1e-7)


def test_smoothness_and_inverse_losses():
    lat = torch.tensor([[[0.0], [1.0], [3.0]]])
    assert L.smoothness_loss(lat).item() == pytest.approx(2.5)
    a = torch.tensor([[1.0, -1.0]])
    assert L.inverse_dynamics_loss(torch.zeros(1, 2), a).item() == pytest.approx(1.0)


def test_world_model_losses_combine_terms_with_config_weights():
    torch.manual_seed(0)
    model = WorldModel(WorldModelConfig(latent_dim=3, predictor_hidden=8))
    latents = torch.randn(4, 3, 3)  # B=4, T+1=3
    actions = torch.randn(4, 2, 2)
    cfg = L.LossConfig(prediction=2.0, variance=3.0, covariance=0.5, smoothness=7.0,
                       inverse=0.0)
    total, terms = L.world_model_losses(model, latents, actions, cfg)
    # The predictor starts as the identity, so the rollout repeats s0 at every step.
    expected_pred = ((latents[:, :1] - latents[:, 1:]) ** 2).mean()
    assert terms['prediction'].item() == pytest.approx(expected_pred.item(), rel=1e-5)
    flat = latents.reshape(-1, 3)
    assert terms['variance'].item() == pytest.approx(L.variance_loss(flat).item())
    assert terms['covariance'].item() == pytest.approx(L.covariance_loss(flat).item())
    expected = (2 * terms['prediction'] + 3 * terms['variance'] + 0.5 * terms['covariance']
                + 7 * terms['smoothness'])
    assert total.item() == pytest.approx(expected.item(), rel=1e-5)


def test_level2_losses_use_mean_actions():
    torch.manual_seed(0)
    model = WorldModel(WorldModelConfig(latent_dim=4, level2_k=2, level2_dim=3,
                                        level2_hidden=8))
    s1 = torch.randn(5, 3, 4)          # 2 level-2 steps -> 3 level-2 states
    acts = torch.randn(5, 4, 2)        # 2 * k level-1 actions
    a2 = model.level2.aggregate_actions(acts)
    assert torch.allclose(a2[:, 0], acts[:, :2].mean(1))
    total, terms = L.level2_losses(model.level2, s1, acts, L.LossConfig())
    assert set(terms) == {'prediction', 'variance', 'covariance', 'inverse'}
    assert torch.isfinite(total)
    with pytest.raises(ValueError):
        model.level2.aggregate_actions(torch.randn(5, 3, 2))


def test_collapse_monitors_flag_constant_encoder():
    const = torch.ones(64, 16) * 0.3
    rep = collapse_report(const)
    assert rep['collapsed'] and rep['effective_rank'] == 0.0
    assert rep['mean_std'] == 0.0 and rep['dead_dims'] == 16
    # dimensional collapse: everything on one line in 16-d
    line = torch.randn(64, 1) * torch.ones(1, 16)
    rep = collapse_report(line)
    assert rep['effective_rank'] == pytest.approx(1.0, abs=1e-6) and rep['collapsed']
    healthy = collapse_report(torch.randn(512, 16))
    assert not healthy['collapsed'] and healthy['effective_rank'] > 12


def test_effective_rank_and_std_exact():
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    assert effective_rank(x) == pytest.approx(2.0)
    assert per_dim_std(x) == pytest.approx([math.sqrt(0.5)] * 2)


def test_variance_term_reexpands_a_collapsed_encoder():
    """The anti-collapse term must actually push a collapsed output apart."""
    torch.manual_seed(0)
    enc = torch.nn.Linear(8, 4)
    x = torch.randn(128, 8)
    with torch.no_grad():
        enc.weight.mul_(1e-3)
    opt = torch.optim.SGD(enc.parameters(), lr=0.5)
    before = collapse_report(enc(x).detach())
    for _ in range(50):
        out = enc(x)
        loss = L.variance_loss(out) + 0.04 * L.covariance_loss(out)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = collapse_report(enc(x).detach())
    assert before['collapsed'] and not after['collapsed']
    assert after['mean_std'] > 0.5


def test_rank_statistics():
    assert rankdata([10, 20, 20, 30]).tolist() == [1, 2.5, 2.5, 4]
    assert spearman([1, 2, 3, 4], [10, 20, 35, 100]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    x = np.random.default_rng(0).normal(size=(200, 3))
    y = x @ np.array([[1.0], [2.0], [-1.0]]) + 0.5
    assert r2_score(y, ridge_fit(x, y, alpha=1e-6)(x)) == pytest.approx(1.0, abs=1e-6)
    assert r2_score(y, np.full_like(y, y.mean())) == pytest.approx(0.0, abs=1e-9)
