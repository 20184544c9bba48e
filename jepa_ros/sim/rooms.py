"""rooms: a robot in a procedural R x C grid of rooms (one door per shared wall), seen by a
fixed top-down camera.

The same world as two_rooms (PyBullet, a cylinder moved by velocities through the physics,
the same action modes, reward and info) on layouts drawn from a layout seed
(jepa_ros.sim.rooms_layout; numbers in sim/rooms.yaml): a 1x2 grid is two_rooms with the
divider and door moved. The layout is a constructor argument (`layout_seed`) and changes
only when asked: `reset(options={'layout_seed': s})` or `set_layout(s)`; a plain reset keeps
it, so a planner evaluation can replay tasks in one layout.

Image size: by default the arena at sim/rooms.yaml's metres_per_pixel (two_rooms' 0.05 m at
64 px), so a robot is 6 px and a door 10 px wide at any grid size: 1x2 -> 64 px, 3x3 -> 96.
"""
import math

import numpy as np

from jepa_ros.sim.rooms_layout import (RoomsLayout, default_image_size, grid_name,
                                       layout_split, parse_grid)
from jepa_ros.sim.two_rooms import TwoRoomsEnv

RESET_OPTIONS = {'start_state', 'goal_state', 'layout_seed'}


class RoomsEnv(TwoRoomsEnv):
    """two_rooms' dynamics, rendering and API on a RoomsLayout. Doors are always open."""

    def __init__(self, grid='1x2', layout_seed=0, image_size=None, action_mode='holonomic',
                 max_linear_speed=1.5, max_angular_speed=2.0, dt=0.1, substeps=10,
                 success_distance=0.2, push_prob=0.0, push_scale=0.3, max_episode_steps=None,
                 render_mode='rgb_array', config=None):
        self.grid = parse_grid(grid)
        layout = RoomsLayout.generate(self.grid, self._check_seed(layout_seed), config)
        if image_size is None:
            image_size = default_image_size(self.grid, layout.config)
        super().__init__(image_size=image_size, action_mode=action_mode,
                         max_linear_speed=max_linear_speed,
                         max_angular_speed=max_angular_speed, dt=dt, substeps=substeps,
                         success_distance=success_distance, push_prob=push_prob,
                         push_scale=push_scale, door_block_prob=0.0,
                         max_episode_steps=max_episode_steps, render_mode=render_mode,
                         layout=layout)

    @staticmethod
    def _check_seed(seed):
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f'layout_seed must be an integer, got {seed!r}')
        layout_split(seed)   # raises for a seed outside both splits
        return int(seed)

    @property
    def layout_seed(self):
        return self.layout.seed

    # ---- world ---------------------------------------------------------------------------
    def set_layout(self, layout_seed):
        """Rebuild the world on the layout of `layout_seed` (same grid). The robot is put
        at a free position of the new layout; call reset() to start an episode."""
        seed = self._check_seed(layout_seed)
        if seed == self.layout.seed:
            return self.layout
        self.layout = RoomsLayout.generate(self.grid, seed, self.layout.config)
        self._pb.resetSimulation()
        self._build_world()
        self._obs = None
        return self.layout

    def _build_world(self):
        pb, lay, c = self._pb, self.layout, self.layout.config
        colours = c['colours']
        pb.setGravity(0, 0, 0)  # planar world: the robot glides, walls alone constrain it
        pb.setTimeStep(self.dt / self.substeps)
        h, t, wh = lay.half, lay.wall_t, float(c['wall_height']) / 2
        xs, ys = lay.xs, lay.ys
        rows, cols = lay.grid
        floors = colours['floors']
        # Floors are visual only: one colour per grid position (so a 1x2 grid keeps
        # two_rooms' blue and sand), each cell reaching to its wall lines.
        for r, cc in lay.rooms:
            x0, x1, y0, y1 = xs[cc], xs[cc + 1], ys[r], ys[r + 1]
            self._box([(x1 - x0) / 2, (y1 - y0) / 2, 0.005], [(x0 + x1) / 2, (y0 + y1) / 2,
                                                              -0.005],
                      floors[(r * cols + cc) % len(floors)], collide=False)
        o = h + t / 2
        for pos, ext in [([0, o, wh], [h + t, t / 2, wh]), ([0, -o, wh], [h + t, t / 2, wh]),
                         ([o, 0, wh], [t / 2, h + t, wh]), ([-o, 0, wh], [t / 2, h + t, wh])]:
            self._box(ext, pos, colours['wall'])
        for door in lay.doors:
            (r, cc), _ = door.rooms
            # The wall piece of this door's room pair, long enough to overlap the walls it
            # meets (by half a wall at interior junctions), less the door.
            if door.vertical:
                lo, hi = ys[r], ys[r + 1]
            else:
                lo, hi = xs[cc], xs[cc + 1]
            lo = lo - t / 2 if lo > -h else lo
            hi = hi + t / 2 if hi < h else hi
            for a, b in ((lo, door.centre - lay.door_half), (door.centre + lay.door_half, hi)):
                if b - a <= 1e-6:
                    continue
                mid, half_len = (a + b) / 2, (b - a) / 2
                if door.vertical:
                    self._box([t / 2, half_len, wh], [door.line, mid, wh], colours['wall'])
                else:
                    self._box([half_len, t / 2, wh], [mid, door.line, wh], colours['wall'])
        start = lay.room_rects[lay.rooms[0]]
        self._add_robot((start[0] + start[1]) / 2, (start[2] + start[3]) / 2)
        self._add_camera(h + t)   # the arena and its outer walls, as in two_rooms

    def state(self):
        """Current (x, y, yaw) (ground truth; the explorer steers with it)."""
        return self._get_state()

    # ---- gym API -------------------------------------------------------------------------
    def reset(self, *, seed=None, options=None):
        """Options: start_state, goal_state (as two_rooms) and layout_seed (a new layout
        before anything else; without it the layout stays)."""
        super(TwoRoomsEnv, self).reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - RESET_OPTIONS
        if unknown:
            raise ValueError(f'unknown reset options {sorted(unknown)} (rooms takes '
                             f'{sorted(RESET_OPTIONS)})')
        if options.get('layout_seed') is not None:
            self.set_layout(options['layout_seed'])
        self.door_open = True
        if options.get('start_state') is not None:
            start = self._check_state(options['start_state'], 'start_state')
        else:
            xy = self.layout.sample_position(self.np_random)
            yaw = 0.0 if self.action_mode == 'holonomic' else \
                self.np_random.uniform(-math.pi, math.pi)
            start = np.array([xy[0], xy[1], yaw])
        self._put(start)
        goal = options.get('goal_state')
        self.set_goal(goal if goal is not None else self.sample_goal(self.np_random))
        self._steps = 0
        self._obs = self._render_now()
        return self._obs, self._info()

    def _info(self):
        info = super()._info()
        info['room'] = self.layout.room_of(info['state'])
        info['layout_seed'] = self.layout.seed
        return info

    def data_meta(self):
        """two_rooms' metadata with world 'rooms', the grid and the layout (seed, split,
        wall lines, doors) of the current episode."""
        meta = super().data_meta()
        del meta['door_block_prob']
        meta.update(world='rooms', grid=grid_name(self.grid), layout=self.layout.to_dict())
        return meta
