"""Surprise detector (jepa_ros.core.surprise): baseline, events, robustness; and on the
real thing, the shipped two_rooms model in the simulator: flat on normal motion, an event
when the robot is teleported (moved by the sim without an action)."""
import math
import os

import numpy as np
import pytest
import torch
from support import REPO

from jepa_ros.core.surprise import (PredictionHistory, SurpriseDetector,
                                    prediction_energy)
from jepa_ros.core.checkpoint import load_checkpoint
from jepa_ros.sim import make_env
from jepa_ros.sim.exploration import ExplorationPolicy

D = 32


def noisy_energies(n, rng, noise=0.1):
    """Prediction energies of predictions off by Gaussian noise (a model doing its job)."""
    pred = rng.normal(size=(n, D))
    return [prediction_energy(p, p + rng.normal(0.0, noise, D)) for p in pred]


def run(detector, energies):
    return [detector.update(e) for e in energies]


def test_prediction_energy_is_the_latent_mse():
    a, b = np.zeros(4), np.array([1.0, -1.0, 2.0, 0.0])
    assert prediction_energy(a, b) == pytest.approx(1.5)
    assert prediction_energy(torch.zeros(4), torch.tensor(b, dtype=torch.float32)) == \
        pytest.approx(1.5)
    assert prediction_energy(a, [np.nan, 0, 0, 0]) == math.inf
    with pytest.raises(ValueError, match='values'):
        prediction_energy(np.zeros(3), np.zeros(4))


def test_no_event_on_stationary_noise():
    # energies of Gaussian errors are chi-square (right-skewed): 4 spreads would be crossed
    # about once in 1500 samples, 6 about once in 10^5
    det = SurpriseDetector(threshold=6.0, min_samples=20, window=200)
    samples = run(det, noisy_energies(3000, np.random.default_rng(0)))
    assert det.events == 0 and not any(s.above for s in samples)
    # the baseline is the typical energy: noise variance 0.01 per dimension
    assert samples[-1].baseline == pytest.approx(0.01, rel=0.1)
    assert 0 < samples[-1].spread < samples[-1].baseline


def test_a_jump_is_one_event_at_its_onset():
    rng = np.random.default_rng(1)
    energies = noisy_energies(100, rng) + [1.0, 0.8] + noisy_energies(100, rng)
    det = SurpriseDetector(threshold=4.0, min_samples=20)
    samples = run(det, energies)
    onsets = [i for i, s in enumerate(samples) if s.onset]
    assert onsets == [100]               # two states above threshold: one event
    assert samples[101].above and not samples[101].onset
    assert samples[100].score > 50
    assert det.events == 1 and samples[-1].events == 1


def test_no_event_before_min_samples():
    det = SurpriseDetector(threshold=4.0, min_samples=30)
    samples = run(det, noisy_energies(10, np.random.default_rng(2)) + [100.0])
    assert not any(s.above for s in samples) and math.isnan(samples[-1].score)


def test_baseline_is_robust_to_the_events_themselves():
    rng = np.random.default_rng(3)
    clean = noisy_energies(200, rng)
    det = SurpriseDetector(threshold=4.0, min_samples=20, window=200)
    run(det, clean)
    clean_baseline, clean_spread = det.baseline()
    # 10 % of the next samples are shoves 100x the typical energy
    mixed = noisy_energies(200, rng)
    for i in range(0, 200, 10):
        mixed[i] = 1.0
    samples = run(det, mixed)
    baseline, spread = det.baseline()
    assert baseline == pytest.approx(clean_baseline, rel=0.15)
    assert spread < 2 * clean_spread
    assert det.events == 20                      # every shove is an event, nothing else is
    assert [i for i, s in enumerate(samples) if s.onset] == list(range(0, 200, 10))
    # a mean/std baseline would have been dragged far off by the same samples
    assert np.mean(list(det.window)) > 5 * baseline


def test_a_lasting_change_becomes_the_new_baseline():
    rng = np.random.default_rng(4)
    det = SurpriseDetector(threshold=4.0, min_samples=20, window=100)
    run(det, noisy_energies(100, rng))
    later = run(det, noisy_energies(200, rng, noise=0.5))   # a new regime, 25x the energy
    assert later[0].onset
    assert not any(s.above for s in later[-100:])            # it is normal now
    assert det.events == 1


def test_non_finite_energy_is_above_threshold_and_not_in_the_baseline():
    det = SurpriseDetector(threshold=4.0, min_samples=20)
    run(det, noisy_energies(50, np.random.default_rng(5)))
    n = len(det.window)
    s = det.update(math.inf)
    assert s.above and s.onset and len(det.window) == n


def test_settings_are_checked_and_reconfigurable():
    with pytest.raises(ValueError):
        SurpriseDetector(threshold=0.0)
    with pytest.raises(ValueError):
        SurpriseDetector(min_samples=50, window=20)
    det = SurpriseDetector(window=50, min_samples=10)
    run(det, noisy_energies(50, np.random.default_rng(6)))
    det.configure(threshold=8.0, window=20)
    assert det.threshold == 8.0 and len(det.window) == 20
    det.reset()
    assert det.samples == 0 and not det.window


def test_prediction_history_matches_the_state_one_step_later():
    h = PredictionHistory(capacity=3)
    h.add(1.0, 'from 1.0')
    h.add(1.1, 'from 1.1 (first plan)')
    h.add(1.1, 'from 1.1 (re-plan)')        # the newest plan from a state wins
    assert h.match(1.2, 0.1) == 'from 1.1 (re-plan)'
    assert h.match(1.1049, 0.1) == 'from 1.0'
    assert h.match(1.5, 0.1) is None          # no plan from 1.4
    for t in (1.2, 1.3, 1.4):
        h.add(t, t)
    assert len(h) == 3 and h.match(1.1, 0.1) is None   # the oldest ones are gone


def test_shipped_model_surprise_rises_on_a_teleport_and_stays_flat_on_motion():
    model, _ = load_checkpoint(os.path.join(REPO, 'models', 'two_rooms_world_model.pt'))
    model.requires_grad_(False)
    env = make_env('two_rooms')
    try:
        obs, _ = env.reset(seed=0, options={'start_state': np.array([-0.8, -0.5, 0.0])})
        policy = ExplorationPolicy(2, np.random.default_rng(0))
        # the node's default threshold: real model errors are heavy-tailed (walls)
        det = SurpriseDetector()
        assert det.threshold == 25.0
        s = model.encode(obs[None])
        normal = []
        for _ in range(60):                       # normal motion, walls included
            a = np.asarray(policy(), np.float32)
            pred = model.predict(s, torch.as_tensor(a)[None])
            obs, *_ = env.step(a)
            s = model.encode(obs[None])
            normal.append(det.update(prediction_energy(pred[0], s[0])))
        assert det.events == 0, [round(x.score, 1) for x in normal if x.above]
        # teleport: the sim puts the robot into the other room, no action moved it
        a = np.zeros(2, np.float32)
        pred = model.predict(s, torch.as_tensor(a)[None])
        obs, _ = env.reset(options={'start_state': np.array([0.9, 0.8, 0.0])})
        s = model.encode(obs[None])
        jump = det.update(prediction_energy(pred[0], s[0]))
        assert jump.onset and det.events == 1
        assert jump.score > 3 * max(x.score for x in normal[20:])
    finally:
        env.close()
