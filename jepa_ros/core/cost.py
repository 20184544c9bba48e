"""Intrinsic cost: a weighted sum of named terms (the paper's IC + trainable critic TC).

Like Nav2's MPPI critics, every term is a class registered under its name, chosen by the
`cost.terms` list and weighted by `cost.<term>.weight`; a term's own settings are
declared in its PARAMS (`cost.<term>.<param>`). A new term is one `CostTerm` subclass
decorated with `@register_term`: the world_model node parameters, the configurator's
weights and the CLI flags follow from the registry. All terms are batched: they take the
predicted latents (B, T, D) of B candidate action sequences (B, T, A) and return one cost
per candidate (B,).

torch is imported on first use, so the ROS nodes can read the declarations cheaply.
"""
import copy
import importlib
from dataclasses import dataclass, field

from jepa_ros.core.params import Param, check_values


class _LazyTorch:
    """`torch` imported on first attribute access (nodes import this module for the
    parameter declarations only, before deciding to load any model)."""

    def __getattr__(self, name):
        return getattr(importlib.import_module('torch'), name)


torch = _LazyTorch()

# name -> CostTerm subclass
COST_TERMS = {}


class CostTerm:
    """One term: __call__(latents (B,T,D), actions (B,T,A), goal (B,D), ctx) -> (B,).

    `weight` is the default of `cost.<name>.weight` (0: off); PARAMS are the term's own
    settings, given to the constructor by name."""
    name = None
    weight = 0.0
    description = ''
    PARAMS = ()

    def __init__(self, **params):
        declared = {p.name: p for p in self.PARAMS}
        unknown = set(params) - set(declared)
        if unknown:
            raise ValueError(f'cost term {self.name!r}: unknown parameters {sorted(unknown)}')
        check_values(self.PARAMS, params)
        for p in self.PARAMS:
            setattr(self, p.name, p.coerce(params.get(p.name, p.default)))

    def __call__(self, latents, actions, goal, ctx):
        raise NotImplementedError


class _FunctionTerm(CostTerm):
    fn = None

    def __call__(self, latents, actions, goal, ctx):
        return type(self).fn(latents, actions, goal, ctx)


def register_term(arg):
    """Add a cost term to the registry: `@register_term` on a CostTerm subclass, or
    `@register_term(name)` on a plain function fn(latents, actions, goal, ctx) -> (B,)."""
    if isinstance(arg, type) and issubclass(arg, CostTerm):
        name = arg.name
        if not name or not isinstance(name, str):
            raise ValueError(f'{arg.__name__}: a cost term needs a name')
        if name in COST_TERMS:
            raise ValueError(f'cost term {name!r} is already registered')
        COST_TERMS[name] = arg
        return arg
    name = arg

    def wrap(fn):
        cls = type(f'FunctionTerm_{name}', (_FunctionTerm,),
                   {'name': name, 'fn': staticmethod(fn),
                    'description': (fn.__doc__ or '').strip().split('\n')[0]})
        register_term(cls)
        return fn
    return wrap


@dataclass
class CostContext:
    """Settings and optional parts the terms may need (shared by all terms of one cost)."""
    terminal_weight: float = 1.0      # goal energy: weight of the last step vs the others
    running_weight: float = 1.0       # goal energy: weight of every earlier step
    previous_action: object = None    # torch (A,) or (B,A): smoothness across re-plans
    critic: object = None             # callable (latents (B,D), goals (B,D)) -> (B,)
    extra: dict = field(default_factory=dict)


def latent_distance(latents, goal):
    """Mean squared difference over latent dims: (..., D), (..., D) -> (...).

    The mean (not the sum) keeps weights comparable across latent sizes.
    """
    return (latents - goal).pow(2).mean(dim=-1)


@register_term
class GoalEnergy(CostTerm):
    """Distance of every predicted latent to the goal latent, the last one weighted most.

    Running steps matter too: they reward getting close early, not only at step T.
    """
    name = 'goal'
    weight = 1.0
    description = 'goal energy (latent distance to the goal)'

    def __call__(self, latents, actions, goal, ctx):
        d = latent_distance(latents, goal.unsqueeze(1))  # (B, T)
        weights = torch.full((d.shape[1],), float(ctx.running_weight), dtype=d.dtype,
                             device=d.device)
        weights[-1] = float(ctx.terminal_weight)
        return (d * weights).sum(dim=1)


