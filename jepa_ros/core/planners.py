"""Mode-2 planners: find an action sequence whose predicted latents minimise the cost.

One interface for all (`make_planner(name, model, **cfg)`):

    plan(state (D,), goal (D,), cost, warm_start (T,A)|None, budget_s) -> PlanResult
    plan_batch(states (P,D), goals (P,D), cost, warm_starts (P,T,A)|None, budget_s)

`model` is anything with `rollout(s0 (B,D), actions (B,T,A)) -> (B,T,D)` (duck typing),
differentiable w.r.t. actions for 'gd'. On CPU, planning time is mostly per-call torch
overhead, so every planner evaluates all its candidates (and all problems of a batch) in
one rollout call per iteration. Actions are normalised and kept inside
[action_low, action_high] (tanh squashing for gd, clamping for the sampling planners).

Every planner is anytime: with `budget_s` it stops iterating when the budget is spent and
returns the best plan evaluated so far (at least one evaluation always happens).

Defaults (horizon 12; gd 1 Adam step x 4 inits per re-plan, continuing the previous
plan's optimisation; cem/mppi 128 samples x 4 iterations) are tuned for receding-horizon
control on the two_rooms world model on one CPU thread, with the critic as terminal term
(weight 1): see docs/BENCHMARKS.md, section planning, for the measurements.

Planning under uncertainty (`scenarios` K > 1; gd, cem, mppi): a world model with a latent
variable z (core/latent.py) predicts one future per code sequence. Each candidate action
sequence is then rolled out under K scenarios, the same K for every candidate of a plan
(common random numbers: candidates differ only by their actions): scenario 0 holds z = 0
(code 0, which training makes the average outcome: the nominal prediction, whose latents
the plan reports), the others draw a code per step, a non-zero one with probability
`scenario_z_rate` (uniform over the non-zero codes), redrawn for every plan. The candidate's
cost is the mean over scenarios (`risk` mean: expected cost), the mean of the worst
`cvar_alpha` share (`risk` cvar) or the worst (`risk` worst). K = 1 is the deterministic
planner, unchanged (no random draws either).

Every planner declares its settings (PARAMS, `Param` from jepa_ros.core.params) and
registers itself with `@register_planner`; the settings shared by several planners
(horizon, seed, samples, iterations) are SHARED_PARAMS. `planning_params()` lists every
flat setting (`planner`, shared, `<planner>.<param>`, then the cost's) and
`build_planning(values, model)` builds planner + cost from a flat {name: value} dict: the
world_model node, `jepa-ros eval planning` and `jepa-ros train actor` all use them.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from jepa_ros.core.cost import IntrinsicCost, cost_params, torch  # torch: lazy import
from jepa_ros.core.params import Param, check_values

# name -> Planner subclass (filled by @register_planner)
PLANNERS = {}

# Settings several planners take under one flat name (no `<planner>.` prefix); a planner
# lists the ones it takes in SHARED. The defaults here are the flat (node/CLI) defaults.
SHARED_PARAMS = {
    'horizon': Param('horizon', 12, 'planning horizon in model steps', min=1, max=128),
    'seed': Param('seed', 0, 'planner random seed', min=0, max=2**31 - 1),
    'samples': Param('samples', 128, 'candidates per iteration (cem, mppi, random)',
                     min=1, max=8192),
    'iterations': Param('iterations', 4, 'sampling iterations per plan at most (cem, mppi)',
                        min=1, max=1000),
    # Planning under uncertainty with the latent variable z (gd, cem, mppi).
    'scenarios': Param('scenarios', 1, 'latent-variable scenarios each candidate is rolled '
                       'out under (gd, cem, mppi); 1: z = 0 only, the deterministic planner; '
                       '> 1 needs a world model with z (z_dim > 0). The plan reports the z = 0 '
                       'latents and its per-term breakdown is of them', min=1, max=64),
    'risk': Param('risk', 'mean', 'how the scenario costs of a candidate combine: mean '
                  '(expected cost), cvar (mean of the worst cvar_alpha share), worst',
                  choices=('mean', 'cvar', 'worst')),
    'cvar_alpha': Param('cvar_alpha', 0.25, 'share of the worst scenarios risk cvar averages',
                        min=0.01, max=1.0),
    'scenario_z_rate': Param('scenario_z_rate', 0.3, 'chance per step that a sampled '
                             'scenario (all but the first, which keeps z = 0) takes a non-zero '
                             'z code', min=0.0, max=1.0),
}
UNCERTAINTY = ('scenarios', 'risk', 'cvar_alpha', 'scenario_z_rate')


def register_planner(cls):
    """Class decorator adding a Planner subclass to PLANNERS under cls.name."""
    if cls.name in PLANNERS:
        raise ValueError(f'planner {cls.name!r} is already registered')
    unknown = set(cls.SHARED) - set(SHARED_PARAMS)
    if unknown:
        raise ValueError(f'{cls.name}: SHARED names unknown settings {sorted(unknown)}')
    known = {'horizon', 'seed', *cls.SHARED}
    for p in cls.PARAMS:
        if p.name in known:
            raise ValueError(f'{cls.name}: parameter {p.name!r} is declared twice')
        known.add(p.name)
    PLANNERS[cls.name] = cls
    return cls


@dataclass
class PlanResult:
    actions: torch.Tensor          # (T, A), or (P, T, A) from plan_batch
    latents: torch.Tensor          # (T, D), or (P, T, D)
    info: dict = field(default_factory=dict)   # cost, iterations, compute_ms, planner, ...


def shift_plan(actions, steps=1):
    """Warm start for the next re-plan: drop the executed `steps`, repeat the last action."""
    if steps <= 0:
        return actions.clone()
    t = actions.shape[-2]
    steps = min(steps, t)
    tail = actions[..., -1:, :].expand(*actions.shape[:-2], steps, actions.shape[-1])
    return torch.cat([actions[..., steps:, :], tail], dim=-2)


def _infer_action_dim(model):
    for obj in (model, getattr(model, 'config', None)):
        if obj is None:
            continue
        val = obj.get('action_dim') if isinstance(obj, dict) else getattr(obj, 'action_dim', None)
        if val:
            return int(val)
    return None


class Planner:
    """Shared plumbing: bounds, budget, batching, bookkeeping.

    A subclass declares PARAMS (its own settings, flat name `<name>.<param>`) and SHARED
    (the SHARED_PARAMS it takes besides horizon and seed); both are constructor keywords.
    """
    name = 'base'
    PARAMS = ()
    SHARED = ()
    _per_problem_info = ()   # info tensors with a leading problem axis: plan() keeps [0]

    @classmethod
    def flat_params(cls):
        """This planner's own settings under their flat names `<name>.<param>`."""
        return [p.renamed(f'{cls.name}.{p.name}') for p in cls.PARAMS]

    @classmethod
    def kwargs_from_flat(cls, values):
        """Constructor keywords from flat settings: the shared ones it takes and its own
        `<name>.<param>`; a setting missing from `values` keeps the constructor default."""
        cfg = {}
        for key in ('horizon', 'seed') + tuple(cls.SHARED):
            if key in values:
                cfg[key] = SHARED_PARAMS[key].coerce(values[key])
        for p in cls.PARAMS:
            key = f'{cls.name}.{p.name}'
            if key in values:
                cfg[p.name] = p.coerce(values[key])
        return cfg

    def __init__(self, model, horizon=12, action_dim=None, action_low=-1.0, action_high=1.0,
                 seed=0, scenarios=1, risk='mean', cvar_alpha=0.25, scenario_z_rate=0.3,
                 **unused):
        if unused:
            raise ValueError(f'{self.name}: unknown planner parameters {sorted(unused)}')
        if horizon < 1:
            raise ValueError('horizon must be >= 1')
        self._init_scenarios(model, scenarios, risk, cvar_alpha, scenario_z_rate)
        self.model = model
        self.horizon = int(horizon)
        self.action_dim = int(action_dim or _infer_action_dim(model) or 0)
        if self.action_dim < 1:
            raise ValueError(f'{self.name}: action_dim not given and not found on the model')
        self.action_low = action_low
        self.action_high = action_high
        self.seed = seed
        self._gen = {}

    # -- helpers -------------------------------------------------------------------------
    def generator(self, device):
        key = str(device)
        if key not in self._gen:
            g = torch.Generator(device=device)
            g.manual_seed(int(self.seed))
            self._gen[key] = g
        return self._gen[key]

    def bounds(self, like):
        low = torch.as_tensor(self.action_low, dtype=like.dtype, device=like.device)
        high = torch.as_tensor(self.action_high, dtype=like.dtype, device=like.device)
        return low.expand(self.action_dim), high.expand(self.action_dim)

    def clamp(self, actions):
        low, high = self.bounds(actions)
        return torch.maximum(torch.minimum(actions, high), low)

    def rollout(self, s0, actions):
        return self.model.rollout(s0, actions)

    # -- scenarios of the latent variable z ---------------------------------------------
    def _init_scenarios(self, model, scenarios, risk, cvar_alpha, z_rate):
        self.scenarios, self.risk = int(scenarios), str(risk)
        self.cvar_alpha, self.scenario_z_rate = float(cvar_alpha), float(z_rate)
        for p in (SHARED_PARAMS['scenarios'], SHARED_PARAMS['risk'],
                  SHARED_PARAMS['cvar_alpha']):
            reason = p.validate(getattr(self, p.name))
            if reason:
                raise ValueError(f'{self.name}: {reason}')
        if not 0.0 <= self.scenario_z_rate <= 1.0:
            raise ValueError(f'{self.name}: scenario_z_rate must be in [0, 1]')
        self._codes = self._scenario_z = None
        if self.scenarios > 1:
            codes = getattr(model, 'latent_codes', lambda: None)()
            if codes is None:
                raise ValueError(f'{self.name}: scenarios > 1 needs a world model with a '
                                 'latent variable z (z_dim > 0); this one has none')
            self._codes = codes.detach()

    def _draw_scenarios(self, like):
        """(K, T, Z) z sequences for this plan: row 0 all zeros, then sampled ones."""
        k, t = self.scenarios, self.horizon
        codes = self._codes.to(device=like.device, dtype=like.dtype)
        g = self.generator(like.device)
        index = torch.zeros(k, t, dtype=torch.long, device=like.device)
        if codes.shape[0] > 1:
            nonzero = torch.rand(k - 1, t, generator=g, device=like.device) \
                < self.scenario_z_rate
            drawn = torch.randint(1, codes.shape[0], (k - 1, t), generator=g,
                                  device=like.device)
            index[1:] = torch.where(nonzero, drawn, torch.zeros_like(drawn))
        return codes[index]

    def _combine(self, costs):
        """(K, ...) scenario costs -> (...) by `risk`."""
        if self.risk == 'mean':
            return costs.mean(dim=0)
        if self.risk == 'worst':
            return costs.max(dim=0).values
        m = max(1, math.ceil(self.cvar_alpha * costs.shape[0]))
        return costs.topk(m, dim=0).values.mean(dim=0)
    @staticmethod
    def _deadline(budget_s):
        return None if budget_s is None else time.perf_counter() + float(budget_s)

    @staticmethod
    def _expired(deadline):
        return deadline is not None and time.perf_counter() >= deadline

    def reset(self):
        """Forget anything kept from earlier plans (called when a new task starts)."""

    # -- public interface ----------------------------------------------------------------
    def plan(self, state, goal, cost, warm_start=None, budget_s=None):
        if state.dim() != 1 or goal.dim() != 1:
            raise ValueError('plan() takes state (D,) and goal (D,); use plan_batch for many')
        warm = None if warm_start is None else warm_start.unsqueeze(0)
        res = self.plan_batch(state.unsqueeze(0), goal.unsqueeze(0), cost, warm, budget_s)
        info = dict(res.info)
        info['cost'] = float(info['costs'][0])
        for key in self._per_problem_info:
            if key in info:
                info[key] = info[key][0]
        return PlanResult(res.actions[0], res.latents[0], info)

    def plan_batch(self, states, goals, cost, warm_starts=None, budget_s=None):
        if warm_starts is not None and warm_starts.shape[1:] != (self.horizon, self.action_dim):
            raise ValueError(f'warm start must be (T={self.horizon}, A={self.action_dim}), '
                             f'got {tuple(warm_starts.shape[1:])}')
        t0 = time.perf_counter()
        states = states.detach()
        goals = goals.detach().to(states)
        if warm_starts is not None:
            warm_starts = self.clamp(warm_starts.detach().to(states))
        if self.scenarios > 1:   # the same scenarios for every candidate of this plan
            self._scenario_z = self._draw_scenarios(states)
        actions, latents, costs, info = self._solve(states, goals, cost, warm_starts,
                                                    self._deadline(budget_s))
        info.update(planner=self.name, costs=costs.detach().cpu().tolist(),
                    compute_ms=(time.perf_counter() - t0) * 1e3)
        if self.scenarios > 1:
            info.update(scenarios=self.scenarios, risk=self.risk)
        return PlanResult(actions.detach(), latents.detach(), info)

    def _solve(self, states, goals, cost, warm, deadline):
        raise NotImplementedError

    # -- shared for sampling/optimising planners ---------------------------------------
    def _evaluate(self, states, goals, candidates, cost):
        """Cost of N candidates for each of P problems: candidates (P,N,T,A) -> (P,N), lat.
        With scenarios > 1 the cost combines the K scenarios by `risk`; lat: z = 0's."""
        p, n = candidates.shape[:2]
        flat = candidates.reshape(p * n, self.horizon, self.action_dim)
        s0 = states.repeat_interleave(n, dim=0)
        g = goals.repeat_interleave(n, dim=0)
        if self.scenarios == 1:
            lat = self.rollout(s0, flat)
            c = cost(lat, flat, g).view(p, n)
            return c, lat.view(p, n, self.horizon, -1)
        k, b = self.scenarios, p * n
        z = self._scenario_z.repeat_interleave(b, dim=0)           # (K*B, T, Z)
        flat_k = flat.repeat(k, 1, 1)
        lat = self.model.rollout(s0.repeat(k, 1), flat_k, z)      # scenario-major
        c = self._combine(cost(lat, flat_k, g.repeat(k, 1)).view(k, p, n))
        return c, lat[:b].view(p, n, self.horizon, -1)


