"""Evaluation metrics of a world model, in numpy/torch only (no scipy/sklearn)."""
import numpy as np
import torch


def _np(x):
    return x.detach().cpu().double().numpy() if torch.is_tensor(x) else np.asarray(x, float)


def per_dim_std(x):
    """x: (N,D) -> (D,) standard deviation of every latent dimension."""
    return _np(x).std(axis=0)


def effective_rank(x, eps=1e-12):
    """exp(entropy) of the normalised singular values of centred x (N,D) (Roy & Vetterli).

    D for isotropic latents, 1 for a line, 0 for a constant (fully collapsed) encoder.
    """
    x = _np(x)
    sv = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
    total = sv.sum()
    if total < eps * max(1.0, np.abs(x).max(initial=0.0)) or total < eps:
        return 0.0
    p = sv / total
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def collapse_report(x, min_std=1e-2, min_rank=2.0):
    """Collapse monitors on a batch of latents: the stds and the effective rank."""
    std = per_dim_std(x)
    rank = effective_rank(x)
    return {
        'mean_std': float(std.mean()),
        'min_std': float(std.min()),
        'dead_dims': int((std < min_std).sum()),
        'effective_rank': rank,
        'collapsed': bool(std.mean() < min_std or rank < min_rank),
    }


def ridge_fit(x, y, alpha=1e-3):
    """Ridge regression with bias on standardised x; returns predict(x) -> y."""
    x, y = _np(x), _np(y)
    mu, sd = x.mean(0), x.std(0) + 1e-8
    xs = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    reg = alpha * len(x) * np.eye(xs.shape[1])
    reg[-1, -1] = 0.0
    w = np.linalg.solve(xs.T @ xs + reg, xs.T @ y)
    return lambda q: np.hstack([(_np(q) - mu) / sd, np.ones((len(q), 1))]) @ w


def r2_score(y_true, y_pred):
    """Coefficient of determination averaged over output columns."""
    y_true, y_pred = _np(y_true), _np(y_pred)
    ss_res = ((y_true - y_pred) ** 2).sum(0)
    ss_tot = ((y_true - y_true.mean(0)) ** 2).sum(0) + 1e-12
    return float((1 - ss_res / ss_tot).mean())


def rankdata(a):
    """Average ranks (ties share the mean rank), 1-based, like scipy.stats.rankdata."""
    a = np.asarray(a, float)
    order = np.argsort(a, kind='mergesort')
    ranks = np.empty(len(a))
    sorted_a = a[order]
    i = 0
    while i < len(a):
        j = i
        while j + 1 < len(a) and sorted_a[j + 1] == sorted_a[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1
        i = j + 1
    return ranks


def spearman(a, b):
    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra ** 2).sum() * (rb ** 2).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else 0.0


# ---- whole-model evaluation ---------------------------------------------------------------
PROBE_DIMS = {'two_rooms': [0, 1], 'reach': [0, 1, 2]}


@torch.no_grad()
def encode_episodes(model, episodes, chunk=512):
    out = []
    for ep in episodes:
        out.append(torch.cat([model.encode(ep.images[i:i + chunk])
                              for i in range(0, len(ep.images), chunk)]).cpu())
    return out


def split_episodes(n, held_out=0.2, seed=0):
    """Deterministic train/held-out split of episode indices (at least one of each)."""
    if n < 2:
        raise ValueError('need at least 2 episodes to hold some out')
    order = np.random.default_rng(seed).permutation(n)
    k = min(n - 1, max(1, int(round(n * held_out))))
    return sorted(order[k:].tolist()), sorted(order[:k].tolist())


def linear_probe_r2(train_x, train_y, test_x, test_y, alpha=1e-3):
    return r2_score(test_y, ridge_fit(train_x, train_y, alpha)(test_x))


