"""Mode-1 actor distilled from Mode-2 plans on an analytic model; DAgger recording; CLI."""
import pytest
import torch
from support import save_tiny_world_model

from jepa_ros import cli
from jepa_ros.core.actor import (
    Actor,
    ActorConfig,
    ActorController,
    fit_actor,
    label_with_planner,
    load_actor,
)
from jepa_ros.core.checkpoint import save_checkpoint
from jepa_ros.core.cost import IntrinsicCost
from jepa_ros.core.planners import make_planner

STEP = 0.25


class Integrator:
    action_dim = 2

    def rollout(self, s0, actions):
        return s0.unsqueeze(1) + STEP * torch.cumsum(actions, dim=1)


@pytest.fixture(scope='module')
def distilled():
    torch.manual_seed(0)
    model = Integrator()
    teacher = make_planner('gd', model, horizon=6, iterations=20, num_inits=2)
    states = torch.rand(384, 2) * 4 - 2
    goals = torch.rand(384, 2) * 4 - 2
    labels = label_with_planner(teacher, IntrinsicCost(), states, goals, chunk=128)
    actor = Actor(ActorConfig(latent_dim=2, action_dim=2, hidden=64, layers=2))
    loss = fit_actor(actor, states, goals, labels, epochs=60, batch_size=64, lr=3e-3)
    return model, teacher, actor, loss, labels


def test_teacher_labels_point_to_the_goal(distilled):
    _, _, _, _, labels = distilled
    assert labels.shape == (384, 2) and labels.abs().max() <= 1.0


def test_mode1_actor_reaches_goals_like_its_teacher(distilled):
    model, _, actor, loss, _ = distilled
    assert loss < 0.05
    mode1 = make_planner('mode1', model, actor=actor, horizon=20)
    goals = torch.tensor([[1.0, -1.0], [-1.5, 0.5], [0.3, 1.2]])
    res = mode1.plan_batch(torch.zeros(3, 2), goals, IntrinsicCost())
    assert (res.actions.abs() <= 1.0).all()
    assert torch.linalg.norm(res.latents[:, -1] - goals, dim=1).max() < 0.15


def test_actor_controller_records_dagger_labels(distilled):
    _, teacher, actor, _, _ = distilled
    ctrl = ActorController(actor, lambda z, g: teacher.plan(z, g, IntrinsicCost()).actions[0])
    actions, _ = ctrl.act(torch.zeros(2), torch.tensor([1.0, 0.0]))
    assert actions.shape == (1, 2) and actions[0, 0] > 0.5
    assert len(ctrl.records) == 1 and ctrl.records[0][2][0] > 0.5


def test_checkpoint_round_trip(tmp_path, distilled):
    _, _, actor, _, _ = distilled
    path = save_checkpoint(tmp_path / 'a.pt', actor)
    loaded, _ = load_actor(path)
    x, g = torch.randn(5, 2), torch.randn(5, 2)
    with torch.no_grad():
        assert torch.allclose(loaded(x, g), actor(x, g))


def test_train_actor_command(tmp_path):
    ckpt = save_tiny_world_model(tmp_path / 'wm.pt', seed=0, image_size=64,
                                 encoder_channels=(4, 4, 4))
    out = tmp_path / 'actor.pt'
    rc = cli.main(['train', 'actor', '--ckpt', str(ckpt), '--out', str(out), '--pairs', '16',
                   '--horizon', '4', '--iterations', '2', '--dagger-iters', '1',
                   '--dagger-episodes', '1', '--max-steps', '3', '--epochs', '2',
                   '--hidden', '16'])
    assert rc == 0
    actor, extra = load_actor(out)
    assert actor.config.latent_dim == 8 and len(extra['dagger']) == 1
    assert cli.main(['train', 'actor', '--ckpt', str(ckpt), '--out', str(out),
                     '--pairs', '0']) == 2
