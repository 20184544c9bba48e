"""Planners on an analytic world model with a known optimum.

Integrator dynamics s' = s + STEP * a (D = A = 2): a goal within reach has zero terminal
cost; a goal out of reach is best approached with every action saturated towards it.
"""
import pytest
import torch

from jepa_ros.core.cost import IntrinsicCost
from jepa_ros.core.planners import (PLANNERS, RecedingHorizon, make_planner, shift_plan)

STEP = 0.25
FLAT = ['gd', 'cem', 'mppi']


class Integrator:
    action_dim = 2

    def __init__(self):
        self.calls = 0

    def rollout(self, s0, actions):
        self.calls += 1
        return s0.unsqueeze(1) + STEP * torch.cumsum(actions, dim=1)


class CoarseIntegrator:
    """An explicit level 2: the mean action over k steps, moving k times as far."""
    action_dim = 2

    def __init__(self, k):
        self.k = k

    def encode(self, s):
        return s * 1.0

    def rollout(self, s2, a2):
        return s2.unsqueeze(1) + self.k * STEP * torch.cumsum(a2, dim=1)


class IntegratorWithLevel2(Integrator):
    def __init__(self, k):
        super().__init__()
        self.level2 = CoarseIntegrator(k)


def terminal_cost():
    return IntrinsicCost({'goal': (1.0, True)}, running_weight=0.0, terminal_weight=1.0)


# Run to convergence on the analytic model (the defaults are tuned for per-step time
# on the real world model, where each iteration costs far more).
CONVERGED = {'gd': {'iterations': 30, 'num_inits': 8},
             'cem': {'iterations': 6, 'samples': 256},
             'mppi': {'iterations': 6, 'samples': 256},
             'hierarchical': {'level1_cfg': {'iterations': 30, 'num_inits': 8}}}


def planner(name, model=None, **cfg):
    cfg.setdefault('horizon', 8)
    for key, value in CONVERGED.get(name, {}).items():
        cfg.setdefault(key, value)
    return make_planner(name, model or Integrator(), seed=0, **cfg)


@pytest.mark.parametrize('name', FLAT)
def test_reaches_a_goal_within_reach(name):
    goal = torch.tensor([1.0, -0.5])   # needs 4 of the 8 steps at full speed on x
    res = planner(name).plan(torch.zeros(2), goal, terminal_cost())
    assert res.actions.shape == (8, 2) and res.latents.shape == (8, 2)
    assert torch.linalg.norm(res.latents[-1] - goal) < 0.05
    assert res.info['cost'] < 2e-3
    assert res.info['iterations'] >= 1 and res.info['compute_ms'] > 0
    # the latents returned are the model's prediction for the actions returned
    assert torch.allclose(res.latents, Integrator().rollout(torch.zeros(1, 2),
                                                           res.actions[None])[0], atol=1e-5)


@pytest.mark.parametrize('name', FLAT + ['hierarchical'])
@pytest.mark.parametrize('low,high', [(-1.0, 1.0), (-0.5, 0.5)])
def test_out_of_reach_goal_saturates_within_bounds(name, low, high):
    # The optimum is every action at the bound pointing to the goal: (+high, low).
    res = planner(name, action_low=low, action_high=high).plan(
        torch.zeros(2), torch.tensor([10.0, -10.0]), terminal_cost())
    assert (res.actions >= low - 1e-6).all() and (res.actions <= high + 1e-6).all()
    assert res.actions[:, 0].mean() > 0.9 * high
    assert res.actions[:, 1].mean() < 0.9 * low


def test_random_is_a_floor_within_bounds():
    p = planner('random', action_low=-0.3, action_high=0.3)
    res = p.plan(torch.zeros(2), torch.tensor([1.0, -0.5]), terminal_cost())
    assert (res.actions.abs() <= 0.3 + 1e-6).all()
    assert res.actions.std() > 0.05     # not a constant sequence
    gd = planner('gd').plan(torch.zeros(2), torch.tensor([1.0, -0.5]), terminal_cost())
    assert gd.info['cost'] < res.info['cost']


def test_mode1_follows_the_actor():
    def actor(s, g):  # the analytic optimal reactive policy of the integrator
        return ((g - s) / STEP).clamp(-1, 1)

    goal = torch.tensor([0.6, 0.3])
    res = planner('mode1', actor=actor).plan(torch.zeros(2), goal, terminal_cost())
    assert torch.allclose(res.latents[-1], goal, atol=1e-5)
    with pytest.raises(ValueError):
        planner('mode1')