class _Best:
    """Best candidate per problem seen so far (anytime result)."""

    def __init__(self, p, like_actions):
        self.cost = torch.full((p,), math.inf, device=like_actions.device)
        self.actions = None
        self.latents = None

    def update(self, costs, candidates, latents):
        c, idx = costs.detach().min(dim=1)
        ar = torch.arange(costs.shape[0], device=costs.device)
        cand_a = candidates.detach()[ar, idx]
        cand_l = latents.detach()[ar, idx]
        if self.actions is None:
            self.cost, self.actions, self.latents = c, cand_a, cand_l
            return
        better = c < self.cost
        self.cost = torch.where(better, c, self.cost)
        self.actions = torch.where(better[:, None, None], cand_a, self.actions)
        self.latents = torch.where(better[:, None, None], cand_l, self.latents)


@register_planner
class GradientPlanner(Planner):
    """Adam on the whole action sequence through the predictor, `num_inits` initialisations
    per problem optimised together in one batch (the non-convex cost has local minima).

    Actions = mid + half * tanh(u): bounds hold by construction and gradients stay finite.
    Initialisations: the warm start (if given), zero (unless the optimisation continues, see
    below), then uniform random ones.

    Receding horizon (`carry_optimizer`): when the warm start is this planner's previous
    plan shifted by s >= 0 steps, Adam's moment estimates are shifted the same way and
    kept, so successive re-plans continue one optimisation instead of restarting it (the
    "real-time iteration" idea of nonlinear MPC). Then one Adam step per control step is
    enough; without it Adam's first step from fresh moments is a fixed-size sign step and
    one-step plans chatter. beta1 = 0.5 (not Adam's usual 0.9): momentum carried across
    re-plans while the robot moves makes the closed loop overshoot and circle the goal
    (test_planners.py; success rates in docs/BENCHMARKS.md, section planning).
    """
    name = 'gd'
    SHARED = UNCERTAINTY
    PARAMS = (
        Param('iterations', 1, 'Adam steps per plan at most (the optimisation continues '
              'across re-plans, so 1 is enough at the plan rate)', min=1, max=1000),
        Param('num_inits', 4, 'action sequences optimised in one batch: the previous plan '
              'plus random restarts', min=1, max=1024),
        Param('lr', 0.2, 'Adam step size on the tanh-squashed actions', min=1e-4, max=10.0),
        Param('init_scale', 0.7, 'spread of the random initialisations (fraction of the '
              'action range)', min=0.0, max=1.0),
        Param('carry_optimizer', True, "continue the previous plan's Adam state when the "
              'warm start is that plan shifted'),
    )
    U_MAX = 2.5   # |u| bound: tanh(2.5) = 0.987 of the action range, gradient 0.03

    def __init__(self, model, iterations=1, num_inits=4, lr=0.2, init_scale=0.7,
                 carry_optimizer=True, betas=(0.5, 0.999), **kw):
        super().__init__(model, **kw)
        self.betas = (float(betas[0]), float(betas[1]))
        self.iterations, self.num_inits = int(iterations), int(num_inits)
        self.lr, self.init_scale = float(lr), float(init_scale)
        if self.iterations < 1 or self.num_inits < 1:
            raise ValueError('gd: iterations and num_inits must be >= 1')
        self.carry_optimizer = bool(carry_optimizer)
        self._carry = None   # (returned actions (P,T,A), Adam state of those plans)

    def _to_u(self, actions):
        low, high = self.bounds(actions)
        mid, half = (high + low) / 2, (high - low) / 2
        u = torch.atanh(((actions - mid) / half).clamp(-0.995, 0.995))
        return u.clamp(-self.U_MAX, self.U_MAX)

    def _to_actions(self, u):
        low, high = self.bounds(u)
        return (high + low) / 2 + (high - low) / 2 * torch.tanh(u)

    def _carried_state(self, warm):
        """Adam state for a warm start that is the previous plan shifted (None if not)."""
        if not self.carry_optimizer or self._carry is None or warm is None:
            return None
        previous, state = self._carry
        if previous.shape != warm.shape or previous.device != warm.device:
            return None
        for s in range(0, self.horizon + 1):   # 0: a re-plan from the same state
            if torch.equal(shift_plan(previous, s), warm):
                return {'step': state['step'],
                        'exp_avg': shift_plan(state['exp_avg'], s),
                        'exp_avg_sq': shift_plan(state['exp_avg_sq'], s)}
        return None

    def reset(self):
        """Forget the carried optimiser state (a new task)."""
        self._carry = None

    def _solve(self, states, goals, cost, warm, deadline):
        p, t, a = states.shape[0], self.horizon, self.action_dim
        carried = self._carried_state(warm)
        # Every call also tries fresh random inits next to the carried plan (batch
        # elements are nearly free on CPU): they get the robot out of local minima, e.g.
        # pressed against a wall.
        n, iterations = self.num_inits, self.iterations
        g = self.generator(states.device)
        init = (torch.rand(p, n, t, a, generator=g, device=states.device, dtype=states.dtype)
                * 2 - 1) * self.init_scale
        low, high = self.bounds(states)
        init = (high + low) / 2 + (high - low) / 2 * init
        first = 0
        if warm is not None:
            init[:, 0] = warm
            first = 1
        if n > first and carried is None:
            init[:, first] = (high + low) / 2
        u = self._to_u(init).requires_grad_(True)
        opt = torch.optim.Adam([u], lr=self.lr, betas=self.betas)
        if carried is not None:
            # Moments of the warm-started candidate carry over; other inits start fresh.
            exp_avg, exp_avg_sq = torch.zeros_like(u), torch.zeros_like(u)
            exp_avg[:, 0], exp_avg_sq[:, 0] = carried['exp_avg'], carried['exp_avg_sq']
            opt.state[u] = {'step': carried['step'].clone(), 'exp_avg': exp_avg,
                            'exp_avg_sq': exp_avg_sq}
        best = _Best(p, states)
        best_index = torch.zeros(p, dtype=torch.long, device=states.device)
        iters = 0

        def consider(acts):
            costs, lat = self._evaluate(states, goals, acts, cost)
            previous = best.cost.clone()
            best.update(costs, acts, lat)
            better = best.cost < previous
            best_index.copy_(torch.where(better, costs.detach().argmin(dim=1), best_index))
            return costs

        with torch.enable_grad():
            for _ in range(iterations):
                acts = self._to_actions(u)
                costs = consider(acts)
                iters += 1
                if self._expired(deadline):
                    break
                (grad,) = torch.autograd.grad(costs.sum(), [u])
                u.grad = grad
                opt.step()
                with torch.no_grad():
                    # Deep in tanh's flat tails the gradient vanishes and a saturated
                    # action could never come back (the robot stays pinned to a wall).
                    u.clamp_(-self.U_MAX, self.U_MAX)
        if iters == iterations and not self._expired(deadline):
            with torch.no_grad():   # the last Adam step is evaluated too
                consider(self._to_actions(u))
        if self.carry_optimizer and opt.state.get(u):
            ar = torch.arange(p, device=states.device)
            st = opt.state[u]
            self._carry = (best.actions.detach().clone(),
                           {'step': st['step'].detach().clone(),
                            'exp_avg': st['exp_avg'][ar, best_index].detach().clone(),
                            'exp_avg_sq': st['exp_avg_sq'][ar, best_index].detach().clone()})
        return best.actions, best.latents, best.cost, {'iterations': iters,
                                                       'carried': carried is not None}


