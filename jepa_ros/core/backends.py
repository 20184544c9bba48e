"""Inference backends: run the networks of an exported folder (jepa_ros.core.export).

    torch        TorchScript files of a `--format torchscript` export, on the torch device
                 (the nodes' default `backend: torch` with `export_dir: ''` keeps running
                 the checkpoint's modules in-process and does not come here)
    onnxruntime  ONNX files; CUDAExecutionProvider when the device allows it and the
                 installed onnxruntime has it, else CPUExecutionProvider
    tensorrt     ONNX files built into TensorRT engines (cached next to them); needs the
                 `tensorrt` package and a CUDA GPU, refused with a clear error otherwise

`load_exported(export_dir, backend, device)` -> `ExportedModels` with
* `world_model` (`ExportedWorldModel`): the part of WorldModel's interface the nodes and
  the planners use, torch tensors in and out: `config`, `encode(uint8 images)`,
  `predict`, `rollout`, `level2`, `device`. The sampling planners (mppi, cem, random,
  hierarchical over them) run on it unchanged. `encoder` (`EncoderBackend`) is the same
  encoder with numpy out.
* `actor`, `critic` (`GoalNetBackend`): callables (latents, goals) like the torch
  networks, plus `.numpy()`.

Gradient planning (gd, and hierarchical with a gd level) needs autograd through the
predictor: only torch modules give it (`check_planner_backend` says so at configure; the
runtimes' rollouts refuse a differentiable call). No rclpy here.
"""
import json
import os
import types
import warnings

import numpy as np
import torch

from jepa_ros.core import export as export_mod
from jepa_ros.core.predictor import rollout_by_steps

BACKENDS = ('torch', 'onnxruntime', 'tensorrt')
# The backends that need autograd-free (sampling) planning.
SAMPLING_PLANNERS = ('mppi', 'cem', 'random')
_TORCH_DTYPES = {'float32': torch.float32, 'uint8': torch.uint8, 'float16': torch.float16}
# Largest batch a TensorRT engine is built for, per network (profiles need a maximum):
# the encoder sees a few images, the rollout samples x problems (planner samples <= 8192).
TRT_MAX_BATCH = {'encoder': 64}
TRT_DEFAULT_MAX_BATCH = 8192


class BackendError(RuntimeError):
    """An exported folder or backend cannot be used (message says which and why)."""


def gradient_message(backend):
    return (f'gradient planning (planner gd, or hierarchical with a gd level) needs '
            f'autograd through torch modules; backend {backend!r} runs the sampling '
            f'planners only ({", ".join(SAMPLING_PLANNERS)}): use backend torch for gd')


def planner_needs_gradients(values):
    """True when the flat planning settings `values` plan by gradient descent."""
    name = values.get('planner', 'gd')
    if name == 'gd':
        return True
    if name == 'hierarchical':
        return 'gd' in (values.get('hierarchical.level1', 'gd'),
                        values.get('hierarchical.level2', 'gd'))
    return False


def check_planner_backend(values, backend):
    """ValueError when the planner of `values` cannot run on `backend` (gd off torch)."""
    if backend != 'torch' and planner_needs_gradients(values):
        raise ValueError(gradient_message(backend))


# ---- manifest ------------------------------------------------------------------------------
def read_manifest(export_dir):
    """The checked export.json of `export_dir`; BackendError when it is not an export."""
    export_dir = os.fspath(export_dir or '')
    if not export_dir:
        raise BackendError('no export_dir given (make one with: jepa-ros export --ckpt FILE '
                           '--format onnx --out DIR)')
    path = os.path.join(export_dir, export_mod.MANIFEST)
    if not os.path.isdir(export_dir):
        raise BackendError(f'export_dir {export_dir!r} is not a folder')
    if not os.path.isfile(path):
        raise BackendError(f'{export_dir!r} has no {export_mod.MANIFEST}: not an export '
                           f'folder (or an export that did not finish)')
    try:
        with open(path) as f:
            manifest = json.load(f)
    except (OSError, ValueError) as exc:
        raise BackendError(f'{path}: unreadable manifest ({exc})') from None
    if not isinstance(manifest, dict) or manifest.get('format') != export_mod.MANIFEST_FORMAT:
        raise BackendError(f'{path}: not a jepa_ros export manifest')
    if manifest.get('format_version') != export_mod.MANIFEST_VERSION:
        raise BackendError(f'{path}: manifest version {manifest.get("format_version")}, '
                           f'expected {export_mod.MANIFEST_VERSION}')
    for key in ('export_format', 'config', 'world_model_config', 'files'):
        if key not in manifest:
            raise BackendError(f'{path}: manifest has no {key!r}')
    return manifest