@register_term
class ActionMagnitude(CostTerm):
    """Sum over the horizon of squared action norms (energy spent)."""
    name = 'action_magnitude'
    description = 'squared action norm'

    def __call__(self, latents, actions, goal, ctx):
        return actions.pow(2).sum(dim=(1, 2))


@register_term
class ActionSmoothness(CostTerm):
    """Sum of squared differences of consecutive actions, including the one being executed
    now (`previous_action`) when known, so successive plans do not jerk."""
    name = 'action_smoothness'
    description = 'squared action changes'

    def __call__(self, latents, actions, goal, ctx):
        diffs = actions[:, 1:] - actions[:, :-1]
        total = diffs.pow(2).sum(dim=(1, 2))
        if ctx.previous_action is not None:
            prev = ctx.previous_action.to(actions)
            total = total + (actions[:, 0] - prev).pow(2).sum(dim=-1)
        return total


@register_term
class CriticCostToGo(CostTerm):
    """The trainable critic's estimate of cost-to-go from the last predicted latent:
    lets a short horizon see past its end (latent distance only ranks nearby states)."""
    name = 'critic'
    description = ("trainable critic's cost-to-go (steps) from the last predicted latent; "
                   'needs a critic (world_model: critic_checkpoint)')

    def __call__(self, latents, actions, goal, ctx):
        if ctx.critic is None:
            raise ValueError("cost term 'critic' is enabled but no critic was given")
        return ctx.critic(latents[:, -1], goal)


WEIGHT_MAX = 1e4


@register_term
class Novelty(CostTerm):
    """Curiosity (the paper's intrinsic motivation to explore): rewards predicted latents
    far from every remembered one. Cost = minus the mean over the horizon of the distance
    (latent_distance units) from each predicted latent to its nearest neighbour in the
    memory, counted up to `cap` so that a wild extrapolation of the predictor is not worth
    more than a state just outside the memory. The memory (ctx.extra['visited'], (N, D))
    is kept by the caller (IntrinsicCost.set_visited); with none, the term is zero."""
    name = 'novelty'
    description = 'curiosity: minus the distance of predicted latents to the remembered ones'
    PARAMS = (
        Param('cap', 1.0, 'novelty counted at most this far from the memory (latent '
              'distance units)', min=0.0, max=WEIGHT_MAX),
        Param('memory', 2000, 'latent states remembered (the most recent; world_model: '
              'the states it planned from)', min=1, max=100000),
    )

    def __call__(self, latents, actions, goal, ctx):
        visited = ctx.extra.get('visited')
        b, t, d = latents.shape
        if visited is None or len(visited) == 0:
            return latents.new_zeros(b)
        flat = latents.reshape(b * t, d)
        nearest = torch.cdist(flat, visited.to(flat)).pow(2).min(dim=1).values / d
        return -nearest.clamp(max=float(self.cap)).view(b, t).mean(dim=1)



def term_params(name):
    """Flat declarations of one term: cost.<name>.weight and cost.<name>.<param>."""
    cls = COST_TERMS[name]
    out = [Param(f'cost.{name}.weight', float(cls.weight),
                 f'weight of the {cls.description or name} (0: off)', min=0.0, max=WEIGHT_MAX)]
    out += [p.renamed(f'cost.{name}.{p.name}') for p in cls.PARAMS]
    return out


def cost_params():
    """Every flat cost setting: cost.terms, the cost-wide ones, then each term's."""
    out = [Param('cost.terms', list(COST_TERMS), 'cost terms in use (Nav2 critics style); '
                 'each is weighted by cost.<term>.weight', choices=tuple(COST_TERMS))]
    out += [p.renamed(f'cost.{p.name}') for p in IntrinsicCost.PARAMS]
    for name in COST_TERMS:
        out += term_params(name)
    return out


