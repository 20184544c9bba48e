"""World model API, training and the train/eval CLIs on small synthetic episodes."""
import copy
import json
import os
import sys

import numpy as np
import pytest
import torch

from jepa_ros import cli
from jepa_ros.core.checkpoint import load_checkpoint
from jepa_ros.core.metrics import evaluate_world_model
from jepa_ros.core.train_world_model import TrainConfig, train_world_model
from jepa_ros.core.world_model import WorldModel, WorldModelConfig
from jepa_ros.data.episodes import write_episode
from support import dot_episodes

TINY = dict(latent_dim=16, encoder_type='conv', encoder_channels=[8, 8, 16, 16],
            predictor_hidden=32, blur_sigma=1.0)


def randomise_predictor(model):
    """Break the identity initialisation so gradients through the predictor are non-zero."""
    torch.nn.init.normal_(model.predictor.net[-1].weight, std=0.1)


def test_encode_accepts_uint8_hwc_and_float_chw():
    torch.manual_seed(0)
    model = WorldModel(WorldModelConfig(**TINY)).eval()
    imgs = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    with torch.no_grad():
        a = model.encode(imgs)
        b = model.encode(torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255)
        single = model.encode(imgs[0])
        big = model.encode(np.repeat(np.repeat(imgs, 2, 1), 2, 2))  # 128x128 is resized
    assert a.shape == (3, 16) and single.shape == (1, 16) and big.shape == (3, 16)
    assert torch.allclose(a, b, atol=1e-5) and torch.allclose(a[:1], single, atol=1e-5)


def test_predict_rollout_shapes_and_action_gradients():
    torch.manual_seed(0)
    model = WorldModel(WorldModelConfig(**TINY, z_dim=3, z_codes=4))
    randomise_predictor(model)
    s0 = torch.randn(5, 16)
    actions = torch.zeros(5, 6, 2, requires_grad=True)
    out = model.rollout(s0, actions)
    assert out.shape == (5, 6, 16)
    assert torch.allclose(out[:, 0], model.predict(s0, actions[:, 0]))
    assert torch.allclose(model.predict(s0, actions[:, 0]),
                          model.predict(s0, actions[:, 0], torch.zeros(5, 3)))
    out[:, -1].sum().backward()
    assert actions.grad.abs().sum() > 0  # planners descend on the actions
    z = model.latent_codes()
    assert z.shape == (4, 3) and torch.all(z[0] == 0)
    out_z = model.rollout(s0, actions.detach(), z[1].expand(5, 3))
    assert not torch.allclose(out_z, out.detach())


def test_config_validation():
    with pytest.raises(ValueError, match='action_scale'):
        WorldModelConfig(action_dim=3, action_scale=[1.0, 1.0])
    with pytest.raises(ValueError, match='z_codes'):
        WorldModelConfig(z_dim=2, z_codes=1)
    with pytest.raises(ValueError, match='unknown'):
        WorldModelConfig.from_dict({'latent_dim': 8, 'bogus': 1})


def test_level2_api():
    torch.manual_seed(0)
    model = WorldModel(WorldModelConfig(**TINY, level2_k=3, level2_dim=6, level2_hidden=16))
    s2 = model.level2.encode(torch.randn(4, 16))
    assert s2.shape == (4, 6)
    a1 = torch.randn(4, 9, 2)
    out = model.level2.rollout(s2, model.level2.aggregate_actions(a1))
    assert out.shape == (4, 3, 6)
    assert torch.allclose(out[:, 0], model.level2.predict(s2, a1[:, :3].mean(1)))


def test_training_is_deterministic_under_a_seed():
    eps = dot_episodes(3, 12, seed=0)
    tc = TrainConfig(steps=3, batch_size=4, seed=5, warmup_steps=1, log_every=100,
                     finetune_steps=3, finetune_batch_size=8)
    runs = [train_world_model(eps, WorldModelConfig(**TINY), tc, log=lambda m: None)[0]
            for _ in range(2)]
    tc.seed = 6
    other = train_world_model(eps, WorldModelConfig(**TINY), tc, log=lambda m: None)[0]
    sd = [r.state_dict() for r in runs]
    assert all(torch.equal(sd[0][k], sd[1][k]) for k in sd[0])
    assert any(not torch.equal(sd[0][k], other.state_dict()[k]) for k in sd[0])
    # Training flushes denormals for speed, and must put the process-wide flag back:
    # left on, later float code of the process (hypothesis, a node) loses subnormals.
    assert sys.float_info.min / 2 > 0.0
    assert torch.tensor(1e-310, dtype=torch.float64).item() > 0.0


