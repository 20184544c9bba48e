"""Export the networks a robot runs (ONNX or TorchScript) plus a manifest, `export.json`.

`export_checkpoint(ckpt, out_dir, fmt)` writes one file per network of a world-model
checkpoint that runs on the robot, and of its critic and Mode-1 actor when given:

    encoder          images uint8 (B, H, W, 3)          -> latents (B, D)
    predictor_step   s (B, D), a (B, A) [, z (B, Z)]     -> s_next (B, D)
    rollout          s0 (B, D), actions (B, T, A)       -> latents (B, T, D)   (T fixed)
    level2_encoder   s1 (B, D)                          -> s2 (B, D2)          (H-JEPA)
    level2_step      s2 (B, D2), a2 (B, A)              -> s2_next (B, D2)     (H-JEPA)
    critic           latents (B, D), goals (B, D)       -> steps (B,)
    actor            latents (B, D), goals (B, D)       -> actions (B, A)

The batch dimension B is dynamic. The encoder takes raw RGB bytes: the conversion to float
in [0, 1] that `world_model.images_to_tensor` does is part of the graph (followed by the
encoder's own centring, blur and convolutions), so a robot needs no Python preprocessing
and the exported encoder gives the latents the torch model gives. Images must have the
model's size (`config.image_size`): resizing stays outside (the perception node does it).

The rollout is the predictor unrolled over a fixed horizon T (`--horizon`) with z = 0,
the call the sampling planners make; other lengths chain `predictor_step`
(jepa_ros.core.backends does). The inverse-dynamics head and the z codebook only serve
training and are not exported.

fp16 (`fp16=True`): the networks compute in float16 while inputs and outputs stay in
float32 (images uint8): every backend and caller sees the same interface whatever the
precision, and `export.json` says which one a folder holds.

torch + numpy only (onnx and onnxscript, needed by torch.onnx.export, are imported
there, only on the machine that exports). Never imports rclpy.
"""
import contextlib
import datetime
import hashlib
import json
import os
import tempfile
import warnings

import torch
from torch import nn

from jepa_ros.core.predictor import rollout_by_steps

FORMATS = ('onnx', 'torchscript')
EXTENSIONS = {'onnx': '.onnx', 'torchscript': '.ts'}
MANIFEST = 'export.json'
MANIFEST_FORMAT = 'jepa_ros.export'
MANIFEST_VERSION = 1
# ONNX opset: 18 is the one the torch.onnx (dynamo) exporter writes natively (lower ones
# go through onnx's version converter) and current onnxruntime and TensorRT 10 parse;
# older TensorRT parsers (8.x) stop at lower opsets: export those with opset=17.
OPSET = 18
OPSET_RANGE = (14, 25)
DEFAULT_HORIZON = 12     # the planners' default horizon (core/planners.py SHARED_PARAMS)
BATCH = 'B'              # name of the dynamic batch dimension in graphs and export.json
_EXAMPLE_BATCH = 2       # traced with 2, not 1: a size-1 example would be specialised


class ExportError(ValueError):
    """The checkpoint or the options cannot be exported (a user error: CLI exit code 2)."""


# ---- graph wrappers: the exact computation of the torch model, one network each ----------
class _Precision(nn.Module):
    """Runs `dtype` inside and float32 at the boundary."""

    def __init__(self, dtype):
        super().__init__()
        self.dtype = dtype

    def inside(self, x):
        return x.to(self.dtype)

    @staticmethod
    def outside(x):
        return x.to(torch.float32)


class EncoderGraph(_Precision):
    def __init__(self, encoder, dtype=torch.float32):
        super().__init__(dtype)
        self.encoder = encoder

    def forward(self, images):
        # == images_to_tensor for uint8 input: NHWC bytes -> NCHW float in [0, 1]
        x = images.permute(0, 3, 1, 2).to(torch.float32).div(255.0)
        return self.outside(self.encoder(self.inside(x)))