# ---- runners: one network, torch tensors in, torch tensors out -----------------------------
class _Runner:
    def __init__(self, name, spec):
        self.name = name
        self.inputs, self.outputs = spec['inputs'], spec['outputs']

    def _check(self, tensors):
        if len(tensors) != len(self.inputs):
            raise ValueError(f'{self.name}: takes {len(self.inputs)} inputs, got '
                             f'{len(tensors)}')
        for spec, t in zip(self.inputs, tensors):
            want = spec['shape'][1:]
            if t.dim() != len(spec['shape']) or list(t.shape[1:]) != want:
                raise ValueError(f'{self.name}: input {spec["name"]} must be '
                                 f'{spec["shape"]}, got {list(t.shape)}')


class TorchScriptRunner(_Runner):
    def __init__(self, name, spec, path, device):
        super().__init__(name, spec)
        self.device = device
        with warnings.catch_warnings():
            # torch 2.13 marks torch.jit deprecated in favour of torch.export; TorchScript
            # is still what C++/LibTorch deployments load, so it stays an export format.
            warnings.filterwarnings('ignore', message='.*torch.jit.* is deprecated')
            self.module = torch.jit.load(path, map_location=device).eval()

    def __call__(self, *tensors):
        self._check(tensors)
        args = [t.to(self.device, _TORCH_DTYPES[s['dtype']])
                for s, t in zip(self.inputs, tensors)]
        out = self.module(*args)
        return out if isinstance(out, tuple) else (out,)


def ort_providers(device='auto'):
    """Execution providers for `device` ('auto': CUDA when onnxruntime has it, 'cpu',
    'cuda'/'cuda:N': CUDA or BackendError)."""
    import onnxruntime as ort
    available = ort.get_available_providers()
    device = str(device or 'auto')
    if device == 'cpu':
        return ['CPUExecutionProvider']
    if device.startswith('cuda'):
        if 'CUDAExecutionProvider' not in available:
            raise BackendError(f'device {device!r}: this onnxruntime has no '
                               f'CUDAExecutionProvider (providers: {available}); install '
                               f'onnxruntime-gpu or use device cpu')
        index = device.split(':', 1)[1] if ':' in device else '0'
        return [('CUDAExecutionProvider', {'device_id': int(index)}), 'CPUExecutionProvider']
    if device != 'auto':
        raise BackendError(f'unknown device {device!r} (auto, cpu, cuda)')
    if 'CUDAExecutionProvider' in available:
        return ['CUDAExecutionProvider', 'CPUExecutionProvider']
    return ['CPUExecutionProvider']