def tiny_training(seed, logs, **overrides):
    """The synthetic world's short training run: (episodes, model, summary)."""
    torch.set_num_threads(2)
    eps = dot_episodes(24, 40, seed=0)
    tc = TrainConfig(**{**dict(steps=200, batch_size=16, seed=seed, log_every=50,
                               warmup_steps=20, finetune_steps=400, finetune_batch_size=64),
                        **overrides})
    model, summary = train_world_model(eps, WorldModelConfig(**TINY), tc, log=logs.append)
    return eps, model, summary


def drifted_dead_model(model, offset=19.0):
    """The failure of a real run, made on purpose: every latent dimension shifted by
    `offset` (against a spread of ~1) and a predictor whose second-layer GELUs are all off,
    so it can only copy its input. Built by hand, not by a seed that happens to fail,
    so it fails the same way on every CPU."""
    broken = copy.deepcopy(model)
    with torch.no_grad():
        broken.encoder.head.bias += offset
        broken.predictor.net[2].bias.fill_(-50.0)   # GELU(-50) = 0: no gradient, no output
    return broken


@pytest.fixture(scope='module')
def trained_without_finetune():
    """(episodes, model) of the synthetic world, level 1 trained, no predictor fine-tune,
    latent centred as training leaves it. (A fresh predictor on uncentred latents is the
    failure the centring exists for: there a restart recovered in 1 of 5 torch seeds.)"""
    from jepa_ros.core.train_world_model import FrameBank
    eps, model, _ = tiny_training(0, [], finetune_steps=0, log_every=10 ** 6)
    with torch.no_grad():
        model.recenter(torch.cat(FrameBank(eps, model.config.image_size)
                                 .encode_all(model)).mean(0))
    return eps, model


def test_training_ends_centred_and_restarts_a_copy_only_predictor(trained_without_finetune):
    """Given a drifted latent and a dead predictor, training centres the latent exactly
    (the fine-tune then reads latents around 0) and restarts the predictor."""
    from jepa_ros.core.train_world_model import FrameBank
    eps, model = trained_without_finetune
    broken = drifted_dead_model(model)
    bank = FrameBank(eps, model.config.image_size)
    drifted = torch.cat(bank.encode_all(broken))
    assert drifted.mean(0).abs().min() > 10 * drifted.std(0).mean()    # it is drifted
    logs = []
    tc = TrainConfig(steps=0, finetune_steps=800, finetune_batch_size=64, seed=0,
                     warmup_steps=20, log_every=10 ** 6, predictor_reset_after=200)
    fixed, summary = train_world_model(bank, train_config=tc, log=logs.append, model=broken)
    lat = torch.cat(bank.encode_all(fixed))
    assert lat.mean(0).abs().max() < 1e-3 * lat.std(0).mean()
    assert summary['finetune']['predictor_resets'] >= 1, summary['finetune']
    assert any('re-initialising' in m for m in logs)
    assert summary['finetune']['loss_vs_copy'] < 0.8, summary['finetune']
    res = evaluate_world_model(fixed, eps + dot_episodes(6, 40, seed=1), held_out=0.2)
    assert res['multistep'][8]['ratio'] < 0.85, res['multistep']


def test_a_dead_predictor_is_reinitialised_during_finetune(trained_without_finetune):
    """All hidden units of the predictor negative (what a drifted latent did to a real
    run): it copies its input, the watch sees loss / copy ~1 and starts it afresh."""
    from jepa_ros.core.train_world_model import FrameBank, finetune_predictor
    eps, model = trained_without_finetune
    bank = FrameBank(eps, model.config.image_size)
    latents = bank.encode_all(model)
    results = {}
    for reset_after in (0, 200):
        dead = drifted_dead_model(model, offset=0.0)
        ft = TrainConfig(finetune_steps=800, finetune_batch_size=64, seed=0, warmup_steps=20,
                         log_every=10 ** 6, predictor_reset_after=reset_after)
        logs = []
        results[reset_after] = finetune_predictor(dead, bank, latents, ft, 'cpu', logs.append)
        results[reset_after]['logs'] = logs
    kept, reset = results[0], results[200]
    assert kept['predictor_resets'] == 0 and kept['loss_vs_copy'] > 0.9, kept
    assert reset['predictor_resets'] >= 1, reset
    assert any('re-initialising' in m for m in reset['logs'])
    assert reset['loss_vs_copy'] < 0.8, reset


