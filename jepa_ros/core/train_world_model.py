"""Self-supervised training of the world model (no labels, no reward) from episodes.

Level 1 (encoder + predictor + inverse head, + z codebook) learns from random windows of
T+1 frames; then H-JEPA level 2 learns on frozen level-1 latents of the same episodes.
Deterministic under a seed on CPU when stopped by step count (a time budget stops at a
wall-clock-dependent step).

Under torchrun (jepa_ros.core.distributed) the same functions train data-parallel: each
process holds its shard of the episodes, every backward goes through one
DistributedDataParallel wrapper of TrainingLosses, and the decisions that could differ
between processes (time budgets, restarting a copy-only predictor, skipping a phase) are
rank 0's or agreed by all, so every rank runs the same steps and collectives.
"""
from dataclasses import dataclass, field
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from jepa_ros.core import distributed
from jepa_ros.core.device import pick_device
from jepa_ros.core.losses import (LossConfig, level2_losses, predictor_only_loss,
                                  rollout_prediction_loss, world_model_losses)
from jepa_ros.core.metrics import collapse_report
from jepa_ros.core.world_model import WorldModel, WorldModelConfig


@dataclass
class TrainConfig:
    steps: int = 3000
    time_budget_s: float = 0.0      # 0: no time limit (level 1 and 2 together)
    batch_size: int = 64
    rollout_steps: int = 4
    lr: float = 1e-3
    weight_decay: float = 1e-5
    warmup_steps: int = 50
    grad_clip: float = 5.0
    seed: int = 0
    log_every: int = 100
    level2_steps: int = 1000
    level2_rollout_steps: int = 3
    level2_time_share: float = 0.1  # fraction of time_budget_s kept for level 2
    # Extra predictor-only updates per step on the (detached) latents of the same batch:
    # the MLP is cheap next to the conv encoder and otherwise lags the moving encoder.
    predictor_extra_steps: int = 1
    predictor_lr_scale: float = 1.0
    # Then the encoder is frozen, every frame encoded once, and the predictor (and z codes)
    # trained on those fixed latents with large batches: cheap MLP steps, and the one
    # thing the joint phase does slowly (its targets move while the encoder learns).
    finetune_steps: int = 2000
    finetune_batch_size: int = 256
    finetune_time_share: float = 0.15
    # A predictor whose fine-tune loss stays near the copy-last-latent loss (one that had
    # died: its hidden GELUs all negative) is re-initialised (CopyOnlyWatch). Checked
    # every 50 fine-tune steps from this step on (0: never).
    predictor_reset_after: int = 200
    max_predictor_resets: int = 3
    collapse_std: float = 0.05      # warn when the mean per-dim std falls below this
    collapse_rank_drop: float = 0.5  # ... or the effective rank falls below this x its best
    losses: LossConfig = field(default_factory=LossConfig)

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        if isinstance(d.get('losses'), dict):
            d['losses'] = LossConfig(**d['losses'])
        return cls(**d)


COPY_ONLY_RATIO = 0.8   # predictor loss / copy-last loss above this: a copy-only predictor


class CopyOnlyWatch:
    """Tracks prediction loss / copy-last-latent loss and says when the predictor is stuck.

    The failure it catches: a run (make demo TRAIN=1) ended with 0.4 % of the predictor's
    second-layer GELUs active: loss / copy 0.93-0.99, a model that could not plan. The
    same frozen latents gave loss / copy 0.13 to a fresh predictor within 1,000 steps.
    Stuck: over the last `window` steps the ratio is above COPY_ONLY_RATIO and less than
    10 % better than over the `window` steps before (a predictor that is learning, even
    slowly, is left alone). Then: a fresh predictor, the encoder kept.
    """

    def __init__(self, after, window, max_resets):
        self.after, self.window, self.max_resets = after, window, max_resets
        self.ratios, self.resets, self.since = [], 0, 0

    def add(self, loss, copy):
        self.ratios.append(float(loss) / max(float(copy), 1e-12))
        del self.ratios[:-2 * self.window]

    def mean(self):
        """Mean ratio over the last `window` steps (None before the first)."""
        return float(np.mean(self.ratios[-self.window:])) if self.ratios else None

    def stuck(self, step):
        # `after` steps from the start and again after each reset: a fresh predictor
        # starts as the copy (ratio 1) and needs that long to learn.
        if not self.after or step - self.since < self.after or \
                self.resets >= self.max_resets or len(self.ratios) < 2 * self.window:
            return False
        now, before = self.mean(), float(np.mean(self.ratios[:self.window]))
        return now > COPY_ONLY_RATIO and now > 0.9 * before

    def reset(self, model, optimizers, step):
        """Fresh predictor weights (and no stale Adam moments for them)."""
        model.predictor.reset()
        for opt in optimizers:
            for p in model.predictor.parameters():
                opt.state.pop(p, None)
        self.ratios, self.resets, self.since = [], self.resets + 1, step


