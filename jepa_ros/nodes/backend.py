"""The `backend` and `export_dir` parameters of the model nodes (perception, world_model,
actor) and the loading of an exported folder for them (jepa_ros.core.backends).

`backend: torch` with `export_dir: ''` (the default) runs the checkpoints' torch modules
in-process, as before. With `export_dir` (a folder from `jepa-ros export`) every network
of the node comes from that folder, on `backend` torch (TorchScript files), onnxruntime
or tensorrt (ONNX files), and the checkpoint parameters are not read: the critic and the
Mode-1 actor are the ones the folder holds (`jepa-ros export --critic/--actor`), the
action scales and mode come from its export.json. A folder or backend that cannot load
fails configure with the reason: the node stays unconfigured.
"""
from jepa_ros.core.backends import BACKENDS
from jepa_ros.nodes.parameters import ParamSpec


def backend_params(what):
    """The two parameter specs; `what` names what the backend runs in this node."""
    return [
        ParamSpec('backend', 'torch', f'inference backend of {what}: torch (the checkpoint '
                  'modules in-process, or the TorchScript files of export_dir), onnxruntime '
                  '(CPU; CUDA execution provider with device cuda) or tensorrt (GPU; needs '
                  'the tensorrt package): the last two run the ONNX files of export_dir',
                  choices=list(BACKENDS), read_only=True),
        ParamSpec('export_dir', '', 'folder written by `jepa-ros export` whose networks '
                  'this node runs instead of the checkpoints (critic and Mode-1 actor '
                  'included: the checkpoint parameters are not read); "" = the checkpoints '
                  '(backend torch only); relative paths as for checkpoint', read_only=True),
    ]


class BackendLoadError(RuntimeError):
    """backend / export_dir cannot be used (the message says which and why)."""


def load_node_backend(node, parts, optional=()):
    """The ExportedModels of the node's `export_dir` on its `backend` (device and threads
    from its `device` / `torch_threads` parameters), or None for backend torch without an
    export_dir. `parts` must be in the folder; `optional` are loaded when it has them."""
    from jepa_ros.core.backends import BackendError, load_exported, read_manifest
    from jepa_ros.share import resolve_data_path
    backend = node.p['backend']
    given = node.p['export_dir']
    if not given:
        if backend == 'torch':
            return None
        raise BackendLoadError(f'backend {backend!r} runs the networks of an exported '
                               f'folder: set export_dir (make one with: jepa-ros export '
                               f'--ckpt FILE --format onnx --out DIR)')
    try:
        folder = resolve_data_path(given)
        files = read_manifest(folder)['files']
        names = list(parts) + [n for n in optional if n in files]
        return load_exported(folder, backend, node.p.get('device', 'cpu'), parts=names,
                             threads=node.p.get('torch_threads', 1))
    except (BackendError, OSError, ValueError) as exc:
        raise BackendLoadError(f'cannot load backend {backend!r} from export_dir '
                               f'{given!r}: {exc}') from None