class _SamplingPlanner(Planner):
    """Shared by CEM and MPPI: a Gaussian over action sequences, refined per iteration.

    Noise is temporally correlated (AR(1), `noise_beta`) because useful action sequences
    are smooth; the current mean is always one of the candidates.
    """

    SHARED = ('samples', 'iterations') + UNCERTAINTY
    PARAMS = (
        Param('init_std', 0.6, 'initial sampling std (fraction of half the action range)',
              min=0.0, max=10.0),
        Param('noise_beta', 0.5, 'AR(1) correlation of the sampling noise over time',
              min=0.0, max=0.99),
    )

    def __init__(self, model, samples=128, iterations=4, init_std=0.6, noise_beta=0.5, **kw):
        super().__init__(model, **kw)
        self.samples, self.iterations = int(samples), int(iterations)
        self.init_std, self.noise_beta = float(init_std), float(noise_beta)

    def _noise(self, p, like):
        g = self.generator(like.device)
        eps = torch.randn(p, self.samples, self.horizon, self.action_dim, generator=g,
                          device=like.device, dtype=like.dtype)
        if self.noise_beta > 0:
            b = self.noise_beta
            out = [eps[:, :, 0]]
            for k in range(1, self.horizon):   # unit-variance AR(1)
                out.append(b * out[-1] + math.sqrt(1 - b * b) * eps[:, :, k])
            eps = torch.stack(out, dim=2)
        return eps

    def _initial_mean(self, states, warm):
        p = states.shape[0]
        if warm is not None:
            return warm.clone()
        low, high = self.bounds(states)
        return ((high + low) / 2).expand(p, self.horizon, self.action_dim).clone()

    def _solve(self, states, goals, cost, warm, deadline):
        p = states.shape[0]
        mean = self._initial_mean(states, warm)
        low, high = self.bounds(states)
        std = torch.full_like(mean, self.init_std) * (high - low) / 2
        best = _Best(p, states)
        iters = 0
        with torch.no_grad():
            for _ in range(self.iterations):
                cand = self.clamp(mean.unsqueeze(1) + std.unsqueeze(1) * self._noise(p, mean))
                cand[:, 0] = mean
                costs, lat = self._evaluate(states, goals, cand, cost)
                best.update(costs, cand, lat)
                iters += 1
                if self._expired(deadline):
                    break
                mean, std = self._update(cand, costs, mean, std)
            if iters == self.iterations and not self._expired(deadline):
                costs, lat = self._evaluate(states, goals, mean.unsqueeze(1), cost)
                best.update(costs, mean.unsqueeze(1), lat)
        return best.actions, best.latents, best.cost, {'iterations': iters}


