"""reach world: gym contract, Cartesian velocity control, workspace clamp, goal images."""
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from jepa_ros.sim import make_env


@pytest.fixture(scope='module')
def env():
    e = make_env('reach', image_size=32)
    yield e
    e.close()


def test_check_env_and_registration(env):
    import gymnasium as gym
    assert {'jepa_ros/TwoRooms-v0', 'jepa_ros/Reach-v0'} <= set(gym.registry)
    check_env(env, skip_render_check=False)
    assert env.action_space.shape == (3,) and env.observation_space.shape == (32, 32, 3)


def test_velocity_control_and_clamp(env):
    _, info = env.reset(seed=0, options={'start_state': [0.4, 0.0, 0.2]})
    start = info['state']
    assert np.allclose(start, [0.4, 0.0, 0.2], atol=2e-3)
    for _ in range(6):  # 6 * 0.1 s at 0.25 m/s along +x = 0.15 m
        state = env.step([1.0, 0.0, 0.0])[4]['state']
    state = env.step([0.0, 0.0, 0.0])[4]['state']
    assert state[0] - start[0] == pytest.approx(0.15, abs=0.015)
    assert np.allclose(state[1:], start[1:], atol=5e-3)
    for _ in range(20):  # far past the workspace floor
        info = env.step([0.0, 0.0, -1.0])[4]
    assert info['state'][2] == pytest.approx(env.low[2], abs=5e-3)


def test_goal_image_and_success(env):
    goal = np.array([0.55, -0.1, 0.3])
    _, info = env.reset(seed=1, options={'start_state': goal + [0.0, 0.0, -0.02],
                                         'goal_state': goal})
    np.testing.assert_array_equal(env.goal_image, env.render_state(goal))
    assert info['success'] and info['distance'] == pytest.approx(0.02, abs=2e-3)
    before = env._get_state()
    env.render_state([0.3, 0.3, 0.05])
    np.testing.assert_allclose(env._get_state(), before, atol=1e-9)
    start, far_goal = env.sample_task(np.random.default_rng(0), 'far')
    assert env.true_distance(start, far_goal) >= 0.5 * np.linalg.norm(env.high - env.low)


def test_deterministic_under_seed():
    runs = []
    for _ in range(2):
        e = make_env('reach', image_size=24)
        obs, info = e.reset(seed=5)
        for a in np.random.default_rng(2).uniform(-1, 1, (4, 3)):
            obs, _, _, _, info = e.step(a)
        runs.append((obs, info['state']))
        e.close()
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_bad_input(env):
    env.reset(seed=0)
    with pytest.raises(ValueError, match='3 finite'):
        env.step([0.0, float('inf'), 0.0])
    with pytest.raises(ValueError, match='outside the workspace'):
        env.reset(options={'goal_state': [2.0, 0.0, 0.2]})
    with pytest.raises(ValueError, match='task kind'):
        env.sample_task(None, 'cross_room')
