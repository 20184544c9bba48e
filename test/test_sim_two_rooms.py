"""two_rooms world: gym contract, determinism, real contacts, goals, geodesic distance."""
import math

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from jepa_ros.sim import make_env


@pytest.fixture
def env():
    e = make_env('two_rooms')
    yield e
    e.close()


def test_check_env(env):
    check_env(env, skip_render_check=False)
    assert env.observation_space.shape == (64, 64, 3)
    small = make_env('two_rooms', image_size=32)
    assert small.reset(seed=0)[0].shape == (32, 32, 3)
    small.close()


def test_deterministic_under_seed():
    runs = []
    for _ in range(2):
        e = make_env('two_rooms', push_prob=0.5, push_scale=0.3, door_block_prob=0.5)
        obs, info = e.reset(seed=7)
        rng = np.random.default_rng(1)
        frames, states = [obs], [info['state']]
        for _ in range(15):
            obs, _, _, _, info = e.step(rng.uniform(-1, 1, 2))
            frames.append(obs)
            states.append(info['state'])
        runs.append((np.stack(frames), np.stack(states), info['goal_state']))
        e.close()
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    np.testing.assert_array_equal(runs[0][2], runs[1][2])
    assert np.abs(np.diff(runs[0][1][:, :2], axis=0)).sum() > 0.5  # it did move


def test_walls_stop_the_robot(env):
    lay = env.layout
    limit = lay.divider_x - lay.wall_t / 2 - lay.radius
    env.reset(seed=0, options={'start_state': [-0.8, 1.0]})
    xs = [env.step([1.0, 0.0])[4]['state'][0] for _ in range(40)]
    assert max(xs) < limit + 0.01          # never into or through the divider
    assert xs[-1] > limit - 0.02            # ...but pressed against it
    env.reset(seed=0, options={'start_state': [1.0, 1.0]})
    for _ in range(20):
        state = env.step([0.7, 0.7])[4]['state']
    assert state[0] < lay.half - lay.radius + 0.01 and state[1] < lay.half - lay.radius + 0.01
    assert state[2] == 0.0                  # holonomic: contacts do not turn it


def test_robot_passes_the_door(env):
    env.reset(seed=0, options={'start_state': [-0.8, 0.0], 'goal_state': [0.8, 0.0]})
    for _ in range(11):  # 11 * 0.15 m = 1.65 m: from x=-0.8 to x=0.85
        info = env.step([1.0, 0.0])[4]
    assert info['state'][0] == pytest.approx(0.85, abs=0.01) and info['success']
    assert info['distance'] < 0.2


def test_blocked_door(env):
    _, info = env.reset(seed=0, options={'start_state': [-0.8, 0.0], 'door_open': False,
                                         'goal_state': [-0.3, 1.0]})
    assert not info['door_open']
    for _ in range(30):
        _, reward, _, _, info = env.step([1.0, 0.0])
    assert info['state'][0] < -0.15 and math.isfinite(reward)
    assert env.true_distance([-0.8, 0.0], [0.8, 0.0]) == math.inf
    # With the door blocked, sampled goals stay in the robot's room.
    rng = np.random.default_rng(0)
    assert all(env.sample_goal(rng)[0] < 0 for _ in range(20))


def test_goal_image_is_render_of_goal_state(env):
    obs, info = env.reset(seed=3)
    np.testing.assert_array_equal(env.goal_image, env.render_state(info['goal_state']))
    assert not np.array_equal(env.goal_image, obs)
    image = env.set_goal([1.0, -1.0])
    np.testing.assert_array_equal(image, env.goal_image)
    # Rendering another state leaves the episode untouched.
    before = env.step([0.3, 0.2])[4]['state']
    env.render_state([-1.0, -1.0])
    np.testing.assert_array_equal(env._get_state(), before)
    np.testing.assert_array_equal(env.render(), env.render_state(before))


def test_geodesic_distance(env):
    d = env.true_distance
    assert d([-1, 1], [-0.5, 0.2]) == pytest.approx(math.hypot(0.5, 0.8))  # same room
    assert d([-1, 0], [1, 0]) == pytest.approx(2.0)                        # straight through
    # Through the door edge at (0, door_half - radius): two straight legs.
    edge = env.layout.door_free_half
    expect = math.hypot(1.0, 1.0 - edge) * 2
    assert d([-1, 1], [1, 1]) == pytest.approx(expect)
    assert d([1, 1], [-1, 1]) == pytest.approx(expect)
    assert d([-1, 1], [1, 1]) > math.hypot(2, 0)


def test_sample_task_kinds(env):
    rng = np.random.default_rng(0)
    lay = env.layout
    for kind in ('any', 'same_room', 'cross_room', 'cross_far'):
        for _ in range(20):
            start, goal = env.sample_task(rng, kind)
            assert lay.is_free(start[:2]) and lay.is_free(goal[:2])
            same = lay.room_of(start) == lay.room_of(goal)
            assert same if kind == 'same_room' else (not same or kind == 'any')
            if kind == 'cross_far':
                assert math.hypot(*start[:2]) >= 1.0 and math.hypot(*goal[:2]) >= 1.0
            assert env.true_distance(start, goal) >= 2 * env.success_distance
    with pytest.raises(ValueError, match='task kind'):
        env.sample_task(rng, 'teleport')


def test_differential_drive_turns_then_drives():
    e = make_env('two_rooms', action_mode='diff_drive')
    e.reset(seed=0, options={'start_state': [-0.8, -0.8, 0.0]})
    for _ in range(8):  # 8 steps at 2 rad/s * 0.1 s = 1.6 rad
        state = e.step([0.0, 1.0])[4]['state']
    assert state[2] == pytest.approx(1.6, abs=0.05)
    assert np.allclose(state[:2], [-0.8, -0.8], atol=0.01)
    for _ in range(5):
        state = e.step([1.0, 0.0])[4]['state']
    assert state[1] > -0.8 + 0.25 and abs(state[0] + 0.8) < 0.1  # mostly along +y
    e.close()


def test_bad_input(env):
    env.reset(seed=0)
    with pytest.raises(ValueError, match='finite'):
        env.step([float('nan'), 0.0])
    with pytest.raises(ValueError, match='2 finite'):
        env.step([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match='inside a wall'):
        env.reset(options={'start_state': [0.0, 1.0]})
    with pytest.raises(ValueError, match='unknown reset options'):
        env.reset(options={'teleport': True})
    with pytest.raises(ValueError, match='action_mode'):
        make_env('two_rooms', action_mode='walk')
    with pytest.raises(ValueError, match='push_prob'):
        make_env('two_rooms', push_prob=2.0)
    with pytest.raises(ValueError, match='unknown world'):
        make_env('mars')


def test_exploration_is_correlated_and_crosses_the_door(env):
    from jepa_ros.sim.exploration import ExplorationPolicy, exploration_stats
    policy = ExplorationPolicy(2, np.random.default_rng(0))
    actions = np.stack([policy() for _ in range(2000)])
    assert actions.min() >= -1 and actions.max() <= 1 and actions.std() > 0.3
    lag1 = np.corrcoef(actions[:-1, 0], actions[1:, 0])[0, 1]
    assert lag1 > 0.7  # smooth, unlike white noise (lag-1 correlation ~0)
    stats = exploration_stats(env, episodes=8, steps=200, seed=0)
    assert stats['door_crossing_fraction'] > 0 and stats['coverage_all'] > 0.6
