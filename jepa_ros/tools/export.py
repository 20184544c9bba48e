"""`jepa-ros export --ckpt FILE --format {onnx,torchscript} --out DIR`: the robot's networks.

Writes encoder (raw uint8 RGB in), predictor step, a fixed-horizon batched rollout,
level-2 networks, critic and Mode-1 actor, with DIR/export.json describing every file
(jepa_ros/core/export.py). The nodes run such a folder with `backend: onnxruntime`
(or tensorrt, or torch for TorchScript) and `export_dir: DIR`.

Critic and actor: `--critic FILE` / `--actor FILE`; by default (`auto`) the checkpoints
named like the world model next to it (models/two_rooms_world_model.pt ->
models/two_rooms_critic.pt, models/two_rooms_actor.pt) when they exist; `none` leaves
them out.
"""
import os
import time

AUTO, NONE = 'auto', 'none'


def add_arguments(parser):
    from jepa_ros.core.export import DEFAULT_HORIZON, FORMATS, OPSET
    parser.add_argument('--ckpt', required=True, help='world model checkpoint')
    parser.add_argument('--format', default='onnx', choices=list(FORMATS),
                        help='onnx (onnxruntime, TensorRT) or torchscript (torch backend)')
    parser.add_argument('--out', required=True, help='folder to write (created if needed)')
    parser.add_argument('--fp16', action='store_true',
                        help='networks compute in float16 (inputs/outputs stay float32, '
                             'images uint8): for GPUs (CUDA, TensorRT)')
    parser.add_argument('--critic', default=AUTO,
                        help='critic checkpoint; auto: the one named like --ckpt next to it '
                             '(if any); none: no critic')
    parser.add_argument('--actor', default=AUTO,
                        help='Mode-1 actor checkpoint; auto / none as for --critic')
    parser.add_argument('--horizon', type=int, default=DEFAULT_HORIZON,
                        help='steps of the exported batched rollout (the planners\' horizon)')
    parser.add_argument('--opset', type=int, default=OPSET,
                        help='ONNX opset (17 for TensorRT 8.x parsers, e.g. JetPack 5)')


def _companion(value, ckpt, kind):
    from jepa_ros.core.export import companion_path
    if value == NONE or value == '':
        return None
    if value == AUTO:
        return companion_path(ckpt, kind)
    return value


def run(args):
    from jepa_ros.core.export import export_checkpoint
    if not os.path.isfile(args.ckpt):
        raise FileNotFoundError(f'--ckpt {args.ckpt}: no such file')
    critic = _companion(args.critic, args.ckpt, 'critic')
    actor = _companion(args.actor, args.ckpt, 'actor')
    t0 = time.monotonic()
    manifest = export_checkpoint(args.ckpt, args.out, args.format, fp16=args.fp16,
                                 critic=critic, actor=actor, horizon=args.horizon,
                                 opset=args.opset, log=print)
    for name, spec in manifest['files'].items():
        sig = ', '.join(f'{i["name"]} {i["shape"]} {i["dtype"]}' for i in spec['inputs'])
        out = ', '.join(f'{o["name"]} {o["shape"]} {o["dtype"]}' for o in spec['outputs'])
        print(f'  {spec["file"]:<24} ({sig}) -> ({out})')
    print(f'wrote {len(manifest["files"])} {manifest["precision"]} {args.format} networks and '
          f'{os.path.join(args.out, "export.json")} in {time.monotonic() - t0:.1f} s'
          + ('' if critic else '; no critic') + ('' if actor else '; no actor'))
    return 0