class IntrinsicCost:
    """Weighted sum of named terms.

    terms: {name: (weight, enabled)} for any subset of the registry; terms not named are
    off, except goal energy (weight 1) when `terms` is None or does not name it.
    term_params: {name: {param: value}} for terms with their own settings.
    """
    PARAMS = (
        Param('terminal_weight', 4.0, 'goal energy weight of the last step relative to the '
              'running steps', min=0.0, max=WEIGHT_MAX),
        Param('running_weight', 1.0, 'goal energy weight of every step before the last',
              min=0.0, max=WEIGHT_MAX),
    )

    def __init__(self, terms=None, terminal_weight=1.0, running_weight=1.0, critic=None,
                 previous_action=None, term_params=None):
        merged = {name: (0.0, False) for name in COST_TERMS}
        merged['goal'] = (1.0, True)
        for name, spec in (terms or {}).items():
            if name not in COST_TERMS:
                raise ValueError(f'unknown cost term {name!r}; known: {sorted(COST_TERMS)}')
            weight, enabled = spec
            merged[name] = (float(weight), bool(enabled))
        self.terms = merged
        term_params = term_params or {}
        self.term_fns = {name: COST_TERMS[name](**term_params.get(name, {}))
                         for name in merged}
        self.ctx = CostContext(terminal_weight=terminal_weight, running_weight=running_weight,
                               critic=critic, previous_action=previous_action)
        if self.active().get('critic') is not None and critic is None:
            raise ValueError("cost term 'critic' is enabled (cost.critic.weight > 0) but no "
                             "critic is loaded (world_model: critic_checkpoint)")

    @classmethod
    def from_params(cls, values, critic=None):
        """From flat settings (cost_params() names; missing ones take their declared
        defaults): the terms in cost.terms with their cost.<term>.weight."""
        decl = cost_params()
        flat = {p.name: p.default for p in decl}
        flat.update({k: v for k, v in values.items() if k in flat})
        check_values(decl, flat)
        chosen = list(flat['cost.terms'])
        terms = {name: (float(flat[f'cost.{name}.weight']), name in chosen)
                 for name in COST_TERMS}
        tparams = {name: {p.name: flat[f'cost.{name}.{p.name}'] for p in COST_TERMS[name].PARAMS}
                   for name in COST_TERMS}
        return cls(terms, terminal_weight=float(flat['cost.terminal_weight']),
                   running_weight=float(flat['cost.running_weight']), critic=critic,
                   term_params=tparams)

    def active(self):
        """{name: weight} of the enabled terms with non-zero weight."""
        return {n: w for n, (w, on) in self.terms.items() if on and w != 0.0}

    def with_terms(self, terms):
        """A copy sharing this cost's context (settings, critic, previous action) with
        `terms` ({name: (weight, enabled)}) instead of this cost's."""
        other = copy.copy(self)
        merged = {name: (0.0, False) for name in COST_TERMS}
        merged.update({n: (float(w), bool(on)) for n, (w, on) in terms.items()})
        other.terms = merged
        other.term_fns = dict(self.term_fns)
        for name in merged:
            if name not in other.term_fns:
                other.term_fns[name] = COST_TERMS[name]()
        return other

    def set_visited(self, latents):
        """The novelty term's memory: (N, D) latents (None or empty: no memory)."""
        if latents is None or len(latents) == 0:
            self.ctx.extra.pop('visited', None)
        else:
            self.ctx.extra['visited'] = torch.as_tensor(latents).detach()

    def set_previous_action(self, action):
        self.ctx.previous_action = None if action is None else torch.as_tensor(action)

    def breakdown(self, latents, actions, goal):
        """{name: weighted (B,) cost} of every active term."""
        if latents.dim() != 3 or actions.dim() != 3:
            raise ValueError('latents must be (B,T,D) and actions (B,T,A)')
        goal = goal.to(latents)
        if goal.dim() == 1:
            goal = goal.unsqueeze(0).expand(latents.shape[0], -1)
        out = {}
        for name, w in self.active().items():
            fn = self.term_fns.get(name) or COST_TERMS[name]()
            out[name] = w * fn(latents, actions, goal, self.ctx)
        return out

    def plan_breakdown(self, latents, actions, goal):
        """{term: weighted cost as a float} of one plan, latents (T,D) / actions (T,A):
        the parts of its total cost (published so a user sees which term dominates).
        {} when a term cannot be evaluated."""
        try:
            with torch.no_grad():
                parts = self.breakdown(latents.detach()[None], actions[None].to(latents),
                                       goal)
            return {name: float(v[0]) for name, v in parts.items()}
        except (ValueError, RuntimeError):
            return {}

    def __call__(self, latents, actions, goal):
        parts = self.breakdown(latents, actions, goal)
        if not parts:
            return latents.new_zeros(latents.shape[0])
        return torch.stack(list(parts.values())).sum(dim=0)