@register_planner
class CEMPlanner(_SamplingPlanner):
    """Cross-entropy method: refit mean/std to the `elites` cheapest samples."""
    name = 'cem'
    PARAMS = _SamplingPlanner.PARAMS + (
        Param('elites', 24, 'cheapest samples the distribution is refit to (at most '
              'samples: fewer samples cap it)', min=1, max=8192),
        Param('momentum', 0.1, 'weight of the old mean/std in the refit', min=0.0, max=1.0),
        Param('min_std', 0.05, 'lower bound of the sampling std', min=0.0, max=10.0),
    )

    @classmethod
    def kwargs_from_flat(cls, values):
        cfg = super().kwargs_from_flat(values)
        if 'elites' in cfg:   # the declared 24 elites, fewer when there are fewer samples
            cfg['elites'] = min(cfg['elites'], cfg.get('samples', 128))
        return cfg

    def __init__(self, model, elites=24, momentum=0.1, min_std=0.05, **kw):
        super().__init__(model, **kw)
        self.elites, self.momentum, self.min_std = int(elites), float(momentum), float(min_std)
        if not 1 <= self.elites <= self.samples:
            raise ValueError('cem: need 1 <= elites <= samples')

    def _update(self, cand, costs, mean, std):
        idx = costs.topk(self.elites, dim=1, largest=False).indices
        elite = torch.gather(cand, 1, idx[:, :, None, None].expand(-1, -1, *cand.shape[2:]))
        new_mean = elite.mean(dim=1)
        new_std = elite.std(dim=1, unbiased=False).clamp_min(self.min_std)
        m = self.momentum
        return m * mean + (1 - m) * new_mean, m * std + (1 - m) * new_std


