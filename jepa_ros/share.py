"""Where the package's data files are: config/, sim/, models/, launch/, package.xml.

One lookup for every data file, so that the same code works from a git checkout, from a
colcon install (with or without --symlink-install) and from a plain pip install:

1. a source checkout: the folder above the `jepa_ros` python package, when it holds
   package.xml and config/ (`pip install -e .`, `python -m ...` from the repo, the tests);
2. the package's share directory from the ament index
   (`ament_index_python.get_package_share_directory('jepa_ros')`, i.e. `install/share/jepa_ros`
   of a colcon workspace once its setup.bash is sourced);
3. `sys.prefix/share/jepa_ros` (a non-editable pip install puts setup.py's data_files there).

No rclpy here: core/, sim/ and data/ use this module too.

    share_path('sim', 'two_rooms.yaml')       # -> existing absolute path, or FileNotFoundError
    resolve_data_path('models/two_rooms_world_model.pt')  # user-given, relative to the share
"""
import os
import sys

PACKAGE = 'jepa_ros'
# The python package folder (realpath: a symlink install points back into the checkout).
_PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__))


def source_root(package_dir=None):
    """The checkout's root when the jepa_ros python package runs from a source tree, else None.

    A checkout is recognised by package.xml and config/ next to the python package folder;
    an installed package sits in site-packages, which has neither.
    """
    root = os.path.dirname(package_dir or _PACKAGE_DIR)
    if (os.path.isfile(os.path.join(root, 'package.xml'))
            and os.path.isdir(os.path.join(root, 'config'))):
        return root
    return None


def _ament_share():
    """(share dir or None, how it was looked up) from the ament index."""
    try:
        from ament_index_python.packages import (PackageNotFoundError,
                                                 get_package_share_directory)
    except ImportError:
        return None, 'ament index (ament_index_python not importable)'
    try:
        return get_package_share_directory(PACKAGE), 'ament index'
    except (PackageNotFoundError, LookupError, ValueError, OSError) as exc:
        # LookupError/ValueError: no or an empty AMENT_PREFIX_PATH; OSError: unreadable.
        prefixes = os.environ.get('AMENT_PREFIX_PATH') or '<unset>'
        return None, f'ament index, AMENT_PREFIX_PATH={prefixes} ({type(exc).__name__})'


def _candidates(package_dir=None):
    """Every place looked at, in order: [(path or None, description)]."""
    out = []
    root = source_root(package_dir)
    out.append((root, f'source checkout above {package_dir or _PACKAGE_DIR} '
                      '(needs package.xml and config/)'))
    share, how = _ament_share()
    out.append((share, how))
    prefix_share = os.path.join(sys.prefix, 'share', PACKAGE)
    out.append((prefix_share if os.path.isdir(prefix_share) else None, prefix_share))
    return out


def _not_found(what, looked):
    return FileNotFoundError(
        f'jepa_ros {what} not found; looked in: ' + '; '.join(looked)
        + '. Run from a checkout, or source the install/setup.bash of the colcon workspace '
          'that built jepa_ros.')


def share_dir(package_dir=None):
    """Absolute path of the folder that holds config/, sim/, models/, launch/, package.xml.

    `package_dir` (tests only) stands in for the jepa_ros python package folder.
    """
    looked = []
    for path, how in _candidates(package_dir):
        if path:
            return os.path.abspath(path)
        looked.append(how)
    raise _not_found('share directory', looked)


def share_path(*parts, package_dir=None):
    """Absolute path of an existing data file (or folder) under the share directory.

    FileNotFoundError names the file and every place looked at.
    """
    if not parts:
        raise ValueError('share_path needs at least one path component')
    looked = []
    for path, how in _candidates(package_dir):
        if not path:
            looked.append(how)
            continue
        full = os.path.join(os.path.abspath(path), *parts)
        if os.path.exists(full):
            return full
        looked.append(full)
    raise _not_found(repr(os.path.join(*parts)), looked)


def resolve_data_path(path, package_dir=None):
    """A user-given file path (node parameter, CLI argument): `~` expanded; absolute or
    existing relative to the working directory -> as is; else relative to the share
    directory when the file is there (`models/two_rooms_world_model.pt` works from any
    working directory and from an install). A path found nowhere is returned as given, so
    the caller's error names what the user wrote."""
    if not path:
        return path
    path = os.path.expanduser(os.fspath(path))
    if os.path.isabs(path) or os.path.exists(path):
        return path
    try:
        return share_path(path, package_dir=package_dir)
    except FileNotFoundError:
        return path