@torch.no_grad()
def multistep_ratios(model, latents, actions, horizons=(1, 4, 8, 16), max_starts=2000,
                     seed=0):
    """Open-loop prediction error / copy-last-latent error at each horizon.

    latents: list of (T,D) tensors, actions: list of (T,A) tensors (per episode).
    Returns {h: {'error', 'copy_error', 'ratio'}} for every horizon some episode allows.
    """
    rng = np.random.default_rng(seed)
    out = {}
    dev = model.device
    for h in horizons:
        starts = [(e, t) for e, s in enumerate(latents) for t in range(len(s) - h)]
        if not starts:
            continue
        if len(starts) > max_starts:
            starts = [starts[i] for i in rng.choice(len(starts), max_starts, replace=False)]
        s0 = torch.stack([latents[e][t] for e, t in starts]).to(dev)
        acts = torch.stack([actions[e][t:t + h] for e, t in starts]).to(dev)
        target = torch.stack([latents[e][t + h] for e, t in starts]).to(dev)
        pred = model.rollout(s0, acts)[:, -1]
        err = float(((pred - target) ** 2).sum(-1).mean())
        copy = float(((s0 - target) ** 2).sum(-1).mean())
        out[h] = {'error': err, 'copy_error': copy, 'ratio': err / max(copy, 1e-12)}
    return out


def distance_ranking(latents, states, distance_fn, pairs=1000, seed=0):
    """Spearman correlation of latent L2 distance with distance_fn(state_a, state_b)."""
    rng = np.random.default_rng(seed)
    lat = torch.cat(latents).numpy().astype(np.float64)
    st = np.concatenate(states)
    i = rng.integers(0, len(lat), pairs)
    j = rng.integers(0, len(lat), pairs)
    keep = i != j
    i, j = i[keep], j[keep]
    d_lat = np.linalg.norm(lat[i] - lat[j], axis=1)
    d_true = np.array([distance_fn(st[a], st[b]) for a, b in zip(i, j)])
    return spearman(d_lat, d_true)


@torch.no_grad()
def evaluate_world_model(model, episodes, distance_fn=None, horizons=(1, 4, 8, 16),
                         held_out=0.2, seed=0, pairs=1000, probe_episodes=None):
    """Probe R^2, multi-step ratios, collapse monitors and distance ranking (held-out).

    The linear probe is fit on `probe_episodes` when given (e.g. the training episodes:
    more frames, so the probe measures the latent, not the probe's own overfitting) and
    scored on all of `episodes`; otherwise fit and scored on a split of `episodes`.
    """
    model.eval()
    if probe_episodes is not None:   # `episodes` are all held out: score on all of them
        tr, te = [], list(range(len(episodes)))
    else:
        tr, te = split_episodes(len(episodes), held_out, seed)
    latents = encode_episodes(model, episodes)
    if probe_episodes is not None and not all(ep.states is not None for ep in probe_episodes):
        raise ValueError('probe episodes need ground-truth states')
    actions = [torch.as_tensor(np.asarray(ep.actions, np.float32)) for ep in episodes]
    world = model.config.world
    res = {'world': world, 'held_out_episodes': len(te),
           'train_episodes': len(probe_episodes) if probe_episodes is not None else len(tr)}
    has_states = all(ep.states is not None for ep in episodes)
    if has_states:
        dims = PROBE_DIMS.get(world, list(range(episodes[0].states.shape[1])))
        ys = [np.asarray(ep.states, np.float64)[:, dims] for ep in episodes]
        # The probe's fit set: the probe episodes, or the `tr` split of `episodes`.
        if probe_episodes is not None:
            fit_z = encode_episodes(model, probe_episodes)
            fit_y = [np.asarray(ep.states, np.float64)[:, dims] for ep in probe_episodes]
        else:
            fit_z, fit_y = [latents[i] for i in tr], [ys[i] for i in tr]
        test_y = np.concatenate([ys[i] for i in te])
        res['probe_r2'] = linear_probe_r2(torch.cat(fit_z), np.concatenate(fit_y),
                                          torch.cat([latents[i] for i in te]), test_y)
        res['probe_fit_frames'] = int(sum(len(z) for z in fit_z))
    res['multistep'] = multistep_ratios(model, [latents[i] for i in te],
                                        [actions[i] for i in te], horizons, seed=seed)
    res['collapse'] = collapse_report(torch.cat([latents[i] for i in te]))
    if has_states:
        st = [np.asarray(episodes[i].states, np.float64) for i in te]

        def euclid(a, b):
            return float(np.linalg.norm(a[:len(dims)] - b[:len(dims)]))

        res['spearman_euclidean'] = distance_ranking([latents[i] for i in te], st, euclid,
                                                     pairs, seed)
        if distance_fn is not None:
            res['spearman_true_distance'] = distance_ranking([latents[i] for i in te], st,
                                                             distance_fn, pairs, seed)
    lv2 = getattr(model, 'level2', None)
    if lv2 is not None:
        s2 = [lv2.encode(x.to(model.device)).cpu() for x in latents]
        l2 = {'k': lv2.k, 'collapse': collapse_report(torch.cat([s2[i] for i in te]))}
        if has_states:
            fit_z2 = [lv2.encode(x.to(model.device)).cpu() for x in fit_z]
            l2['probe_r2'] = linear_probe_r2(torch.cat(fit_z2), np.concatenate(fit_y),
                                             torch.cat([s2[i] for i in te]), test_y)
        if has_states and distance_fn is not None:
            l2['spearman_true_distance'] = distance_ranking(
                [s2[i] for i in te], [np.asarray(episodes[i].states, np.float64) for i in te],
                distance_fn, pairs, seed)
        l2['multistep'] = level2_multistep_ratios(lv2, [s2[i] for i in te],
                                                  [actions[i] for i in te], seed=seed)
        res['level2'] = l2
    if getattr(model, 'codebook', None) is not None:
        res['z'] = z_prediction_errors(model, [latents[i] for i in te],
                                       [actions[i] for i in te], seed=seed)
    return res


