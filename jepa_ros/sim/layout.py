"""The two_rooms layout as pure geometry: free space, room membership, geodesic distance,
and sampling of start/goal pairs. No physics here, so planners and tests can use it.
"""
import math

import numpy as np
import yaml

from jepa_ros.share import share_path

TASK_KINDS = ('any', 'same_room', 'cross_room', 'cross_far')


def asset_path(name):
    """Path of a file in the `sim/` assets (checkout or the package's installed share)."""
    return share_path('sim', name)


class TwoRoomsLayout:
    """Two rooms side by side, one wall at x = divider_x with a door centred on y = 0."""

    def __init__(self, config=None):
        if config is None:
            with open(asset_path('two_rooms.yaml')) as f:
                config = yaml.safe_load(f)
        self.config = config
        self.half = float(config['arena_half_size'])
        self.wall_t = float(config['wall_thickness'])
        self.divider_x = float(config['divider_x'])
        self.door_half = float(config['door_width']) / 2
        self.radius = float(config['robot_radius'])
        margin = float(config['spawn_margin'])
        if self.door_half <= self.radius:
            raise ValueError('door_width must exceed the robot diameter')
        # Robot centres that keep the body clear of every wall (plus a margin).
        lo, hi = -self.half + self.radius + margin, self.half - self.radius - margin
        gap = self.wall_t / 2 + self.radius + margin
        self.rooms = {  # name -> (xmin, xmax, ymin, ymax) of free centre positions
            'left': (lo, self.divider_x - gap, lo, hi),
            'right': (self.divider_x + gap, hi, lo, hi),
        }
        # The door as a segment the robot centre can pass through.
        self.door_free_half = self.door_half - self.radius

    def room_of(self, xy):
        return 'left' if xy[0] < self.divider_x else 'right'

    def true_distance(self, a, b, door_open=True):
        """Shortest path length (m) between the centres of two states, through the door.

        The rooms are convex, so a path between them is two straight lines meeting on the
        door segment; the best meeting point is the line's crossing clamped to the segment.
        Infinite when the rooms differ and the door is blocked.
        """
        ax, ay, bx, by = float(a[0]), float(a[1]), float(b[0]), float(b[1])
        if self.room_of((ax, ay)) == self.room_of((bx, by)):
            return math.hypot(bx - ax, by - ay)
        if not door_open:
            return math.inf
        dx = self.divider_x
        t = (dx - ax) / (bx - ax)  # rooms differ, so bx != ax
        cross_y = ay + t * (by - ay)
        py = min(max(cross_y, -self.door_free_half), self.door_free_half)
        return math.hypot(dx - ax, py - ay) + math.hypot(bx - dx, by - py)

    def sample_position(self, rng, room=None, min_door_distance=0.0):
        room = room or ('left' if rng.random() < 0.5 else 'right')
        x0, x1, y0, y1 = self.rooms[room]
        for _ in range(1000):
            xy = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
            if math.hypot(xy[0] - self.divider_x, xy[1]) >= min_door_distance:
                return xy
        raise ValueError(f'no position in the {room} room is {min_door_distance} m from the '
                         'door')

    def sample_task(self, rng, kind='any', min_distance=0.3, far_from_door=1.0):
        """(start_xy, goal_xy) for a task kind:

        any: independent; same_room / cross_room: same or opposite rooms; cross_far:
        opposite rooms with both ends at least `far_from_door` m from the door centre (the
        long task for hierarchical planning). Start and goal are >= min_distance apart.
        """
        if kind not in TASK_KINDS:
            raise ValueError(f'task kind must be one of {TASK_KINDS}, got {kind!r}')
        for _ in range(1000):
            start_room = 'left' if rng.random() < 0.5 else 'right'
            other = 'right' if start_room == 'left' else 'left'
            goal_room = {'any': None, 'same_room': start_room}.get(kind, other)
            door = far_from_door if kind == 'cross_far' else 0.0
            start = self.sample_position(rng, start_room, door)
            goal = self.sample_position(rng, goal_room, door)
            if self.true_distance(start, goal) >= min_distance:
                return start, goal
        raise ValueError(f'could not sample a {kind} task with min_distance {min_distance}')

    def is_free(self, xy, tol=1e-6):
        """True where a robot centre may be (inside a room or passing the door)."""
        x, y = float(xy[0]), float(xy[1])
        lim = self.half - self.radius + tol
        if abs(x) > lim or abs(y) > lim:
            return False
        if abs(x - self.divider_x) >= self.wall_t / 2 + self.radius - tol:
            return True
        return abs(y) <= self.door_free_half + tol
