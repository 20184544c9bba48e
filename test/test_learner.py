"""The learner (jepa_ros.core.learner): rounds of fine-tune, validate, decide.

A candidate that is worse than the running models (on the seeded tasks, or in held-out
prediction) is refused and the running version stays; a good one becomes the running
version, saved where the nodes can load it (weights_only); every decision is logged."""
import json
import os

import torch

from jepa_ros.core.checkpoint import load_checkpoint
from jepa_ros.core.critic import load_critic
from jepa_ros.core.checkpoint import model_version
from jepa_ros.core.learner import Learner, LearnerConfig
from support import dot_episodes, tiny_critic, tiny_world_model

FAST = dict(world_model_budget_s=2.0, critic_budget_s=0.5, critic_steps=50, min_new_episodes=3,
            holdout_every=4, horizon=2)


def make_learner(tmp_path, task_success=None, **config):
    torch.set_num_threads(1)
    model = tiny_world_model(seed=0).eval().requires_grad_(False)
    learner = Learner(model, tiny_critic(), str(tmp_path / 'versions'),
                      LearnerConfig(**dict(FAST, **config)), task_success=task_success,
                      say=lambda *a: None)
    learner.set_running(model, learner.critic, 'v0')
    learner.add_episodes(dot_episodes(8, 12, seed=1, size=16), new=False)
    return learner, model


def log_lines(learner):
    with open(learner.log_path) as f:
        return [json.loads(line) for line in f]


def test_no_round_without_enough_new_episodes(tmp_path):
    learner, model = make_learner(tmp_path)
    learner.add_episodes(dot_episodes(2, 12, seed=2, size=16))
    decision = learner.round()
    assert not decision.accepted and 'waiting for data' in decision.reason
    assert learner.world_model is model and learner.version == 'v0'
    assert log_lines(learner)[-1]['accepted'] is False


def test_a_candidate_worse_on_the_tasks_is_refused_and_the_running_version_stays(tmp_path):
    running = []

    def task_success(model, critic):   # the running models solve the tasks, a candidate not
        return 1.0 if model is running[0] else 0.0
    learner, model = make_learner(tmp_path, task_success, prediction_margin=1e6)
    running.append(model)
    learner.add_episodes(dot_episodes(6, 12, seed=2, size=16))
    experience = list(learner.experience)
    decision = learner.round()
    assert not decision.accepted
    assert 'task success 0.00 is below the running 1.00' in decision.reason
    assert learner.world_model is model and learner.version == 'v0'
    assert decision.running_version == 'v0' and decision.version != 'v0'
    assert learner.experience == experience   # kept for the next candidate
    assert learner.fresh == 0                  # which waits for new data
    logged = log_lines(learner)[-1]
    assert logged['accepted'] is False and logged['figures']['task_success'] == 0.0
    assert logged['figures']['running_task_success'] == 1.0


def test_a_candidate_that_predicts_worse_is_refused(tmp_path):
    learner, model = make_learner(tmp_path)
    learner.add_episodes(dot_episodes(6, 12, seed=2, size=16))
    scrambled = tiny_world_model(seed=0, scatter=True).eval().requires_grad_(False)
    # The running model's predictor is untrained (it copies the last latent: ratio 1); a
    # predictor with scattered weights predicts far worse than copying.
    learner.train_candidate = lambda: (scrambled, tiny_critic(), {})
    decision = learner.round()
    assert not decision.accepted, decision.figures
    assert 'held-out prediction ratio' in decision.reason
    assert decision.figures['prediction_ratio'] > decision.figures['running_prediction_ratio']
    assert learner.world_model is model


def test_an_accepted_candidate_becomes_the_running_version(tmp_path):
    learner, model = make_learner(tmp_path, task_success=lambda m, c: 1.0,
                                  prediction_margin=1e6)
    learner.add_episodes(dot_episodes(6, 12, seed=2, size=16))
    decision = learner.round()
    assert decision.accepted, decision.reason
    assert learner.version == decision.version == decision.running_version != 'v0'
    assert learner.world_model is not model
    wm_path, critic_path = decision.paths['world_model'], decision.paths['critic']
    assert os.path.dirname(wm_path) == os.path.join(learner.out_dir, decision.version)
    assert model_version(wm_path) == decision.version
    loaded, _ = load_checkpoint(wm_path)   # weights_only inside
    assert loaded.config.latent_dim == model.config.latent_dim
    critic, _ = load_critic(critic_path)
    assert critic.config.latent_dim == model.config.latent_dim
    figures = decision.figures
    assert figures['experience'] == len(learner.experience) > 0
    assert figures['replayed'] == 6   # all old training episodes (fewer than min_replay)
    assert figures['held_out_episodes'] >= 1 and figures['held_out_from'] == 'experience'
