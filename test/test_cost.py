"""IntrinsicCost: each term against hand-computed values, weighting, registry."""
import pytest
import torch

from jepa_ros.core.cost import COST_TERMS, IntrinsicCost, register_term

# One candidate, T=2, D=2, A=2; goal at the origin.
LATENTS = torch.tensor([[[1.0, 3.0], [2.0, 0.0]]])   # per-step MSE: 5.0, 2.0
ACTIONS = torch.tensor([[[1.0, -1.0], [0.5, 0.5]]])
GOAL = torch.zeros(2)


def only(name, weight=1.0, **kw):
    terms = {n: (0.0, False) for n in COST_TERMS}
    terms[name] = (weight, True)
    return IntrinsicCost(terms, **kw)


def test_goal_energy_running_and_terminal_weights():
    assert only('goal')(LATENTS, ACTIONS, GOAL).item() == pytest.approx(5.0 + 2.0)
    assert only('goal', terminal_weight=10.0)(LATENTS, ACTIONS, GOAL).item() == \
        pytest.approx(5.0 + 20.0)
    assert only('goal', terminal_weight=3.0, running_weight=0.0)(
        LATENTS, ACTIONS, GOAL).item() == pytest.approx(6.0)


def test_action_magnitude():
    # 1 + 1 + 0.25 + 0.25
    assert only('action_magnitude')(LATENTS, ACTIONS, GOAL).item() == pytest.approx(2.5)


def test_action_smoothness_with_and_without_previous_action():
    # (0.5-1)^2 + (0.5+1)^2 = 0.25 + 2.25
    assert only('action_smoothness')(LATENTS, ACTIONS, GOAL).item() == pytest.approx(2.5)
    cost = only('action_smoothness', previous_action=torch.tensor([1.0, 1.0]))
    # + (1-1)^2 + (-1-1)^2 = 4
    assert cost(LATENTS, ACTIONS, GOAL).item() == pytest.approx(6.5)


def test_critic_term_uses_last_latent_and_goal():
    seen = {}

    def critic(last, goal):
        seen['last'], seen['goal'] = last.clone(), goal.clone()
        return last.sum(dim=-1) * 10.0

    cost = IntrinsicCost({'goal': (0.0, False), 'critic': (0.5, True)}, critic=critic)
    assert cost(LATENTS, ACTIONS, GOAL).item() == pytest.approx(0.5 * 20.0)
    assert torch.equal(seen['last'], LATENTS[:, -1])
    assert seen['goal'].shape == (1, 2)
    with pytest.raises(ValueError):
        IntrinsicCost({'critic': (1.0, True)})


def test_weighted_sum_and_breakdown():
    cost = IntrinsicCost({'goal': (2.0, True), 'action_magnitude': (0.1, True),
                          'action_smoothness': (3.0, False)})
    parts = cost.breakdown(LATENTS, ACTIONS, GOAL)
    assert set(parts) == {'goal', 'action_magnitude'}
    assert cost(LATENTS, ACTIONS, GOAL).item() == pytest.approx(2.0 * 7.0 + 0.1 * 2.5)


def test_batched_candidates_and_per_candidate_goals():
    lat = torch.randn(5, 4, 3)
    act = torch.rand(5, 4, 2) * 2 - 1
    goals = torch.randn(5, 3)
    cost = IntrinsicCost({'action_magnitude': (1.0, True)})
    batched = cost(lat, act, goals)
    singles = torch.cat([cost(lat[i:i + 1], act[i:i + 1], goals[i]) for i in range(5)])
    assert batched.shape == (5,)
    assert torch.allclose(batched, singles)


def test_registry_plugs_in_new_terms_and_rejects_unknown():
    name = 'test_first_latent_norm'
    if name not in COST_TERMS:
        register_term(name)(lambda lat, act, goal, ctx: lat[:, 0].abs().sum(-1))
    cost = IntrinsicCost({'goal': (0.0, False), name: (2.0, True)})
    assert cost(LATENTS, ACTIONS, GOAL).item() == pytest.approx(8.0)
    with pytest.raises(ValueError):
        register_term(name)(lambda *a: None)
    with pytest.raises(ValueError):
        IntrinsicCost({'no_such_term': (1.0, True)})
    COST_TERMS.pop(name)   # other tests derive parameter lists from the registry


def test_from_params_uses_the_terms_list_and_the_weights():
    cost = IntrinsicCost.from_params({'cost.terms': ['goal', 'action_smoothness'],
                                      'cost.action_magnitude.weight': 3.0,
                                      'cost.action_smoothness.weight': 0.2,
                                      'cost.terminal_weight': 4.0})
    # action_magnitude has a weight but is not in cost.terms: off (Nav2 critics style)
    assert cost.active() == {'goal': 1.0, 'action_smoothness': 0.2}
    assert cost.ctx.terminal_weight == 4.0
    defaults = IntrinsicCost.from_params({})
    assert defaults.active() == {'goal': 1.0}
    assert defaults.ctx.terminal_weight == 4.0       # the declared (shipped) default
    with pytest.raises(ValueError, match='cost.terms'):
        IntrinsicCost.from_params({'cost.terms': ['goal', 'no_such_term']})
    with pytest.raises(ValueError, match='cost.goal.weight'):
        IntrinsicCost.from_params({'cost.goal.weight': -1.0})
    with pytest.raises(ValueError, match='critic'):
        IntrinsicCost.from_params({'cost.critic.weight': 1.0})   # no critic given


def test_a_registered_term_class_gets_its_parameters_declared():
    from jepa_ros.core.cost import CostTerm, cost_params
    from jepa_ros.core.params import Param

    class LatentNorm(CostTerm):
        name = 'test_latent_norm'
        weight = 0.0
        description = 'latent norm'
        PARAMS = (Param('power', 2.0, 'exponent', min=1.0, max=4.0),)

        def __call__(self, latents, actions, goal, ctx):
            return latents[:, -1].abs().pow(self.power).sum(-1)

    register_term(LatentNorm)
    try:
        names = {p.name: p for p in cost_params()}
        assert names['cost.test_latent_norm.weight'].default == 0.0
        assert names['cost.test_latent_norm.power'].default == 2.0
        assert 'test_latent_norm' in names['cost.terms'].default
        cost = IntrinsicCost.from_params({'cost.terms': ['test_latent_norm'],
                                          'cost.test_latent_norm.weight': 1.0,
                                          'cost.test_latent_norm.power': 1.0})
        parts = cost.breakdown(LATENTS, ACTIONS, GOAL)
        assert set(parts) == {'test_latent_norm'}
        expected = LATENTS[:, -1].abs().sum(-1)
        assert torch.allclose(parts['test_latent_norm'], expected)
        with pytest.raises(ValueError, match='power'):
            IntrinsicCost.from_params({'cost.test_latent_norm.power': 9.0})
    finally:
        COST_TERMS.pop('test_latent_norm')
