"""Procedural rooms layouts as pure geometry: an R x C grid of rooms, one door per shared wall.

No physics here, so planners, the explorer and tests can use it. A layout is drawn from a
layout seed (`RoomsLayout.generate(grid, seed)`): every interior wall line moves by up to
`wall_jitter`, and every shared wall gets one door at a uniform position along it. Numbers:
sim/rooms.yaml.

Coordinates: the interior is the square [-half, half]^2, half = room_size * max(R, C) / 2.
Column c spans x in [xs[c], xs[c+1]] and row r spans y in [ys[r], ys[r+1]]; xs and ys run
from -half to half through the jittered interior wall lines. Rooms are named (r, c).

Free space (where the robot centre may be) is a union of axis-aligned rectangles: each room
shrunk by the robot radius (plus half a wall at interior walls) and, per door, a passage
across the wall as wide as the door less the robot's diameter. Like two_rooms, the robot
counts as its bounding square at the ends of a wall. The geodesic distance is exact for this
free space: a shortest path bends only at reflex corners of the free space, which are the
passage corners, so it is Dijkstra over the visibility graph of start, goal and those.

Layout seeds are split into training and held-out seeds by a pure function of the seed
(`layout_split`): 0 .. 999_999 train, 1_000_000 .. 1_999_999 held-out. `layout_seed(split,
index)` enumerates a split.
"""
import functools
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import yaml

from jepa_ros.sim.layout import asset_path

SPLITS = ('train', 'held-out')
SPLIT_SIZE = 1_000_000
TASK_KINDS = ('any', 'same_room', 'adjacent', 'cross_room', 'far')


def layout_seed(split, index):
    """The layout seed number `index` (0 <= index < SPLIT_SIZE) of a split."""
    if split not in SPLITS:
        raise ValueError(f'layout split must be one of {SPLITS}, got {split!r}')
    index = int(index)
    if not 0 <= index < SPLIT_SIZE:
        raise ValueError(f'layout index must be in [0, {SPLIT_SIZE}), got {index}')
    return SPLITS.index(split) * SPLIT_SIZE + index


