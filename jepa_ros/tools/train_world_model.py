"""`jepa-ros train world-model`: self-supervised JEPA training from MCAP episodes.

Data-parallel on many processes / GPUs / machines when started by torchrun:

    torchrun --nproc_per_node 2 -m jepa_ros.cli train world-model --data D --out F ...

Same flags; each process trains on its shard of the episodes (episode i of the sorted
file list on rank i mod N), `--batch-size` is per process, and rank 0 alone prints and
writes the checkpoint (jepa_ros.core.distributed).
"""
import dataclasses
import os
import time

from jepa_ros.core.losses import LossConfig


def add_arguments(p):
    p.add_argument('--data', required=True, help='folder (or file/glob) of MCAP episodes')
    p.add_argument('--out', required=True, help='checkpoint file to write (.pt)')
    p.add_argument('--steps', type=int, default=3000, help='level-1 optimiser steps (max)')
    p.add_argument('--time-budget', type=float, default=0.0,
                   help='stop after this many seconds of training (0: no limit)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', default='auto', help='auto, cpu, cuda, cuda:N')
    p.add_argument('--threads', type=int, default=0,
                   help='torch CPU threads (0: leave torch default)')
    p.add_argument('--batch-size', type=int, default=64,
                   help='windows per step (per process under torchrun)')
    p.add_argument('--rollout-steps', type=int, default=4,
                   help='open-loop prediction steps per training window')
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--latent-dim', type=int, default=128)
    p.add_argument('--z-dim', type=int, default=0, help='latent variable size (0: none)')
    p.add_argument('--z-codes', type=int, default=4, help='number of discrete z codes')
    p.add_argument('--level2-k', type=int, default=4,
                   help='level-1 steps per H-JEPA level-2 step (0: no level 2)')
    p.add_argument('--level2-steps', type=int, default=1000)
    p.add_argument('--finetune-steps', type=int, default=2000,
                   help='predictor steps on frozen latents after the joint phase')
    p.add_argument('--encoder', default='conv', choices=['conv', 'keypoints'],
                   help='encoder architecture')
    p.add_argument('--blur', type=float, default=1.0, help='input blur sigma in pixels')
    p.add_argument('--log-every', type=int, default=100)
    p.add_argument('--no-progress', action='store_true', help='no tqdm progress bar')
    for f in dataclasses.fields(LossConfig):
        flag = '--loss-' + f.name.replace('_', '-')
        if f.type in (bool, 'bool'):
            p.add_argument(flag, type=lambda s: s.lower() in ('1', 'true', 'yes'),
                           default=None, help=f'LossConfig.{f.name} (default {f.default})')
        else:
            p.add_argument(flag, type=float, default=None,
                           help=f'LossConfig.{f.name} (default {f.default})')


def run(args):
    for name in ('steps', 'batch_size', 'rollout_steps', 'latent_dim', 'log_every'):
        if getattr(args, name) < 1:
            raise ValueError(f'--{name.replace("_", "-")} must be >= 1')
    if args.finetune_steps < 0 or args.blur < 0:
        raise ValueError('--finetune-steps and --blur must be >= 0')
    if args.time_budget < 0 or args.lr <= 0 or args.z_dim < 0 or args.level2_k < 0:
        raise ValueError('--time-budget must be >= 0, --lr > 0, --z-dim and --level2-k >= 0')
    if args.z_dim and args.z_codes < 2:
        raise ValueError('--z-codes must be >= 2 when --z-dim > 0')
    if not os.path.exists(args.data) and not any(c in args.data for c in '*?['):
        raise FileNotFoundError(f'no such episode folder or file: {args.data}')
    import torch
    from jepa_ros.core import distributed
    if args.threads:
        torch.set_num_threads(args.threads)
    ctx, device = distributed.setup(args.device)
    try:
        return _train(args, ctx, device)
    finally:
        distributed.shutdown(ctx)


