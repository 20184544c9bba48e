"""The procedural rooms world: layout generator, seed splits, geodesic distance, env, walls
and doors in the physics, door-seeking exploration, collection and `eval planning`."""
import heapq
import json
import math

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from support import save_tiny_world_model

from jepa_ros import cli
from jepa_ros.sim import make_env
from jepa_ros.sim.exploration import DoorSeekingExplorer
from jepa_ros.sim.layout import TwoRoomsLayout
from jepa_ros.sim.rooms_layout import (SPLIT_SIZE, RoomsLayout, default_image_size,
                                       layout_seed, layout_split, parse_grid)

GRIDS = ['1x2', '2x2', '1x3', '2x3', '3x3']


# ---- layout generator ---------------------------------------------------------------------
@pytest.mark.parametrize('grid', GRIDS)
def test_layouts_are_drawn_from_their_seed(grid):
    a, b = RoomsLayout.generate(grid, 11), RoomsLayout.generate(grid, 11)
    assert a.to_dict() == b.to_dict()
    others = [RoomsLayout.generate(grid, s).to_dict() for s in (12, 13, layout_seed('held-out',
                                                                                    11))]
    for other in others:
        assert other['doors'] != a.to_dict()['doors']
        assert other['x_walls'] != a.to_dict()['x_walls'] or other['y_walls'] != \
            a.to_dict()['y_walls']
    rows, cols = parse_grid(grid)
    assert len(a.doors) == rows * (cols - 1) + cols * (rows - 1)   # one per shared wall
    # The description rebuilds the same layout (what an episode's metadata holds).
    assert RoomsLayout.from_dict(json.loads(json.dumps(a.to_dict()))).to_dict() == a.to_dict()


def test_one_by_two_is_two_rooms_up_to_jitter():
    two = TwoRoomsLayout()
    for seed in range(20):
        lay = RoomsLayout.generate('1x2', seed)
        assert lay.half == two.half and lay.wall_t == two.wall_t
        assert lay.door_half == two.door_half and lay.radius == two.radius
        (line,) = lay.xs[1:-1]
        assert abs(line - two.divider_x) <= lay.config['wall_jitter']
        (door,) = lay.doors
        assert door.vertical and door.line == line
        assert abs(door.centre) + lay.door_half <= lay.half
    assert default_image_size('1x2') == 64 and default_image_size('3x3') == 96


def _flood_fill_rooms(layout, step=0.04):
    """Rooms reached from the first room's centre by 4-connected free cells of a grid."""
    n = int(round(2 * layout.half / step))
    centres = -layout.half + step * (np.arange(n) + 0.5)
    xx, yy = np.meshgrid(centres, centres, indexing='ij')
    free = layout.free_mask(np.stack([xx.ravel(), yy.ravel()], 1)).reshape(n, n)
    x0, x1, y0, y1 = layout.room_rects[layout.rooms[0]]
    start = (int(((x0 + x1) / 2 + layout.half) / step), int(((y0 + y1) / 2 + layout.half) / step))
    assert free[start]
    seen, todo = np.zeros_like(free), [start]
    seen[start] = True
    while todo:
        i, j = todo.pop()
        for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):
            if 0 <= a < n and 0 <= b < n and free[a, b] and not seen[a, b]:
                seen[a, b] = True
                todo.append((a, b))
    return {layout.room_of((xx[i, j], yy[i, j])) for i, j in zip(*np.nonzero(seen))}


@pytest.mark.parametrize('grid', GRIDS)
def test_walls_never_block_all_doors(grid):
    for seed in list(range(8)) + [layout_seed('held-out', i) for i in range(4)]:
        lay = RoomsLayout.generate(grid, seed)
        # The room graph (built from which passages touch which rooms): BFS reaches all.
        assert all(lay.room_hops(a, b) < math.inf for a in lay.rooms for b in lay.rooms)
        # And free space itself, on a grid of cells finer than a passage: one component.
        assert _flood_fill_rooms(lay) == set(lay.rooms), (grid, seed)


