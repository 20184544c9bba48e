"""`make train`: collect reward-free data, then train world model, critic and actor.

The shipped two_rooms checkpoints under models/ come from this script; the demo
calls it too when a checkpoint is missing or incompatible (or with TRAIN=1).
Each stage is the public CLI, so this is exactly what a user can run by hand.
"""
import argparse
import os
import sys
import time

from jepa_ros import cli
from jepa_ros.share import share_dir

# The shipped checkpoints: models/ of the checkout, or of install/share/jepa_ros.
MODELS = os.path.join(share_dir(), 'models')


def model_paths(world, models_dir=MODELS):
    return {k: os.path.join(models_dir, f'{world}_{k}.pt')
            for k in ('world_model', 'critic', 'actor')}


def stages(world, data_dir, models_dir, episodes, steps, wm_budget_s, seed):
    paths = model_paths(world, models_dir)
    return [
        ('collect', ['collect', '--world', world, '--episodes', str(episodes), '--steps',
                     str(steps), '--out', data_dir, '--seed', str(seed)]),
        ('world model', ['train', 'world-model', '--data', data_dir, '--out',
                         paths['world_model'], '--time-budget', str(wm_budget_s),
                         '--seed', str(seed)]),
        ('critic', ['train', 'critic', '--data', data_dir, '--ckpt', paths['world_model'],
                    '--out', paths['critic'], '--seed', str(seed)]),
        ('actor', ['train', 'actor', '--ckpt', paths['world_model'], '--critic', paths['critic'],
                   '--out', paths['actor'], '--seed', str(seed)]),
    ]


def predictor_vs_copy(path):
    """The world model checkpoint's final predictor loss / copy-last loss (None if absent)."""
    from jepa_ros.core.checkpoint import read_checkpoint
    metrics = (read_checkpoint(path).get('extra') or {}).get('metrics') or {}
    return (metrics.get('finetune') or {}).get('loss_vs_copy')


def train_all(world='two_rooms', data_dir=None, models_dir=MODELS, episodes=120, steps=100,
              wm_budget_s=360, seed=0, log=print, wm_retries=2):
    """Run the stages. Training the world model from some seeds ends with a predictor that
    only copies the last latent (it cannot plan): then it is retrained with the next seed,
    at most `wm_retries` times."""
    from jepa_ros.core.train_world_model import COPY_ONLY_RATIO
    data_dir = data_dir or os.path.join('data', world)
    os.makedirs(models_dir, exist_ok=True)
    timings = {}
    for name, argv in stages(world, data_dir, models_dir, episodes, steps, wm_budget_s, seed):
        for attempt in range(1 + (wm_retries if name == 'world model' else 0)):
            if attempt:
                argv = argv[:argv.index('--seed') + 1] + [str(seed + attempt)]
            log(f'[train] {name}: jepa-ros {" ".join(argv)}')
            t0 = time.monotonic()
            rc = cli.main(argv)
            timings[name] = timings.get(name, 0.0) + time.monotonic() - t0
            if rc != 0:
                raise RuntimeError(f'stage {name!r} failed with exit code {rc}')
            ratio = (predictor_vs_copy(model_paths(world, models_dir)['world_model'])
                     if name == 'world model' else None)
            if ratio is None or ratio <= COPY_ONLY_RATIO:
                break
            log(f'[train] {name}: predictor loss / copy-last loss {ratio:.2f} > '
                f'{COPY_ONLY_RATIO}: a copy-only predictor, retraining with another seed')
        log(f'[train] {name}: done in {timings[name]:.0f} s')
    return timings


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--world', default='two_rooms')
    p.add_argument('--data', default=None, help='episode directory (default data/<world>)')
    p.add_argument('--models', default=MODELS)
    p.add_argument('--episodes', type=int, default=120)
    p.add_argument('--steps', type=int, default=100)
    p.add_argument('--wm-budget', type=float, default=360, help='world-model training seconds')
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args(argv)
    t = train_all(a.world, a.data, a.models, a.episodes, a.steps, a.wm_budget, a.seed)
    print('[train] total %.0f s: %s' % (sum(t.values()), ', '.join(f'{k} {v:.0f} s'
                                                                   for k, v in t.items())))
    return 0


if __name__ == '__main__':
    sys.exit(main())