@pytest.mark.parametrize('model', [Integrator(), IntegratorWithLevel2(4)],
                         ids=['repeated-actions', 'level2'])
def test_hierarchical_reaches_a_far_goal_with_a_short_fine_horizon(model):
    # Goal 3 units away: 12 full-speed steps, fine horizon only 4; level 2 looks 24 ahead.
    p = planner('hierarchical', model, horizon=4, k=4, coarse_horizon=6,
                level1_cfg={'iterations': 20, 'num_inits': 4})
    # running goal energy: arrive as early as possible, not just by the horizon's end
    ctrl = RecedingHorizon(p, IntrinsicCost({'goal': (1.0, True)}))
    s, goal = torch.zeros(2), torch.tensor([3.0, -1.5])
    for _ in range(16):
        actions, res = ctrl.act(s, goal)
        s = s + STEP * actions[0]
    assert torch.linalg.norm(s - goal) < 0.1
    assert res.info['level2_iterations'] >= 1


@pytest.mark.parametrize('horizon,k,idx', [(8, 4, 1), (4, 4, 0), (2, 4, 0), (40, 4, 5)])
def test_hierarchical_reports_the_subgoal_it_planned_towards(horizon, k, idx):
    # The subgoal is the level-2 latent of the coarse plan at the end of the fine horizon
    # (clipped to the coarse horizon); the node publishes it on jepa/subgoal.
    model = IntegratorWithLevel2(k)
    p = planner('hierarchical', model, horizon=horizon, k=k, coarse_horizon=6)
    upper_results = []
    plan_batch = p.upper.plan_batch
    p.upper.plan_batch = lambda *a, **kw: upper_results.append(plan_batch(*a, **kw)) or \
        upper_results[-1]
    res = p.plan(torch.zeros(2), torch.tensor([3.0, -1.5]), terminal_cost())
    assert res.info['subgoal'].shape == (2,)
    assert torch.equal(res.info['subgoal'], upper_results[-1].latents[0, idx])
    batch = p.plan_batch(torch.zeros(3, 2), torch.tensor([[3.0, 0], [0, 3], [-1, -1]]),
                         terminal_cost())
    assert batch.info['subgoal'].shape == (3, 2)
    assert torch.equal(batch.info['subgoal'], upper_results[-1].latents[:, idx])


def test_shift_plan():
    a = torch.arange(8.0).view(4, 2)
    assert torch.equal(shift_plan(a, 1), torch.tensor([[2., 3], [4, 5], [6, 7], [6, 7]]))
    assert torch.equal(shift_plan(a, 2), torch.tensor([[4., 5], [6, 7], [6, 7], [6, 7]]))
    batched = torch.stack([a, a + 100])
    assert torch.equal(shift_plan(batched, 1)[1], shift_plan(a + 100, 1))


def test_receding_horizon_warm_starts_with_the_shifted_plan():
    seen = []

    class Recorder(PLANNERS['gd']):
        def plan(self, state, goal, cost, warm_start=None, budget_s=None):
            seen.append(None if warm_start is None else warm_start.clone())
            return super().plan(state, goal, cost, warm_start, budget_s)

    ctrl = RecedingHorizon(Recorder(Integrator(), horizon=6, iterations=5), terminal_cost(),
                           execute_steps=2)
    todo, first = ctrl.act(torch.zeros(2), torch.tensor([0.5, 0.5]))
    assert todo.shape == (2, 2) and torch.equal(todo, first.actions[:2])
    ctrl.act(torch.zeros(2), torch.tensor([0.5, 0.5]))
    assert seen[0] is None
    assert torch.equal(seen[1], shift_plan(first.actions, 2))
    with pytest.raises(ValueError):
        RecedingHorizon(ctrl.planner, terminal_cost(), execute_steps=7)


@pytest.mark.parametrize('name', FLAT)
def test_warm_start_is_kept_when_it_is_already_optimal(name):
    goal = torch.tensor([2.0, -2.0])    # exactly reachable only by saturating all 8 steps
    optimum = torch.tensor([1.0, -1.0]).expand(8, 2)
    res = planner(name, iterations=1).plan(torch.zeros(2), goal, terminal_cost(),
                                           warm_start=optimum)
    assert res.info['cost'] < 1e-3