def test_short_training_learns_state_and_dynamics():
    """A few hundred steps on the synthetic world: the latent carries the position and the
    predictor beats copying the last latent. Guards the whole loss/optimiser pipeline."""
    logs = []
    eps, model, summary = tiny_training(0, logs)
    assert summary['steps'] == 200 and any('eff_rank' in m for m in logs)
    res = evaluate_world_model(model, eps + dot_episodes(6, 40, seed=1), held_out=0.2)
    assert res['probe_r2'] > 0.9, res
    # An untrained (identity) predictor scores 1.0; pixel aliasing of the 8-px square
    # bounds the 1-step ratio, while motion dominates at longer horizons.
    assert res['multistep'][1]['ratio'] < 0.85, res['multistep']
    assert res['multistep'][4]['ratio'] < 0.6, res['multistep']
    assert res['multistep'][16]['ratio'] < 0.6, res['multistep']
    assert not res['collapse']['collapsed']
    assert res['spearman_euclidean'] > 0.5
    # The probe fit on the training episodes, scored on all the new ones.
    fresh = dot_episodes(6, 40, seed=2)
    res2 = evaluate_world_model(model, fresh, probe_episodes=eps)
    assert res2['probe_r2'] > 0.7 and res2['probe_fit_frames'] == 24 * 40
    assert res2['held_out_episodes'] == 6 and res2['train_episodes'] == 24


def _write(eps, folder):
    os.makedirs(folder, exist_ok=True)
    meta = {'world': 'dots', 'action_fields': ['linear.x', 'linear.y'],
            'action_scale': [0.5, 0.5], 'state_fields': ['x', 'y'], 'dt': 0.1}
    for i, ep in enumerate(eps):
        write_episode(os.path.join(folder, f'ep{i:03d}.mcap'), ep.images, ep.actions,
                      ep.states, meta)


def test_train_and_eval_cli_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('JEPA_ROS_CACHE', str(tmp_path / 'cache'))
    _write(dot_episodes(5, 20, seed=2), tmp_path / 'data')
    ckpt = tmp_path / 'wm.pt'
    rc = cli.main(['train', 'world-model', '--data', str(tmp_path / 'data'), '--out',
                   str(ckpt), '--steps', '4', '--batch-size', '4', '--latent-dim', '16',
                   '--level2-k', '2', '--level2-steps', '3', '--z-dim', '2',
                   '--finetune-steps', '3',
                   '--no-progress', '--loss-smoothness', '0.5'])
    assert rc == 0
    model, extra = load_checkpoint(ckpt)
    assert model.config.action_scale == [0.5, 0.5] and model.config.level2_k == 2
    assert extra['data']['episodes'] == 5 and extra['metrics']['steps'] == 4
    assert extra['train_config']['losses']['smoothness'] == 0.5
    out_json = tmp_path / 'eval.json'
    rc = cli.main(['eval', 'world-model', '--ckpt', str(ckpt), '--data',
                   str(tmp_path / 'data'), '--json', str(out_json)])
    assert rc == 0
    res = json.loads(out_json.read_text())
    assert {'probe_r2', 'multistep', 'collapse', 'level2', 'z'} <= set(res)
    assert set(res['multistep']) == {'1', '4', '8', '16'}
    assert 'linear probe R^2' in capsys.readouterr().out
    # bad arguments are user errors, not tracebacks
    assert cli.main(['train', 'world-model', '--data', str(tmp_path / 'data'), '--out',
                     str(ckpt), '--steps', '0']) == 2
    assert cli.main(['eval', 'world-model', '--ckpt', str(tmp_path / 'nope.pt'), '--data',
                     str(tmp_path / 'data')]) == 2


def test_recenter_moves_the_latent_origin_and_changes_no_prediction():
    torch.manual_seed(0)
    model = WorldModel(WorldModelConfig(**TINY, level2_k=2, level2_dim=4,
                                        level2_hidden=8)).eval()
    randomise_predictor(model)
    imgs = np.random.default_rng(1).integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)
    acts = torch.rand(6, 3, 2) * 2 - 1
    with torch.no_grad():
        s = model.encode(imgs)
        before = (model.rollout(s, acts), model.inverse(s[:3], s[3:]),
                  model.level2.encode(s))
        offset = s.mean(0) + 5.0
        model.recenter(offset)
        s_new = model.encode(imgs)
        after = (model.rollout(s_new, acts), model.inverse(s_new[:3], s_new[3:]),
                 model.level2.encode(s_new))
    assert torch.allclose(s_new, s - offset, atol=1e-4)
    assert torch.allclose(after[0], before[0] - offset, atol=1e-4)   # s' - offset
    assert torch.allclose(after[1], before[1], atol=1e-4)            # same actions
    assert torch.allclose(after[2], before[2], atol=1e-4)            # same level-2 state
