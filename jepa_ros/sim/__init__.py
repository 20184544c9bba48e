"""Simulated worlds as gymnasium envs; importing this registers them.

`make_env('two_rooms' | 'reach' | 'rooms', **kwargs)` is the one way the rest of jepa_ros
builds a world (the data collector, the sim_bridge node, planning evaluation). `stepper` drives a
world under physical velocity commands with a watchdog, as a robot driver would.

May import: jepa_ros.core, pybullet, gymnasium, numpy; never rclpy, jepa_ros.nodes or
jepa_ros.tools.
"""
import gymnasium as gym

WORLDS = {
    'two_rooms': ('jepa_ros/TwoRooms-v0', 'jepa_ros.sim.two_rooms:TwoRoomsEnv'),
    'reach': ('jepa_ros/Reach-v0', 'jepa_ros.sim.reach:ReachEnv'),
    'rooms': ('jepa_ros/Rooms-v0', 'jepa_ros.sim.rooms:RoomsEnv'),
}

for _env_id, _entry in WORLDS.values():
    if _env_id not in gym.registry:
        gym.register(id=_env_id, entry_point=_entry)


def make_env(world, **kwargs):
    """The bare env (no gymnasium wrappers), so world-specific methods stay reachable."""
    if world not in WORLDS:
        raise ValueError(f'unknown world {world!r}; choose one of {sorted(WORLDS)}')
    return gym.make(WORLDS[world][0], disable_env_checker=True, **kwargs).unwrapped
