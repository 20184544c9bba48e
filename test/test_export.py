"""`jepa-ros export` (jepa_ros/core/export.py, jepa_ros/tools/export.py): every exported
network of the shipped two_rooms checkpoints matches torch on real sim images, ONNX (run in
onnxruntime) and TorchScript; export.json describes the files; bad input exits with 2.

Parity measure (fp32): max |exported - torch| / std(torch output) <= 1e-4 for the latent
outputs (encoder, predictor step, rollout, level 2; the std over all elements is the
latent scale, ~0.7-2.5 here); the critic the same relative to the std of its steps; the
actor's normalised actions (range [-1, 1]) absolutely.
"""
import json
import os

import numpy as np
import pytest
import torch
from support import REPO, save_tiny_world_model, sim_images, tiny_actor, tiny_critic

from jepa_ros import cli
from jepa_ros.core import export as export_mod
from jepa_ros.core.backends import load_exported
from jepa_ros.core.checkpoint import load_checkpoint, save_checkpoint

WM = os.path.join(REPO, 'models', 'two_rooms_world_model.pt')
CRITIC = os.path.join(REPO, 'models', 'two_rooms_critic.pt')
ACTOR = os.path.join(REPO, 'models', 'two_rooms_actor.pt')
REACH = os.path.join(REPO, 'models', 'reach_world_model.pt')
TOL = 1e-4
ALL = ['encoder', 'predictor_step', 'rollout', 'level2_encoder', 'level2_step', 'critic',
       'actor']


@pytest.fixture(scope='module')
def shipped():
    """The shipped world model, critic and actor, and real inputs for them."""
    from jepa_ros.core.actor import load_actor
    from jepa_ros.core.critic import load_critic
    model, _ = load_checkpoint(WM)
    critic, _ = load_critic(CRITIC)
    actor, _ = load_actor(ACTOR)
    images = sim_images('two_rooms', 24, seed=3)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        latents = model.encode(images)
    actions = torch.rand(len(images), 12, 2, generator=gen) * 2 - 1
    return model, critic, actor, images, latents, actions


@pytest.fixture(scope='module')
def onnx_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('onnx'))
    export_mod.export_checkpoint(WM, out, 'onnx', critic=CRITIC, actor=ACTOR)
    return out


@pytest.fixture(scope='module')
def ts_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('torchscript'))
    export_mod.export_checkpoint(WM, out, 'torchscript', critic=CRITIC, actor=ACTOR)
    return out


def reference_and_exported(shipped, exported):
    """{network: (torch output, exported output)} on the same real inputs."""
    model, critic, actor, images, z, actions = shipped
    w = exported.world_model
    goals = z.flip(0)
    with torch.no_grad():
        s2 = model.level2.encode(z)
        return {
            'encoder': (z, w.encode(images)),
            'predictor_step': (model.predict(z, actions[:, 0]), w.predict(z, actions[:, 0])),
            'rollout': (model.rollout(z, actions), w.rollout(z, actions)),
            'level2_encoder': (s2, w.level2.encode(z)),
            'level2_step': (model.level2.predict(s2, actions[:, 0]),
                            w.level2.predict(s2, actions[:, 0])),
            'critic': (critic(z, goals), exported.critic(z, goals)),
            'actor': (actor(z, goals), exported.actor(z, goals)),
        }


def relative_errors(pairs):
    out = {}
    for name, (ref, got) in pairs.items():
        assert got.shape == ref.shape and got.dtype == torch.float32, name
        scale = 1.0 if name == 'actor' else float(ref.std())
        assert scale > 0.05, f'{name}: degenerate reference (std {scale})'
        out[name] = float((got - ref).abs().max()) / scale
    return out


def test_onnx_networks_match_torch_on_sim_images(shipped, onnx_dir):
    exported = load_exported(onnx_dir, 'onnxruntime', 'cpu')
    assert exported.providers == ['CPUExecutionProvider']
    errors = relative_errors(reference_and_exported(shipped, exported))
    assert sorted(errors) == sorted(ALL)
    assert all(e <= TOL for e in errors.values()), errors


def test_torchscript_networks_match_torch_on_sim_images(shipped, ts_dir):
    errors = relative_errors(reference_and_exported(shipped, load_exported(ts_dir, 'torch',
                                                                           'cpu')))
    assert sorted(errors) == sorted(ALL)
    assert all(e <= TOL for e in errors.values()), errors


