"""Intrinsic cost: a weighted sum of named terms (the paper's IC + trainable critic TC).

Like Nav2's MPPI critics, every term is a function registered under a name and switched
on and weighted by configuration, so a new term plugs in with `register_term` and no
planner changes. All terms are batched: they take the predicted latents (B, T, D) of B
candidate action sequences (B, T, A) and return one cost per candidate (B,).
"""
from dataclasses import dataclass, field

import torch

# name -> fn(latents (B,T,D), actions (B,T,A), goal (B,D), ctx: CostContext) -> (B,)
COST_TERMS = {}


def register_term(name):
    """Decorator adding a cost term to the registry under `name`."""
    def wrap(fn):
        if name in COST_TERMS:
            raise ValueError(f'cost term {name!r} is already registered')
        COST_TERMS[name] = fn
        return fn
    return wrap


@dataclass
class CostContext:
    """Settings and optional parts the terms may need (shared by all terms of one cost)."""
    terminal_weight: float = 1.0      # goal energy: weight of the last step vs the others
    running_weight: float = 1.0       # goal energy: weight of every earlier step
    previous_action: torch.Tensor = None  # (A,) or (B,A): smoothness across re-plans
    critic: object = None             # callable (latents (B,D), goals (B,D)) -> (B,)
    extra: dict = field(default_factory=dict)


def latent_distance(latents, goal):
    """Mean squared difference over latent dims: (..., D), (..., D) -> (...).

    The mean (not the sum) keeps weights comparable across latent sizes.
    """
    return (latents - goal).pow(2).mean(dim=-1)


@register_term('goal')
def goal_energy(latents, actions, goal, ctx):
    """Distance of every predicted latent to the goal latent, the last one weighted most.

    Running steps matter too: they reward getting close early, not only at step T.
    """
    d = latent_distance(latents, goal.unsqueeze(1))  # (B, T)
    weights = torch.full((d.shape[1],), float(ctx.running_weight), dtype=d.dtype,
                         device=d.device)
    weights[-1] = float(ctx.terminal_weight)
    return (d * weights).sum(dim=1)


@register_term('action_magnitude')
def action_magnitude(latents, actions, goal, ctx):
    """Sum over the horizon of squared action norms (energy spent)."""
    return actions.pow(2).sum(dim=(1, 2))


@register_term('action_smoothness')
def action_smoothness(latents, actions, goal, ctx):
    """Sum of squared differences of consecutive actions, including the one being executed
    now (`previous_action`) when known, so successive plans do not jerk."""
    diffs = actions[:, 1:] - actions[:, :-1]
    total = diffs.pow(2).sum(dim=(1, 2))
    if ctx.previous_action is not None:
        prev = ctx.previous_action.to(actions)
        total = total + (actions[:, 0] - prev).pow(2).sum(dim=-1)
    return total


@register_term('critic')
def critic_cost_to_go(latents, actions, goal, ctx):
    """The trainable critic's estimate of cost-to-go from the last predicted latent:
    lets a short horizon see past its end (latent distance only ranks nearby states)."""
    if ctx.critic is None:
        raise ValueError("cost term 'critic' is enabled but no critic was given")
    return ctx.critic(latents[:, -1], goal)


DEFAULT_TERMS = {
    'goal': (1.0, True),
    'action_magnitude': (0.0, False),
    'action_smoothness': (0.0, False),
    'critic': (0.0, False),
}


class IntrinsicCost:
    """Weighted sum of named terms.

    terms: {name: (weight, enabled)} for any subset of the registry; missing names keep
    their defaults from DEFAULT_TERMS (goal energy on, the rest off).
    """

    def __init__(self, terms=None, terminal_weight=1.0, running_weight=1.0, critic=None,
                 previous_action=None):
        merged = dict(DEFAULT_TERMS)
        for name, spec in (terms or {}).items():
            if name not in COST_TERMS:
                raise ValueError(f'unknown cost term {name!r}; known: {sorted(COST_TERMS)}')
            weight, enabled = spec
            merged[name] = (float(weight), bool(enabled))
        self.terms = merged
        self.ctx = CostContext(terminal_weight=terminal_weight, running_weight=running_weight,
                               critic=critic, previous_action=previous_action)
        if self.active().get('critic') is not None and critic is None:
            raise ValueError("cost term 'critic' is enabled but no critic was given")

    @classmethod
    def from_config(cls, cfg, critic=None):
        """Build from flat parameters: `<term>_weight` (0 disables), `terminal_weight`."""
        terms = {}
        for name in COST_TERMS:
            key = f'{name}_weight'
            if key in cfg:
                w = float(cfg[key])
                terms[name] = (w, w != 0.0)
        if critic is None and 'critic' in terms:
            terms['critic'] = (terms['critic'][0], False)
        return cls(terms, terminal_weight=cfg.get('terminal_weight', 1.0),
                   running_weight=cfg.get('running_weight', 1.0), critic=critic)

    def active(self):
        """{name: weight} of the enabled terms with non-zero weight."""
        return {n: w for n, (w, on) in self.terms.items() if on and w != 0.0}

    def set_previous_action(self, action):
        self.ctx.previous_action = None if action is None else torch.as_tensor(action)

    def breakdown(self, latents, actions, goal):
        """{name: weighted (B,) cost} of every active term."""
        if latents.dim() != 3 or actions.dim() != 3:
            raise ValueError('latents must be (B,T,D) and actions (B,T,A)')
        goal = goal.to(latents)
        if goal.dim() == 1:
            goal = goal.unsqueeze(0).expand(latents.shape[0], -1)
        return {name: w * COST_TERMS[name](latents, actions, goal, self.ctx)
                for name, w in self.active().items()}

    def __call__(self, latents, actions, goal):
        parts = self.breakdown(latents, actions, goal)
        if not parts:
            return latents.new_zeros(latents.shape[0])
        return torch.stack(list(parts.values())).sum(dim=0)
