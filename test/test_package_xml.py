"""Packaging: package.xml keys resolve and declare every import; the lock covers the loose
requirements; the colcon workspace layout the README documents finds both packages.

The rosdep and colcon checks need ../shared/ros2-toolchain (rosdep data, colcon): without it
they skip, unless JEPA_REQUIRE_ROS_TOOLS=1 (.ci/run sets it), where they fail instead.
"""
import ast
import importlib.metadata as md
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from packaging.requirements import Requirement

from support import REPO
TOOLCHAIN = os.environ.get('JEPA_ROS_TOOLCHAIN') or os.path.join(REPO, '..', 'shared',
                                                                  'ros2-toolchain')
REQUIRE_TOOLS = os.environ.get('JEPA_REQUIRE_ROS_TOOLS') == '1'
PACKAGE_XMLS = ('package.xml', os.path.join('jepa_ros_interfaces', 'package.xml'))
README_BUILD = 'colcon build --base-paths src/jepa_ros src/jepa_ros/jepa_ros_interfaces'

# Every third-party top-level module the code imports -> (package.xml key, requirements.txt
# name or None where it does not come from pip: built from this repository, or part of the
# ROS install / ../shared/ros2-toolchain).
IMPORTS = {
    'rclpy': ('rclpy', 'ros-rclpy'),
    'ament_index_python': ('ament_index_python', 'ros-ament-index-python'),
    'rcl_interfaces': ('rcl_interfaces', 'ros-rcl-interfaces'),
    'builtin_interfaces': ('builtin_interfaces', 'ros-builtin-interfaces'),
    'std_msgs': ('std_msgs', 'ros-std-msgs'),
    'std_srvs': ('std_srvs', 'ros-std-srvs'),
    'sensor_msgs': ('sensor_msgs', 'ros-sensor-msgs'),
    'geometry_msgs': ('geometry_msgs', 'ros-geometry-msgs'),
    'nav_msgs': ('nav_msgs', 'ros-nav-msgs'),
    'diagnostic_msgs': ('diagnostic_msgs', 'ros-diagnostic-msgs'),
    'lifecycle_msgs': ('lifecycle_msgs', 'ros-lifecycle-msgs'),
    'rosgraph_msgs': ('rosgraph_msgs', 'ros-rosgraph-msgs'),
    'action_msgs': ('action_msgs', 'ros-action-msgs'),
    'jepa_ros_interfaces': ('jepa_ros_interfaces', None),
    'launch': ('launch', None),
    'launch_ros': ('launch_ros', None),
    'launch_testing': ('launch_testing', None),
    'launch_testing_ros': ('launch_testing_ros', None),
    'launch_pytest': ('launch_pytest', None),
    'numpy': ('python3-numpy', 'numpy'),
    'yaml': ('python3-yaml', 'pyyaml'),
    'cv2': ('python3-opencv', 'opencv-python-headless'),
    'tqdm': ('python3-tqdm', 'tqdm'),
    'torch': ('python3-torch', 'torch'),
    'matplotlib': ('python3-matplotlib', 'matplotlib'),
    'PIL': ('python3-pil', 'pillow'),
    'pybullet': ('python3-pybullet-pip', 'pybullet'),
    'pybullet_data': ('python3-pybullet-pip', 'pybullet'),
    'gymnasium': ('python3-gymnasium-pip', 'gymnasium'),
    'rosbags': ('python3-rosbags-pip', 'rosbags'),
    'mcap': ('mcap-ros2-support', 'mcap'),  # the pip rule that brings the mcap module
    'pytest': ('python3-pytest', 'pytest'),
    'hypothesis': ('python3-hypothesis', 'hypothesis'),
    'packaging': ('python3-packaging', 'packaging'),
    'onnxruntime': ('python3-onnxruntime-pip', 'onnxruntime'),
}
# Modules with no rosdep key that only some machines need, so package.xml cannot declare
# them: imported inside the function that needs them (never at module level, checked
# below), so the nodes run without them. -> why.
OPTIONAL_IMPORTS = {
    'onnx': 'torch.onnx.export needs it: only `jepa-ros export` (core/export.py) imports it, '
            'on the machine that exports (in requirements.txt)',
    'onnxscript': 'as onnx',
    'tensorrt': 'backend tensorrt (core/backends.py): ships with JetPack / NVIDIA wheels',
}
# Declared keys that no import names, with the reason they are needed.
USED_WITHOUT_IMPORT = {
    'python3-pytest-timeout': 'setup.cfg [tool:pytest] timeout',
}
# Where the code lives -> the dependency tags that cover an import there.
SOURCES = {
    'jepa_ros': ('exec_depend', 'depend'),
    'launch': ('exec_depend', 'depend'),
    'test': ('test_depend', 'exec_depend', 'depend'),
}