class OrtRunner(_Runner):
    def __init__(self, name, spec, path, providers, threads=None):
        super().__init__(name, spec)
        import onnxruntime as ort
        options = ort.SessionOptions()
        if threads:
            # One process per node, each given its share of the cores (as torch_threads).
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(path, options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own (Fail, InvalidGraph, ...)
            raise BackendError(f'onnxruntime cannot load {path}: {exc}') from None
        self.output_names = [o['name'] for o in self.outputs]
        self.providers = self.session.get_providers()

    def __call__(self, *tensors):
        self._check(tensors)
        feeds = {}
        for spec, t in zip(self.inputs, tensors):
            arr = t.detach().to('cpu', _TORCH_DTYPES[spec['dtype']]).numpy()
            feeds[spec['name']] = np.ascontiguousarray(arr)
        return tuple(torch.from_numpy(o) for o in self.session.run(self.output_names, feeds))


class TensorRTRunner(_Runner):
    """A TensorRT engine built from the ONNX file (cached as FILE.fp16|fp32.engine, rebuilt
    when the ONNX file or TensorRT version changes); buffers are torch CUDA tensors."""

    def __init__(self, name, spec, path, device, fp16, max_batch):
        super().__init__(name, spec)
        import tensorrt as trt
        self.trt = trt
        self.device = torch.device(device)
        self.logger = trt.Logger(trt.Logger.WARNING)
        engine_path = f'{path}.{"fp16" if fp16 else "fp32"}.engine'
        stamp = f'{trt.__version__} {os.path.getmtime(path)} {max_batch}'
        data = None
        if os.path.isfile(engine_path) and os.path.isfile(engine_path + '.stamp'):
            with open(engine_path + '.stamp') as f:
                if f.read() == stamp:
                    with open(engine_path, 'rb') as g:
                        data = g.read()
        if data is None:
            data = self._build(path, fp16, max_batch)
            try:
                with open(engine_path, 'wb') as f:
                    f.write(data)
                with open(engine_path + '.stamp', 'w') as f:
                    f.write(stamp)
            except OSError:
                pass   # a read-only export folder: build again next time
        with torch.cuda.device(self.device):
            self.runtime = trt.Runtime(self.logger)   # must outlive the engine
            self.engine = self.runtime.deserialize_cuda_engine(data)
            if self.engine is None:
                raise BackendError(f'TensorRT could not load the engine built from {path}')
            self.context = self.engine.create_execution_context()

    def _build(self, path, fp16, max_batch):
        trt = self.trt
        builder = trt.Builder(self.logger)
        flag = getattr(trt.NetworkDefinitionCreationFlag, 'EXPLICIT_BATCH', None)
        network = builder.create_network(0 if flag is None else 1 << int(flag))
        parser = trt.OnnxParser(network, self.logger)
        with open(path, 'rb') as f:
            if not parser.parse(f.read()):
                errors = '; '.join(str(parser.get_error(i)) for i in range(parser.num_errors))
                raise BackendError(f'TensorRT cannot parse {path}: {errors}')
        config = builder.create_builder_config()
        if fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        profile = builder.create_optimization_profile()
        for spec in self.inputs:
            rest = tuple(spec['shape'][1:])
            profile.set_shape(spec['name'], (1,) + rest, (min(128, max_batch),) + rest,
                              (max_batch,) + rest)
        config.add_optimization_profile(profile)
        data = builder.build_serialized_network(network, config)
        if data is None:
            raise BackendError(f'TensorRT could not build an engine from {path}')
        return bytes(data)

    def __call__(self, *tensors):
        self._check(tensors)
        ctx = self.context
        args = [t.to(self.device, _TORCH_DTYPES[s['dtype']]).contiguous()
                for s, t in zip(self.inputs, tensors)]
        for spec, t in zip(self.inputs, args):
            ctx.set_input_shape(spec['name'], tuple(t.shape))
            ctx.set_tensor_address(spec['name'], t.data_ptr())
        outs = []
        for spec in self.outputs:
            shape = tuple(ctx.get_tensor_shape(spec['name']))
            out = torch.empty(shape, dtype=_TORCH_DTYPES[spec['dtype']], device=self.device)
            ctx.set_tensor_address(spec['name'], out.data_ptr())
            outs.append(out)
        stream = torch.cuda.current_stream(self.device)
        if not ctx.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f'{self.name}: TensorRT execution failed')
        stream.synchronize()
        return tuple(outs)


# ---- the objects callers use -----------------------------------------------------------------
def _no_grad_call(backend, tensors):
    if backend != 'torch' and torch.is_grad_enabled() and any(
            isinstance(t, torch.Tensor) and t.requires_grad for t in tensors):
        raise RuntimeError(gradient_message(backend))


class _Missing:
    """Stands for a network the folder does not hold; says so when called."""

    def __init__(self, name, export_dir):
        self.name, self.export_dir = name, export_dir

    def __call__(self, *args):
        raise BackendError(f'{self.export_dir!r} holds no {self.name!r} network (export it: '
                           f'jepa-ros export ... --{self.name} FILE)'
                           if self.name in ('critic', 'actor') else
                           f'{self.export_dir!r} holds no {self.name!r} network')


class EncoderBackend:
    """uint8 RGB (B, H, W, 3) or (H, W, 3), numpy or torch -> latents."""

    def __init__(self, runner, image_size, backend):
        self.runner, self.image_size, self.backend = runner, int(image_size), backend

    def _images(self, images):
        if isinstance(images, np.ndarray):
            images = torch.from_numpy(np.ascontiguousarray(images))
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8:
            raise ValueError('exported encoders take uint8 RGB images (B, H, W, 3)')
        if images.dim() == 3:
            images = images.unsqueeze(0)
        s = self.image_size
        if images.dim() != 4 or tuple(images.shape[1:]) != (s, s, 3):
            raise ValueError(f'images must be (B, {s}, {s}, 3) uint8 (the model input size), '
                             f'got {tuple(images.shape)}')
        return images

    def encode(self, images):
        """-> float32 torch (B, D) on the backend's output device."""
        with torch.no_grad():
            return self.runner(self._images(images))[0]

    def __call__(self, images):
        """-> float32 numpy (B, D)."""
        return self.encode(images).detach().cpu().numpy()