@torch.no_grad()
def level2_multistep_ratios(lv2, s2, actions, horizons=(1, 2, 4), max_starts=2000, seed=0):
    """Level-2 rollout error / copy error, horizons in level-2 steps (k level-1 steps)."""
    rng = np.random.default_rng(seed)
    k, out = lv2.k, {}
    dev = next(lv2.parameters()).device
    for h in horizons:
        n = h * k
        starts = [(e, t) for e, s in enumerate(s2) for t in range(len(s) - n)]
        if not starts:
            continue
        if len(starts) > max_starts:
            starts = [starts[i] for i in rng.choice(len(starts), max_starts, replace=False)]
        s0 = torch.stack([s2[e][t] for e, t in starts]).to(dev)
        a = torch.stack([actions[e][t:t + n] for e, t in starts]).to(dev)
        target = torch.stack([s2[e][t + n] for e, t in starts]).to(dev)
        pred = lv2.rollout(s0, lv2.aggregate_actions(a))[:, -1]
        err = float(((pred - target) ** 2).sum(-1).mean())
        copy = float(((s0 - target) ** 2).sum(-1).mean())
        out[h] = {'error': err, 'copy_error': copy, 'ratio': err / max(copy, 1e-12)}
    return out


@torch.no_grad()
def z_prediction_errors(model, latents, actions, horizon=1, max_starts=2000, seed=0):
    """One-step error with z=0 and with the best of the K codes (oracle pick per sample)."""
    rng = np.random.default_rng(seed)
    starts = [(e, t) for e, s in enumerate(latents) for t in range(len(s) - horizon)]
    if len(starts) > max_starts:
        starts = [starts[i] for i in rng.choice(len(starts), max_starts, replace=False)]
    dev = model.device
    s0 = torch.stack([latents[e][t] for e, t in starts]).to(dev)
    a = torch.stack([actions[e][t] for e, t in starts]).to(dev)
    target = torch.stack([latents[e][t + 1] for e, t in starts]).to(dev)
    e_all = model.codebook.energies(model.predictor, s0, a, target) * target.shape[-1]
    copy = float(((s0 - target) ** 2).sum(-1).mean())
    return {'codes': int(e_all.shape[1]), 'error_z0': float(e_all[:, 0].mean()),
            'error_best_of_k': float(e_all.min(1).values.mean()), 'copy_error': copy,
            'code_use': np.bincount(e_all.argmin(1).cpu().numpy(),
                                    minlength=e_all.shape[1]).tolist()}
