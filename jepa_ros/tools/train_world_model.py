"""`jepa-ros train world-model`: self-supervised JEPA training from MCAP episodes."""
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
    p.add_argument('--batch-size', type=int, default=64)
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
    from jepa_ros.core.checkpoint import save_checkpoint
    from jepa_ros.core.train_world_model import (TrainConfig, model_config_from_episodes,
                                                 train_world_model)
    from jepa_ros.core.device import pick_device
    from jepa_ros.data.episodes import load_episodes
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    t0 = time.monotonic()
    episodes = load_episodes(args.data)
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
    n_frames = sum(len(e) for e in episodes)
    print(f'{len(episodes)} episodes, {n_frames} frames loaded in {load_s:.1f} s; '
          f'world={mc.world} action_dim={mc.action_dim} device={device}')
    model, summary = train_world_model(episodes, mc, tc, device=device,
                                       progress=not args.no_progress)
    data_desc = {'source': os.path.abspath(args.data), 'episodes': len(episodes),
                 'frames': n_frames, 'world': mc.world,
                 'episode_meta': {k: v for k, v in (episodes[0].meta or {}).items()
                                  if isinstance(v, (str, int, float, bool, list))}}
    save_checkpoint(args.out, model, extra={'data': data_desc,
                                            'train_config': dataclasses.asdict(tc),
                                            'metrics': summary})
    print(f'trained {summary["steps"]} steps in {summary["train_time_s"]:.0f} s; '
          f'wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB)')
    return 0
