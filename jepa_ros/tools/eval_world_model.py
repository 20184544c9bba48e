"""`jepa-ros eval world-model`: how good is a checkpoint, on held-out episodes.

Linear-probe R^2 of the true state, open-loop prediction error vs. the copy-last-latent
baseline, collapse monitors, and how well latent distance ranks true (geodesic) distance,
which is what the planning cost relies on.
"""
import json
import os


def add_arguments(p):
    p.add_argument('--ckpt', required=True, help='world model checkpoint (.pt)')
    p.add_argument('--data', required=True, help='folder (or file/glob) of MCAP episodes')
    p.add_argument('--json', default=None, help='also write the results as JSON here')
    p.add_argument('--held-out', type=float, default=0.2,
                   help='fraction of episodes held out for every metric')
    p.add_argument('--probe-data', default=None,
                   help='fit the linear probe on these episodes (e.g. the training data) and '
                        'score it on all of --data; default: a split of --data')
    p.add_argument('--pairs', type=int, default=1000, help='random pairs for Spearman')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', default='auto')
    p.add_argument('--threads', type=int, default=0)


def true_distance_fn(world):
    """env.true_distance of the world if the simulator knows it, else None."""
    try:
        from jepa_ros.sim import make_env
        env = make_env(world)
    except (ImportError, ValueError, ModuleNotFoundError):
        return None
    return lambda a, b: float(env.true_distance(a, b))


def format_table(res):
    rows = [('world', res['world']),
            ('episodes train / held-out', f'{res["train_episodes"]} / {res["held_out_episodes"]}')]
    if 'probe_r2' in res:
        rows.append((f'linear probe R^2 (state; fit on {res["probe_fit_frames"]} frames)',
                     f'{res["probe_r2"]:.4f}'))
    for h, m in res['multistep'].items():
        rows.append((f'{h}-step error / copy baseline', f'{m["ratio"]:.3f}'))
    c = res['collapse']
    rows += [('mean per-dim std', f'{c["mean_std"]:.3f}'),
             ('dead dims (std < 0.01)', str(c['dead_dims'])),
             ('effective rank', f'{c["effective_rank"]:.1f}'),
             ('collapsed', str(c['collapsed']))]
    if 'spearman_true_distance' in res:
        rows.append(('Spearman latent vs true distance', f'{res["spearman_true_distance"]:.3f}'))
    if 'spearman_euclidean' in res:
        rows.append(('Spearman latent vs euclidean', f'{res["spearman_euclidean"]:.3f}'))
    if 'level2' in res:
        l2 = res['level2']
        if 'probe_r2' in l2:
            rows.append((f'level 2 (k={l2["k"]}) probe R^2', f'{l2["probe_r2"]:.4f}'))
        if 'spearman_true_distance' in l2:
            rows.append(('level 2 Spearman vs true distance',
                         f'{l2["spearman_true_distance"]:.3f}'))
        for h, m in l2['multistep'].items():
            rows.append((f'level 2 {h}-step error / copy', f'{m["ratio"]:.3f}'))
        rows.append(('level 2 effective rank', f'{l2["collapse"]["effective_rank"]:.1f}'))
    if 'z' in res:
        z = res['z']
        rows += [(f'1-step error z=0 ({z["codes"]} codes)', f'{z["error_z0"]:.4f}'),
                 ('1-step error best-of-K z', f'{z["error_best_of_k"]:.4f}')]
    width = max(len(r[0]) for r in rows)
    return '\n'.join(f'{k:<{width}}  {v}' for k, v in rows)


def run(args):
    if not 0 < args.held_out < 1:
        raise ValueError('--held-out must be in (0, 1)')
    if args.pairs < 10:
        raise ValueError('--pairs must be >= 10')
    import torch
    from jepa_ros.core.checkpoint import load_checkpoint
    from jepa_ros.core.metrics import evaluate_world_model
    from jepa_ros.core.device import pick_device
    from jepa_ros.data.episodes import load_episodes
    if args.threads:
        torch.set_num_threads(args.threads)
    if not os.path.exists(args.ckpt):
        raise FileNotFoundError(f'no such checkpoint: {args.ckpt}')
    model, extra = load_checkpoint(args.ckpt, map_location=pick_device(args.device))
    episodes = load_episodes(args.data)
    probe = load_episodes(args.probe_data) if args.probe_data else None
    res = evaluate_world_model(model, episodes, true_distance_fn(model.config.world),
                               held_out=args.held_out, seed=args.seed, pairs=args.pairs,
                               probe_episodes=probe)
    res['checkpoint'] = os.path.abspath(args.ckpt)
    res['provenance'] = extra.get('provenance', {})
    print(format_table(res))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(res, f, indent=2, default=str)
    return 0
