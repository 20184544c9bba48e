"""Planning under uncertainty with the latent variable z (core/planners.py `scenarios`,
`risk`, `cvar_alpha`, `scenario_z_rate`): K = 1 is the deterministic planner unchanged;
K > 1 rolls every candidate out under K z scenarios and combines their costs."""
import math

import pytest
import support
import torch

from jepa_ros.core.cost import IntrinsicCost
from jepa_ros.core.planners import (build_planning, make_planner, planner_kwargs,
                                    planning_params)


class ShoveModel:
    """1-D toy world: s' = s + a + z; code 1 is a shove of +1 per step."""

    class config:
        action_dim = 1
        latent_dim = 1

    def latent_codes(self):
        return torch.tensor([[0.0], [1.0]])

    def rollout(self, s0, actions, z=None):
        steps = actions if z is None else actions + z
        return s0[:, None, :] + torch.cumsum(steps, dim=1)


def goal_cost():
    return IntrinsicCost({'goal': (1.0, True)}, terminal_weight=1.0)


def z_model():
    return support.tiny_world_model(seed=0, scatter=True, z_dim=2, z_codes=4,
                                    action_scale=[0.6, 0.6]).requires_grad_(False)


@pytest.mark.parametrize('name', ['gd', 'cem', 'mppi'])
def test_one_scenario_is_the_deterministic_planner(name):
    """K = 1: same actions, latents and costs bit for bit, whatever the risk settings, and
    no random numbers drawn for scenarios (the sampling noise stays the same)."""
    model = z_model()
    s, g = torch.randn(support.LATENT), torch.randn(support.LATENT)
    plans = []
    for extra in ({}, {'scenarios': 1, 'risk': 'cvar', 'cvar_alpha': 0.5,
                       'scenario_z_rate': 1.0}):
        planner = make_planner(name, model, horizon=5, seed=3, **extra)
        cost = goal_cost()
        first = planner.plan(s, g, cost)
        second = planner.plan(s, g, cost, warm_start=first.actions)   # carried state too
        plans.append((first, second))
    for a, b in zip(*plans):
        assert torch.equal(a.actions, b.actions)
        assert torch.equal(a.latents, b.latents)
        assert a.info['costs'] == b.info['costs']
        assert 'scenarios' not in a.info


def test_scenarios_need_a_model_with_z():
    model = support.tiny_world_model(seed=0)
    with pytest.raises(ValueError, match='z_dim'):
        make_planner('mppi', model, horizon=4, scenarios=4)
    with pytest.raises(ValueError, match='risk'):
        make_planner('mppi', z_model(), horizon=4, scenarios=4, risk='best')


def test_scenario_costs_combine_by_risk():
    """Two of three scenarios are shoved every step (rate 1): the candidate cost is the
    mean, the mean of the worst ceil(alpha K), or the worst of the scenario costs."""
    s, g = torch.zeros(1, 1), torch.zeros(1, 1)
    cand = torch.tensor([[[[0.0], [0.0]], [[-0.5], [-0.5]], [[-2.0], [0.0]]]])   # (1,3,2,1)
    cost = goal_cost()
    # the cost of each candidate when every step is shoved by z
    expected_each = {z: cost(s[:, None] + torch.cumsum(cand[0] + z, dim=1), cand[0],
                             g.expand(3, 1)) for z in (0.0, 1.0)}
    nominal, shoved = expected_each[0.0], expected_each[1.0]
    expect = {'mean': (nominal + 2 * shoved) / 3,
              'worst': torch.maximum(nominal, shoved),
              'cvar': (torch.maximum(nominal, shoved)
                       + torch.sort(torch.stack([nominal, shoved, shoved]), dim=0)
                       .values[1]) / 2}
    for risk, want in expect.items():
        planner = make_planner('cem', ShoveModel(), horizon=2, samples=3, elites=1,
                               scenarios=3, risk=risk, cvar_alpha=0.5, scenario_z_rate=1.0)
        planner._scenario_z = planner._draw_scenarios(s)
        assert torch.equal(planner._scenario_z[0], torch.zeros(2, 1))      # nominal first
        assert torch.equal(planner._scenario_z[1:], torch.ones(2, 2, 1))   # shoved
        costs, lat = planner._evaluate(s, g, cand, cost)
        assert torch.allclose(costs[0], want), risk
        # the reported latents are the nominal (z = 0) rollout
        assert torch.allclose(lat[0], s[:, None] + torch.cumsum(cand[0], dim=1))


def test_risk_aware_plan_leans_against_the_expected_shove():
    """Goal at the start: the deterministic plan stays put; under shove scenarios the
    expected-cost plan pushes back (towards -2/3 of a shove), the worst-case one about
    half way (-1/2: the nominal and the shoved scenario then cost the same)."""
    s, g = torch.zeros(1), torch.zeros(1)
    first = {}
    for k, risk in ((1, 'mean'), (3, 'mean'), (3, 'worst')):
        planner = make_planner('cem', ShoveModel(), horizon=1, samples=256, elites=16,
                               iterations=8, seed=0, scenarios=k, risk=risk,
                               scenario_z_rate=1.0)
        first[(k, risk)] = float(planner.plan(s, g, goal_cost()).actions[0, 0])
    assert abs(first[(1, 'mean')]) < 0.1
    assert first[(3, 'mean')] == pytest.approx(-2 / 3, abs=0.1)
    assert first[(3, 'worst')] == pytest.approx(-0.5, abs=0.1)


@pytest.mark.parametrize('name', ['gd', 'cem', 'mppi', 'hierarchical'])
def test_scenarios_from_flat_settings_plan_finite_actions(name):
    model = z_model()
    names = {p.name for p in planning_params()}
    assert {'scenarios', 'risk', 'cvar_alpha', 'scenario_z_rate'} <= names
    values = {'planner': name, 'horizon': 4, 'scenarios': 4, 'risk': 'cvar',
              'hierarchical.level1': 'mppi', 'samples': 16, 'iterations': 2, 'cem.elites': 4}
    if name != 'hierarchical':
        assert planner_kwargs(values)['scenarios'] == 4
    planner, cost = build_planning(values, model)
    res = planner.plan(torch.randn(support.LATENT), torch.randn(support.LATENT), cost)
    assert res.actions.shape == (4, 2) and torch.isfinite(res.actions).all()
    assert res.actions.abs().max() <= 1.0
    assert math.isfinite(res.info['cost'])
    with pytest.raises(ValueError, match='scenarios'):
        planner_kwargs({**values, 'scenarios': 0})