@register_planner
class MPPIPlanner(_SamplingPlanner):
    """Model-predictive path integral: mean <- softmax(-cost / lambda)-weighted samples.

    `temperature` is relative to the spread of costs in the batch (lambda = temperature *
    (max - min)), so one setting works whatever the cost scale. The std shrinks by
    `std_decay` per iteration (coarse-to-fine search).
    """
    name = 'mppi'
    PARAMS = _SamplingPlanner.PARAMS + (
        Param('temperature', 0.05, 'softmax temperature relative to the cost spread',
              min=1e-6, max=100.0),
        Param('std_decay', 0.7, 'sampling std factor per iteration', min=0.01, max=1.0),
        Param('min_std', 0.05, 'lower bound of the sampling std', min=0.0, max=10.0),
    )

    def __init__(self, model, temperature=0.05, std_decay=0.7, min_std=0.05, **kw):
        super().__init__(model, **kw)
        self.temperature, self.std_decay = float(temperature), float(std_decay)
        self.min_std = float(min_std)

    def _update(self, cand, costs, mean, std):
        spread = (costs.max(dim=1, keepdim=True).values
                  - costs.min(dim=1, keepdim=True).values).clamp_min(1e-9)
        w = torch.softmax(-(costs - costs.min(dim=1, keepdim=True).values)
                          / (self.temperature * spread), dim=1)
        new_mean = (w[:, :, None, None] * cand).sum(dim=1)
        return new_mean, (std * self.std_decay).clamp_min(self.min_std)