class PredictorStepGraph(_Precision):
    def __init__(self, predictor, dtype=torch.float32):
        super().__init__(dtype)
        self.predictor = predictor

    def forward(self, s, a):
        return self.outside(self.predictor(self.inside(s), self.inside(a)))


class PredictorStepZGraph(PredictorStepGraph):
    def forward(self, s, a, z):
        return self.outside(self.predictor(self.inside(s), self.inside(a), self.inside(z)))


class RolloutGraph(_Precision):
    """WorldModel.rollout(s0, actions) with z = None, unrolled over `horizon` steps."""

    def __init__(self, predictor, horizon, dtype=torch.float32):
        super().__init__(dtype)
        self.predictor, self.horizon = predictor, int(horizon)

    def forward(self, s0, actions):
        a = self.inside(actions)[:, :self.horizon]
        return self.outside(rollout_by_steps(self.predictor, self.inside(s0), a))


class MLPGraph(_Precision):
    """One-input network (the level-2 encoder)."""

    def __init__(self, net, dtype=torch.float32):
        super().__init__(dtype)
        self.net = net

    def forward(self, s1):
        return self.outside(self.net(self.inside(s1)))


class Level2StepGraph(_Precision):
    def __init__(self, level2, dtype=torch.float32):
        super().__init__(dtype)
        self.level2 = level2

    def forward(self, s2, a2):
        return self.outside(self.level2.predict(self.inside(s2), self.inside(a2)))


class GoalNetGraph(_Precision):
    """Critic or actor: (latents (B, D), goals (B, D)) -> output."""

    def __init__(self, net, dtype=torch.float32):
        super().__init__(dtype)
        self.net = net

    def forward(self, latents, goals):
        return self.outside(self.net(self.inside(latents), self.inside(goals)))


# ---- what to export ------------------------------------------------------------------------
def _io(name, shape, dtype):
    return {'name': name, 'shape': [BATCH] + [int(d) for d in shape], 'dtype': dtype}


def networks(model, critic=None, actor=None, horizon=DEFAULT_HORIZON, dtype=torch.float32):
    """[(name, graph module, example inputs, inputs, outputs)] for a WorldModel (+ critic,
    actor); inputs/outputs as export.json describes them (shape with 'B' first)."""
    c = model.config
    d, a, b = c.latent_dim, c.action_dim, _EXAMPLE_BATCH
    f32 = 'float32'
    gen = torch.Generator().manual_seed(0)

    def rand(*shape):
        return torch.rand(*shape, generator=gen) * 2 - 1

    size = c.image_size
    images = torch.randint(0, 256, (b, size, size, 3), dtype=torch.uint8, generator=gen)
    out = [('encoder', EncoderGraph(model.encoder, dtype), (images,),
            [_io('images', (size, size, 3), 'uint8')], [_io('latents', (d,), f32)])]
    if c.z_dim:
        out.append(('predictor_step', PredictorStepZGraph(model.predictor, dtype),
                    (rand(b, d), rand(b, a), rand(b, c.z_dim)),
                    [_io('s', (d,), f32), _io('a', (a,), f32), _io('z', (c.z_dim,), f32)],
                    [_io('s_next', (d,), f32)]))
    else:
        out.append(('predictor_step', PredictorStepGraph(model.predictor, dtype),
                    (rand(b, d), rand(b, a)),
                    [_io('s', (d,), f32), _io('a', (a,), f32)], [_io('s_next', (d,), f32)]))
    out.append(('rollout', RolloutGraph(model.predictor, horizon, dtype),
                (rand(b, d), rand(b, horizon, a)),
                [_io('s0', (d,), f32), _io('actions', (horizon, a), f32)],
                [_io('latents', (horizon, d), f32)]))
    if model.level2 is not None:
        d2 = model.level2.latent_dim
        out.append(('level2_encoder', MLPGraph(model.level2.encoder, dtype), (rand(b, d),),
                    [_io('s1', (d,), f32)], [_io('s2', (d2,), f32)]))
        out.append(('level2_step', Level2StepGraph(model.level2, dtype),
                    (rand(b, d2), rand(b, a)),
                    [_io('s2', (d2,), f32), _io('a2', (a,), f32)],
                    [_io('s2_next', (d2,), f32)]))
    for name, net, output in (('critic', critic, _io('steps', (), f32)),
                              ('actor', actor, None)):
        if net is None:
            continue
        if output is None:
            output = _io('actions', (net.config.action_dim,), f32)
        out.append((name, GoalNetGraph(net, dtype), (rand(b, d), rand(b, d)),
                    [_io('latents', (d,), f32), _io('goals', (d,), f32)], [output]))
    return out


