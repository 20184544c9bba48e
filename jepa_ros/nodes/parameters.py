"""Node parameters as data: declaration, validation on set, application after set,
ownership by the configurator, and the markdown reference.

A `ParamSpec` is a core `Param` (jepa_ros.core.params: name, default, range, choices,
description) plus what only ROS needs (read-only, an extra check, the descriptor), so a
planner's or cost term's declaration becomes a node parameter without restating it.
Parameter lists live at module level of each node, so `jepa-ros params` prints the
reference without starting ROS.
"""
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor,
                                SetParametersResult)

from jepa_ros.core.params import Param


@dataclass(frozen=True)
class ParamSpec(Param):
    """A node parameter: a core `Param` that may be read-only and carry an extra check."""
    read_only: bool = False
    # Extra validation beyond type/range/choices; returns an error string or None.
    check: Optional[Callable[[Any], Optional[str]]] = field(default=None, repr=False,
                                                            compare=False)

    @classmethod
    def of(cls, param, **extra):
        """The node parameter of a core declaration (planner, cost term)."""
        return cls(param.name, param.default, param.description, min=param.min,
                   max=param.max, choices=param.choices, **extra)

    def descriptor(self):
        d = ParameterDescriptor(description=self.description, read_only=self.read_only)
        if self.choices:
            d.additional_constraints = 'one of: ' + ', '.join(str(c) for c in self.choices)
        if self.min is not None and self.max is not None:
            if isinstance(self.default, bool):
                pass
            elif isinstance(self.default, int):
                d.integer_range = [IntegerRange(from_value=int(self.min), to_value=int(self.max),
                                                step=0)]
            elif isinstance(self.default, float):
                d.floating_point_range = [FloatingPointRange(from_value=float(self.min),
                                                             to_value=float(self.max), step=0.0)]
        return d

    def validate(self, value):
        """None when `value` is acceptable, else the reason it is not."""
        reason = super().validate(value)
        if reason is None and self.check is not None:
            reason = self.check(value)
        return reason


def declare_params(node, specs, on_change=None, on_applied=None, owned=None):
    """Declare `specs` on `node`; validate every later set; return a dict name -> value.

    A set runs in two steps, as rclpy splits them:
    * decide (on-set callback): ownership (see `owned`), range/type/choices of the spec,
      then `on_change(changed)`, the node's own check, which raises ValueError to refuse.
      Nothing may change here: a later check can still refuse the set.
    * apply (post-set callback, only once the values are stored): the returned dict is
      updated, then `on_applied(changed)` does the side effects (new timers, rebuilds).
    Both get only the parameters of `specs` that the set changes.

    `owned` (name -> the owner's parameter that sets it) makes those parameters owned by
    another node: see ParameterOwnership.
    """
    by_name = {s.name: s for s in specs}
    for s in specs:
        node.declare_parameter(s.name, s.default, s.descriptor())
    values = {s.name: node.get_parameter(s.name).value for s in specs}
    for s in specs:  # values from a params file are checked too
        reason = s.validate(values[s.name])
        if reason:
            raise ValueError(f'bad parameter from the parameter file: {reason}')
    if owned:
        # imported here: ownership reads the cost terms (torch), not needed otherwise
        from jepa_ros.nodes.ownership import ParameterOwnership
        ownership = ParameterOwnership(node, owned)
    else:
        ownership = None

    def _on_set(params):
        if ownership is not None:
            reason = ownership.refusal(params)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
        changed = {}
        for p in params:
            spec = by_name.get(p.name)
            if spec is None:
                continue  # rclpy's own (use_sim_time, ...)
            reason = spec.validate(p.value)
            if reason:
                return SetParametersResult(successful=False, reason=reason)
            changed[p.name] = p.value
        if on_change and changed:
            try:
                on_change(changed)
            except ValueError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _after_set(params):
        changed = {p.name: p.value for p in params if p.name in by_name}
        if not changed:
            return
        values.update(changed)
        if on_applied:
            try:
                on_applied(changed)
            except Exception as exc:  # the value is set; a failed side effect is logged
                node.get_logger().error(f'applying {changed} failed: {exc!r}')

    node.add_on_set_parameters_callback(_on_set)
    node.add_post_set_parameters_callback(_after_set)
    return values


def params_markdown(node_name, specs, owned=None, owner='configurator'):
    """Markdown table of `specs`; parameters in `owned` (name -> the owner's parameter)
    say where to set them instead."""
    owned = owned or {}
    rows = [f'### `{node_name}`', '', '| parameter | default | range | description |',
            '|---|---|---|---|']
    for s in specs:
        description = s.description
        if s.name in owned:
            source = owned[s.name]
            where = (f'`ros2 param set /{owner} {source}`' if source == s.name
                     else f'follows `/{owner}` `{source}`')
            description = f'**owned by {owner}**: {where}. {description}'
        if s.choices:
            rng = ' / '.join(f'`{c}`' for c in s.choices)
        elif s.min is not None or s.max is not None:
            rng = f'[{s.min}, {s.max}]'
        else:
            rng = ''
        rows.append(f'| `{s.name}` | `{s.default!r}` | {rng} | {description} |')
    return '\n'.join(rows) + '\n'
