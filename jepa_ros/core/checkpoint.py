"""Checkpoints as plain data: loadable with `torch.load(path, weights_only=True)`.

File layout (a dict): format, format_version, kind ('world_model', 'critic', 'actor', ...),
config (plain dict of the model's dataclass config), state_dict (tensors), provenance
(git commit, time, torch version) and extra (data description, metrics, anything plain).
No pickled classes are stored, so loading never executes code from the file.

Other modules add their kinds with `register_kind(kind, build)` where `build(config_dict)`
returns an nn.Module with a `.config` dataclass (or `to_dict()`-able) attribute.
"""
import dataclasses
import datetime
import json
import os
import subprocess
import tempfile
import zipfile
import pickle

import numpy as np
import torch

FORMAT = 'jepa_ros.checkpoint'
FORMAT_VERSION = 1
_BUILDERS = {}


class CheckpointError(Exception):
    """The file is missing, unreadable, unsafe or does not fit the expected model."""


def register_kind(kind, build):
    _BUILDERS[kind] = build


def _build_world_model(config_dict):
    from jepa_ros.core.world_model import WorldModel, WorldModelConfig
    return WorldModel(WorldModelConfig.from_dict(config_dict))


register_kind('world_model', _build_world_model)


def plain(obj, where='extra'):
    """Recursively convert to types the weights_only unpickler accepts; reject the rest."""
    if obj is None:
        return None
    # Exact builtin types: subclasses (e.g. torch's TorchVersion str) would be pickled as
    # their own class, which weights_only loading refuses.
    for base in (bool, int, float, str):
        if isinstance(obj, base):
            return base(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if torch.is_tensor(obj):
        return obj.detach().cpu()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return plain(dataclasses.asdict(obj), where)
    if isinstance(obj, dict):
        return {str(k): plain(v, f'{where}.{k}') for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v, f'{where}[{i}]') for i, v in enumerate(obj)]
    raise TypeError(f'{where}: {type(obj).__name__} cannot be stored in a checkpoint')


def git_commit(root=None):
    """'<sha>' or '<sha>-dirty' of the source tree, or 'unknown' outside a git checkout
    (an installed package has no source tree: its provenance says 'unknown')."""
    from jepa_ros.share import source_root
    root = root or source_root()
    if root is None:
        return 'unknown'
    try:
        sha = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=root, capture_output=True,
                             text=True, timeout=5).stdout.strip()
        if not sha:
            return 'unknown'
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                               cwd=root, capture_output=True, text=True, timeout=5).stdout
        return sha + ('-dirty' if dirty.strip() else '')
    except (OSError, subprocess.SubprocessError):
        return 'unknown'


def _config_dict(model):
    cfg = getattr(model, 'config', None)
    if cfg is None:
        raise TypeError(f'{type(model).__name__} has no .config to store')
    if dataclasses.is_dataclass(cfg):
        return plain(dataclasses.asdict(cfg), 'config')
    if hasattr(cfg, 'to_dict'):
        return plain(cfg.to_dict(), 'config')
    return plain(cfg, 'config')


def save_checkpoint(path, model, extra=None, kind=None):
    """Write model weights + config + provenance + `extra` atomically to `path`."""
    kind = kind or getattr(model, 'checkpoint_kind', None)
    if kind is None:
        raise ValueError('kind not given and the model has no checkpoint_kind')
    payload = {
        'format': FORMAT,
        'format_version': FORMAT_VERSION,
        'kind': kind,
        'config': _config_dict(model),
        'state_dict': {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        'provenance': {
            'git_commit': git_commit(),
            'saved_at': datetime.datetime.now(datetime.timezone.utc).isoformat(),
            'torch_version': str(torch.__version__),
        },
        'extra': plain(extra or {}),
    }
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix='.tmp')
    os.close(fd)
    try:
        torch.save(payload, tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it owner-only; a checkpoint is shared
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def read_checkpoint(path, map_location='cpu'):
    """The raw checkpoint dict, checked for format; CheckpointError on any problem."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f'{path}: no such checkpoint file')
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # weights_only refuses any global that is not plain data: nothing was executed.
        raise CheckpointError(f'{path}: refused unsafe or unknown content ({exc})') from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError,
            AttributeError, IndexError, KeyError, TypeError) as exc:
        raise CheckpointError(f'{path}: truncated or corrupt checkpoint ({exc})') from None
    if not isinstance(payload, dict) or payload.get('format') != FORMAT:
        raise CheckpointError(f'{path}: not a jepa_ros checkpoint')
    if payload.get('format_version') != FORMAT_VERSION:
        raise CheckpointError(f'{path}: checkpoint format version '
                              f'{payload.get("format_version")}, expected {FORMAT_VERSION}')
    for key in ('kind', 'config', 'state_dict'):
        if key not in payload:
            raise CheckpointError(f'{path}: checkpoint has no {key!r}')
    return payload


def load_checkpoint(path, map_location='cpu', kind='world_model'):
    """-> (model in eval mode on map_location, extra dict with 'provenance' added)."""
    payload = read_checkpoint(path, map_location)
    if kind is not None and payload['kind'] != kind:
        raise CheckpointError(f'{path}: is a {payload["kind"]!r} checkpoint, '
                              f'expected {kind!r}')
    build = _BUILDERS.get(payload['kind'])
    if build is None:
        raise CheckpointError(f'{path}: unknown checkpoint kind {payload["kind"]!r}')
    try:
        model = build(payload['config'])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f'{path}: config does not build a {payload["kind"]}: {exc}') \
            from None
    try:
        model.load_state_dict(payload['state_dict'], strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise CheckpointError(f'{path}: weights do not match the architecture in its config: '
                              f'{first[0] if first else exc}') from None
    model.to(map_location).eval()
    extra = dict(payload.get('extra') or {})
    extra['provenance'] = payload.get('provenance', {})
    return model, extra


MODEL_VERSION_DIGITS = 12


def model_version(path):
    """The model version of a world model: the first 12 hex digits of the sha256 of the
    checkpoint file's bytes, which define the latent space. For a folder written by
    `jepa-ros export` it is the same digits of the source checkpoint's sha256 recorded in
    its export.json, so a node running the export and one running the checkpoint agree.

    Every node derives its version with this one function, so nodes that load the same
    file agree without being told. CheckpointError when the file (or manifest) cannot be
    read."""
    from jepa_ros.core.export import MANIFEST, sha256_of
    path = os.fspath(path)
    if os.path.isdir(path):
        manifest = os.path.join(path, MANIFEST)
        try:
            with open(manifest) as f:
                digest = json.load(f)['source_sha256']
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f'{path}: no source_sha256 in {MANIFEST} ({exc!r})') \
                from None
        if not isinstance(digest, str) or len(digest) < MODEL_VERSION_DIGITS:
            raise CheckpointError(f'{manifest}: source_sha256 {digest!r} is not a sha256')
        return digest[:MODEL_VERSION_DIGITS].lower()
    try:
        return sha256_of(path)[:MODEL_VERSION_DIGITS]
    except OSError as exc:
        raise CheckpointError(f'{path}: cannot read checkpoint ({exc.strerror or exc})') \
            from None