# ---- writers --------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet_exporter():
    """torch.onnx / jit.trace are chatty (missing torchvision ops, tracer and deprecation
    warnings about code paths these graphs do not take): keep the CLI output readable."""
    import logging
    loggers = [logging.getLogger(n) for n in ('torch.onnx', 'torch.export', 'torch._dynamo',
                                               'torch.fx', 'onnxscript')]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _export_onnx(graph, example, inputs, outputs, path, opset):
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs onnx + onnxscript)
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise ExportError(f'ONNX export needs the onnx and onnxscript packages: {exc}') \
            from None
    batch = torch.export.Dim(BATCH, min=1)
    names = [i['name'] for i in inputs]
    with _quiet_exporter():
        torch.onnx.export(graph, example, path, input_names=names,
                          output_names=[o['name'] for o in outputs],
                          dynamic_shapes={n: {0: batch} for n in names},
                          opset_version=opset, dynamo=True, external_data=False,
                          verbose=False)


def _export_torchscript(graph, example, path):
    with _quiet_exporter(), torch.no_grad():
        traced = torch.jit.trace(graph, example, check_trace=False)
        torch.jit.save(traced, path)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def _writable_dir(out_dir):
    """Create `out_dir` if needed and prove a file can be written there."""
    out_dir = os.fspath(out_dir)
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise NotADirectoryError(f'--out {out_dir}: exists and is not a folder')
    try:
        os.makedirs(out_dir, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out_dir, prefix='.write-test-')
        os.close(fd)
        os.remove(probe)
    except (NotADirectoryError, FileExistsError) as exc:
        raise NotADirectoryError(f'--out {out_dir}: cannot create the folder ({exc})') \
            from None
    except OSError as exc:   # EACCES, EROFS, ENOSPC: nothing can be written there
        raise PermissionError(f'--out {out_dir}: folder is not writable ({exc})') from None
    return out_dir


def _load_companion(path, kind, model):
    from jepa_ros.core import actor as actor_mod, critic as critic_mod  # noqa: F401 (kinds)
    from jepa_ros.core.checkpoint import CheckpointError, load_checkpoint
    try:
        net, _ = load_checkpoint(path, 'cpu', kind=kind)
    except CheckpointError as exc:
        raise ExportError(str(exc)) from None
    c = model.config
    if net.config.latent_dim != c.latent_dim:
        raise ExportError(f'{path}: {kind} latent_dim {net.config.latent_dim} does not match '
                          f'the world model ({c.latent_dim})')
    if kind == 'actor' and net.config.action_dim != c.action_dim:
        raise ExportError(f'{path}: actor action_dim {net.config.action_dim} does not match '
                          f'the world model ({c.action_dim})')
    return net


def companion_path(ckpt, kind):
    """The `kind` ('critic', 'actor') checkpoint named like the world model next to it
    (models/two_rooms_world_model.pt -> models/two_rooms_critic.pt), or None."""
    folder, name = os.path.split(os.fspath(ckpt))
    if 'world_model' not in name:
        return None
    path = os.path.join(folder, name.replace('world_model', kind))
    return path if os.path.isfile(path) else None


