"""Parameter declarations of core components (planners, cost terms), torch-free.

A planner or cost term lists its settings as `Param`s on its class; the ROS nodes
(world_model, configurator), the CLI tools (eval planning, train actor) and the README
parameter reference derive their parameters from these declarations, so a setting is
declared once, with one default, range and description.
"""
import math
from dataclasses import dataclass, replace
from typing import Any, Optional, Sequence


@dataclass(frozen=True)
class Param:
    """One setting: `name` (a keyword of the component's constructor), the default (its
    type is the parameter's type), an inclusive range for numbers or a set of choices."""
    name: str
    default: Any
    description: str
    min: Optional[float] = None
    max: Optional[float] = None
    choices: Optional[Sequence[Any]] = None

    def renamed(self, name, description=None):
        """The same declaration under another (e.g. prefixed, flat) name."""
        return replace(self, name=name,
                       description=self.description if description is None else description)

    def validate(self, value):
        """None when `value` fits the declaration, else why it does not."""
        d = self.default
        if isinstance(d, bool) != isinstance(value, bool):
            return f'{self.name}: expected {type(d).__name__}, got {value!r}'
        if isinstance(d, float):
            if not isinstance(value, (int, float)) or not math.isfinite(float(value)):
                return f'{self.name}: expected a finite number, got {value!r}'
        elif isinstance(d, (list, tuple)):
            if not isinstance(value, (list, tuple)):
                return f'{self.name}: expected a list, got {value!r}'
        elif not isinstance(value, type(d)):
            return f'{self.name}: expected {type(d).__name__}, got {value!r}'
        if self.choices is not None:
            items = value if isinstance(value, (list, tuple)) else [value]
            bad = [v for v in items if v not in self.choices]
            if bad:
                return f'{self.name}: {bad[0]!r} is not one of {list(self.choices)}'
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if self.min is not None and value < self.min:
                return f'{self.name}: {value} is below the minimum {self.min}'
            if self.max is not None and value > self.max:
                return f'{self.name}: {value} is above the maximum {self.max}'
        return None

    def coerce(self, value):
        """`value` in the declared type (ints given for a float parameter become floats)."""
        if isinstance(self.default, float) and not isinstance(value, bool):
            return float(value)
        if isinstance(self.default, (list, tuple)):
            return list(value)
        return value


def check_values(params, values):
    """Raise ValueError naming the first of `values` (name -> value) that does not fit its
    declaration in `params` (iterable of Param); names not declared are ignored."""
    by_name = {p.name: p for p in params}
    for name, value in values.items():
        p = by_name.get(name)
        if p is not None:
            err = p.validate(value)
            if err:
                raise ValueError(err)
