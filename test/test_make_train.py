"""`make train`: a copy-only world model is retrained with the next seed."""
import pytest

from jepa_ros.tools import make_train


@pytest.mark.parametrize('ratios,expected_seeds', [
    ([0.97, 0.1], ['0', '1']),            # copy-only, then a good one
    ([0.2], ['0']),                        # good at once
    ([0.97, 0.95, 0.9], ['0', '1', '2']),  # gives up after 2 retries (and says so)
])
def test_copy_only_world_model_is_retrained_with_the_next_seed(monkeypatch, tmp_path, ratios,
                                                                expected_seeds):
    calls = []
    monkeypatch.setattr(make_train.cli, 'main', lambda argv: calls.append(list(argv)) or 0)
    left = list(ratios)
    monkeypatch.setattr(make_train, 'predictor_vs_copy', lambda path: left.pop(0))
    logs = []
    make_train.train_all('two_rooms', str(tmp_path / 'd'), str(tmp_path / 'm'), seed=0,
                         log=logs.append)
    wm = [c for c in calls if c[:2] == ['train', 'world-model']]
    assert [c[c.index('--seed') + 1] for c in wm] == expected_seeds
    assert [c[:2] for c in calls if c[:2] != ['train', 'world-model']] == [
        ['collect', '--world'], ['train', 'critic'], ['train', 'actor']]
    assert sum('copy-only predictor' in m for m in logs) == len(expected_seeds) - (
        0 if ratios[len(expected_seeds) - 1] > 0.8 else 1)