def test_held_out_layout_seeds_are_disjoint_from_training_seeds():
    train = {layout_seed('train', i) for i in range(0, SPLIT_SIZE, 997)}
    held = {layout_seed('held-out', i) for i in range(0, SPLIT_SIZE, 997)}
    assert not train & held
    assert all(layout_split(s) == 'train' for s in train)
    assert all(layout_split(s) == 'held-out' for s in held)
    assert layout_split(layout_seed('train', SPLIT_SIZE - 1)) == 'train'
    assert layout_split(layout_seed('held-out', 0)) == 'held-out'
    for bad in (-1, 2 * SPLIT_SIZE):
        with pytest.raises(ValueError):
            layout_split(bad)
    with pytest.raises(ValueError):
        layout_seed('test', 0)
    with pytest.raises(ValueError):
        layout_seed('train', SPLIT_SIZE)


def test_bad_grids_and_layouts_are_refused():
    for grid in ('1x1', '0x2', '5x5', '3by3', 'x'):
        with pytest.raises(ValueError):
            parse_grid(grid)
    with pytest.raises(ValueError, match='one door per shared wall'):
        RoomsLayout('1x2', [0.0], [], {})
    with pytest.raises(ValueError, match='centre'):
        RoomsLayout('1x2', [0.0], [], {((0, 0), (0, 1)): 1.4})   # door through the corner


# ---- geodesic distance --------------------------------------------------------------------
def test_geodesic_in_one_room_is_the_straight_line():
    lay = RoomsLayout('1x2', [0.0], [], {((0, 0), (0, 1)): 0.0})
    assert lay.true_distance((-1.0, -1.0), (-0.4, 1.2)) == pytest.approx(math.hypot(0.6, 2.2))
    assert lay.true_distance((1.0, 0.3), (1.0, 0.3)) == 0.0


def test_geodesic_through_one_door_matches_two_rooms():
    """1x2 with the divider and door where two_rooms has them."""
    lay = RoomsLayout('1x2', [0.0], [], {((0, 0), (0, 1)): 0.0})
    two = TwoRoomsLayout()
    # Straight through the door.
    assert lay.true_distance((-1.0, 0.0), (1.0, 0.0)) == pytest.approx(2.0)
    for a, b in [((-1.0, 0.05), (1.0, -0.05)), ((-1.2, 0.3), (1.3, -0.2))]:
        assert lay.true_distance(a, b) == pytest.approx(two.true_distance(a, b))
    # Round the door's corners: the passage spans x in [-0.2, 0.2] (half a wall + the
    # radius) and y in [-0.1, 0.1] (half the door less the radius).
    expect = 2 * math.hypot(1.0 - 0.2, 1.0 - 0.1) + 0.4
    assert lay.true_distance((-1.0, 1.0), (1.0, 1.0)) == pytest.approx(expect)
    assert lay.true_distance((1.0, 1.0), (-1.0, 1.0)) == pytest.approx(expect)


def test_geodesic_around_through_two_doors():
    """1x3: doors at opposite ends of the two walls force a Z-shaped path."""
    lay = RoomsLayout('1x3', [-0.75, 0.75], [], {((0, 0), (0, 1)): 1.5,
                                                 ((0, 1), (0, 2)): -1.5})
    a, b = (-1.5, 0.0), (1.5, 0.0)
    # a -> lower corner of door 1 (-0.95, 1.4) -> (-0.55, 1.4) -> across the middle room to
    # door 2's upper corner (0.55, -1.4) -> (0.95, -1.4) -> b.
    expect = (math.hypot(0.55, 1.4) + 0.4 + math.hypot(1.1, 2.8) + 0.4 + math.hypot(0.55, 1.4))
    assert lay.true_distance(a, b) == pytest.approx(expect)
    assert lay.room_hops(lay.room_of(a), lay.room_of(b)) == 2
    # Doors lined up: one straight line through both.
    straight = RoomsLayout('1x3', [-0.75, 0.75], [], {((0, 0), (0, 1)): 0.3,
                                                      ((0, 1), (0, 2)): 0.3})
    assert straight.true_distance((-1.5, 0.3), (1.5, 0.3)) == pytest.approx(3.0)


