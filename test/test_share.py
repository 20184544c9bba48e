"""jepa_ros.share: data files are found in a checkout and in an installed layout.

The installed layout is faked the way colcon (no --symlink-install) lays it out: the python
package in PREFIX/lib/python3.X/site-packages/jepa_ros, the data files in
PREFIX/share/jepa_ros, the ament index marker in PREFIX/share/ament_index/..., and
AMENT_PREFIX_PATH=PREFIX as `source install/setup.bash` sets it.
"""
import os
import shutil
import subprocess
import sys

import pytest

from jepa_ros import share
from jepa_ros.core.checkpoint import git_commit

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fake_install(prefix, files=('package.xml', 'sim/two_rooms.yaml', 'config/stack.yaml',
                                'models/two_rooms_world_model.pt'), index=True):
    """PREFIX with an (empty) python package folder and data files copied from the checkout;
    returns the package folder."""
    pkg = os.path.join(prefix, 'lib', 'python3', 'site-packages', 'jepa_ros')
    os.makedirs(pkg)
    for rel in files:
        dst = os.path.join(prefix, 'share', 'jepa_ros', rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(os.path.join(REPO, rel), dst)
    if index:
        marker = os.path.join(prefix, 'share', 'ament_index', 'resource_index', 'packages')
        os.makedirs(marker)
        open(os.path.join(marker, 'jepa_ros'), 'w').close()
    return pkg


@pytest.fixture
def no_prefix_share(monkeypatch, tmp_path):
    """sys.prefix without share/jepa_ros, so only the lookups under test can succeed."""
    empty = tmp_path / 'empty_sys_prefix'
    empty.mkdir()
    monkeypatch.setattr(sys, 'prefix', str(empty))
    return empty


def test_checkout_is_the_repo_root():
    assert share.source_root() == REPO
    assert share.share_dir() == REPO
    assert share.share_path('sim', 'two_rooms.yaml') == os.path.join(REPO, 'sim', 'two_rooms.yaml')
    assert share.share_path('config', 'stack.yaml') == os.path.join(REPO, 'config', 'stack.yaml')


def test_checkout_needs_package_xml_and_config(tmp_path):
    pkg = tmp_path / 'jepa_ros'
    pkg.mkdir()
    (tmp_path / 'package.xml').write_text('<package/>')
    assert share.source_root(str(pkg)) is None  # no config/: a site-packages with a stray file
    (tmp_path / 'config').mkdir()
    assert share.source_root(str(pkg)) == str(tmp_path)


def test_installed_layout_uses_the_ament_index(tmp_path, monkeypatch, no_prefix_share):
    prefix = tmp_path / 'install'
    pkg = fake_install(str(prefix))
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(prefix))
    want = os.path.join(str(prefix), 'share', 'jepa_ros')
    assert share.source_root(pkg) is None
    assert share.share_dir(package_dir=pkg) == want
    assert share.share_path('sim', 'two_rooms.yaml', package_dir=pkg) == \
        os.path.join(want, 'sim', 'two_rooms.yaml')


def test_checkpoint_parameter_resolves_against_the_share_dir(tmp_path, monkeypatch,
                                                             no_prefix_share):
    prefix = tmp_path / 'install'
    pkg = fake_install(str(prefix))
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(prefix))
    elsewhere = tmp_path / 'cwd'
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    rel = 'models/two_rooms_world_model.pt'
    assert share.resolve_data_path(rel, package_dir=pkg) == \
        os.path.join(str(prefix), 'share', 'jepa_ros', rel)
    # A file of that name in the working directory wins (the user's own checkpoint).
    (elsewhere / 'models').mkdir()
    (elsewhere / rel).write_bytes(b'x')
    assert share.resolve_data_path(rel, package_dir=pkg) == rel
    # Absolute paths and paths found nowhere come back as given (the loader names them).
    absolute = str(tmp_path / 'nowhere.pt')
    assert share.resolve_data_path(absolute, package_dir=pkg) == absolute
    assert share.resolve_data_path('models/missing.pt', package_dir=pkg) == 'models/missing.pt'
    assert share.resolve_data_path('', package_dir=pkg) == ''


def test_home_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv('HOME', str(tmp_path))
    assert share.resolve_data_path('~/ckpt.pt') == os.path.join(str(tmp_path), 'ckpt.pt')