def test_batch_dimension_is_dynamic(shipped, onnx_dir):
    model, _, _, images, z, actions = shipped
    w = load_exported(onnx_dir, 'onnxruntime', 'cpu', parts=['encoder', 'rollout']).world_model
    for b in (1, 5, 24):
        assert w.encode(images[:b]).shape == (b, 128)
        assert w.rollout(z[:b], actions[:b]).shape == (b, 12, 128)
    # a single image (H, W, 3) is a batch of one, as for WorldModel.encode
    with torch.no_grad():
        assert torch.allclose(w.encode(images[0]), model.encode(images[0]), atol=1e-4)


def test_manifest_describes_the_files_and_the_run_time_config(onnx_dir):
    import onnx
    with open(os.path.join(onnx_dir, 'export.json')) as f:
        m = json.load(f)
    assert m['format'] == 'jepa_ros.export' and m['export_format'] == 'onnx'
    assert m['precision'] == 'fp32' and m['opset'] == export_mod.OPSET
    assert m['source_sha256'] == export_mod.sha256_of(WM)
    assert m['sources']['critic']['sha256'] == export_mod.sha256_of(CRITIC)
    assert m['sources']['actor']['sha256'] == export_mod.sha256_of(ACTOR)
    cfg = m['config']
    assert cfg['latent_dim'] == 128 and cfg['action_dim'] == 2
    assert cfg['action_scale'] == [1.5, 1.5] and cfg['action_mode'] == 'holonomic'
    assert cfg['image_size'] == 64 and cfg['horizon'] == 12 and cfg['level2_k'] == 4
    assert sorted(m['files']) == sorted(ALL)
    enc = m['files']['encoder']
    assert enc['inputs'] == [{'name': 'images', 'shape': ['B', 64, 64, 3], 'dtype': 'uint8'}]
    assert enc['outputs'] == [{'name': 'latents', 'shape': ['B', 128], 'dtype': 'float32'}]
    roll = m['files']['rollout']
    assert [i['shape'] for i in roll['inputs']] == [['B', 128], ['B', 12, 2]]
    assert roll['outputs'][0]['shape'] == ['B', 12, 128]
    assert m['files']['critic']['outputs'][0]['shape'] == ['B']
    # The graphs say the same as the manifest: names, dims (batch symbolic 'B'), types.
    elem = {1: 'float32', 2: 'uint8'}
    for name, spec in m['files'].items():
        graph = onnx.load(os.path.join(onnx_dir, spec['file'])).graph
        for declared, actual in ((spec['inputs'], graph.input), (spec['outputs'], graph.output)):
            got = [{'name': v.name,
                    'shape': [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim],
                    'dtype': elem[v.type.tensor_type.elem_type]} for v in actual]
            assert got == declared, name


