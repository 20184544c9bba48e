"""`jepa-ros train critic --data DIR --ckpt WM --out FILE`: cost-to-go from episodes.

Encodes every recorded frame with the world model's encoder, then trains the critic on
hindsight goals from the same episode with Bellman targets through the predictor (see
jepa_ros/core/critic.py). No labels, no reward, no simulator.

Under torchrun (`torchrun --nproc_per_node N -m jepa_ros.cli train critic ...`) each
process encodes and trains on its shard of the episodes (jepa_ros.core.distributed),
`--batch-size` is per process, and rank 0 alone prints and writes the checkpoint.
"""
import os
import time

import torch


def add_arguments(parser):
    parser.add_argument('--data', required=True, help='folder (or file/glob) of MCAP episodes')
    parser.add_argument('--ckpt', required=True, help='world model checkpoint')
    parser.add_argument('--out', required=True, help='critic checkpoint to write')
    parser.add_argument('--steps', type=int, default=3000, help='gradient steps')
    parser.add_argument('--batch-size', type=int, default=256,
                        help='pairs per step (per process under torchrun)')
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--hidden', type=int, default=256)
    parser.add_argument('--max-offset', type=int, default=200,
                        help='longest hindsight gap (steps) between a frame and its goal')
    parser.add_argument('--td-start', type=int, default=300,
                        help='steps of pure hindsight regression before Bellman targets')
    parser.add_argument('--time-limit', type=float, default=None,
                        help='stop training after this many seconds')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--device', default='auto', help='auto, cpu or cuda')


def encode_episodes(model, episodes, batch=256):
    """[(latents (T,D), actions (T,A))] on the model's device."""
    out = []
    with torch.no_grad():
        for ep in episodes:
            z = torch.cat([model.encode(ep.images[i:i + batch])
                           for i in range(0, len(ep.images), batch)])
            out.append((z, torch.as_tensor(ep.actions, dtype=torch.float32, device=z.device)))
    return out


def run(args):
    from jepa_ros.core import distributed
    for name in ('steps', 'batch_size', 'hidden', 'max_offset'):
        if getattr(args, name) < 1:
            raise ValueError(f'--{name.replace("_", "-")} must be >= 1')
    if not os.path.exists(args.ckpt):
        raise FileNotFoundError(f'world model checkpoint {args.ckpt} not found')
    torch.set_num_threads(max(1, min(torch.get_num_threads(), os.cpu_count() or 1)))
    ctx, device = distributed.setup(args.device)
    try:
        return _train(args, ctx, device)
    finally:
        distributed.shutdown(ctx)


def _train(args, ctx, device):
    from jepa_ros.core.checkpoint import load_checkpoint, save_checkpoint
    from jepa_ros.core.critic import CriticConfig, CriticTrainConfig, train_critic
    from jepa_ros.tools.train_world_model import load_shard, shard_names
    say = print if ctx.is_main else (lambda *a, **k: None)
    model, _ = load_checkpoint(args.ckpt, map_location=device)
    t0 = time.perf_counter()
    episodes = load_shard(args.data, ctx)
    latents = encode_episodes(model, episodes)
    n_episodes, frames = len(latents), sum(len(z) for z, _ in latents)
    if ctx.active:
        n_episodes, frames = (int(x) for x in ctx.sum([n_episodes, frames]))
    say(f'encoded {n_episodes} episodes, {frames} frames in '
        f'{time.perf_counter() - t0:.1f}s on {device}' +
        (f' ({ctx.world_size} processes, {ctx.backend})' if ctx.active else ''))
    cfg = CriticConfig(latent_dim=latents[0][0].shape[1], hidden=args.hidden)
    tc = CriticTrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                           max_offset=args.max_offset, td_start=args.td_start, seed=args.seed,
                           time_limit_s=args.time_limit)

    def log(step, stats):
        say(f'step {step:5d} loss {stats["loss"]:.4f}', flush=True)

    critic, stats = train_critic(latents, model, cfg, tc, log=log)
    extra = {'world_model': os.path.abspath(args.ckpt), 'data': os.path.abspath(args.data),
             'episodes': n_episodes, 'frames': frames, 'train': tc, 'final': stats}
    if ctx.active:
        extra['distributed'] = {**ctx.describe(), 'params_in_sync': ctx.params_in_sync(critic),
                                'shards': shard_names(episodes, args.data, ctx)}
    if ctx.is_main:
        save_checkpoint(args.out, critic, kind='critic', extra=extra)
        say(f'wrote {args.out} ({stats["steps"]} steps, loss {stats["loss"]:.4f}, '
            f'{time.perf_counter() - t0:.0f}s)')
    ctx.barrier()   # every process exits once the checkpoint is written
    return 0