def _grid_geodesics(layout, source, step=0.05):
    """Dijkstra over free cell centres with 16 neighbours (approximate reference)."""
    n = int(round(2 * layout.half / step))
    c = -layout.half + step * (np.arange(n) + 0.5)
    xx, yy = np.meshgrid(c, c, indexing='ij')
    free = layout.free_mask(np.stack([xx.ravel(), yy.ravel()], 1)).reshape(n, n)
    moves = [(1, 0), (0, 1), (1, 1), (1, -1), (2, 1), (1, 2), (2, -1), (1, -2)]
    moves += [(-i, -j) for i, j in moves]
    s = (int((source[0] + layout.half) / step), int((source[1] + layout.half) / step))
    dist = np.full((n, n), np.inf)
    dist[s] = 0.0
    heap = [(0.0, s)]
    while heap:
        d, (i, j) = heapq.heappop(heap)
        if d > dist[i, j]:
            continue
        for di, dj in moves:
            a, b = i + di, j + dj
            # Walls are 8 cells thick in free-space terms (a wall and the robot's diameter):
            # no move jumps one, at most it cuts a wall end's corner by part of a cell.
            if not (0 <= a < n and 0 <= b < n and free[a, b]):
                continue
            nd = d + step * math.hypot(di, dj)
            if nd < dist[a, b]:
                dist[a, b] = nd
                heapq.heappush(heap, (nd, (a, b)))
    return lambda xy: dist[int((xy[0] + layout.half) / step), int((xy[1] + layout.half) / step)]


@pytest.mark.parametrize('grid,seed', [('1x2', 3), ('2x2', 1000001), ('3x3', 5)])
def test_geodesic_agrees_with_a_grid_search(grid, seed):
    lay = RoomsLayout.generate(grid, seed)
    rng = np.random.default_rng(seed)
    source = lay.sample_position(rng, lay.rooms[0])
    reference = _grid_geodesics(lay, source)
    for _ in range(12):
        target = lay.sample_position(rng)
        exact, approx = lay.true_distance(source, target), reference(target)
        # A 16-neighbour grid path is at most ~3 % longer than the true one; snapping
        # start and goal to cell centres moves each end by under 0.04 m.
        assert exact - 0.08 <= approx <= 1.04 * exact + 0.08, (target, exact, approx)


@pytest.mark.parametrize('kind,hops', [('same_room', {0}), ('adjacent', {1}),
                                       ('cross_room', {1, 2, 3, 4}), ('far', {3, 4})])
def test_task_kinds_select_goals_by_rooms_apart(kind, hops):
    lay = RoomsLayout.generate('3x3', 2)
    rng = np.random.default_rng(0)
    for _ in range(10):
        start, goal = lay.sample_task(rng, kind)
        assert lay.room_hops(lay.room_of(start), lay.room_of(goal)) in hops
        assert lay.is_free(start) and lay.is_free(goal)
    with pytest.raises(ValueError, match='far'):
        RoomsLayout.generate('1x2', 0).sample_task(rng, 'far')


# ---- the env ------------------------------------------------------------------------------
def test_env_resets_steps_and_renders_at_the_requested_size():
    env = make_env('rooms', grid='2x2', layout_seed=4, image_size=48)
    try:
        obs, info = env.reset(seed=0)
        assert obs.shape == (48, 48, 3) and obs.dtype == np.uint8
        assert env.observation_space.shape == (48, 48, 3)
        assert info['layout_seed'] == 4 and info['room'] == env.layout.room_of(info['state'])
        obs2, reward, terminated, truncated, info = env.step(np.array([0.5, -0.5], np.float32))
        assert obs2.shape == (48, 48, 3) and reward == -info['distance']
        assert env.render() is obs2
        # A plain reset keeps the layout; a layout_seed option brings a new one.
        first = env.layout.to_dict()
        env.reset(seed=1)
        assert env.layout.to_dict() == first
        image, info = env.reset(seed=1, options={'layout_seed': layout_seed('held-out', 4)})
        assert env.layout.to_dict() != first and info['layout_seed'] == layout_seed('held-out',
                                                                                    4)
        meta = env.data_meta()
        assert meta['world'] == 'rooms' and meta['grid'] == '2x2'
        assert meta['layout'] == env.layout.to_dict() and meta['layout']['split'] == 'held-out'
        with pytest.raises(ValueError, match='unknown reset options'):
            env.reset(options={'door_open': False})
        with pytest.raises(ValueError):
            env.set_layout(-3)
    finally:
        env.close()
    big = make_env('rooms', grid='3x3', layout_seed=0)
    try:
        assert big.reset(seed=0)[0].shape == (96, 96, 3)   # the grid's default size
        check_env(big, skip_render_check=False)
    finally:
        big.close()


def _drive(env, start, action, steps):
    env.reset(options={'start_state': np.array([start[0], start[1], 0.0])})
    for _ in range(steps):
        info = env.step(np.asarray(action, np.float32))[4]
    return info['state']


