"""One source of truth for planner/cost settings: the declarations in core.

Node parameters, CLI flags and config/*.yaml are derived from or checked against the
declarations of jepa_ros.core.planners (PLANNERS, SHARED_PARAMS) and jepa_ros.core.cost
(COST_TERMS, IntrinsicCost.PARAMS).
"""
import argparse

import pytest
import support
import torch
import yaml

from jepa_ros.core.cost import COST_TERMS, IntrinsicCost
from jepa_ros.core.params import Param
from jepa_ros.core.planners import (
    PLANNERS,
    Planner,
    build_planning,
    planner_kwargs,
    planning_params,
    register_planner,
)
from jepa_ros.share import share_path


def tiny_model():
    return support.tiny_world_model(seed=0, scatter=True, latent_dim=8,
                                    action_scale=[0.6, 0.6]).requires_grad_(False)


class DuplicateKeyLoader(yaml.SafeLoader):
    """yaml.safe_load keeps the last of two equal keys silently; this loader refuses."""


def _mapping_without_duplicates(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ValueError(f'duplicate key {key!r} (line {key_node.start_mark.line + 1})')
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


DuplicateKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                   _mapping_without_duplicates)


def load_strict(path):
    with open(path) as f:
        return yaml.load(f, Loader=DuplicateKeyLoader)


def test_the_strict_loader_finds_duplicate_keys():
    with pytest.raises(ValueError, match="duplicate key 'gd.lr'"):
        yaml.load('a:\n  gd.lr: 0.2\n  gd.lr: 0.3\n', Loader=DuplicateKeyLoader)


@pytest.mark.parametrize('node', ['world_model', 'configurator'])
def test_config_file_has_no_duplicates_and_agrees_with_the_declarations(node):
    """Every planner/cost value in config/<node>.yaml is its declared default (the
    declarations are the shipped behaviour; the file only spells it out)."""
    import importlib
    values = load_strict(share_path('config', f'{node}.yaml'))[node]['ros__parameters']
    declared = {p.name: p.default for p in planning_params()}
    node_params = {p.name: p.default for p in
                   importlib.import_module(f'jepa_ros.nodes.{node}').PARAMS}
    checked = 0
    for name, value in values.items():
        assert name in node_params, f'{node}.yaml: {name} is not a parameter'
        assert value == node_params[name], f'{node}.yaml: {name}={value!r} but the node ' \
            f'declares {node_params[name]!r}'
        if name in declared:
            assert value == declared[name], f'{node}.yaml: {name}={value!r}, declared ' \
                f'{declared[name]!r}'
            checked += 1
    assert checked >= 6   # planner, horizon and the cost weights at least


def test_stack_overrides_only_set_declared_settings():
    import importlib
    stack = load_strict(share_path('config', 'stack.yaml'))   # no duplicate keys
    for node in ('world_model', 'configurator'):
        specs = {p.name: p for p in importlib.import_module(f'jepa_ros.nodes.{node}').PARAMS}
        for world, overrides in stack['worlds'].items():
            for name, value in overrides.get(node, {}).items():
                assert name in specs, (world, node, name)
                assert specs[name].validate(value) is None, (world, node, name, value)


def test_node_parameters_are_derived_from_the_registries():
    from jepa_ros.nodes import configurator, ownership, world_model
    names = {p.name for p in world_model.PARAMS}
    for cls in PLANNERS.values():
        for p in cls.PARAMS:
            assert f'{cls.name}.{p.name}' in names
    for term in COST_TERMS:
        assert f'cost.{term}.weight' in names
    assert 'cost.terms' in names
    owned = ownership.OWNED_KEYS['world_model']
    assert {f'cost.{t}.weight' for t in COST_TERMS} <= set(owned)
    wm = {p.name: p.default for p in world_model.PARAMS}
    cf = {p.name: p.default for p in configurator.PARAMS}
    for key in owned:   # owner and owned node start from the same value
        if key in cf:
            assert cf[key] == wm[key], key


