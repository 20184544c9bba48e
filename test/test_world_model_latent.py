"""Latent variable z: inference picks the code of least energy; on a stochastic world the
best of K codes predicts better than z = 0, and z = 0 still predicts like a normal model."""
import torch

from jepa_ros.core.latent import LatentCodebook, rollout_with_inferred_z
from jepa_ros.core.metrics import encode_episodes, multistep_ratios, z_prediction_errors
from jepa_ros.core.train_world_model import TrainConfig, train_world_model
from jepa_ros.core.world_model import WorldModel, WorldModelConfig
from support import dot_episodes


class _ShiftByZ(torch.nn.Module):
    """s' = s + z: the energy of code k is ||s + c_k - target||^2, easy to check by hand."""
    z_dim = 2

    def forward(self, s, a, z):
        return s + z


def test_inference_picks_least_energy_code_and_charges_nonzero_codes():
    book = LatentCodebook(3, 2)
    with torch.no_grad():
        book.learned.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    s = torch.zeros(3, 2)
    target = torch.tensor([[0.9, 0.0], [0.0, 1.2], [0.1, 0.1]])
    z, idx = book.infer(_ShiftByZ(), s, torch.zeros(3, 1), target)
    assert idx.tolist() == [1, 2, 0]
    assert torch.equal(z[0], torch.tensor([1.0, 0.0]))
    # energies (mean over 2 dims): row 0 [0.405, 0.005, 0.905], row 1 [0.72, 1.22, 0.02].
    # A cost of 0.5 on codes 1, 2: row 0 falls back to code 0, row 1 still pays for code 2.
    _, idx = book.infer(_ShiftByZ(), s, torch.zeros(3, 1), target, code_cost=0.5)
    assert idx.tolist() == [0, 2, 0]
    assert torch.all(book.codes()[0] == 0)


def test_rollout_with_inferred_z_follows_targets():
    torch.manual_seed(0)
    model = WorldModel(WorldModelConfig(latent_dim=4, encoder_type='conv',
                                        encoder_channels=[4, 4, 4, 4], z_dim=2, z_codes=4))
    s0 = torch.randn(6, 4)
    acts = torch.randn(6, 3, 2)
    torch.nn.init.normal_(model.predictor.net[-1].weight, std=0.2)
    targets = model.rollout(s0, acts, model.latent_codes()[2].expand(6, 2)).detach()
    pred, idx = rollout_with_inferred_z(model, s0, acts, targets)
    assert torch.all(idx == 2) and torch.allclose(pred, targets, atol=1e-6)


def test_z_beats_deterministic_on_a_stochastic_world():
    torch.set_num_threads(2)
    eps = dot_episodes(24, 30, seed=0, push_prob=0.3)
    cfg = WorldModelConfig(latent_dim=16, encoder_type='conv',
                           encoder_channels=[8, 8, 16, 16], predictor_hidden=64,
                           z_dim=2, z_codes=4)
    tc = TrainConfig(steps=150, batch_size=16, seed=0, warmup_steps=20, log_every=1000,
                     finetune_steps=400, finetune_batch_size=64)
    model, _ = train_world_model(eps, cfg, tc, log=lambda m: None)
    test = dot_episodes(6, 30, seed=1, push_prob=0.3)
    acts = [torch.as_tensor(e.actions) for e in test]
    with torch.no_grad():
        lat = encode_episodes(model, test)
        res = z_prediction_errors(model, lat, acts)
        ratios = multistep_ratios(model, lat, acts, horizons=(4, 8))  # z = None = code 0
    assert res['error_best_of_k'] < 0.7 * res['error_z0'], res
    assert sum(res['code_use'][1:]) > 0, res  # the non-zero codes are used at all
    # z = 0 degrades gracefully: open-loop rollouts without z still follow the motion
    assert ratios[4]['ratio'] < 0.8 and ratios[8]['ratio'] < 0.8, ratios