@pytest.mark.parametrize('grid,seed', [('1x2', 6), ('2x2', 1000002)])
def test_the_robot_passes_doors_but_not_walls(grid, seed):
    env = make_env('rooms', grid=grid, layout_seed=seed, image_size=32)
    try:
        lay = env.layout
        for door in lay.doors[:2]:
            a, b = door.rooms
            axis = 0 if door.vertical else 1          # the coordinate across the wall
            push = np.zeros(2)
            push[axis] = 1.0
            lines_along = np.array(lay.ys if door.vertical else lay.xs)
            # Through the door: start 0.5 m in front of its centre, drive straight across.
            start = np.zeros(2)
            start[axis], start[1 - axis] = door.line - 0.5, door.centre
            end = _drive(env, start, push, 12)
            assert lay.room_of(end) == b and end[axis] > door.line + 0.3
            # Against the wall: same, but along the wall as far from the door as the room
            # allows; the robot stops at the wall (half a wall + its radius off the line).
            lo, hi = lines_along[a[axis]], lines_along[a[axis] + 1]
            along = lo + 0.25 if door.centre - lo > hi - door.centre else hi - 0.25
            assert abs(along - door.centre) > lay.door_half + lay.radius
            start[1 - axis] = along
            end = _drive(env, start, push, 12)
            assert lay.room_of(end) == a
            assert end[axis] <= door.line - lay.wall_t / 2 - lay.radius + 5e-3
    finally:
        env.close()


def test_door_seeking_exploration_crosses_doors():
    env = make_env('rooms', grid='2x2', layout_seed=1, image_size=32)
    try:
        policy = DoorSeekingExplorer(2, np.random.default_rng(0), env)
        visited = []
        for ep in range(3):
            obs, info = env.reset(seed=ep)
            policy.reset()
            rooms = {info['room']}
            for _ in range(120):
                obs, _, _, _, info = env.step(policy(obs))
                rooms.add(info['room'])
            visited.append(len(rooms))
        assert sum(visited) >= 6, visited    # a run through a door every ~25 steps
        assert all(np.all(np.abs(policy(obs)) <= 1.0) for _ in range(50))
    finally:
        env.close()


# ---- collection and evaluation ------------------------------------------------------------
def test_collect_writes_rooms_episodes_with_their_layout(tmp_path, capsys):
    from jepa_ros.data.episodes import read_episode
    out = tmp_path / 'rooms'
    rc = cli.main(['collect', '--world', 'rooms', '--grid', '2x2', '--episodes', '2',
                   '--steps', '6', '--seed', '5', '--out', str(out), '--quiet'])
    assert rc == 0
    files = sorted(out.glob('*.mcap'))
    assert len(files) == 2
    for i, path in enumerate(files):
        ep = read_episode(str(path))
        assert ep.images.shape == (6, 64, 64, 3) and ep.states.shape == (6, 3)
        meta = ep.meta
        assert meta['world'] == 'rooms' and meta['grid'] == '2x2'
        assert meta['policy'] == 'DoorSeekingExplorer' and meta['seed'] == 5 + i
        layout = meta['layout']
        assert layout['seed'] == layout_seed('train', 5 + i) and layout['split'] == 'train'
        assert layout == RoomsLayout.generate('2x2', layout['seed']).to_dict()
        assert len(layout['doors']) == 4
    assert 'crossed a door' in capsys.readouterr().out
    assert cli.main(['collect', '--world', 'rooms', '--door-block-prob', '0.5', '--out',
                     str(tmp_path / 'x')]) == 2
    assert cli.main(['collect', '--world', 'two_rooms', '--grid', '2x2', '--out',
                     str(tmp_path / 'y')]) == 2


@pytest.fixture(scope='module')
def tiny_ckpt(tmp_path_factory):
    return save_tiny_world_model(tmp_path_factory.mktemp('ck') / 'wm.pt', seed=0,
                                 image_size=64, encoder_channels=(4, 4, 4))