def test_build_planning_from_flat_values():
    model = tiny_model()
    defaults = {p.name: p.default for p in planning_params()}
    planner, cost = build_planning(defaults, model)
    assert planner.name == 'gd' and planner.horizon == 12
    assert (planner.iterations, planner.num_inits, planner.lr) == (1, 4, 0.2)
    assert cost.active() == {'goal': 1.0} and cost.ctx.terminal_weight == 4.0
    planner, _ = build_planning({**defaults, 'planner': 'cem', 'samples': 8}, model)
    assert planner.elites == 8          # the declared 24 elites, capped by the samples
    planner, _ = build_planning({**defaults, 'planner': 'hierarchical', 'horizon': 12,
                                 'gd.num_inits': 2}, model)
    assert (planner.k, planner.coarse_horizon) == (4, 4)
    assert planner.lower.num_inits == 2   # level 1 takes its planner's settings
    with pytest.raises(ValueError, match='mppi.temperature'):
        planner_kwargs({**defaults, 'planner': 'mppi', 'mppi.temperature': -1.0})
    with pytest.raises(ValueError, match='unknown planner'):
        planner_kwargs({'planner': 'nope'})


def test_a_new_planner_is_one_class_and_its_registration():
    from jepa_ros.nodes import world_model

    @register_planner
    class ZeroPlanner(Planner):
        """Always the mid action (a test planner)."""
        name = 'test_zero'
        PARAMS = (Param('level', 0.0, 'the action', min=-1.0, max=1.0),)

        def __init__(self, model, level=0.0, **kw):
            super().__init__(model, **kw)
            self.level = level

        def _solve(self, states, goals, cost, warm, deadline):
            p = states.shape[0]
            acts = torch.full((p, self.horizon, self.action_dim), self.level)
            lat = self.rollout(states, acts)
            return acts, lat, cost(lat, acts, goals), {'iterations': 1}

    try:
        names = {p.name: p for p in planning_params()}
        assert names['test_zero.level'].default == 0.0
        assert 'test_zero' in names['planner'].choices
        assert 'test_zero.level' in {s.name for s in world_model.planning_param_specs()}
        planner, cost = build_planning({'planner': 'test_zero', 'test_zero.level': 0.5,
                                        'horizon': 3}, tiny_model())
        res = planner.plan(torch.zeros(planner.model.config.latent_dim),
                           torch.zeros(planner.model.config.latent_dim), cost)
        assert torch.all(res.actions == 0.5)
    finally:
        PLANNERS.pop('test_zero')


def test_cli_flags_follow_the_declarations():
    from jepa_ros.tools import eval_planning, train_actor
    for tool in (eval_planning, train_actor):
        parser = argparse.ArgumentParser()
        tool.add_arguments(parser)
        flags = {a for action in parser._actions for a in action.option_strings}
        assert '--mppi.temperature' in flags and '--cost.action_smoothness.weight' in flags
    parser = argparse.ArgumentParser()
    eval_planning.add_arguments(parser)
    args = parser.parse_args(['--ckpt', 'x', '--planner', 'mppi', '--mppi.temperature',
                              '0.1', '--samples', '64'])
    values = eval_planning.planning_values(args, critic=False)
    assert values['mppi.temperature'] == 0.1 and values['samples'] == 64
    assert values['cost.terminal_weight'] == 4.0 and values['cost.critic.weight'] == 0.0


def test_breakdown_parts_sum_to_the_plan_cost():
    model = tiny_model()
    planner, cost = build_planning({'planner': 'gd', 'cost.action_magnitude.weight': 0.3},
                                   model)
    d = model.config.latent_dim
    res = planner.plan(torch.zeros(d), torch.ones(d), cost)
    parts = cost.plan_breakdown(res.latents, res.actions, torch.ones(d))
    assert set(parts) == {'goal', 'action_magnitude'}
    assert sum(parts.values()) == pytest.approx(res.info['cost'], rel=1e-4)
    assert IntrinsicCost({'critic': (1.0, False)}).plan_breakdown(
        res.latents, res.actions, torch.ones(d)).keys() == {'goal'}