def test_reach_world_model_exports_with_three_actions(tmp_path):
    """The shipped reach model (A = 3, level 2), TorchScript for speed; real reach renders."""
    model, _ = load_checkpoint(REACH)
    m = export_mod.export_checkpoint(REACH, str(tmp_path), 'torchscript', horizon=8)
    assert 'critic' not in m['files'] and m['config']['action_mode'] == 'reach'
    assert m['files']['rollout']['inputs'][1]['shape'] == ['B', 8, 3]
    w = load_exported(str(tmp_path), 'torch', 'cpu').world_model
    images = sim_images('reach', 4, seed=1)
    actions = torch.rand(4, 8, 3, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        z = model.encode(images)
        ref = model.rollout(z, actions)
        assert float((w.encode(images) - z).abs().max()) / float(z.std()) <= TOL
        assert float((w.rollout(z, actions) - ref).abs().max()) / float(ref.std()) <= TOL


def test_fp16_exports_run_in_onnxruntime_and_torch(tmp_path):
    """fp16 networks with float32 inputs/outputs: they run on CPU (onnxruntime falls back
    to float32 kernels where it has no float16 ones); accuracy is measured in the bench."""
    ckpt = save_tiny_world_model(tmp_path / 'wm.pt', scatter=True)
    critic = save_checkpoint(str(tmp_path / 'critic.pt'), tiny_critic(), kind='critic')
    model, _ = load_checkpoint(ckpt)
    images = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    with torch.no_grad():
        z = model.encode(images)
    for fmt, backend in (('onnx', 'onnxruntime'), ('torchscript', 'torch')):
        out = str(tmp_path / fmt)
        m = export_mod.export_checkpoint(ckpt, out, fmt, fp16=True, critic=critic, horizon=3)
        assert m['precision'] == 'fp16'
        assert m['files']['encoder']['outputs'][0]['dtype'] == 'float32'
        exported = load_exported(out, backend, 'cpu')
        got = exported.world_model.encode(images)
        assert got.dtype == torch.float32 and torch.isfinite(got).all()
        assert float((got - z).abs().max()) / float(z.std()) < 0.05, fmt
        assert exported.world_model.rollout(z, torch.zeros(3, 3, 2)).shape == (3, 3, 8)
        assert torch.isfinite(exported.critic(z, z)).all()


# ---- the command line -------------------------------------------------------------------------
def test_cli_exports_and_finds_companions_by_name(tmp_path, capsys):
    ckpt = save_tiny_world_model(tmp_path / 'tiny_world_model.pt', scatter=True)
    save_checkpoint(str(tmp_path / 'tiny_actor.pt'), tiny_actor(), kind='actor')
    out = tmp_path / 'export'
    assert cli.main(['export', '--ckpt', ckpt, '--format', 'torchscript', '--out', str(out),
                     '--horizon', '4']) == 0
    m = json.loads((out / 'export.json').read_text())
    # the actor named like the world model was found; there is no tiny_critic.pt
    assert 'actor' in m['files'] and 'critic' not in m['files']
    assert m['sources']['actor']['path'] == str(tmp_path / 'tiny_actor.pt')
    assert m['config']['horizon'] == 4
    assert 'no critic' in capsys.readouterr().out
    assert cli.main(['export', '--ckpt', ckpt, '--format', 'torchscript', '--out', str(out),
                     '--actor', 'none']) == 0
    assert 'actor' not in json.loads((out / 'export.json').read_text())['files']


def run_cli(argv, capsys):
    try:
        rc = cli.main(argv)
    except SystemExit as exc:   # argparse refusals
        rc = exc.code
    return rc, capsys.readouterr().err


def test_cli_bad_input_exits_2_with_a_reason(tmp_path, capsys, monkeypatch):
    ckpt = save_tiny_world_model(tmp_path / 'wm.pt')
    critic = save_checkpoint(str(tmp_path / 'critic.pt'), tiny_critic(), kind='critic')
    a_file = tmp_path / 'a_file'
    a_file.write_text('x')
    out = str(tmp_path / 'out')
    cases = [
        (['--ckpt', critic, '--out', out], 'not a world-model checkpoint'),
        (['--ckpt', str(a_file), '--out', out], 'not a world-model checkpoint'),
        (['--ckpt', str(tmp_path / 'missing.pt'), '--out', out], 'no such file'),
        (['--ckpt', ckpt, '--out', str(a_file)], 'not a folder'),
        (['--ckpt', ckpt, '--out', str(a_file / 'sub')], 'cannot create the folder'),
        (['--ckpt', ckpt, '--format', 'tflite', '--out', out], "invalid choice: 'tflite'"),
        (['--ckpt', ckpt, '--out', out, '--horizon', '0'], 'horizon'),
        (['--ckpt', ckpt, '--format', 'onnx', '--out', out, '--opset', '9'], 'opset'),
        (['--ckpt', ckpt, '--out', out, '--actor', critic], "expected 'actor'"),
        (['--ckpt', ckpt, '--out', out, '--critic',
          save_checkpoint(str(tmp_path / 'c16.pt'), tiny_critic(latent_dim=16), kind='critic')],
         'latent_dim 16 does not match'),
    ]
    for argv, reason in cases:
        rc, err = run_cli(['export', '--format', 'torchscript', *argv] if '--format' not in argv
                          else ['export', *argv], capsys)
        assert rc == 2 and reason in err, (argv, err)
        assert 'Traceback' not in err
    assert not os.path.exists(os.path.join(out, 'export.json'))

    # A folder nothing can be written to (read-only file system, no permission): the test
    # runs as root in CI, where chmod does not stop writes, so the refusal is simulated.
    def refuse(*args, **kwargs):
        raise PermissionError(13, 'Permission denied')
    monkeypatch.setattr(export_mod.tempfile, 'mkstemp', refuse)
    rc, err = run_cli(['export', '--ckpt', ckpt, '--format', 'torchscript', '--out', out],
                      capsys)
    assert rc == 2 and 'not writable' in err, err