@register_planner
class RandomPlanner(Planner):
    """The floor: uniformly random actions, the cost is only reported.
    With samples > 1 it is random shooting (best of `samples`)."""
    name = 'random'
    SHARED = ('samples',)

    def __init__(self, model, samples=1, **kw):
        super().__init__(model, **kw)
        self.samples = int(samples)

    def _solve(self, states, goals, cost, warm, deadline):
        p = states.shape[0]
        low, high = self.bounds(states)
        g = self.generator(states.device)
        with torch.no_grad():
            u = torch.rand(p, self.samples, self.horizon, self.action_dim, generator=g,
                           device=states.device, dtype=states.dtype)
            cand = low + (high - low) * u
            costs, lat = self._evaluate(states, goals, cand, cost)
        best = _Best(p, states)
        best.update(costs, cand, lat)
        return best.actions, best.latents, best.cost, {'iterations': 1}


@register_planner
class Mode1Planner(Planner):
    """Mode 1: the actor picks each action reactively, a = actor(s, s_goal); the model
    only supplies the predicted latents along the way (for reporting and the next step)."""
    name = 'mode1'

    def __init__(self, model, actor=None, **kw):
        if actor is None:
            raise ValueError("planner 'mode1' needs an actor (actor=...)")
        kw.setdefault('action_dim', getattr(actor, 'action_dim', None))
        super().__init__(model, **kw)
        self.actor = actor

    def _solve(self, states, goals, cost, warm, deadline):
        acts, lats = [], []
        z = states
        with torch.no_grad():
            for _ in range(self.horizon):
                a = self.clamp(self.actor(z, goals))
                z = self.rollout(z, a.unsqueeze(1))[:, 0]
                acts.append(a)
                lats.append(z)
            actions, latents = torch.stack(acts, 1), torch.stack(lats, 1)
            costs = cost(latents, actions, goals)
        return actions, latents, costs, {'iterations': 1}