def canonical(name):
    return re.sub(r'[-_.]+', '-', name).lower()


def declared(px='package.xml'):
    """{tag: set of keys} of a package.xml."""
    out = {}
    for el in ET.parse(os.path.join(REPO, px)).getroot():
        if el.tag.endswith('depend'):
            out.setdefault(el.tag, set()).add((el.text or '').strip())
    return out


def third_party_imports():
    """{top-level module: set of (source folder, file)} for every absolute import."""
    found = {}
    for top in SOURCES:
        base = os.path.join(REPO, top)
        local = {'jepa_ros'} | {f[:-3] for f in os.listdir(base) if f.endswith('.py')}
        for dirpath, _dirs, files in os.walk(base):
            for f in files:
                if not f.endswith('.py'):
                    continue
                path = os.path.join(dirpath, f)
                with open(path, encoding='utf-8') as fh:
                    tree = ast.parse(fh.read(), path)
                for node in ast.walk(tree):
                    if isinstance(node, ast.Import):
                        names = [a.name for a in node.names]
                    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                        names = [node.module]
                    else:
                        continue
                    for name in names:
                        root = name.split('.')[0]
                        if root in sys.stdlib_module_names or root in local:
                            continue
                        found.setdefault(root, set()).add((top, os.path.relpath(path, REPO)))
    return found


def requirement_names():
    names = set()
    with open(os.path.join(REPO, 'requirements.txt')) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line:
                names.add(canonical(Requirement(line).name))
    return names


def read_lock():
    pins = {}
    with open(os.path.join(REPO, 'requirements.lock')) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            m = re.fullmatch(r'([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)', line)
            assert m, f'requirements.lock:{n}: not `name==version`: {line!r}'
            pins[canonical(m.group(1))] = m.group(2)
    return pins


def need_tool(what):
    msg = (f'{what} not found: the ROS 2 toolchain is missing (expected {TOOLCHAIN}; '
           'see its README, or set JEPA_ROS_TOOLCHAIN)')
    if REQUIRE_TOOLS:
        pytest.fail(msg + ' and JEPA_REQUIRE_ROS_TOOLS=1')
    pytest.skip(msg)


