"""The action modes of jepa_ros: the one definition of what a normalised action means.

An action mode says which fields of a velocity command the normalised action vector
drives (in action order), hence the action dimension, and which ROS message carries the
command. Everything that names a mode uses this module: the simulated worlds (their
`data_meta`), recorded episodes (MCAP metadata `action_mode`), world model checkpoints
(`config.action_mode`), the actor (what it publishes on cmd_vel) and sim_bridge (what it
subscribes). Pure Python: no ROS, no torch.

Canonical names and the legacy names still accepted when reading (older checkpoints and
recordings wrote them):

    holonomic   [vx, vy]      -> Twist linear.x, linear.y
    diff_drive  [v, w]        -> Twist linear.x, angular.z         (legacy: differential)
    reach       [vx, vy, vz]  -> TwistStamped linear.x, .y, .z      (legacy: ee_velocity)
"""
from dataclasses import dataclass

TWIST = 'geometry_msgs/msg/Twist'
TWIST_STAMPED = 'geometry_msgs/msg/TwistStamped'

# The 6 command components in the order of a command vector (jepa_ros.core.command).
COMMAND_FIELDS = ('linear.x', 'linear.y', 'linear.z', 'angular.x', 'angular.y', 'angular.z')


@dataclass(frozen=True)
class ActionMode:
    name: str             # canonical name, written into new checkpoints and recordings
    aliases: tuple        # older names that read as this mode
    fields: tuple         # command fields driven by the action, in action order
    cmd_msgtype: str      # ROS type of the velocity command (TWIST or TWIST_STAMPED)
    description: str

    @property
    def action_dim(self):
        return len(self.fields)

    @property
    def stamped(self):
        """True when commands carry a header (TwistStamped)."""
        return self.cmd_msgtype == TWIST_STAMPED

    @property
    def field_indices(self):
        """Positions of `fields` in a 6-component command vector."""
        return tuple(COMMAND_FIELDS.index(f) for f in self.fields)


HOLONOMIC = ActionMode(
    'holonomic', (), ('linear.x', 'linear.y'), TWIST,
    'planar base that moves in x and y without turning')
DIFF_DRIVE = ActionMode(
    'diff_drive', ('differential',), ('linear.x', 'angular.z'), TWIST,
    'differential-drive base: forward speed and turn rate')
REACH = ActionMode(
    'reach', ('ee_velocity',), ('linear.x', 'linear.y', 'linear.z'), TWIST_STAMPED,
    'arm end-effector velocity in x, y and z')

MODES = {m.name: m for m in (HOLONOMIC, DIFF_DRIVE, REACH)}
ACTION_MODES = tuple(MODES)   # canonical names
_BY_NAME = {n: m for m in MODES.values() for n in (m.name,) + m.aliases}

# The modes each simulated world can run (the first is its default).
WORLD_MODES = {'two_rooms': ('holonomic', 'diff_drive'), 'reach': ('reach',),
               'rooms': ('holonomic', 'diff_drive')}


def known_names():
    """Every accepted name, canonical first, then the legacy aliases."""
    return ACTION_MODES + tuple(a for m in MODES.values() for a in m.aliases)


def get(name):
    """The ActionMode called `name` (canonical or legacy); ValueError otherwise."""
    mode = _BY_NAME.get(name) if isinstance(name, str) else None
    if mode is None:
        aliases = ', '.join(f'{a} (= {m.name})' for m in MODES.values() for a in m.aliases)
        raise ValueError(f'unknown action mode {name!r}; one of {ACTION_MODES} '
                         f'(older names accepted: {aliases})')
    return mode


def canonical(name):
    """The canonical name of `name` ('ee_velocity' -> 'reach'); ValueError if unknown."""
    return get(name).name


def for_world(world, mode=None):
    """The ActionMode a world runs: `mode` (any accepted name) or the world's default.

    ValueError for an unknown world or a mode the world cannot run."""
    if world not in WORLD_MODES:
        raise ValueError(f'unknown world {world!r}; one of {tuple(WORLD_MODES)}')
    allowed = WORLD_MODES[world]
    m = get(allowed[0] if mode is None else mode)
    if m.name not in allowed:
        raise ValueError(f'world {world!r} runs action mode(s) {allowed}, not {mode!r}')
    return m


def from_fields(fields):
    """The ActionMode driving exactly these command fields in this order, or None."""
    fields = tuple(str(f) for f in fields)
    return next((m for m in MODES.values() if m.fields == fields), None)
