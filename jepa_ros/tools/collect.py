"""`jepa-ros collect`: record reward-free exploration episodes, one MCAP file each.

No reward and no labels are recorded for learning: images, the commands that were sent
(physical units; Twist, or TwistStamped for reach, as the world's action mode says:
jepa_ros.core.action_modes) and ground-truth odometry (for evaluation probes only).

rooms: episode i runs in the layout of index seed + i of --layout-split (training layouts
by default; jepa_ros.sim.rooms_layout), explored by DoorSeekingExplorer; the layout (seed,
split, grid, wall lines, doors) is in the episode's metadata (`layout`).
"""
import os

import numpy as np

WORLDS = ('two_rooms', 'reach', 'rooms')


def add_arguments(parser):
    parser.add_argument('--world', default='two_rooms', help=f'one of {", ".join(WORLDS)}')
    parser.add_argument('--episodes', type=int, default=10, help='number of episodes')
    parser.add_argument('--steps', type=int, default=200, help='frames per episode')
    parser.add_argument('--out', required=True, help='output folder (created if missing)')
    parser.add_argument('--seed', type=int, default=0, help='episode i uses seed + i')
    parser.add_argument('--image-size', type=int, default=None,
                        help='square image side (px); default 64, rooms: the grid\'s '
                             '(sim/rooms.yaml metres_per_pixel: 1x2 64, 3x3 96)')
    parser.add_argument('--push-prob', type=float, default=0.0,
                        help='two_rooms: chance per step of a random shove')
    parser.add_argument('--push-scale', type=float, default=0.3,
                        help='two_rooms: shove size (m/s, std dev)')
    parser.add_argument('--door-block-prob', type=float, default=0.0,
                        help='two_rooms: chance per episode that the door is blocked')
    from jepa_ros.core.action_modes import WORLD_MODES
    parser.add_argument('--action-mode', default=WORLD_MODES['two_rooms'][0],
                        help=f'two_rooms: {" or ".join(WORLD_MODES["two_rooms"])}')
    parser.add_argument('--grid', default=None, help='rooms: R x C rooms, e.g. 3x3 '
                        '(default 1x2)')
    parser.add_argument('--layout-split', default='train', choices=['train', 'held-out'],
                        help='rooms: the layout seeds episodes are drawn from')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace episode files that already exist')
    parser.add_argument('--quiet', action='store_true', help='no progress bar')


def env_kwargs(args):
    """Validated make_env keyword arguments from parsed CLI arguments."""
    if args.world not in WORLDS:
        raise ValueError(f'--world must be one of {WORLDS}, got {args.world!r}')
    if args.episodes < 1 or args.steps < 2:
        raise ValueError('--episodes must be >= 1 and --steps >= 2')
    rooms = args.world == 'rooms'
    grid = getattr(args, 'grid', None)
    if grid is not None and not rooms:
        raise ValueError('--grid is a rooms option')
    size = args.image_size
    if size is None:
        from jepa_ros.sim.rooms_layout import default_image_size
        size = default_image_size(grid or '1x2') if rooms else 64
    if not 16 <= size <= 512:
        raise ValueError(f'--image-size must be in [16, 512], got {size}')
    kwargs = {'image_size': size}
    if rooms:
        from jepa_ros.sim.rooms_layout import parse_grid
        if args.door_block_prob:
            raise ValueError('--door-block-prob is a two_rooms option (rooms doors are open)')
        if not 0.0 <= args.push_prob <= 1.0 or args.push_scale < 0:
            raise ValueError('--push-prob must be in [0, 1] and --push-scale >= 0')
        kwargs.update(grid=parse_grid(grid or '1x2'), push_prob=args.push_prob,
                      push_scale=args.push_scale, action_mode=args.action_mode)
    elif args.world == 'two_rooms':
        for name in ('push_prob', 'door_block_prob'):
            value = getattr(args, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f'--{name.replace("_", "-")} must be in [0, 1], got {value}')
        if args.push_scale < 0:
            raise ValueError(f'--push-scale must be >= 0, got {args.push_scale}')
        kwargs.update(push_prob=args.push_prob, push_scale=args.push_scale,
                      door_block_prob=args.door_block_prob, action_mode=args.action_mode)
    elif args.push_prob or args.door_block_prob or args.action_mode != 'holonomic':
        raise ValueError('--push-prob, --door-block-prob and --action-mode are two_rooms '
                         'options')
    return kwargs


def episode_path(out, seed, index):
    return os.path.join(out, f'episode_s{seed}_{index:05d}.mcap')


def collect_episode(env, policy, steps, seed, options=None):
    """Run one episode; returns (images, actions, states, info of the last step)."""
    obs, info = env.reset(seed=seed, options=options)
    policy.reset()
    images, actions, states = [], [], []
    for _ in range(steps):
        action = policy(obs)
        images.append(obs)
        actions.append(action)
        states.append(info['state'])
        obs, _, _, _, info = env.step(action)
    return np.stack(images), np.stack(actions), np.stack(states), info


def run(args):
    from tqdm import tqdm

    from jepa_ros.data.episodes import write_episode
    from jepa_ros.sim import make_env
    from jepa_ros.sim.exploration import DoorSeekingExplorer, ExplorationPolicy
    from jepa_ros.sim.rooms_layout import layout_seed

    kwargs = env_kwargs(args)
    paths = [episode_path(args.out, args.seed, i) for i in range(args.episodes)]
    existing = [p for p in paths if os.path.exists(p)]
    if existing and not args.overwrite:
        raise FileExistsError(f'{len(existing)} episode file(s) exist already, e.g. '
                              f'{existing[0]} (use --overwrite or another --seed/--out)')
    os.makedirs(args.out, exist_ok=True)
    env = make_env(args.world, **kwargs)
    rooms = args.world == 'rooms'
    rng = np.random.default_rng(args.seed)
    if rooms:
        policy = DoorSeekingExplorer(env.action_space.shape[0], rng, env)
    else:
        policy = ExplorationPolicy(env.action_space.shape[0], rng)
    meta = dict(env.data_meta(), source='jepa-ros collect', policy=type(policy).__name__)
    crossed, rooms_visited = 0, []
    try:
        for i, path in enumerate(tqdm(paths, desc='episodes', unit='ep', disable=args.quiet)):
            options = {'layout_seed': layout_seed(args.layout_split, args.seed + i)} \
                if rooms else None
            images, actions, states, _ = collect_episode(env, policy, args.steps, args.seed + i,
                                                         options)
            if args.world in ('two_rooms', 'rooms'):
                visited = len({env.layout.room_of(s) for s in states})
                crossed += visited > 1
                rooms_visited.append(visited)
            if rooms:   # the layout changes every episode
                meta = dict(env.data_meta(), source='jepa-ros collect',
                            policy=type(policy).__name__)
            write_episode(path, images, actions, states, dict(meta, seed=args.seed + i))
    finally:
        env.close()
    print(f'wrote {len(paths)} episodes x {args.steps} frames to {args.out}')
    if args.world == 'two_rooms':
        print(f'episodes that crossed the door: {crossed}/{len(paths)}')
    if rooms:
        print(f'episodes that crossed a door: {crossed}/{len(paths)}; rooms visited per '
              f'episode: {np.mean(rooms_visited):.1f} of {env.grid[0] * env.grid[1]}')
    return 0