def test_sys_prefix_share_when_there_is_no_ament_index(tmp_path, monkeypatch):
    prefix = tmp_path / 'venv'
    pkg = fake_install(str(prefix), index=False)
    monkeypatch.delenv('AMENT_PREFIX_PATH', raising=False)
    monkeypatch.setattr(sys, 'prefix', str(prefix))
    assert share.share_dir(package_dir=pkg) == os.path.join(str(prefix), 'share', 'jepa_ros')


def test_missing_file_names_every_place_looked(tmp_path, monkeypatch, no_prefix_share):
    prefix = tmp_path / 'install'
    pkg = fake_install(str(prefix))
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(prefix))
    with pytest.raises(FileNotFoundError) as err:
        share.share_path('sim', 'no_such_world.yaml', package_dir=pkg)
    msg = str(err.value)
    assert 'no_such_world.yaml' in msg
    assert os.path.join(str(prefix), 'share', 'jepa_ros', 'sim', 'no_such_world.yaml') in msg
    assert 'source checkout' in msg and str(no_prefix_share) in msg


def test_no_share_anywhere_is_a_clear_error(tmp_path, monkeypatch, no_prefix_share):
    pkg = tmp_path / 'site-packages' / 'jepa_ros'
    pkg.mkdir(parents=True)
    other = tmp_path / 'other_prefix'
    other.mkdir()
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(other))
    with pytest.raises(FileNotFoundError) as err:
        share.share_dir(package_dir=str(pkg))
    msg = str(err.value)
    assert f'AMENT_PREFIX_PATH={other}' in msg
    assert 'install/setup.bash' in msg


def test_installed_package_loads_its_sim_assets_and_stack(tmp_path):
    """The regression of issue 11 item 1: the python package copied out of the checkout
    (as a colcon install without --symlink-install does) finds sim/ and config/ through
    the ament index, in a fresh interpreter started from an unrelated directory."""
    prefix = tmp_path / 'install'
    site = prefix / 'lib' / 'python3' / 'site-packages'
    shutil.copytree(os.path.join(REPO, 'jepa_ros'), str(site / 'jepa_ros'),
                    ignore=shutil.ignore_patterns('__pycache__'))
    data = prefix / 'share' / 'jepa_ros'
    shutil.copytree(os.path.join(REPO, 'sim'), str(data / 'sim'))
    shutil.copytree(os.path.join(REPO, 'config'), str(data / 'config'))
    shutil.copyfile(os.path.join(REPO, 'package.xml'), str(data / 'package.xml'))
    marker = prefix / 'share' / 'ament_index' / 'resource_index' / 'packages'
    marker.mkdir(parents=True)
    (marker / 'jepa_ros').write_text('')
    env = dict(os.environ, AMENT_PREFIX_PATH=f'{prefix}{os.pathsep}{sys.prefix}',
               PYTHONPATH=str(site))
    code = ('import jepa_ros.share as s, jepa_ros.sim.layout as l, jepa_ros.nodes.graph as g; '
            'print(s.__file__); print(l.asset_path("two_rooms.yaml")); '
            'print(l.asset_path("reach.yaml")); print(g.STACK_FILE); '
            'print(len(g.load_stack()["nodes"])); l.TwoRoomsLayout()')
    out = subprocess.run([sys.executable, '-c', code], cwd=str(tmp_path), env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split()
    want = str(prefix / 'share' / 'jepa_ros')
    assert lines[0].startswith(str(site)), lines  # the copy, not the checkout, was imported
    assert lines[1] == os.path.join(want, 'sim', 'two_rooms.yaml')
    assert lines[2] == os.path.join(want, 'sim', 'reach.yaml')
    assert lines[3] == os.path.join(want, 'config', 'stack.yaml')
    assert int(lines[4]) >= 5


def test_git_commit_in_the_checkout_and_not_in_an_install(tmp_path):
    if shutil.which('git') is None or not os.path.isdir(os.path.join(REPO, '.git')):
        pytest.skip('not a git checkout (an exported tree): nothing to compare with')
    head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO, capture_output=True,
                          text=True).stdout.strip()
    assert git_commit().split('-')[0] == head
    assert git_commit(str(tmp_path)) == 'unknown'  # a folder outside any repository
