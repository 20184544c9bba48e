"""Checkpoints: plain-data round trip, clear errors, and no code execution on load."""
import dataclasses
import os
import pickle

import pytest
import torch
from torch import nn

from jepa_ros.core.checkpoint import (CheckpointError, load_checkpoint, read_checkpoint,
                                      register_kind, save_checkpoint)
from jepa_ros.core.world_model import WorldModel, WorldModelConfig

SMALL = dict(latent_dim=8, encoder_type='conv', encoder_channels=[4, 4, 8, 8],
             predictor_hidden=16,
             level2_k=2, level2_dim=4, level2_hidden=8, z_dim=2, z_codes=3,
             action_dim=3, action_scale=[0.1, 0.2, 0.3], world='reach')


def small_model(**kw):
    torch.manual_seed(0)
    return WorldModel(WorldModelConfig(**{**SMALL, **kw}))


def test_round_trip_keeps_weights_config_and_provenance(tmp_path):
    import numpy as np
    model = small_model()
    path = save_checkpoint(tmp_path / 'wm.pt', model,
                           {'data': {'episodes': 3}, 'metrics': {'r2': np.float64(0.5)}})
    raw = torch.load(path, weights_only=True)  # plain data only
    assert raw['kind'] == 'world_model' and raw['config']['action_scale'] == [0.1, 0.2, 0.3]
    loaded, extra = load_checkpoint(path, map_location='cpu')
    assert loaded.config == model.config and not loaded.training
    assert extra['metrics']['r2'] == 0.5 and extra['data'] == {'episodes': 3}
    assert set(extra['provenance']) >= {'git_commit', 'saved_at', 'torch_version'}
    imgs = torch.randint(0, 255, (2, 64, 64, 3), dtype=torch.uint8)
    with torch.no_grad():
        s = model.eval().encode(imgs)
        assert torch.equal(s, loaded.encode(imgs))
        a = torch.rand(2, 3, 3)
        assert torch.equal(model.rollout(s, a), loaded.rollout(s, a))
        assert torch.equal(model.level2.encode(s), loaded.level2.encode(s))


def test_missing_truncated_and_garbage_files(tmp_path):
    with pytest.raises(CheckpointError, match='no such'):
        load_checkpoint(tmp_path / 'absent.pt')
    path = save_checkpoint(tmp_path / 'wm.pt', small_model())
    data = open(path, 'rb').read()
    trunc = tmp_path / 'trunc.pt'
    trunc.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match='corrupt'):
        load_checkpoint(trunc)
    junk = tmp_path / 'junk.pt'
    junk.write_bytes(b'not a checkpoint at all' * 10)
    with pytest.raises(CheckpointError):
        load_checkpoint(junk)
    other = tmp_path / 'other.pt'
    torch.save({'weights': torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match='not a jepa_ros checkpoint'):
        load_checkpoint(other)


def test_wrong_architecture_and_wrong_kind(tmp_path):
    path = save_checkpoint(tmp_path / 'wm.pt', small_model())
    payload = torch.load(path, weights_only=True)
    payload['config']['latent_dim'] = 16  # weights are for 8
    bad = tmp_path / 'bad.pt'
    torch.save(payload, bad)
    with pytest.raises(CheckpointError, match='do not match the architecture'):
        load_checkpoint(bad)
    payload = torch.load(path, weights_only=True)
    payload['config']['no_such_option'] = 1
    torch.save(payload, bad)
    with pytest.raises(CheckpointError, match='config'):
        load_checkpoint(bad)
    with pytest.raises(CheckpointError, match="expected 'critic'"):
        load_checkpoint(path, kind='critic')


class _RunsCodeWhenUnpickled:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def test_pickle_payload_is_refused_without_running(tmp_path):
    # Prove the payload is live: plain pickle executes it.
    live = str(tmp_path / 'ran_under_plain_pickle')
    pickle.loads(pickle.dumps(_RunsCodeWhenUnpickled(live)))
    assert os.path.isdir(live)

    marker = str(tmp_path / 'must_not_exist')
    zipped = tmp_path / 'evil_zip.pt'
    torch.save({'format': 'jepa_ros.checkpoint', 'boom': _RunsCodeWhenUnpickled(marker)},
               zipped)
    legacy = tmp_path / 'evil_legacy.pt'
    with open(legacy, 'wb') as f:
        pickle.dump({'boom': _RunsCodeWhenUnpickled(marker)}, f)
    for path in (zipped, legacy):
        with pytest.raises(CheckpointError):
            load_checkpoint(path)
    assert not os.path.exists(marker)


@dataclasses.dataclass
class _CriticConfig:
    latent_dim: int = 8
    hidden: int = 16


class _Critic(nn.Module):
    checkpoint_kind = 'test_critic'

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.net = nn.Sequential(nn.Linear(2 * config.latent_dim, config.hidden), nn.ReLU(),
                                 nn.Linear(config.hidden, 1))


def test_other_kinds_register_and_round_trip(tmp_path):
    register_kind('test_critic', lambda d: _Critic(_CriticConfig(**d)))
    critic = _Critic(_CriticConfig(latent_dim=4, hidden=5))
    path = save_checkpoint(tmp_path / 'critic.pt', critic, {'note': 'hindsight'})
    loaded, extra = load_checkpoint(path, kind='test_critic')
    assert loaded.config == critic.config and extra['note'] == 'hindsight'
    x = torch.randn(3, 8)
    assert torch.equal(critic.net(x), loaded.net(x))
    assert read_checkpoint(path)['kind'] == 'test_critic'
    with pytest.raises(CheckpointError, match="expected 'world_model'"):
        load_checkpoint(path)


def test_unstorable_extra_is_rejected_at_save(tmp_path):
    with pytest.raises(TypeError, match='cannot be stored'):
        save_checkpoint(tmp_path / 'x.pt', small_model(), {'fn': object()})
    assert not os.path.exists(tmp_path / 'x.pt')