def export_checkpoint(ckpt, out_dir, fmt='onnx', fp16=False, critic=None, actor=None,
                      horizon=DEFAULT_HORIZON, opset=OPSET, log=None):
    """Export the robot's networks of world-model checkpoint `ckpt` (and of the `critic`
    and `actor` checkpoints when given) into `out_dir`; -> the manifest dict, also written
    to `out_dir/export.json` (last, so a folder with a manifest is complete).

    ExportError / NotADirectoryError / PermissionError / FileNotFoundError on bad input."""
    from jepa_ros.core.checkpoint import CheckpointError, load_checkpoint
    log = log or (lambda msg: None)
    if fmt not in FORMATS:
        raise ExportError(f'unknown export format {fmt!r}; one of {list(FORMATS)}')
    if not isinstance(horizon, int) or not 1 <= horizon <= 128:
        raise ExportError(f'horizon must be an integer in [1, 128], got {horizon!r}')
    if fmt == 'onnx' and not OPSET_RANGE[0] <= int(opset) <= OPSET_RANGE[1]:
        raise ExportError(f'opset must be in {list(OPSET_RANGE)}, got {opset!r}')
    for path in (ckpt, critic, actor):
        if path is not None and not os.path.isfile(path):
            raise FileNotFoundError(f'{path}: no such checkpoint file')
    try:
        model, _ = load_checkpoint(ckpt, 'cpu', kind='world_model')
    except CheckpointError as exc:
        raise ExportError(f'not a world-model checkpoint: {exc}') from None
    critic_net = _load_companion(critic, 'critic', model) if critic else None
    actor_net = _load_companion(actor, 'actor', model) if actor else None
    out_dir = _writable_dir(out_dir)
    stale = os.path.join(out_dir, MANIFEST)
    if os.path.exists(stale):
        os.remove(stale)   # the folder is not a valid export until the new manifest exists
    dtype = torch.float16 if fp16 else torch.float32
    if fp16:
        # Copies: the float32 originals stay as they are for the caller.
        import copy
        model = copy.deepcopy(model).half()
        critic_net = copy.deepcopy(critic_net).half() if critic_net is not None else None
        actor_net = copy.deepcopy(actor_net).half() if actor_net is not None else None
    files = {}
    for name, graph, example, inputs, outputs in networks(model, critic_net, actor_net,
                                                          horizon, dtype):
        graph.eval()
        filename = name + EXTENSIONS[fmt]
        path = os.path.join(out_dir, filename)
        log(f'exporting {name} -> {path}')
        if fmt == 'onnx':
            _export_onnx(graph, example, inputs, outputs, path, opset)
        else:
            _export_torchscript(graph, example, path)
        files[name] = {'file': filename, 'inputs': inputs, 'outputs': outputs}
    c = model.config
    sources = {'world_model': {'path': os.path.abspath(ckpt), 'sha256': sha256_of(ckpt)}}
    for kind, path in (('critic', critic), ('actor', actor)):
        if path:
            sources[kind] = {'path': os.path.abspath(path), 'sha256': sha256_of(path)}
    manifest = {
        'format': MANIFEST_FORMAT,
        'format_version': MANIFEST_VERSION,
        'export_format': fmt,
        'precision': 'fp16' if fp16 else 'fp32',
        'opset': opset if fmt == 'onnx' else None,
        'torch_version': str(torch.__version__),
        'created': datetime.datetime.now(datetime.timezone.utc).isoformat(),
        'batch_dim': BATCH,
        'config': {
            'world': c.world,
            'latent_dim': c.latent_dim,
            'action_dim': c.action_dim,
            'action_scale': list(c.action_scale),
            'action_mode': c.action_mode,
            'image_size': c.image_size,
            'horizon': horizon,
            'z_dim': c.z_dim,
            'level2_k': c.level2_k,
            'level2_dim': c.level2_dim if c.level2_k else 0,
            'critic_step_scale': (float(critic_net.config.step_scale)
                                  if critic_net is not None else None),
        },
        'world_model_config': c.to_dict(),
        'sources': sources,
        'source_sha256': sources['world_model']['sha256'],
        'files': files,
    }
    tmp = os.path.join(out_dir, MANIFEST + '.tmp')
    with open(tmp, 'w') as f:
        json.dump(manifest, f, indent=1)
    os.replace(tmp, os.path.join(out_dir, MANIFEST))
    return manifest

