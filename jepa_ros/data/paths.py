"""Paths taken from requests and parameters, kept inside their root directory."""
import os


class PathEscapeError(ValueError):
    """A path from a request or parameter that would leave its root directory."""


def resolve_inside(root, relpath):
    """Absolute, symlink-resolved `root/relpath`; PathEscapeError if it leaves `root`.

    Absolute paths, `..` components and symlinks pointing outside are all refused, so a
    path taken from a request or parameter can only name something under `root`.
    """
    rel = str(relpath)
    if '\x00' in rel:
        raise PathEscapeError(f'path {relpath!r} contains a NUL byte')
    if os.path.isabs(rel) or rel.startswith('~'):
        raise PathEscapeError(f'path {relpath!r} must be relative to the data directory')
    if any(part == '..' for part in rel.replace('\\', '/').split('/')):
        raise PathEscapeError(f'path {relpath!r} may not contain ..')
    root_real = os.path.realpath(os.path.expanduser(str(root)))
    full = os.path.realpath(os.path.join(root_real, rel))
    if full != root_real and not full.startswith(root_real + os.sep):
        raise PathEscapeError(f'path {relpath!r} resolves to {full}, outside {root_real}')
    return full
