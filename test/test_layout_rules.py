"""The package layout as rules a change can break: core, sim and data never import rclpy
(a robot, a notebook or a training job uses them without ROS), node modules do not import
one another, tests do not import other test modules, and each package says what lives in
it and what it may import."""
import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PKG = ROOT / 'jepa_ros'
NODE_MODULES = ['perception', 'world_model', 'actor', 'configurator', 'memory', 'sim_bridge']
ROS_FREE = ['core', 'sim', 'data']


def imported_modules(path):
    """Every module an `import` or `from ... import` in `path` names (also inside
    functions), absolute names only."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
            # `from jepa_ros.nodes import actor` names the module jepa_ros.nodes.actor
            out.update(f'{node.module}.{alias.name}' for alias in node.names)
    return out


def test_the_rules_see_a_violation(tmp_path):
    """The checker itself: a function-level import of rclpy is found."""
    bad = tmp_path / 'bad.py'
    bad.write_text('def f():\n    from rclpy.node import Node\n    return Node\n')
    assert 'rclpy.node' in imported_modules(bad)


@pytest.mark.parametrize('package', ROS_FREE)
def test_ros_free_packages_import_no_ros_and_no_nodes_or_tools(package):
    bad = {}
    for path in sorted((PKG / package).rglob('*.py')):
        names = [m for m in imported_modules(path)
                 if m.split('.')[0] == 'rclpy'
                 or m.startswith(('jepa_ros.nodes', 'jepa_ros.tools'))]
        if names:
            bad[str(path.relative_to(ROOT))] = sorted(names)
    assert not bad, bad


def test_core_does_not_need_a_simulator():
    bad = {str(p.relative_to(ROOT)): sorted(m for m in imported_modules(p)
                                           if m.startswith('jepa_ros.sim') or m == 'pybullet')
           for p in sorted((PKG / 'core').rglob('*.py'))}
    assert not {k: v for k, v in bad.items() if v}, bad


def test_importing_core_sim_and_data_loads_no_rclpy():
    """At run time too (an indirect import would not show in the files above)."""
    modules = sorted('jepa_ros.' + str(p.relative_to(PKG).with_suffix('')).replace('/', '.')
                     for pkg in ROS_FREE for p in (PKG / pkg).rglob('*.py')
                     if p.name != '__init__.py')
    assert 'jepa_ros.sim.stepper' in modules and 'jepa_ros.data.recorder' in modules
    code = ('import importlib, sys\n'
            f'for m in {modules!r}:\n'
            '    importlib.import_module(m)\n'
            'print(sorted(m for m in sys.modules if m.split(".")[0] == "rclpy"))\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == '[]', out.stdout


@pytest.mark.parametrize('node', NODE_MODULES)
def test_a_node_module_imports_no_other_node_module(node):
    others = {f'jepa_ros.nodes.{n}' for n in NODE_MODULES if n != node}
    found = imported_modules(PKG / 'nodes' / f'{node}.py') & others
    assert not found, f'{node} imports {sorted(found)}: move the shared piece to its own module'


def test_tests_do_not_import_test_modules():
    bad = {}
    for path in sorted((ROOT / 'test').glob('*.py')):
        names = [m for m in imported_modules(path) if m.split('.')[0].startswith('test_')]
        if names:
            bad[path.name] = names
    assert not bad, bad


@pytest.mark.parametrize('package', ['core', 'sim', 'data', 'nodes', 'tools'])
def test_each_package_says_what_it_holds_and_may_import(package):
    doc = ast.get_docstring(ast.parse((PKG / package / '__init__.py').read_text()))
    assert doc and len(doc.split()) > 20 and 'May import' in doc, doc