def copy_last_loss(latents, discount=1.0):
    """The rollout loss of predicting s_0 at every step of (B,T+1,D) windows."""
    with torch.no_grad():
        target = latents[:, 1:]
        return rollout_prediction_loss(latents[:, :1].expand_as(target), target, discount)


class FrameBank:
    """Episodes resized once to the model's image size, kept as uint8 (N,3,S,S) tensors."""

    def __init__(self, episodes, image_size):
        self.images, self.actions, self.states = [], [], []
        for ep in episodes:
            imgs = torch.from_numpy(np.ascontiguousarray(ep.images)).permute(0, 3, 1, 2)
            if imgs.shape[-1] != image_size or imgs.shape[-2] != image_size:
                imgs = torch.cat([
                    F.interpolate(chunk.float(), size=(image_size, image_size),
                                  mode='bilinear', align_corners=False, antialias=True)
                    .round().clamp(0, 255).to(torch.uint8)
                    for chunk in imgs.split(256)])
            self.images.append(imgs.contiguous())
            self.actions.append(torch.as_tensor(np.asarray(ep.actions, np.float32)))
            self.states.append(None if ep.states is None
                               else np.asarray(ep.states, np.float32))
        self.lengths = np.array([len(x) for x in self.images])

    @property
    def num_frames(self):
        return int(self.lengths.sum())

    def sample_windows(self, rng, batch, length):
        """-> uint8 images (B,L,3,S,S), actions (B,L-1,A) of random windows of L frames."""
        ok = np.nonzero(self.lengths >= length)[0]
        if len(ok) == 0:
            raise ValueError(f'no episode has {length} frames (longest: {self.lengths.max()})')
        weights = (self.lengths[ok] - length + 1).astype(float)
        eps = rng.choice(ok, size=batch, p=weights / weights.sum())
        imgs, acts = [], []
        for e in eps:
            s = int(rng.integers(0, self.lengths[e] - length + 1))
            imgs.append(self.images[e][s:s + length])
            acts.append(self.actions[e][s:s + length - 1])
        return torch.stack(imgs), torch.stack(acts)

    @torch.no_grad()
    def encode_all(self, model, chunk=512):
        """Level-1 latents of every frame, one (T,D) tensor per episode."""
        out = []
        for imgs in self.images:
            out.append(torch.cat([model.encoder(c.to(model.device).float() / 255.0)
                                  for c in imgs.split(chunk)]))
        return out


class TrainingLosses(nn.Module):
    """The backpropagated loss of every training phase as one module's forward.

    DistributedDataParallel averages the gradients in the backward of what the forward of
    the module it wraps returned, so each loss that trains something is computed here:
    'level1' ((B,L,3,S,S) images in [0, 1] -> the joint loss, its terms and the latents),
    'predictor' ((B,L,D) fixed latents -> the predictor-only loss), 'level2' ((B,L2,D)
    level-1 latents -> the level-2 loss and its terms). Terms and latents come back
    detached: only the loss is differentiated. A single process calls it directly.
    """

    def __init__(self, model, losses):
        super().__init__()
        self.model, self.losses = model, losses

    def forward(self, phase, x, actions):
        if phase == 'level1':
            b, L = x.shape[:2]
            latents = self.model.encoder(x.flatten(0, 1)).reshape(b, L, -1)
            total, terms = world_model_losses(self.model, latents, actions, self.losses)
            return total, _detached(terms), latents.detach()
        if phase == 'predictor':
            return predictor_only_loss(self.model, x, actions, self.losses)
        if phase == 'level2':
            total, terms = level2_losses(self.model.level2, x, actions, self.losses)
            return total, _detached(terms)
        raise ValueError(f'unknown training phase {phase!r}')