@pytest.mark.parametrize('name', FLAT + ['hierarchical'])
def test_anytime_budget_returns_a_plan(name):
    p = planner(name, iterations=10_000) if name != 'hierarchical' else planner(
        name, level1_cfg={'iterations': 10_000}, level2_cfg={'iterations': 10_000})
    res = p.plan(torch.zeros(2), torch.tensor([1.0, 1.0]), terminal_cost(), budget_s=0.05)
    assert res.actions.shape == (8, 2)
    assert torch.isfinite(res.actions).all() and res.info['iterations'] >= 1
    assert res.info['iterations'] < 10_000
    assert res.info['compute_ms'] < 10_000    # loose: stopped by the budget, not the count


@pytest.mark.parametrize('name', FLAT)
def test_plan_batch_solves_problems_independently(name):
    goals = torch.tensor([[1.0, 0.0], [-0.5, 0.5], [0.0, -1.0]])
    model = Integrator()
    res = planner(name, model).plan_batch(torch.zeros(3, 2), goals, terminal_cost())
    assert res.actions.shape == (3, 8, 2)
    assert torch.linalg.norm(res.latents[:, -1] - goals, dim=1).max() < 0.05


def test_batched_candidates_use_few_model_calls():
    # All initialisations share one rollout per Adam step: iterations + 1 calls in total.
    model = Integrator()
    planner('gd', model, iterations=12, num_inits=8).plan(
        torch.zeros(2), torch.ones(2), terminal_cost())
    assert model.calls == 13


def test_bad_parameters_raise():
    with pytest.raises(ValueError):
        make_planner('nope', Integrator())
    with pytest.raises(ValueError):
        make_planner('gd', Integrator(), no_such_setting=1)
    with pytest.raises(ValueError):
        make_planner('gd', object(), horizon=4)     # no action_dim anywhere
    with pytest.raises(ValueError):
        planner('cem', elites=1000)
    with pytest.raises(ValueError):
        planner('gd').plan(torch.zeros(2), torch.ones(2), terminal_cost(),
                           warm_start=torch.zeros(3, 2))


def test_gd_carries_its_adam_state_to_the_next_receding_horizon_plan():
    p = planner('gd', iterations=1, num_inits=1)
    goal = torch.tensor([1.0, -0.5])
    first = p.plan(torch.zeros(2), goal, terminal_cost())
    assert first.info['carried'] is False
    moments = p._carry[1]['exp_avg'].clone()
    assert moments.abs().sum() > 0
    # the previous plan shifted by 2 steps: its moments are shifted the same way
    carried = p._carried_state(shift_plan(first.actions[None], 2))
    assert torch.equal(carried['exp_avg'], shift_plan(moments, 2))
    second = p.plan(torch.zeros(2), goal, terminal_cost(),
                    warm_start=shift_plan(first.actions, 1))
    assert second.info['carried'] is True
    # a warm start that is not this planner's previous plan starts a fresh optimisation
    other = p.plan(torch.zeros(2), goal, terminal_cost(), warm_start=torch.zeros(8, 2))
    assert other.info['carried'] is False
    p.reset()
    assert p._carry is None


def test_one_step_gd_converges_over_replans_when_it_carries_adam_state():
    # One Adam step per control step; the optimisation continues across re-plans, so the
    # closed loop still reaches the goal (the receding-horizon "real-time iteration").
    model = Integrator()
    goal = torch.tensor([1.2, -0.7])
    ctrl = RecedingHorizon(planner('gd', model, iterations=1, num_inits=4, lr=0.1),
                           IntrinsicCost({'goal': (1.0, True)}, terminal_weight=4.0))
    s = torch.zeros(2)
    for _ in range(40):
        todo, res = ctrl.act(s, goal)
        s = model.rollout(s[None], todo[None])[0, -1]
    assert res.info['carried'] is True
    # (with Adam's usual beta1 = 0.9 the carried momentum overshoots: 0.06-0.25 away)
    assert torch.linalg.norm(s - goal) < 0.02


def test_gd_keeps_its_parameters_out_of_the_flat_tanh_tails():
    p = planner('gd', iterations=50, num_inits=1, lr=1.0)
    res = p.plan(torch.zeros(2), torch.tensor([50.0, -50.0]), terminal_cost())
    u = p._to_u(res.actions)
    assert u.abs().max() <= p.U_MAX + 1e-5
    assert res.actions[:, 0].min() > 0.98 and res.actions[:, 1].max() < -0.98
