"""Benchmark `world_model`: collect -> train -> evaluate on fresh episodes, plus the z test.

Writes section `world_model` of docs/BENCHMARKS.md. Every number comes from the public
CLIs (`jepa-ros collect`, `train world-model`) and jepa_ros.core.metrics on episodes the
model never trained on (collected with another seed).

    python -m jepa_ros.tools.bench_world_model [--quick]
    python -m jepa_ros.tools.bench_world_model --seeds 4   # section world_model_seeds

`--seeds K` measures how reliable the recipe is rather than how good one run is: the
`make train` data (120 x 100 frames) collected once, then K world models trained from
seeds 0..K-1 within the budget, each evaluated and planned with gd, without and with
a critic trained on the same data.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

from jepa_ros import cli
from jepa_ros.share import source_root

# runs/ of the checkout; from an install, of the working directory.
ROOT = source_root() or os.getcwd()


def _cli(argv):
    t0 = time.monotonic()
    rc = cli.main(argv)
    if rc != 0:
        raise RuntimeError(f'jepa-ros {" ".join(argv)} failed with exit code {rc}')
    return time.monotonic() - t0


def collect(out, episodes, steps, seed, extra=(), world='two_rooms'):
    return _cli(['collect', '--world', world, '--episodes', str(episodes), '--steps',
                 str(steps), '--out', out, '--seed', str(seed), '--overwrite', '--quiet',
                 *extra])


def train(data, out, budget, seed, extra=()):
    return _cli(['train', 'world-model', '--data', data, '--out', out, '--time-budget',
                 str(budget), '--steps', '100000', '--seed', str(seed), '--no-progress',
                 '--log-every', '500', *extra])


def evaluate(ckpt, data, probe_data=None):
    import torch
    from jepa_ros.core.checkpoint import load_checkpoint
    from jepa_ros.core.metrics import evaluate_world_model
    from jepa_ros.data.episodes import load_episodes
    from jepa_ros.tools.eval_world_model import true_distance_fn
    model, extra = load_checkpoint(ckpt)
    with torch.no_grad():
        res = evaluate_world_model(model, load_episodes(data),
                                   true_distance_fn(model.config.world),
                                   probe_episodes=load_episodes(probe_data)
                                   if probe_data else None)
    return model, extra, res


def one_step_errors(model, data, z_model=None):
    """Held-out 1-step latent error of a deterministic model, and of a z model with z=0 and
    with the best of its K codes; each relative to its own copy-last-latent error."""
    import torch
    from jepa_ros.core.metrics import encode_episodes, z_prediction_errors
    from jepa_ros.data.episodes import load_episodes
    eps = load_episodes(data)
    acts = [torch.as_tensor(np.asarray(e.actions, np.float32)) for e in eps]
    out = {}
    with torch.no_grad():
        lat = encode_episodes(model, eps)
        s0 = torch.cat([x[:-1] for x in lat])
        s1 = torch.cat([x[1:] for x in lat])
        a = torch.cat([x[:-1] for x in acts])
        copy = float(((s0 - s1) ** 2).sum(-1).mean())
        out['deterministic'] = float(((model.predict(s0, a) - s1) ** 2).sum(-1).mean()) / copy
        if z_model is not None:
            zl = encode_episodes(z_model, eps)
            z = z_prediction_errors(z_model, zl, acts, max_starts=10 ** 9)
            out['z0'] = z['error_z0'] / z['copy_error']
            out['best_of_k'] = z['error_best_of_k'] / z['copy_error']
            out['codes'] = z['codes']
            out['code_use'] = z['code_use']
    return out


def z_experiment(main_ckpt, train_dir, eval_dir, steps, seed=0):
    """Deterministic vs z predictor on the shoved world, in ONE latent space.

    Both predictors are trained for `steps` large-batch steps on the latents of the same
    frozen encoder (the main model's), so their errors are directly comparable and the
    comparison does not depend on how far each encoder got in a short budget.
    """
    import torch
    from jepa_ros.core.checkpoint import load_checkpoint
    from jepa_ros.core.metrics import multistep_ratios
    from jepa_ros.core.train_world_model import FrameBank, TrainConfig, finetune_predictor
    from jepa_ros.core.world_model import WorldModel, WorldModelConfig
    from jepa_ros.data.episodes import load_episodes
    base, _ = load_checkpoint(main_ckpt)
    bank = FrameBank(load_episodes(train_dir), base.config.image_size)
    latents = bank.encode_all(base)
    tc = TrainConfig(finetune_steps=steps, finetune_batch_size=256, seed=seed,
                     log_every=10 ** 6)
    models = {}
    for name, extra in (('det', {}), ('z', {'z_dim': 4, 'z_codes': 4})):
        cfg = WorldModelConfig.from_dict({**base.config.to_dict(), 'level2_k': 0, **extra})
        torch.manual_seed(seed)
        m = WorldModel(cfg)
        m.encoder.load_state_dict(base.encoder.state_dict())
        t0 = time.monotonic()
        finetune_predictor(m, bank, latents, tc, 'cpu', log=lambda *_: None)
        models[name] = (m, time.monotonic() - t0)
    det, zm = models['det'][0], models['z'][0]
    errs = one_step_errors(zm, eval_dir, zm)
    errs['deterministic'] = one_step_errors(det, eval_dir)['deterministic']
    ev = load_episodes(eval_dir)
    with torch.no_grad():
        from jepa_ros.core.metrics import encode_episodes
        lat = encode_episodes(det, ev)
        acts = [torch.as_tensor(np.asarray(e.actions, np.float32)) for e in ev]
        r_det = multistep_ratios(det, lat, acts, (4,))[4]['ratio']
        r_z = multistep_ratios(zm, lat, acts, (4,))[4]['ratio']
    return {'deterministic': {'deterministic': errs['deterministic']}, 'z_model': errs,
            'det_probe_r2': float('nan'), 'z_probe_r2': float('nan'),
            'det_ratio4': r_det, 'z_ratio4': r_z, 'steps': steps,
            'train_s': [round(models[k][1], 1) for k in ('det', 'z')]}


def seed_runs(args):
    """K trainings of the make-train recipe from different seeds: dict per seed."""
    import torch
    from jepa_ros.core.metrics import encode_episodes
    from jepa_ros.data.episodes import load_episodes
    w = args.workdir
    reuse = args.reuse and os.path.exists(f'{w}/results.json')
    if reuse:
        with open(f'{w}/results.json') as f:
            t_collect = json.load(f)['collect_s']
    else:
        t_collect = collect(f'{w}/train', args.episodes, args.steps, 0)
        collect(f'{w}/eval', max(4, args.episodes // 4), args.steps, 10_000)

    def success(ckpt, tag, critic=None):
        out = f'{w}/plan_{tag}.json'
        _cli(['eval', 'planning', '--ckpt', ckpt, '--planner', 'gd', '--episodes',
              str(args.plan_episodes), '--max-steps', '100', '--seed', '0', '--json', out,
              '--quiet'] + (['--critic', critic] if critic else ['--critic-weight', '0']))
        with open(out) as f:
            return json.load(f)['summary']['all']['success_rate']
    runs = []
    for seed in range(args.seeds):
        ckpt, critic = f'{w}/wm_seed{seed}.pt', f'{w}/critic_seed{seed}.pt'
        t_train = None
        if not (reuse and os.path.exists(ckpt)):
            t_train = train(f'{w}/train', ckpt, args.budget, seed)
        # what `make train` does next: a critic on the same data
        _cli(['train', 'critic', '--data', f'{w}/train', '--ckpt', ckpt, '--out', critic,
              '--seed', str(seed)])
        model, extra, res = evaluate(ckpt, f'{w}/eval', f'{w}/train')
        with torch.no_grad():
            lat = torch.cat(encode_episodes(model, load_episodes(f'{w}/eval')))
        metrics = extra.get('metrics', {})
        runs.append({
            'seed': seed, 'train_s': t_train, 'steps': metrics.get('steps'),
            'loss_vs_copy': metrics.get('finetune', {}).get('loss_vs_copy'),
            'probe_r2': res.get('probe_r2'), 'ratio8': res['multistep'][8]['ratio'],
            'latent_offset': float(lat.mean(0).abs().mean()),
            'latent_std': float(lat.std(0).mean()),
            'predictor_resets': metrics.get('finetune', {}).get('predictor_resets'),
            'success': success(ckpt, f'seed{seed}'),
            'success_critic': success(ckpt, f'seed{seed}_critic', critic),
        })
        print(json.dumps(runs[-1], default=str), flush=True)
    return {'collect_s': t_collect, 'runs': runs}


def write_seeds(results, args):
    from jepa_ros.tools.benchmarks import md_table, write_section
    runs = results['runs']

    def f(x, fmt):
        return 'n/a' if x is None else format(x, fmt)
    rows = [(r['seed'], r['steps'], f(r['loss_vs_copy'], '.3f'), r['predictor_resets'],
             f(r['probe_r2'], '.4f'), f(r['ratio8'], '.3f'),
             f'{r["latent_offset"]:.2f} / {r["latent_std"]:.2f}', f(r['success'], '.0%'),
             f(r['success_critic'], '.0%')) for r in runs]
    good = sum(1 for r in runs if r['probe_r2'] >= 0.98 and r['ratio8'] <= 0.2
               and r['success_critic'] >= 0.8)
    body = (f'The `make train` data ({args.episodes} x {args.steps} frames, collect seed 0, '
            f'{results["collect_s"]:.0f} s) trained {len(runs)} times, seeds 0..'
            f'{len(runs) - 1}, {args.budget:.0f} s budget each; evaluated on '
            f'{max(4, args.episodes // 4)} held-out episodes; planning: gd on '
            f'{args.plan_episodes} seeded tasks, 100 steps, without and with a critic '
            'trained on the same data as `make train` does. loss / copy: the predictor '
            'fine-tune loss over the copy-last-latent loss at the end of training (a '
            'copy-only predictor is near 1); resets: copy-only predictors the fine-tune '
            're-initialised. Latent offset: mean |per-dimension mean| of the held-out '
            'latents, against their mean per-dimension std.\n\n' +
            md_table(['seed', 'steps', 'loss / copy', 'resets', 'probe R^2',
                      '8-step / copy', 'latent offset / std', 'gd, no critic',
                      'gd + critic'], rows) +
            f'\n\n**{good} of {len(runs)}** runs meet probe R^2 >= 0.98, 8-step ratio <= 0.2 '
            'and >= 80 % of tasks with the critic.')
    cmd = ' '.join(['python -m jepa_ros.tools.bench_world_model'] + args.argv)
    write_section('world_model_seeds', 'World model: seed to seed (two_rooms)', cmd, body)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--quick', action='store_true', help='small smoke run, not for the record')
    p.add_argument('--workdir', default=os.path.join(ROOT, 'runs', 'bench_world_model'))
    p.add_argument('--episodes', type=int, default=100)
    p.add_argument('--steps', type=int, default=100)
    p.add_argument('--budget', type=float, default=300.0, help='training seconds')
    p.add_argument('--z-budget', type=float, default=120.0,
                   help='training seconds of each model of the z experiment')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--write', default=None, help='also copy the trained checkpoint here')
    p.add_argument('--no-section', action='store_true', help='do not touch BENCHMARKS.md')
    p.add_argument('--z-steps', type=int, default=1500,
                   help='predictor steps of each model in the z experiment')
    p.add_argument('--z-only', action='store_true',
                   help='redo only the z experiment, reusing the workdir of a full run')
    p.add_argument('--world', default='two_rooms', choices=['two_rooms', 'reach'],
                   help='reach: collect + train + evaluate only (the z experiment is '
                        'two_rooms), section world_model_reach')
    p.add_argument('--seeds', type=int, default=0,
                   help='K > 0: train the make-train recipe from K seeds instead '
                        '(section world_model_seeds)')
    p.add_argument('--plan-episodes', type=int, default=20,
                   help='planning tasks per model with --seeds')
    p.add_argument('--reuse', action='store_true',
                   help='with --seeds: keep the data and world models of an earlier run')
    args = p.parse_args(argv)
    if args.world != 'two_rooms' and args.workdir == p.get_default('workdir'):
        args.workdir = f'{args.workdir}_{args.world}'
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.quick:
        args.episodes, args.steps, args.budget, args.z_budget = 12, 40, 20.0, 10.0
    w = args.workdir
    os.makedirs(w, exist_ok=True)
    n_eval = max(4, args.episodes // 4)
    results = {}
    if args.seeds:
        if args.workdir == p.get_default('workdir'):
            w = args.workdir = f'{args.workdir}_seeds'
            os.makedirs(w, exist_ok=True)
        if args.episodes == p.get_default('episodes'):
            args.episodes = 120     # the make-train recipe
        if args.budget == p.get_default('budget'):
            args.budget = 360.0
        results = seed_runs(args)
        with open(f'{w}/results.json', 'w') as f:
            json.dump(results, f, indent=2, default=str)
        if not args.no_section:
            write_seeds(results, args)
        return 0

    if args.z_only:
        with open(f'{w}/results.json') as f:
            results = json.load(f)
        results['z'] = z_experiment(f'{w}/wm.pt', f'{w}/push_train', f'{w}/push_eval',
                                    args.z_steps, args.seed)
        with open(f'{w}/results.json', 'w') as f:
            json.dump(results, f, indent=2, default=str)
        from jepa_ros.core.checkpoint import load_checkpoint
        if not args.no_section:
            write(results, args, load_checkpoint(f'{w}/wm.pt')[1])
        print(json.dumps(results['z'], indent=1, default=str))
        return 0

    # 1. the shipped recipe: collect + train within the budget, evaluate on new episodes
    t_collect = collect(f'{w}/train', args.episodes, args.steps, args.seed, world=args.world)
    collect(f'{w}/eval', n_eval, args.steps, args.seed + 10_000, world=args.world)
    t_train = train(f'{w}/train', f'{w}/wm.pt', args.budget, args.seed)
    model, extra, res = evaluate(f'{w}/wm.pt', f'{w}/eval', f'{w}/train')
    results['main'] = res
    results['collect_s'], results['train_s'] = t_collect, t_train
    results['latent_dim'] = model.config.latent_dim
    if args.write:
        import shutil
        shutil.copyfile(f'{w}/wm.pt', args.write)
    if args.world == 'two_rooms':
        # 2. latent variable z on the stochastic world (random shoves)
        push = ['--push-prob', '0.3', '--push-scale', '1.5']
        collect(f'{w}/push_train', args.episodes, args.steps, args.seed + 1, push)
        collect(f'{w}/push_eval', n_eval, args.steps, args.seed + 20_000, push)
        results['z'] = z_experiment(f'{w}/wm.pt', f'{w}/push_train', f'{w}/push_eval',
                                    args.z_steps, args.seed)
    with open(f'{w}/results.json', 'w') as f:
        json.dump(results, f, indent=2, default=str)
    if not args.no_section:
        write(results, args, extra)
    print(json.dumps({'probe_r2': res.get('probe_r2'),
                      'ratio8': res['multistep'][8]['ratio'],
                      'spearman_true': res.get('spearman_true_distance'),
                      'z': results.get('z')}, indent=1, default=str))
    return 0


def write(results, args, extra):
    from jepa_ros.tools.benchmarks import md_table, write_section
    r = results['main']
    ms = r['multistep']
    l2 = r.get('level2', {})
    steps = extra.get('metrics', {}).get('steps')
    reach = args.world == 'reach'
    distance = 'euclidean (hand)' if reach else 'geodesic'
    rows = [
        ('collect (train episodes)', f'{args.episodes} x {args.steps} frames',
         f'{results["collect_s"]:.0f} s'),
        ('train world model (time budget)', f'{args.budget:.0f} s budget, {steps} steps',
         f'{results["train_s"]:.0f} s'),
        ('collect + train', 'no time target for reach' if reach else
         'target <= 600 s on 2 CPU cores', f'{results["collect_s"] + results["train_s"]:.0f} s'),
        ('linear probe R^2 of ' + ('hand (x, y, z)' if reach else '(x, y)'), 'target >= 0.98',
         f'{r.get("probe_r2", float("nan")):.4f}'),
    ] + [(f'{h}-step error / copy-last-latent', 'target <= 0.2 at 8' if str(h) == '8' else '',
          f'{m["ratio"]:.3f}') for h, m in ms.items()] + [
        ('effective rank / latent dims', '',
         f'{r["collapse"]["effective_rank"]:.1f} / {results["latent_dim"]}'),
        ('mean per-dim std (dead dims)', '', f'{r["collapse"]["mean_std"]:.3f} '
                                             f'({r["collapse"]["dead_dims"]})'),
        (f'Spearman latent dist. vs {distance}', 'what the planning cost uses',
         f'{r.get("spearman_true_distance", float("nan")):.3f}'),
    ]
    if not reach:
        rows.append(('Spearman latent dist. vs euclidean', '',
                     f'{r.get("spearman_euclidean", float("nan")):.3f}'))
    if l2:
        rows.append((f'level 2 (k={l2["k"]}) probe R^2', '',
                     f'{l2.get("probe_r2", float("nan")):.4f}'))
        rows.append((f'level 2 Spearman vs {distance}', '',
                     f'{l2.get("spearman_true_distance", float("nan")):.3f}'))
        rows += [(f'level 2 {h}-step error / copy', f'{int(h) * l2["k"]} level-1 steps',
                  f'{m["ratio"]:.3f}') for h, m in l2['multistep'].items()]
    held_out = ('\n\nHeld-out: metrics on ' + f'{max(4, args.episodes // 4)} episodes '
                'collected with another seed; the linear probe is a ridge fit on the '
                f'{r.get("probe_fit_frames", "?")} frames of the training episodes, R^2 on '
                'the held-out ones.')
    cmd = ' '.join(['python -m jepa_ros.tools.bench_world_model'] + args.argv)
    if reach:
        write_section('world_model_reach', 'World model (reach)', cmd,
                      md_table(['metric', 'note', 'value'], rows) + held_out)
        return
    z = results['z']
    zrows = [
        ('deterministic predictor', f'{z["deterministic"]["deterministic"]:.3f}',
         f'{z["det_ratio4"]:.3f}'),
        ('z model, z = 0', f'{z["z_model"]["z0"]:.3f}', f'{z["z_ratio4"]:.3f}'),
        (f'z model, best of K={z["z_model"]["codes"]} codes (oracle pick)',
         f'{z["z_model"]["best_of_k"]:.3f}', ''),
    ]
    body = (md_table(['metric', 'note', 'value'], rows) + held_out + '\n\n'
            '### Latent variable z on the stochastic world\n\n'
            'Shoves (`--push-prob 0.3 --push-scale 1.5`) make the next frame unpredictable '
            'from (s, a). Both predictors are trained on the latents of the main model\'s '
            f'frozen encoder for {z["steps"]} steps of 256 windows each '
            f'({z["train_s"][0]:.0f} s / {z["train_s"][1]:.0f} s), so the errors share one '
            'latent space. Error / copy-last-latent error on held-out shoved episodes. '
            f'Code use on held-out: {z["z_model"]["code_use"]}.\n\n' +
            md_table(['predictor', '1-step error / copy', '4-step (z = 0) / copy'], zrows))
    write_section('world_model', 'World model (two_rooms)', cmd, body)


if __name__ == '__main__':
    sys.exit(main())