def load_shard(data, ctx):
    """This process's episodes: all of them for a single process, else its shard of the
    sorted episode files (distributed.shard). Every rank raises when one cannot load."""
    from jepa_ros.core import distributed
    from jepa_ros.data.episodes import episode_files, load_episodes
    if not ctx.active:
        return load_episodes(data)
    error, episodes = '', []
    try:
        files = episode_files(data)
        if not files:
            raise FileNotFoundError(f'no .mcap episodes in {data}')
        episodes = load_episodes(distributed.shard(files, ctx.rank, ctx.world_size))
    except (ValueError, FileNotFoundError) as exc:
        error = str(exc)
    errors = ctx.gather(error)
    if any(errors):
        raise ValueError('; '.join(f'rank {r}: {e}' for r, e in enumerate(errors) if e))
    return episodes


def shard_names(episodes, data, ctx):
    """[[episode file of rank 0, ...], [... of rank 1], ...] as the ranks loaded them
    (relative to the data folder); gathered on every rank."""
    base = data if os.path.isdir(data) else None
    mine = [os.path.relpath(ep.path, base) if base and ep.path else ep.path
            for ep in episodes]
    return ctx.gather(mine)


def _train(args, ctx, device):
    from jepa_ros.core.checkpoint import save_checkpoint
    from jepa_ros.core.train_world_model import (TrainConfig, model_config_from_episodes,
                                                 train_world_model)
    say = print if ctx.is_main else (lambda *a, **k: None)
    t0 = time.monotonic()
    episodes = load_shard(args.data, ctx)
    load_s = time.monotonic() - t0
    losses = LossConfig(**{f.name: (getattr(args, 'loss_' + f.name)
                                    if getattr(args, 'loss_' + f.name) is not None
                                    else f.default)
                           for f in dataclasses.fields(LossConfig)})
    tc = TrainConfig(steps=args.steps, time_budget_s=args.time_budget,
                     batch_size=args.batch_size, rollout_steps=args.rollout_steps, lr=args.lr,
                     seed=args.seed, log_every=args.log_every,
                     level2_steps=args.level2_steps if args.level2_k else 0,
                     finetune_steps=args.finetune_steps, losses=losses)
    mc = model_config_from_episodes(
        episodes, latent_dim=args.latent_dim, z_dim=args.z_dim,
        z_codes=args.z_codes if args.z_dim else 1, level2_k=args.level2_k,
        encoder_type=args.encoder, blur_sigma=args.blur,
        encoder_channels=[16, 32, 64, 64] if args.encoder == 'conv' else [16, 32, 32])
    n_frames, n_episodes = sum(len(e) for e in episodes), len(episodes)
    shards = None
    if ctx.active:
        configs = ctx.gather(mc.to_dict())
        if any(c != configs[0] for c in configs):
            raise ValueError('the shards disagree on the model configuration (episode '
                             'metadata: world, action scale or mode differ between files)')
        n_frames, n_episodes = (int(x) for x in ctx.sum([n_frames, n_episodes]))
        shards = shard_names(episodes, args.data, ctx)
    say(f'{n_episodes} episodes, {n_frames} frames loaded in {load_s:.1f} s; '
        f'world={mc.world} action_dim={mc.action_dim} device={device}' +
        (f'; {ctx.world_size} processes ({ctx.backend}), '
         f'{[len(s) for s in shards]} episodes each' if ctx.active else ''))
    model, summary = train_world_model(episodes, mc, tc, device=device,
                                       progress=not args.no_progress)
    data_desc = {'source': os.path.abspath(args.data), 'episodes': n_episodes,
                 'frames': n_frames, 'world': mc.world,
                 'episode_meta': {k: v for k, v in (episodes[0].meta or {}).items()
                                  if isinstance(v, (str, int, float, bool, list))}}
    if ctx.active:
        data_desc['distributed'] = {**ctx.describe(), 'shards': shards}
    if ctx.is_main:
        save_checkpoint(args.out, model, extra={'data': data_desc,
                                                'train_config': dataclasses.asdict(tc),
                                                'metrics': summary})
        say(f'trained {summary["steps"]} steps in {summary["train_time_s"]:.0f} s; '
            f'wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB)')
    ctx.barrier()   # every process exits once the checkpoint is written
    return 0
