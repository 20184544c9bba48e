"""The learning benchmark's parts (jepa_ros.tools.bench_learning): one-room data never
leaves its room, the exploring robot continues where it stopped, the section and the curve
are written from a run's record."""
import json

import numpy as np
import torch

from jepa_ros.data.episodes import load_episodes
from jepa_ros.sim import make_env
from jepa_ros.tools.bench_learning import Explorer, collect_one_room, plot_curve, section_body
from support import tiny_critic, tiny_world_model


def test_one_room_episodes_stay_in_their_room(tmp_path):
    paths = collect_one_room(str(tmp_path / 'one'), episodes=3, steps=40, seed=0,
                             log=lambda *a: None)
    episodes = load_episodes(str(tmp_path / 'one'), use_cache=False)
    assert len(paths) == len(episodes) == 3
    for ep in episodes:
        assert (ep.states[:, 0] < 0).all()           # x < divider: the left room
        assert ep.meta['room'] == 'left'


def test_the_explorer_continues_from_where_it_stopped_in_both_modes():
    torch.set_num_threads(1)
    env = make_env('two_rooms')
    try:
        model = tiny_world_model(seed=0, scatter=True, image_size=64,
                                 action_scale=[1.5, 1.5]).eval().requires_grad_(False)
        critic = tiny_critic()
        explorer = Explorer(env, np.random.default_rng(0), 12, 'mixed', 1.0, 50)
        memory = [torch.zeros(model.config.latent_dim)]
        images, actions, states = explorer.episode(model, critic, memory)   # curious
        assert images.shape == (12, 64, 64, 3) and actions.shape == (12, 2)
        assert np.isfinite(actions).all() and np.abs(actions).max() <= 1.0
        assert states[0][0] < 0                      # the first episode starts in the left room
        end = explorer.state.copy()
        images, actions, states = explorer.episode(model, critic, memory)   # plain
        assert np.allclose(states[0][:2], end[:2], atol=1e-6)
        assert sum(v[1] for v in explorer.crossings.values()) == 2
        explorer.state = np.array([1.49, 1.49, 0.0])  # inside a wall: restarts in its room
        _, _, states = explorer.episode(model, critic, memory)
        assert states[0][0] > 0
    finally:
        env.close()


def test_section_and_curve_from_a_run_record(tmp_path):
    result = {
        'args': {'episodes': 120, 'one_room_steps': 100, 'minutes': 30.0, 'threads': 1,
                 'episodes_per_round': 8, 'steps': 150, 'explore': 'mixed',
                 'round_budget': 120.0, 'critic_budget': 45.0, 'check_tasks': 10,
                 'check_seed': 1000, 'curve_tasks': 20, 'curve_seed': 0, 'max_steps': 150},
        'curve': [{'loop_s': 0.0, 'version': 'v0', 'note': 'initial', 'cross_room': 0.2,
                   'same_room': 0.5},
                  {'loop_s': 400.0, 'version': 'v1', 'note': 'round 2', 'cross_room': 0.85,
                   'same_room': 0.9}],
        'decisions': [{'round': 1, 'accepted': False, 'version': 'c1', 'loop_s': 200.0,
                       'figures': {'experience': 7, 'replayed': 40, 'world_model_steps': 160,
                                   'prediction_ratio': 0.2, 'running_prediction_ratio': 0.05,
                                   'task_success': 0.3, 'running_task_success': 0.4,
                                   'round_s': 190.0}},
                      {'round': 2, 'accepted': True, 'version': 'v1', 'loop_s': 400.0,
                       'figures': {'experience': 14, 'replayed': 40, 'world_model_steps': 170,
                                   'prediction_ratio': 0.04, 'running_prediction_ratio': 0.05,
                                   'task_success': 0.8, 'running_task_success': 0.4,
                                   'round_s': 195.0}}],
        'crossings': {'curious': [1, 8], 'plain': [6, 8]},
    }
    body = section_body(json.loads(json.dumps(result)), prepare_s=420.0)
    assert 'Cross-room success 20 % -> 85 % (best 85 %), same-room 50 % -> 90 %' in body
    assert 'same-room not collapsing: met.' in body
    assert '| 2 | accepted | v1 | 14 | 40 | 170 | 0.040 / 0.050 | 80 % / 40 % | 195.0 |' in body
    assert 'curious 1/8, plain 6/8' in body
    png = plot_curve(result, str(tmp_path / 'curve.png'))
    with open(png, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