def test_eval_planning_on_held_out_rooms_writes_json(tmp_path, tiny_ckpt, capsys):
    out = tmp_path / 'r.json'
    argv = ['eval', 'planning', '--world', 'rooms', '--grid', '2x2', '--layout-split',
            'held-out', '--ckpt', tiny_ckpt, '--planner', 'mppi', '--episodes', '2',
            '--max-steps', '3', '--horizon', '4', '--iterations', '1', '--samples', '8',
            '--seed', '3', '--task-kind', 'adjacent', '--json', str(out), '--quiet']
    assert cli.main(argv) == 0
    data = json.loads(out.read_text())
    assert 0.0 <= data['success_rate'] <= 1.0 and data['world'] == 'rooms'
    assert data['grid'] == '2x2' and data['layout_split'] == 'held-out'
    assert data['layout_seeds'] == [layout_seed('held-out', 3), layout_seed('held-out', 4)]
    assert all(t['rooms_apart'] == 1 and t['cross_room'] for t in data['tasks'])
    assert all(r['steps'] <= 3 and r['wall_s'] > 0 for r in data['results'])
    assert data['plan_ms']['n'] >= 2 and data['episode_wall_s']['n'] == 2
    assert 0.0 <= data['random_policy']['success_rate'] <= 1.0
    assert 'random-policy floor' in capsys.readouterr().out
    # Same seed and split: the same tasks (any planner faces them).
    assert cli.main(argv[:-3] + ['--json', str(tmp_path / 's.json'), '--quiet',
                                 '--no-random-floor']) == 0
    again = json.loads((tmp_path / 's.json').read_text())
    assert again['tasks'] == data['tasks'] and again['random_policy'] is None
    # Errors: a far task on a grid without rooms 3 apart, rooms options on two_rooms.
    assert cli.main(argv[:-3] + ['--task-kind', 'far', '--quiet']) == 2
    assert cli.main(['eval', 'planning', '--ckpt', tiny_ckpt, '--grid', '2x2']) == 2


# ---- served by sim_bridge ------------------------------------------------------------------
def test_the_stepper_drives_rooms_and_changes_layout_on_reset():
    from jepa_ros.sim.stepper import SimStepper
    first, second = layout_seed('held-out', 0), layout_seed('held-out', 1)
    st = SimStepper(world='rooms', drive='diff_drive', image_size=32,
                    env_kwargs={'grid': '2x2', 'layout_seed': first})
    try:
        meta = st.metadata()
        assert meta['world'] == 'rooms' and meta['grid'] == '2x2'
        assert meta['layout']['seed'] == first and st.mode.name == 'diff_drive'
        st.command([0.5, 0.0, 0.0], [0.0, 0.0, 1.0])   # diff drive: linear.x, angular.z
        st.step()
        st.reset(seed=3, layout_seed=second)
        assert st.metadata()['layout']['seed'] == second
        assert st.metadata()['layout'] != meta['layout']
        st.reset(seed=3)                                 # a plain reset keeps the layout
        assert st.metadata()['layout']['seed'] == second
    finally:
        st.close()


def test_sim_bridge_serves_rooms_and_moves_to_the_next_layout_on_reset():
    """The bridge's ~/reset moves to the next layout of its split and republishes the
    world description (what memory writes into the episode metadata)."""
    import threading
    import time

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from std_msgs.msg import String
    from support import call_trigger

    from jepa_ros.nodes.qos import LATCHED_QOS
    from jepa_ros.nodes.sim_bridge import SimBridgeNode
    rclpy.init()   # the default context: call_trigger spins the client with rclpy.spin_*
    node = SimBridgeNode(parameter_overrides=[
        Parameter('world', value='rooms'), Parameter('grid', value='1x2'),
        Parameter('layout_split', value='train'), Parameter('layout_index', value=7),
        Parameter('image_size', value=32)])
    executor = SingleThreadedExecutor()   # the bridge, in the background
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    client = rclpy.create_node('rooms_bridge_client')
    metas = []
    client.create_subscription(String, '/sim_bridge/metadata',
                               lambda m: metas.append(json.loads(m.data)), LATCHED_QOS)

    def wait_for(pred, timeout=30.0):
        end = time.monotonic() + timeout
        while not pred() and time.monotonic() < end:
            rclpy.spin_once(client, timeout_sec=0.05)
        return pred()
    try:
        assert wait_for(lambda: metas), 'no latched world description'
        assert metas[-1]['world'] == 'rooms'
        assert metas[-1]['layout']['seed'] == layout_seed('train', 7)
        assert call_trigger(client, '/sim_bridge/reset').success
        assert wait_for(lambda: len(metas) >= 2), 'no new description after ~/reset'
        assert metas[-1]['layout']['seed'] == layout_seed('train', 8)
    finally:
        executor.shutdown(timeout_sec=2.0)
        client.destroy_node()
        node.destroy_node()
        rclpy.try_shutdown()