def test_optional_imports_are_lazy():
    """OPTIONAL_IMPORTS are imported inside functions only: importing any module of the
    package must not need them."""
    def eager_imports(node):
        """Imports that run when the module is imported (function bodies excluded)."""
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.Import):
                yield from (a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                yield child.module
            yield from eager_imports(child)

    found = []
    for dirpath, _dirs, files in os.walk(os.path.join(REPO, 'jepa_ros')):
        for f in (f for f in files if f.endswith('.py')):
            path = os.path.join(dirpath, f)
            with open(path, encoding='utf-8') as fh:
                tree = ast.parse(fh.read(), path)
            found += [(n, os.path.relpath(path, REPO)) for n in eager_imports(tree)
                      if n.split('.')[0] in OPTIONAL_IMPORTS]
    assert not found, f'optional modules imported at module level: {found}'


def test_every_third_party_import_is_declared():
    deps = declared()
    imports = {m: w for m, w in third_party_imports().items() if m not in OPTIONAL_IMPORTS}
    unknown = {m: sorted(w)[:3] for m, w in imports.items() if m not in IMPORTS}
    assert not unknown, ('imports with no package.xml key in this test\'s IMPORTS table '
                         f'(declare them in package.xml and add them here): {unknown}')
    missing = []
    for module, where in sorted(imports.items()):
        key = IMPORTS[module][0]
        for top, path in sorted(where):
            if not any(key in deps.get(tag, ()) for tag in SOURCES[top]):
                missing.append(f'{module} (imported by {path}) needs '
                               f'<{SOURCES[top][0]}>{key}</{SOURCES[top][0]}>')
                break
    assert not missing, '\n'.join(missing)


def test_no_stale_declarations():
    """Every declared key is needed: an import maps to it, or it is listed with a reason."""
    used = {IMPORTS[m][0] for m in third_party_imports() if m not in OPTIONAL_IMPORTS} \
        | set(USED_WITHOUT_IMPORT)
    deps = declared()
    stale = sorted(k for tag in ('exec_depend', 'test_depend', 'depend')
                   for k in deps.get(tag, ()) if k not in used)
    assert not stale, f'package.xml declares keys nothing imports: {stale}'


def test_every_pip_import_is_a_direct_requirement():
    """make setup gets each imported distribution on purpose, not as someone's dependency."""
    reqs = requirement_names()
    missing = sorted({IMPORTS[m][1] for m in third_party_imports()
                      if m not in OPTIONAL_IMPORTS and IMPORTS[m][1]
                      and canonical(IMPORTS[m][1]) not in reqs})
    assert not missing, f'imported but not in requirements.txt: {missing}'


def test_lock_pins_every_requirement_within_its_range():
    pins = read_lock()
    assert pins.get('torch') == '2.13.0'
    with open(os.path.join(REPO, 'requirements.txt')) as f:
        reqs = [Requirement(line.split('#', 1)[0].strip()) for line in f
                if line.split('#', 1)[0].strip()]
    problems = []
    for r in reqs:
        v = pins.get(canonical(r.name))
        if v is None:
            problems.append(f'{r.name}: not in requirements.lock')
        elif not r.specifier.contains(v, prereleases=True):
            problems.append(f'{r.name}: lock has {v}, requirements.txt wants {r.specifier}')
    assert not problems, 'stale lock, run `make lock`: ' + '; '.join(problems)


def test_setup_venv_matches_the_lock():
    """In a venv built by `make setup`, every locked distribution has its locked version."""
    if not os.path.exists(os.path.join(sys.prefix, '.setup-done')):
        pytest.skip(f'{sys.prefix} was not built by make setup')
    wrong = []
    for name, want in sorted(read_lock().items()):
        try:
            have = md.version(name).split('+', 1)[0]
        except md.PackageNotFoundError:
            have = None
        if have != want:
            wrong.append(f'{name} {have} (lock {want})')
    assert not wrong, 'run `make setup`: ' + ', '.join(wrong)


def test_rosdep_keys_resolve():
    script = os.path.join(TOOLCHAIN, 'rosdep', 'check_keys.py')
    if not os.path.isfile(script):
        need_tool('rosdep/check_keys.py')
    out = subprocess.run([sys.executable, script, *PACKAGE_XMLS], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert ', 0 do not resolve' in out.stdout, out.stdout


def colcon_list(ws, *args):
    colcon = shutil.which('colcon', path=os.path.join(sys.prefix, 'bin')) or shutil.which('colcon')
    if colcon is None:
        need_tool('colcon')
    out = subprocess.run([colcon, '--log-base', os.devnull, 'list', '--names-only', *args],
                         cwd=str(ws), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return sorted(out.stdout.split())


def test_readme_build_command_finds_both_packages(tmp_path):
    """A plain `colcon build` stops at the repository root (itself a package) and never sees
    jepa_ros_interfaces inside it; the README's command names both base paths."""
    with open(os.path.join(REPO, 'README.md')) as f:
        builds = [ln.strip() for ln in f if ln.strip().startswith('colcon build')]
    assert builds, 'README.md shows no colcon build command'
    for line in builds:
        assert README_BUILD in line, f'README build command without both base paths: {line}'
    (tmp_path / 'src').mkdir()
    os.symlink(REPO, str(tmp_path / 'src' / 'jepa_ros'))
    assert colcon_list(tmp_path) == ['jepa_ros']
    base_paths = README_BUILD.split('--base-paths', 1)[1].split()
    assert colcon_list(tmp_path, '--base-paths', *base_paths) == \
        ['jepa_ros', 'jepa_ros_interfaces']