def layout_split(seed):
    """'train' or 'held-out': which split a layout seed belongs to."""
    seed = int(seed)
    if not 0 <= seed < len(SPLITS) * SPLIT_SIZE:
        raise ValueError(f'layout seed must be in [0, {len(SPLITS) * SPLIT_SIZE}), got {seed}')
    return SPLITS[seed // SPLIT_SIZE]


@functools.lru_cache(maxsize=None)
def _load_default_config():
    with open(asset_path('rooms.yaml')) as f:
        return yaml.safe_load(f)


def default_config():
    """A fresh copy of sim/rooms.yaml."""
    import copy
    return copy.deepcopy(_load_default_config())


def parse_grid(grid, max_grid=None):
    """'RxC' or (R, C) -> (R, C) with 1 <= R, C <= max_grid and at least two rooms."""
    if isinstance(grid, str):
        parts = grid.lower().replace(' ', '').split('x')
        try:
            rows, cols = (int(p) for p in parts)
        except ValueError:
            raise ValueError(f'grid must look like RxC (e.g. 3x3), got {grid!r}') from None
    else:
        try:
            rows, cols = (int(v) for v in grid)
        except (TypeError, ValueError):
            raise ValueError(f'grid must be RxC or (R, C), got {grid!r}') from None
    max_grid = int(max_grid or _load_default_config()['max_grid'])
    if not (1 <= rows <= max_grid and 1 <= cols <= max_grid) or rows * cols < 2:
        raise ValueError(f'grid {rows}x{cols}: rows and columns must be in [1, {max_grid}] '
                         'with at least two rooms')
    return rows, cols


def grid_name(grid):
    return f'{grid[0]}x{grid[1]}'


def default_image_size(grid, config=None):
    """Image side (px) that shows the grid's arena at the configured metres per pixel."""
    c = config or _load_default_config()
    rows, cols = parse_grid(grid, c['max_grid'])
    side = float(c['room_size']) * max(rows, cols) + 2 * float(c['wall_thickness'])
    return 16 * math.ceil(side / float(c['metres_per_pixel']) / 16 - 1e-9)


@dataclass(frozen=True)
class Door:
    """An opening in the wall between two adjacent rooms.

    vertical: the wall is the line x = `line` (rooms side by side); else y = `line`.
    `centre` is the door's centre along the wall; `rooms` the two rooms, lower index first.
    """
    rooms: tuple
    vertical: bool
    line: float
    centre: float

    def to_dict(self):
        return {'rooms': [list(r) for r in self.rooms], 'wall': 'x' if self.vertical else 'y',
                'at': self.line, 'centre': self.centre}


class RoomsLayout:
    """One layout: wall lines and doors; free space, rooms, geodesic distance, sampling."""

    def __init__(self, grid, x_walls=(), y_walls=(), doors=None, config=None, seed=None):
        """`x_walls` / `y_walls`: the C-1 / R-1 interior wall lines, ascending; `doors`:
        {(room, room): centre along the wall} with one entry per pair of adjacent rooms.
        Hand-made layouts (tests) and `generate` both come through here."""
        c = config if config is not None else _load_default_config()
        self.config = c
        self.grid = parse_grid(grid, c['max_grid'])
        self.seed = None if seed is None else int(seed)
        rows, cols = self.grid
        self.half = float(c['room_size']) * max(rows, cols) / 2
        self.wall_t = float(c['wall_thickness'])
        self.door_half = float(c['door_width']) / 2
        self.door_margin = float(c['door_margin'])
        self.radius = float(c['robot_radius'])
        self.spawn_margin = float(c['spawn_margin'])
        self.far_rooms = int(c['far_rooms'])
        if self.door_half <= self.radius:
            raise ValueError('door_width must exceed the robot diameter')
        self.xs = self._lines(x_walls, cols, 'x_walls')
        self.ys = self._lines(y_walls, rows, 'y_walls')
        self.rooms = [(r, cc) for r in range(rows) for cc in range(cols)]
        self.doors = self._make_doors(doors or {})
        # Free rectangles (x0, x1, y0, y1) of robot centres: rooms, then one passage per door.
        self.room_rects = {room: self._room_rect(room) for room in self.rooms}
        for room, (x0, x1, y0, y1) in self.room_rects.items():
            if x1 <= x0 or y1 <= y0:
                raise ValueError(f'room {room} leaves the robot no free space')
        self.passages = [self._passage_rect(d) for d in self.doors]
        self._rects = np.array([self.room_rects[r] for r in self.rooms] + self.passages)
        # Every rectangle edge: the only places where a segment can enter or leave free space.
        self._xb = np.unique(self._rects[:, :2])
        self._yb = np.unique(self._rects[:, 2:])
        self.corners = np.array([(x, y) for x0, x1, y0, y1 in self.passages
                                 for x in (x0, x1) for y in (y0, y1)], dtype=np.float64)
        self._corner_dist = None     # all-pairs corner geodesics, built on first use
        self._target_cache = {}
        self._hops = None

    # ---- construction ------------------------------------------------------------------
    @classmethod
    def generate(cls, grid, seed, config=None):
        """The layout of `seed`: jittered interior walls, one door per shared wall."""
        c = config if config is not None else _load_default_config()
        rows, cols = parse_grid(grid, c['max_grid'])
        check_config(c)
        rng = np.random.default_rng(int(seed))
        half = float(c['room_size']) * max(rows, cols) / 2
        jitter = float(c['wall_jitter'])

        def lines(n):
            step = 2 * half / n
            return [-half + i * step + float(rng.uniform(-jitter, jitter)) for i in range(1, n)]

        x_walls, y_walls = lines(cols), lines(rows)
        xs = [-half] + x_walls + [half]
        ys = [-half] + y_walls + [half]
        doors = {}
        for a, b in _adjacent_pairs(rows, cols):
            lo, hi = _door_range(a, b, xs, ys, c)
            doors[(a, b)] = float(rng.uniform(lo, hi))
        return cls((rows, cols), x_walls, y_walls, doors, config=c, seed=seed)

    @classmethod
    def from_dict(cls, d, config=None):
        """The layout `to_dict` described (e.g. from an episode's metadata)."""
        doors = {tuple(tuple(r) for r in door['rooms']): float(door['centre'])
                 for door in d['doors']}
        return cls(tuple(d['grid']), d['x_walls'], d['y_walls'], doors, config=config,
                   seed=d.get('seed'))

    def to_dict(self):
        """JSON-able description: grid, seed, split, wall lines and doors."""
        return {'grid': list(self.grid), 'seed': self.seed,
                'split': None if self.seed is None else _split_or_none(self.seed),
                'arena_half_size': self.half,
                'x_walls': [float(x) for x in self.xs[1:-1]],
                'y_walls': [float(y) for y in self.ys[1:-1]],
                'door_width': 2 * self.door_half, 'wall_thickness': self.wall_t,
                'doors': [d.to_dict() for d in self.doors]}

    def _lines(self, walls, n, name):
        walls = [float(w) for w in walls]
        if len(walls) != n - 1:
            raise ValueError(f'{name}: a grid of {n} needs {n - 1} interior lines, '
                             f'got {len(walls)}')
        lines = np.array([-self.half] + walls + [self.half])
        if not np.all(np.isfinite(lines)) or np.any(np.diff(lines) <= 0):
            raise ValueError(f'{name} must be ascending inside (-{self.half}, {self.half}), '
                             f'got {walls}')
        return lines

    def _make_doors(self, centres):
        rows, cols = self.grid
        given = {tuple(sorted((tuple(a), tuple(b)))): float(v)
                 for (a, b), v in centres.items()}
        pairs = _adjacent_pairs(rows, cols)
        missing = [p for p in pairs if p not in given]
        extra = [p for p in given if p not in pairs]
        if missing or extra:
            raise ValueError(f'one door per shared wall: missing {missing}, not adjacent '
                             f'{extra}')
        doors = []
        for a, b in pairs:
            lo, hi = _door_range(a, b, self.xs, self.ys, self.config)
            centre = given[(a, b)]
            if not lo - 1e-9 <= centre <= hi + 1e-9:
                raise ValueError(f'door {a}-{b} centre {centre} must be in [{lo}, {hi}]')
            vertical = a[0] == b[0]
            line = self.xs[b[1]] if vertical else self.ys[b[0]]
            doors.append(Door((a, b), vertical, float(line), centre))
        return doors

    def _inset(self, index, lines):
        """Clearance of robot centres from the wall on `lines[index]` (outer walls sit
        outside the interior, interior walls on their line)."""
        interior = 0 < index < len(lines) - 1
        return self.radius + (self.wall_t / 2 if interior else 0.0)

    def _room_rect(self, room):
        r, c = room
        return (self.xs[c] + self._inset(c, self.xs), self.xs[c + 1] - self._inset(c + 1, self.xs),
                self.ys[r] + self._inset(r, self.ys), self.ys[r + 1] - self._inset(r + 1, self.ys))

    def _passage_rect(self, door):
        across = self.wall_t / 2 + self.radius
        along = self.door_half - self.radius
        if door.vertical:
            return (door.line - across, door.line + across, door.centre - along,
                    door.centre + along)
        return (door.centre - along, door.centre + along, door.line - across,
                door.line + across)

    # ---- rooms -------------------------------------------------------------------------
    def room_of(self, xy):
        """The room (r, c) whose cell holds `xy` (a point on a wall line: the upper one)."""
        c = int(np.searchsorted(self.xs[1:-1], float(xy[0]), side='right'))
        r = int(np.searchsorted(self.ys[1:-1], float(xy[1]), side='right'))
        return r, c

    def room_graph(self):
        """{room: set of rooms} joined by a passage the robot fits through, from geometry:
        a passage joins the rooms whose free rectangles it shares an edge of positive
        length with."""
        graph = {room: set() for room in self.rooms}
        for p in self.passages:
            touching = [room for room, rect in self.room_rects.items()
                        if _shared_edge(p, rect) > 1e-9]
            for a in touching:
                graph[a].update(b for b in touching if b != a)
        return graph

    def room_hops(self, a, b):
        """Doors crossed on the fewest-door way from room a to room b (BFS)."""
        if self._hops is None:
            graph, self._hops = self.room_graph(), {}
            for start in self.rooms:
                dist, queue = {start: 0}, deque([start])
                while queue:
                    u = queue.popleft()
                    for v in graph[u]:
                        if v not in dist:
                            dist[v] = dist[u] + 1
                            queue.append(v)
                self._hops[start] = dist
        return self._hops[tuple(a)].get(tuple(b), math.inf)

    def doors_of(self, room):
        return [d for d in self.doors if tuple(room) in d.rooms]

    def door_crossing(self, door, from_room, beyond=0.3, before=0.1):
        """(approach, through): a point `before` m in front of `door` in `from_room` and one
        `beyond` m past it in the other room (both clamped into free space)."""
        from_room = tuple(from_room)
        if from_room not in door.rooms:
            raise ValueError(f'door {door.rooms} is not a door of room {from_room}')
        to_room = door.rooms[1] if door.rooms[0] == from_room else door.rooms[0]
        axis = 1 if door.vertical else 0   # index of from_room/to_room that differs
        sign = 1.0 if to_room[axis] > from_room[axis] else -1.0
        across = self.wall_t / 2 + self.radius

        def point(offset, room):
            if door.vertical:
                p = (door.line + offset, door.centre)
            else:
                p = (door.centre, door.line + offset)
            return self._clamp(p, self.room_rects[room], self.spawn_margin)

        return (point(-sign * (across + before), from_room),
                point(sign * (across + beyond), to_room))

    # ---- free space ----------------------------------------------------------------------
    def is_free(self, xy, tol=1e-6):
        """True where a robot centre may be (inside a room or passing a door)."""
        x, y = float(xy[0]), float(xy[1])
        R = self._rects
        return bool(np.any((R[:, 0] - tol <= x) & (x <= R[:, 1] + tol)
                           & (R[:, 2] - tol <= y) & (y <= R[:, 3] + tol)))

    def free_mask(self, points, tol=0.0):
        """(N,) bool: is_free for many (x, y) points at once."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        px, py, R = pts[:, :1], pts[:, 1:], self._rects
        return ((R[:, 0] - tol <= px) & (px <= R[:, 1] + tol)
                & (R[:, 2] - tol <= py) & (py <= R[:, 3] + tol)).any(axis=1)

    @staticmethod
    def _clamp(p, rect, margin=0.0):
        x0, x1, y0, y1 = rect
        m = min(margin, (x1 - x0) / 2, (y1 - y0) / 2)
        return np.array([min(max(p[0], x0 + m), x1 - m), min(max(p[1], y0 + m), y1 - m)])

    def project(self, xy):
        """`xy` itself if free, else the nearest free point (a robot resting on a wall sits
        a fraction of a millimetre inside it)."""
        p = np.asarray(xy[:2], dtype=np.float64)
        if self.is_free(p, tol=0.0):
            return p
        cands = [self._clamp(p, rect) for rect in self._rects]
        return min(cands, key=lambda q: float(np.hypot(*(q - p))))

    def visible(self, p, qs):
        """(K,) bool: whether each straight segment p -> qs[k] stays in free space.

        A segment can only enter or leave a rectangle where it crosses one of the rectangle
        edges' lines, so between consecutive crossings its membership of every rectangle is
        constant: testing one point per piece is exact."""
        p = np.asarray(p, dtype=np.float64)[:2]
        qs = np.atleast_2d(np.asarray(qs, dtype=np.float64))[:, :2]
        d = qs - p
        with np.errstate(divide='ignore', invalid='ignore'):
            tx = (self._xb[None, :] - p[0]) / d[:, :1]
            ty = (self._yb[None, :] - p[1]) / d[:, 1:2]
        ends = np.tile([0.0, 1.0], (len(qs), 1))
        t = np.concatenate([ends, tx, ty], axis=1)
        t = np.where(np.isfinite(t), np.clip(t, 0.0, 1.0), 0.0)
        t.sort(axis=1)
        mid = (t[:, 1:] + t[:, :-1]) / 2                       # (K, M)
        pts = p + mid[..., None] * d[:, None, :]               # (K, M, 2)
        px, py = pts[..., :1], pts[..., 1:]
        R, eps = self._rects, 1e-9
        inside = ((R[:, 0] - eps <= px) & (px <= R[:, 1] + eps)
                  & (R[:, 2] - eps <= py) & (py <= R[:, 3] + eps)).any(axis=-1)
        return inside.all(axis=-1)

    def _corner_geodesics(self):
        """All-pairs geodesic distances between passage corners (Floyd-Warshall)."""
        if self._corner_dist is None:
            k = len(self.corners)
            w = np.full((k, k), math.inf)
            for i in range(k):
                vis = self.visible(self.corners[i], self.corners)
                w[i] = np.where(vis, np.hypot(*(self.corners - self.corners[i]).T), math.inf)
            w = np.minimum(w, w.T)   # visibility is symmetric up to rounding at corners
            np.fill_diagonal(w, 0.0)
            for m in range(k):
                w = np.minimum(w, w[:, m:m + 1] + w[m:m + 1, :])
            self._corner_dist = w
        return self._corner_dist

    def _to_corners(self, p):
        """(K,) straight-line distance from p to each passage corner it sees, else inf."""
        vis = self.visible(p, self.corners)
        return np.where(vis, np.hypot(*(self.corners - p).T), math.inf)

    def true_distance(self, a, b, door_open=True):
        """Shortest path length (m) between the centres of two states through the doors.

        `door_open` False: rooms cannot be left (infinite across rooms), as in two_rooms."""
        a, b = self.project(np.asarray(a, np.float64)), self.project(np.asarray(b, np.float64))
        if not door_open and self.room_of(a) != self.room_of(b):
            return math.inf
        if self.visible(a, b[None])[0]:
            return float(np.hypot(*(b - a)))
        key = (float(b[0]), float(b[1]))
        to_b = self._target_cache.get(key)
        if to_b is None:
            # The goal stays put for a whole episode: its corner distances are kept.
            if len(self._target_cache) > 64:
                self._target_cache.clear()
            to_b = self._target_cache[key] = self._to_corners(b)
        from_a = self._to_corners(a)
        total = from_a[:, None] + self._corner_geodesics() + to_b[None, :]
        return float(total.min())

    # ---- sampling ------------------------------------------------------------------------
    def sample_position(self, rng, room=None):
        """A uniform free position (spawn margin off the walls) in `room` or a random room."""
        if room is None:
            room = self.rooms[int(rng.integers(len(self.rooms)))]
        x0, x1, y0, y1 = self.room_rects[tuple(room)]
        m = self.spawn_margin
        return np.array([rng.uniform(x0 + m, x1 - m), rng.uniform(y0 + m, y1 - m)])

    def hop_range(self, kind):
        """(fewest, most) doors between start and goal rooms for a task kind:
        any (0+), same_room (0), adjacent (1), cross_room (1+), far (far_rooms+)."""
        ranges = {'any': (0, math.inf), 'same_room': (0, 0), 'adjacent': (1, 1),
                  'cross_room': (1, math.inf), 'far': (self.far_rooms, math.inf)}
        if kind not in ranges:
            raise ValueError(f'task kind must be one of {TASK_KINDS}, got {kind!r}')
        return ranges[kind]

    def sample_task(self, rng, kind='any', min_distance=0.3):
        """(start_xy, goal_xy) whose rooms are as many doors apart as `kind` asks
        (hop_range); the start room is uniform among rooms that have such a goal room, the
        goal room uniform among those. Start and goal are >= min_distance apart."""
        lo, hi = self.hop_range(kind)
        options = {a: [b for b in self.rooms if lo <= self.room_hops(a, b) <= hi]
                   for a in self.rooms}
        starts = [a for a in self.rooms if options[a]]
        if not starts:
            most = max(self.room_hops(a, b) for a in self.rooms for b in self.rooms)
            raise ValueError(f'task kind {kind!r} needs rooms {lo} or more doors apart; a '
                             f'{grid_name(self.grid)} grid has them at most {most} apart')
        for _ in range(1000):
            a = starts[int(rng.integers(len(starts)))]
            b = options[a][int(rng.integers(len(options[a])))]
            start, goal = self.sample_position(rng, a), self.sample_position(rng, b)
            if self.true_distance(start, goal) >= min_distance:
                return start, goal
        raise ValueError(f'could not sample a {kind} task with min_distance {min_distance}')


def _split_or_none(seed):
    try:
        return layout_split(seed)
    except ValueError:
        return None


def _adjacent_pairs(rows, cols):
    """Every pair of rooms sharing a wall, (lower, higher) in row-major order."""
    pairs = []
    for r in range(rows):
        for c in range(cols):
            if c + 1 < cols:
                pairs.append(((r, c), (r, c + 1)))
            if r + 1 < rows:
                pairs.append(((r, c), (r + 1, c)))
    return pairs


def _door_range(a, b, xs, ys, config):
    """(lo, hi) of door centres on the wall between rooms a and b: the door's edges keep
    door_margin clear of the perpendicular walls (half a wall thick where interior)."""
    t, half_door = float(config['wall_thickness']), float(config['door_width']) / 2
    margin = float(config['door_margin'])
    vertical = a[0] == b[0]
    lines, i = (ys, a[0]) if vertical else (xs, a[1])
    lo = lines[i] + (t / 2 if i > 0 else 0.0) + half_door + margin
    hi = lines[i + 1] - (t / 2 if i + 1 < len(lines) - 1 else 0.0) - half_door - margin
    if hi < lo:
        raise ValueError(f'the wall between rooms {a} and {b} is too short for a door')
    return lo, hi


def _shared_edge(p, q):
    """Length of the boundary two touching (or overlapping) rectangles share (0 if apart)."""
    ox = min(p[1], q[1]) - max(p[0], q[0])
    oy = min(p[3], q[3]) - max(p[2], q[2])
    if ox < -1e-9 or oy < -1e-9:
        return 0.0
    return max(ox, oy)


def check_config(c):
    """ValueError unless every layout the jitter can draw leaves doors room to fit."""
    # The shortest room side is room_size (the arena is room_size * max(R, C) square), less
    # twice the jitter when both its walls move towards each other.
    smallest = float(c['room_size']) - 2 * float(c['wall_jitter'])
    need = float(c['door_width']) + 2 * float(c['door_margin']) + float(c['wall_thickness'])
    if float(c['wall_jitter']) < 0 or smallest < need:
        raise ValueError(f'rooms config: wall_jitter {c["wall_jitter"]} can leave a wall of '
                         f'{smallest:.2f} m, too short for a {c["door_width"]} m door')
