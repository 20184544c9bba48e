"""`jepa-ros params` covers every node's PARAMS; every config/<node>.yaml matches them."""
import importlib
import os

import yaml

from jepa_ros.nodes.graph import CONFIG_DIR, load_stack, module_available
from jepa_ros.tools import params_doc


def test_reference_lists_every_parameter_of_every_node():
    text = params_doc.reference()
    for spec in load_stack()['nodes']:
        if not module_available(spec['module']):
            continue
        assert f'### `{spec["name"]}`' in text
        for p in importlib.import_module(spec['module']).PARAMS:
            assert f'| `{p.name}` |' in text, (spec['name'], p.name)


def test_config_files_only_set_declared_valid_parameters():
    for spec in load_stack()['nodes']:
        path = os.path.join(CONFIG_DIR, spec.get('params') or '')
        if not spec.get('params') or not os.path.exists(path) \
                or not module_available(spec['module']):
            continue
        with open(path) as f:
            values = yaml.safe_load(f)[spec['name']]['ros__parameters']
        specs = {p.name: p for p in importlib.import_module(spec['module']).PARAMS}
        for name, value in values.items():
            assert name in specs, f'{path}: {name} is not a parameter of {spec["name"]}'
            assert specs[name].validate(value) is None, (path, name, value)


def test_readme_parameter_reference_is_current():
    """README's reference is generated; regenerate with `jepa-ros params --update-readme`."""
    with open(params_doc.README) as f:
        readme = f.read()
    assert params_doc.readme_section(params_doc.reference()) in readme


def test_owned_parameters_are_marked_where_they_are_documented():
    """Every parameter the configurator owns is marked in the reference of its node, names
    the configurator parameter to set instead, and is listed in README's ownership table."""
    from jepa_ros.nodes.configurator import PARAMS as CONFIGURATOR_PARAMS
    from jepa_ros.nodes.ownership import OWNED_KEYS
    text = params_doc.reference()
    sections = {s.split('`', 1)[0]: s for s in text.split('### `')[1:]}
    with open(params_doc.README) as f:
        readme = f.read()
    ownership = readme.split('## Who owns which parameter', 1)[1].split('\n## ', 1)[0]
    configurator = {p.name for p in CONFIGURATOR_PARAMS}
    for role, keys in OWNED_KEYS.items():
        for key, source in keys.items():
            assert source in configurator, (role, key, source)
            row = next(line for line in sections[role].splitlines()
                       if line.startswith(f'| `{key}` |'))
            assert '**owned by configurator**' in row, row
            assert f'`{source}`' in row or f'/configurator {source}`' in row, row
            assert f'`{key}`' in ownership and f'`{source}`' in ownership, (role, key)
    # ... and nothing else is marked.
    marked = sum(line.count('**owned by configurator**') for line in text.splitlines()
                 if line.startswith('| `'))
    assert marked == sum(len(k) for k in OWNED_KEYS.values())