class GoalNetBackend:
    """Exported critic or actor: (latents (B, D), goals (B, D) or (D,)) -> output, like the
    torch network (torch in, torch out on the latents' device); numpy() for numpy."""

    def __init__(self, runner, config, backend):
        self.runner, self.config, self.backend = runner, config, backend
        self.action_dim = getattr(config, 'action_dim', None)

    def __call__(self, latents, goals):
        _no_grad_call(self.backend, (latents, goals))
        if goals.dim() == 1:
            goals = goals.expand_as(latents)
        return self.runner(latents, goals)[0].to(latents.device)

    def numpy(self, latents, goals):
        latents = torch.as_tensor(np.asarray(latents, dtype=np.float32))
        goals = torch.as_tensor(np.asarray(goals, dtype=np.float32))
        with torch.no_grad():
            return self(latents, goals).cpu().numpy()

    # torch-module calls callers make on their networks
    def eval(self):
        return self

    def requires_grad_(self, flag=True):
        return self


class ExportedLevel2:
    """The H-JEPA level 2 of an export: what HierarchicalPlanner reads of model.level2."""

    def __init__(self, encoder, step, k, latent_dim, backend):
        self._encoder, self._step = encoder, step
        self.k, self.latent_dim, self.backend = int(k), int(latent_dim), backend

    def encode(self, s1):
        _no_grad_call(self.backend, (s1,))
        return self._encoder(s1)[0].to(s1.device)

    def predict(self, s2, a2):
        _no_grad_call(self.backend, (s2, a2))
        return self._step(s2, a2)[0].to(s2.device)

    def rollout(self, s2, a2_seq):
        return rollout_by_steps(self.predict, s2, a2_seq)


class ExportedWorldModel:
    """World model of an exported folder with the interface of WorldModel that the nodes
    and the sampling planners use (torch tensors in and out)."""

    def __init__(self, runners, manifest, backend, export_dir, device):
        from jepa_ros.core.world_model import WorldModelConfig
        self.config = WorldModelConfig.from_dict(manifest['world_model_config'])
        self.horizon = int(manifest['config']['horizon'])
        self.backend, self.manifest = backend, manifest
        self._device = device

        def get(name):
            return runners.get(name) or _Missing(name, export_dir)
        self._step, self._rollout = get('predictor_step'), get('rollout')
        self.encoder = EncoderBackend(get('encoder'), self.config.image_size, backend)
        self.level2 = None
        if 'level2_encoder' in runners and 'level2_step' in runners:
            self.level2 = ExportedLevel2(runners['level2_encoder'], runners['level2_step'],
                                         self.config.level2_k, self.config.level2_dim,
                                         backend)

    @property
    def device(self):
        """Where encode() delivers latents (and callers keep theirs)."""
        return torch.device(self._device)

    def encode(self, images):
        return self.encoder.encode(images).to(self.device)

    def predict(self, s, a, z=None):
        _no_grad_call(self.backend, (s, a, z))
        if self.config.z_dim:
            if z is None:
                z = s.new_zeros(s.shape[0], self.config.z_dim)
            return self._step(s, a, z)[0].to(s.device)
        return self._step(s, a)[0].to(s.device)

    def rollout(self, s0, actions, z=None):
        """(B, D), (B, T, A) -> (B, T, D): the exported rollout when T is its horizon and
        z is None, else predictor steps chained."""
        _no_grad_call(self.backend, (s0, actions, z))
        if z is None and actions.shape[1] == self.horizon:
            return self._rollout(s0, actions)[0].to(s0.device)
        return rollout_by_steps(self.predict, s0, actions, z)

    def latent_codes(self):
        return None

    def eval(self):
        return self

    def requires_grad_(self, flag=True):
        return self


class ExportedModels:
    """What load_exported returns: manifest, world_model, encoder, critic, actor (None when
    the folder does not hold them or they were not asked for)."""

    def __init__(self, manifest, world_model, critic, actor, backend, providers):
        self.manifest, self.world_model = manifest, world_model
        self.encoder = world_model.encoder
        self.critic, self.actor = critic, actor
        self.backend, self.providers = backend, providers