def _detached(terms):
    return {k: v.detach() if torch.is_tensor(v) else v for k, v in terms.items()}


def model_config_from_episodes(episodes, **overrides):
    meta = episodes[0].meta or {}
    a = int(episodes[0].actions.shape[1])
    scale = [float(x) for x in meta.get('action_scale', [1.0] * a)]
    cfg = dict(world=str(meta.get('world', 'unknown')), action_dim=a, action_scale=scale,
               action_mode=str(meta.get('action_mode', 'holonomic')))
    cfg.update(overrides)
    return WorldModelConfig(**cfg)


def _lr_factor(step, progress, warmup):
    """Linear warm-up, then cosine decay on progress in [0, 1] (steps or time)."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def _fmt(d):
    return ' '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}' for k, v in d.items())


def train_world_model(episodes, model_config=None, train_config=None, device='cpu',
                      log=print, progress=False, model=None):
    """Train on `episodes` (list of Episode or a FrameBank). Returns (model, summary).

    Inside a torch.distributed process group (jepa_ros.core.distributed.setup), `episodes`
    is this rank's shard and `device` this rank's device; only rank 0 logs."""
    # Tiny gradients make denormal Adam moments, and denormal arithmetic is ~10x slower
    # on CPU: training slowed from 0.15 to 1.6 s/step without flushing them. The flag is
    # process-wide CPU state, so it is put back afterwards: left on, every later float
    # computation of the process (a node, a test session) would run without subnormals.
    torch.set_flush_denormal(True)
    try:
        return _train_world_model(episodes, model_config, train_config, device, log,
                                  progress, model)
    finally:
        torch.set_flush_denormal(False)


def _train_world_model(episodes, model_config, train_config, device, log, progress, model):
    tc = train_config or TrainConfig()
    ctx = distributed.current()
    if not ctx.is_main:
        log, progress = (lambda *args, **kwargs: None), False
    torch.manual_seed(tc.seed)
    rng = np.random.default_rng(distributed.rank_seed(tc.seed, ctx.rank))
    device = pick_device(device) if isinstance(device, str) else device
    if model is None:
        if model_config is None:
            model_config = model_config_from_episodes(episodes)
        model = WorldModel(model_config)
    model.to(device).train()
    bank = episodes if isinstance(episodes, FrameBank) else \
        FrameBank(episodes, model.config.image_size)
    length = tc.rollout_steps + 1
    if ctx.active and tc.steps and not ctx.all_true((bank.lengths >= length).any()):
        raise ValueError(f'every process needs an episode of at least {length} frames '
                         '(--rollout-steps + 1); one shard has none: fewer processes or '
                         'longer episodes')
    step_losses = ctx.wrap(TrainingLosses(model, tc.losses), find_unused_parameters=True)

    l1_params = [p for n, p in model.named_parameters() if not n.startswith('level2.')]
    pred_params = list(model.predictor.parameters())
    if model.codebook is not None:
        pred_params += list(model.codebook.parameters())
    pred_ids = {id(p) for p in pred_params}
    opt = torch.optim.AdamW(
        [{'params': [p for p in l1_params if id(p) not in pred_ids], 'scale': 1.0},
         {'params': pred_params, 'scale': tc.predictor_lr_scale}],
        lr=tc.lr, weight_decay=tc.weight_decay)
    pred_opt = torch.optim.AdamW(pred_params, lr=tc.lr * tc.predictor_lr_scale,
                                 weight_decay=tc.weight_decay)
    share2 = tc.level2_time_share if model.level2 is not None else 0.0
    share_ft = tc.finetune_time_share if tc.finetune_steps else 0.0
    budget1 = tc.time_budget_s * (1 - share2 - share_ft) if tc.time_budget_s else 0.0
    history, best_rank, warned = [], 0.0, False
    t0 = time.monotonic()
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=tc.steps, desc='world model', unit='step', dynamic_ncols=True)
    step = 0
    # Only watched here (logged as vs_copy): while the encoder still moves, a predictor
    # near the copy is normal for a few hundred steps. The fine-tune resets a stuck one.
    watch = CopyOnlyWatch(0, 100, 0)
    for step in range(tc.steps):
        elapsed = time.monotonic() - t0
        if budget1:   # rank 0's clock on every rank: all stop at the same step
            elapsed = ctx.from_main(elapsed)
        if budget1 and elapsed >= budget1:
            break
        prog = max(step / tc.steps, elapsed / budget1 if budget1 else 0.0)
        lr_now = tc.lr * _lr_factor(step, prog, tc.warmup_steps)
        for g in opt.param_groups:
            g['lr'] = lr_now * g['scale']
        for g in pred_opt.param_groups:
            g['lr'] = lr_now * tc.predictor_lr_scale
        imgs, acts = bank.sample_windows(rng, tc.batch_size, length)
        imgs = imgs.to(device).float().div_(255.0)
        acts = acts.to(device)
        total, terms, latents = step_losses('level1', imgs, acts)
        watch.add(terms['prediction'], copy_last_loss(latents, tc.losses.rollout_discount))
        opt.zero_grad(set_to_none=True)
        total.backward()
        if tc.grad_clip:
            torch.nn.utils.clip_grad_norm_(l1_params, tc.grad_clip)
        opt.step()
        if tc.predictor_extra_steps:
            fixed = latents.detach()
            for _ in range(tc.predictor_extra_steps):
                pl = step_losses('predictor', fixed, acts)
                pred_opt.zero_grad(set_to_none=True)
                pl.backward()
                pred_opt.step()
        if bar is not None:
            bar.update(1)
        if step % tc.log_every == 0 or step == tc.steps - 1:
            rep = collapse_report(latents.detach().flatten(0, 1))
            # The random initial encoder's statistics mean nothing: judge after warm-up.
            judged = step >= tc.warmup_steps
            if judged and rep['mean_std'] >= tc.collapse_std:
                best_rank = max(best_rank, rep['effective_rank'])
            row = {'step': step, 'time_s': round(time.monotonic() - t0, 1),
                   'loss': float(total.detach()), **{k: float(v) for k, v in terms.items()},
                   'vs_copy': watch.mean(),
                   'latent_offset': float(latents.detach().mean(dim=(0, 1)).abs().mean()),
                   'mean_std': rep['mean_std'], 'eff_rank': rep['effective_rank']}
            history.append(row)
            msg = _fmt(row)
            (bar.write if bar is not None else log)(msg)
            if judged and (rep['mean_std'] < tc.collapse_std
                           or rep['effective_rank'] < tc.collapse_rank_drop * best_rank):
                warn = (f'WARNING collapse: mean per-dim std {rep["mean_std"]:.3g}, effective '
                        f'rank {rep["effective_rank"]:.3g} (best {best_rank:.3g})')
                warned = True
                (bar.write if bar is not None else log)(warn)
    steps_done = step + 1 if tc.steps else 0
    if bar is not None:
        bar.close()
    l1_time = time.monotonic() - t0

    latents = None
    ft_summary = {}
    if tc.finetune_steps > 0:
        model.eval()
        latents = bank.encode_all(model)
        # The latent mean drifts freely during training (no loss sees it; one run ended at
        # |mean| 9 per dimension against a spread of 0.6). Move the origin to the data's
        # mean, exactly (WorldModel.recenter), so that the fine-tuned predictor - a fresh
        # one if the watch below restarts it - and the critic, actor and level 2 trained
        # later all read latents centred on 0.
        if ctx.active:   # the mean over every rank's frames: one offset for all replicas
            frames = torch.cat(latents)
            sums = ctx.sum_tensor(torch.cat([frames.double().sum(dim=0),
                                             frames.new_tensor([len(frames)]).double()]))
            offset = (sums[:-1] / sums[-1]).to(frames.dtype)
        else:
            offset = torch.cat(latents).mean(dim=0)
        model.recenter(offset)
        latents = [x - offset for x in latents]
        ft_budget = (tc.time_budget_s * (1 - share2) - ctx.from_main(time.monotonic() - t0)
                     if tc.time_budget_s else 0.0)
        ft_summary = finetune_predictor(model, bank, latents, tc, device, log,
                                        max(ft_budget, 1.0) if tc.time_budget_s else 0.0,
                                        step_losses=step_losses)
    l2_summary = {}
    if model.level2 is not None and tc.level2_steps > 0:
        l2_summary = train_level2(model, bank, tc, device, log,
                                  time_budget_s=(max(tc.time_budget_s -
                                                     ctx.from_main(time.monotonic() - t0),
                                                     1.0)
                                                 if tc.time_budget_s else 0.0),
                                  latents=latents, step_losses=step_losses)
    model.eval()
    frames, n_episodes = bank.num_frames, len(bank.lengths)
    dist_summary = {}
    if ctx.active:
        frames, n_episodes = (int(x) for x in ctx.sum([frames, n_episodes]))
        in_sync = ctx.params_in_sync(model)
        if not in_sync:
            log('WARNING: the model replicas of the processes differ at the end of '
                'training; the checkpoint holds rank 0\'s')
        dist_summary = {'distributed': {**ctx.describe(), 'params_in_sync': in_sync,
                                        'rank_frames': ctx.gather(bank.num_frames)}}
    summary = {
        'steps': steps_done,
        'train_time_s': round(time.monotonic() - t0, 2),
        'level1_time_s': round(l1_time, 2),
        'frames': frames,
        'episodes': n_episodes,
        'device': str(device),
        'collapse_warning': warned,
        'final': history[-1] if history else {},
        'finetune': ft_summary,
        'level2': l2_summary,
        **dist_summary,
    }
    return model, summary


def _latent_windows(latents, actions, lengths, rng, batch, span, stride=1):
    """Random windows of fixed latents: (B, span//stride+1, D) every `stride`, actions."""
    ok = np.nonzero(lengths >= span)[0]
    weights = (lengths[ok] - span + 1).astype(float)
    eps = rng.choice(ok, size=batch, p=weights / weights.sum())
    s1, acts = [], []
    for e in eps:
        s = int(rng.integers(0, lengths[e] - span + 1))
        s1.append(latents[e][s:s + span:stride])
        acts.append(actions[e][s:s + span - 1])
    return torch.stack(s1), torch.stack(acts)


def finetune_predictor(model, bank, latents, tc, device, log=print, time_budget_s=0.0,
                       step_losses=None):
    """Train the predictor (+ z codes) on frozen latents with large batches.

    `step_losses`: the (distributed) TrainingLosses of the caller, made here if None."""
    ctx = distributed.current()
    span = tc.rollout_steps + 1
    if not ctx.all_true((bank.lengths >= span).any()):
        return {'skipped': True}
    if step_losses is None:
        step_losses = ctx.wrap(TrainingLosses(model, tc.losses), find_unused_parameters=True)
    params = list(model.predictor.parameters())
    if model.codebook is not None:
        params += list(model.codebook.parameters())
    opt = torch.optim.AdamW(params, lr=tc.lr, weight_decay=tc.weight_decay)
    rng = np.random.default_rng(distributed.rank_seed(tc.seed + 2, ctx.rank))
    model.predictor.train()
    t0 = time.monotonic()
    step, loss = 0, torch.zeros(())
    watch = CopyOnlyWatch(tc.predictor_reset_after, 50, tc.max_predictor_resets)
    for step in range(tc.finetune_steps):
        elapsed = time.monotonic() - t0
        if time_budget_s:
            elapsed = ctx.from_main(elapsed)
        if time_budget_s and elapsed >= time_budget_s:
            break
        prog = max(step / tc.finetune_steps, elapsed / time_budget_s if time_budget_s else 0)
        for g in opt.param_groups:
            g['lr'] = tc.lr * _lr_factor(step, prog, tc.warmup_steps)
        lat, acts = _latent_windows(latents, bank.actions, bank.lengths, rng,
                                    tc.finetune_batch_size, span)
        loss = step_losses('predictor', lat.to(device), acts.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        copy = float(copy_last_loss(lat, tc.losses.rollout_discount))
        watch.add(loss.detach(), copy)
        # Rank 0's watch decides for every rank (each sees only its own shard's losses).
        if step % 50 == 0 and ctx.from_main(watch.stuck(step)):
            log(f'WARNING: finetune step {step}: predictor loss / copy-last loss '
                f'{watch.mean():.2f}, it only copies the last latent: re-initialising it')
            watch.reset(model, (opt,), step)
            ctx.broadcast_module(model.predictor)   # one fresh predictor for all replicas
        if step % (tc.log_every * 5) == 0:
            log(f'predictor finetune step={step} loss={float(loss.detach()):.4g} '
                f'copy={copy:.4g}')
    model.eval()
    # Loss over the copy-last-latent loss, last 50 batches: near 1 means the predictor
    # learned nothing but the identity.
    vs_copy = watch.mean()
    if vs_copy is not None and vs_copy > COPY_ONLY_RATIO:
        log(f'WARNING: the predictor barely beats copying the last latent (loss / copy '
            f'{vs_copy:.2f}): this model will not plan; retrain with another seed')
    return {'steps': step + 1, 'time_s': round(time.monotonic() - t0, 2),
            'final_loss': float(loss.detach()), 'loss_vs_copy': vs_copy,
            'predictor_resets': watch.resets}


def train_level2(model, bank, tc, device, log=print, time_budget_s=0.0, latents=None,
                 step_losses=None):
    """Train model.level2 on frozen level-1 latents sampled every k frames.

    `step_losses`: the (distributed) TrainingLosses of the caller, made here if None."""
    ctx = distributed.current()
    lv2 = model.level2
    k, t2 = lv2.k, tc.level2_rollout_steps
    model.eval()
    if latents is None:
        latents = bank.encode_all(model)
    lv2.train()
    span = k * t2 + 1
    ok = np.nonzero(bank.lengths >= span)[0]
    if not ctx.all_true(len(ok) > 0):
        log(f'level 2 skipped: no episode has {span} frames' +
            (' in one of the shards' if ctx.active else ''))
        return {'skipped': True}
    if step_losses is None:
        step_losses = ctx.wrap(TrainingLosses(model, tc.losses), find_unused_parameters=True)
    rng = np.random.default_rng(distributed.rank_seed(tc.seed + 1, ctx.rank))
    opt = torch.optim.AdamW(lv2.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    t0 = time.monotonic()
    step = 0
    for step in range(tc.level2_steps):
        elapsed = time.monotonic() - t0
        if time_budget_s:
            elapsed = ctx.from_main(elapsed)
        if time_budget_s and elapsed >= time_budget_s:
            break
        for g in opt.param_groups:
            g['lr'] = tc.lr * _lr_factor(step, step / tc.level2_steps, tc.warmup_steps)
        s1, acts = _latent_windows(latents, bank.actions, bank.lengths, rng,
                                   tc.finetune_batch_size, span, k)
        total, terms = step_losses('level2', s1.to(device), acts.to(device))
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        if step % tc.log_every == 0 or step == tc.level2_steps - 1:
            log('level2 ' + _fmt({'step': step, 'loss': float(total.detach()),
                                  **{kk: float(v) for kk, v in terms.items()}}))
    lv2.eval()
    return {'steps': step + 1, 'time_s': round(time.monotonic() - t0, 2),
            'final_loss': float(total.detach()), **{kk: float(v) for kk, v in terms.items()}}