class _EncodedModel:
    """Level-1 model seen through the level-2 encoder: rollout gives level-2 latents, so a
    flat planner can match a level-2 subgoal with the ordinary goal-energy term."""

    def __init__(self, model, encode):
        self.model, self.encode = model, encode

    def latent_codes(self):
        return getattr(self.model, 'latent_codes', lambda: None)()

    def rollout(self, s0, actions, z=None):
        lat = self.model.rollout(s0, actions) if z is None \
            else self.model.rollout(s0, actions, z)
        b, t, d = lat.shape
        return self.encode(lat.reshape(b * t, d)).view(b, t, -1)


class _RepeatedActionModel:
    """Coarse model when the world model has no level 2: each coarse action is held for
    `k` fine steps and only every k-th latent is kept."""

    def __init__(self, model, k):
        self.model, self.k = model, int(k)

    def encode(self, s):
        return s

    def rollout(self, s0, actions):
        fine = self.model.rollout(s0, actions.repeat_interleave(self.k, dim=1))
        return fine[:, self.k - 1::self.k]


@register_planner
class HierarchicalPlanner(Planner):
    """H-JEPA planning. Level 2 plans `coarse_horizon` abstract actions on the k-step scale
    towards the goal's level-2 latent; the subgoal is the level-2 latent that coarse plan
    reaches when the fine horizon ends (coarse step horizon // k), reported as
    info['subgoal'] ((D2,) from plan, (P, D2) from plan_batch). Level 1 then plans
    `horizon` fine steps whose level-2 encoding reaches that subgoal.

    Uses `model.level2` (encode(s1) -> s2, rollout(s2, a2)) when present, otherwise a
    coarse model made of actions held for `k` steps. `level1`/`level2` name the flat
    planners used at each level; `level1_cfg`/`level2_cfg` are their parameters.
    """
    name = 'hierarchical'
    PARAMS = (
        Param('k', 4, 'fine steps per coarse step (a level-2 model brings its own)',
              min=1, max=64),
        Param('coarse_horizon', 0, 'coarse steps planned at level 2 (0: enough to cover '
              'the fine horizon, ceil(horizon / k) + 1, at least 2)', min=0, max=128),
        Param('level1', 'gd', 'flat planner of level 1 (takes that planner\'s settings)'),
        Param('level2', 'gd', 'flat planner of level 2 (plans from scratch each call)'),
        Param('level2_budget_fraction', 0.5, 'share of the time budget for level 2',
              min=0.01, max=0.99),
    )
    _per_problem_info = ('subgoal',)

    @classmethod
    def kwargs_from_flat(cls, values):
        cfg = super().kwargs_from_flat(values)
        if not cfg.get('coarse_horizon'):
            k = cfg.get('k', 4)
            cfg['coarse_horizon'] = max(2, math.ceil(cfg.get('horizon', 12) / k) + 1)
        level1 = cfg.get('level1', 'gd')
        if level1 in PLANNERS and level1 != cls.name:   # level 1 takes its planner's settings
            own = PLANNERS[level1].kwargs_from_flat(values)
            own.pop('horizon', None)
            own.pop('seed', None)
            if own:
                cfg['level1_cfg'] = own
        return cfg
    LEVEL2_DEFAULTS = {'gd': {'iterations': 20, 'num_inits': 4}}

    def __init__(self, model, k=4, coarse_horizon=6, coarse_action_dim=None, level1='gd',
                 level2='gd', level1_cfg=None, level2_cfg=None, level2_budget_fraction=0.5,
                 **kw):
        super().__init__(model, **kw)
        for level in (level1, level2):
            if level not in PLANNERS or level in (self.name, 'mode1'):
                raise ValueError(f'hierarchical: level planner {level!r} must be one of '
                                 f'{sorted(set(PLANNERS) - {self.name, "mode1"})}')
        self.k, self.coarse_horizon = int(k), int(coarse_horizon)
        self.budget_fraction = float(level2_budget_fraction)
        coarse = getattr(model, 'level2', None)
        if coarse is None:
            coarse = _RepeatedActionModel(model, self.k)
            coarse_action_dim = self.action_dim
        else:
            self.k = int(getattr(coarse, 'k', self.k))   # the level-2 time scale wins
            coarse_action_dim = int(coarse_action_dim or _infer_action_dim(coarse)
                                    or self.action_dim)
        self.coarse = coarse
        # Level 2 plans from scratch every call (no warm start) on a short coarse horizon:
        # it gets more iterations than the flat defaults, which assume a warm start.
        upper_cfg = dict(self.LEVEL2_DEFAULTS.get(level2, {}))
        upper_cfg.update(level2_cfg or {})
        self.upper = make_planner(level2, coarse, horizon=self.coarse_horizon,
                                  action_dim=coarse_action_dim, seed=self.seed, **upper_cfg)
        self.lower = make_planner(level1, _EncodedModel(model, coarse.encode),
                                  horizon=self.horizon, action_dim=self.action_dim,
                                  action_low=self.action_low, action_high=self.action_high,
                                  seed=self.seed, **(level1_cfg or {}))
        self._coarse_warm = None

    def reset(self):
        self.upper.reset()
        self.lower.reset()

    @staticmethod
    def _level1_cost(cost):
        """The user's cost minus the critic (it scores the final goal, not the subgoal)."""
        level = cost.with_terms({n: (w, on and n != 'critic')
                                 for n, (w, on) in cost.terms.items()})
        if not level.active():
            level = IntrinsicCost({'goal': (1.0, True)},
                                  terminal_weight=cost.ctx.terminal_weight)
        return level

    @staticmethod
    def _level2_cost(cost):
        """Goal energy on every coarse step: with terminal weight only, any coarse path that
        arrives by the end of the coarse horizon would be as good as the fastest one."""
        return IntrinsicCost({'goal': (1.0, True)}, running_weight=1.0,
                             terminal_weight=max(1.0, cost.ctx.terminal_weight))

    def _solve(self, states, goals, cost, warm, deadline):
        budget = None if deadline is None else max(0.0, deadline - time.perf_counter())
        with torch.no_grad():
            s2 = self.coarse.encode(states)
            g2 = self.coarse.encode(goals)
        upper = self.upper.plan_batch(s2, g2, self._level2_cost(cost),
                                      None, None if budget is None
                                      else budget * self.budget_fraction)
        # The subgoal is the level-2 latent the coarse plan reaches when the fine horizon ends.
        sub_idx = min(max(self.horizon // self.k, 1), self.coarse_horizon) - 1
        subgoals = upper.latents[:, sub_idx]
        budget = None if deadline is None else max(0.0, deadline - time.perf_counter())
        lower = self.lower.plan_batch(states, subgoals, self._level1_cost(cost), warm,
                                      budget)
        with torch.no_grad():
            latents = self.model.rollout(states, lower.actions)
            costs = cost(latents, lower.actions, goals)
        info = {'iterations': lower.info['iterations'],
                'level2_iterations': upper.info['iterations'],
                'subgoal_cost': lower.info['costs'],
                # (P, D2) from plan_batch, (D2,) from plan: published on jepa/subgoal
                'subgoal': subgoals.detach()}
        return lower.actions, latents, costs, info


def make_planner(name, model, **cfg):
    """Planner by name (a key of PLANNERS: gd, cem, mppi, hierarchical, mode1, random)."""
    if name not in PLANNERS:
        raise ValueError(f'unknown planner {name!r}; choose from {sorted(PLANNERS)}')
    return PLANNERS[name](model, **cfg)


# Planners a flat setting `planner` may name: mode1 needs an actor object, not settings.
def flat_planner_names():
    return [n for n in PLANNERS if n != 'mode1']


def planner_params(default='gd'):
    """Flat planner settings: `planner`, the shared ones, then `<planner>.<param>`.
    gd is the shipped planner (config/world_model.yaml)."""
    out = [Param('planner', default, 'Mode-2 planner', choices=tuple(flat_planner_names()))]
    out += list(SHARED_PARAMS.values())
    for cls in PLANNERS.values():
        out += cls.flat_params()
    return out


def planning_params():
    """Every flat planning setting: planner_params() then the cost's (cost_params())."""
    return planner_params() + cost_params()


def planner_kwargs(values, name=None):
    """make_planner keywords of planner `name` (default values['planner']) from flat
    settings; ValueError naming the setting when one is out of its declared range."""
    name = values.get('planner', 'gd') if name is None else name
    if name not in PLANNERS:
        raise ValueError(f'unknown planner {name!r}; choose from {sorted(PLANNERS)}')
    check_values(planner_params(), {k: v for k, v in values.items() if k != 'planner'})
    return PLANNERS[name].kwargs_from_flat(values)


def build_planning(values, model, critic=None, **extra):
    """(planner, cost) from flat settings {name: value} (planning_params() names; missing
    ones keep their defaults). `extra` goes to the planner as is (action_dim, actor)."""
    name = values.get('planner', 'gd')
    planner = make_planner(name, model, **planner_kwargs(values, name), **extra)
    return planner, IntrinsicCost.from_params(values, critic=critic)


class RecedingHorizon:
    """Plan, execute the first `execute_steps` actions, re-plan from the new state with
    the previous plan shifted as warm start (model-predictive control)."""

    def __init__(self, planner, cost, execute_steps=1, budget_s=None):
        if execute_steps < 1 or execute_steps > planner.horizon:
            raise ValueError('execute_steps must be in [1, horizon]')
        self.planner, self.cost = planner, cost
        self.execute_steps, self.budget_s = int(execute_steps), budget_s
        self.reset()

    def reset(self):
        self.previous = None
        self.last_result = None
        self.planner.reset()
        self.cost.set_previous_action(None)

    def act(self, state, goal):
        """Actions (execute_steps, A) to apply now, and the PlanResult they came from."""
        warm = None if self.previous is None else shift_plan(self.previous, self.execute_steps)
        result = self.planner.plan(state, goal, self.cost, warm, self.budget_s)
        self.previous = result.actions
        self.last_result = result
        todo = result.actions[:self.execute_steps]
        self.cost.set_previous_action(todo[-1])
        return todo, result