def _check_backend(backend, device):
    if backend not in BACKENDS:
        raise BackendError(f'unknown backend {backend!r}; one of {list(BACKENDS)}')
    if backend == 'onnxruntime':
        try:
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            raise BackendError(f'backend onnxruntime: the onnxruntime package is not '
                               f'installed ({exc})') from None
    if backend == 'tensorrt':
        try:
            import tensorrt  # noqa: F401
        except ImportError:
            raise BackendError('backend tensorrt needs the tensorrt Python package (JetPack '
                               'ships it; pip install tensorrt on a desktop GPU); use '
                               'backend onnxruntime or torch here') from None
        if not torch.cuda.is_available():
            raise BackendError('backend tensorrt needs a CUDA GPU and none is available; '
                               'use backend onnxruntime or torch')
        if str(device) == 'cpu':
            raise BackendError('backend tensorrt runs on the GPU: set device cuda')


def load_exported(export_dir, backend='onnxruntime', device='auto', parts=None,
                  threads=None):
    """Load the networks of an exported folder on `backend`.

    `device`: 'auto' (CUDA when there is one and the backend can use it), 'cpu', 'cuda'.
    `parts`: names of the networks to load (default: every file of the folder); a part
    asked for that the folder lacks is a BackendError. `threads`: CPU threads per network
    (onnxruntime; torch uses torch.set_num_threads). BackendError on any problem."""
    _check_backend(backend, device)
    manifest = read_manifest(export_dir)
    fmt = manifest['export_format']
    want = 'torchscript' if backend == 'torch' else 'onnx'
    if fmt != want:
        raise BackendError(f'{export_dir!r} holds a {fmt} export; backend {backend!r} loads '
                           f'a {want} export (jepa-ros export --format {want})')
    files = manifest['files']
    names = list(files) if parts is None else list(parts)
    missing = [n for n in names if n not in files]
    if missing:
        raise BackendError(f'{export_dir!r} holds no {missing} network(s) (it has '
                           f'{sorted(files)})')
    fp16 = manifest.get('precision') == 'fp16'
    providers = None
    if backend == 'onnxruntime':
        providers = ort_providers(device)
        out_device = 'cpu'   # outputs come back as numpy, hence CPU tensors
    elif backend == 'tensorrt':
        out_device = 'cuda' if str(device) == 'auto' else str(device)
    else:
        out_device = ('cuda' if torch.cuda.is_available() else 'cpu') \
            if str(device) == 'auto' else str(device)
        if out_device.startswith('cuda') and not torch.cuda.is_available():
            raise BackendError(f'device {device!r} asked for but CUDA is not available')
    runners = {}
    for name in names:
        spec = files[name]
        path = os.path.join(os.fspath(export_dir), spec['file'])
        if not os.path.isfile(path):
            raise BackendError(f'{path}: listed in export.json but missing')
        try:
            if backend == 'onnxruntime':
                runners[name] = OrtRunner(name, spec, path, providers, threads)
            elif backend == 'tensorrt':
                runners[name] = TensorRTRunner(
                    name, spec, path, out_device, fp16,
                    TRT_MAX_BATCH.get(name, TRT_DEFAULT_MAX_BATCH))
            else:
                runners[name] = TorchScriptRunner(name, spec, path, out_device)
        except BackendError:
            raise
        except Exception as exc:   # a corrupt file, a runtime that cannot build it
            raise BackendError(f'{backend} cannot load {path}: {exc}') from None
    if backend == 'onnxruntime' and runners:
        providers = next(iter(runners.values())).providers
    cfg = manifest['config']
    world_model = ExportedWorldModel(runners, manifest, backend, export_dir, out_device)
    critic = actor = None
    if 'critic' in runners:
        critic = GoalNetBackend(runners['critic'], types.SimpleNamespace(
            latent_dim=cfg['latent_dim'], step_scale=cfg.get('critic_step_scale')), backend)
    if 'actor' in runners:
        actor = GoalNetBackend(runners['actor'], types.SimpleNamespace(
            latent_dim=cfg['latent_dim'], action_dim=cfg['action_dim']), backend)
    return ExportedModels(manifest, world_model, critic, actor, backend, providers)
