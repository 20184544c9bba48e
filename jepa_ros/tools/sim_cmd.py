"""`jepa-ros sim`: run a world headless with exploration actions and print frames/s."""
import time

import numpy as np


def add_arguments(parser):
    parser.add_argument('--world', default='two_rooms', help='two_rooms or reach')
    parser.add_argument('--steps', type=int, default=500, help='step+render frames to run')
    parser.add_argument('--image-size', type=int, default=64, help='square image side (px)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--save', metavar='PNG', help='also save the last frame as a PNG')


def measure_fps(world, steps, image_size=64, seed=0, **env_kwargs):
    """Frames/s of step+render with exploration actions (the env built outside the timing).

    Returns (fps, last_frame)."""
    from jepa_ros.sim import make_env
    from jepa_ros.sim.exploration import ExplorationPolicy
    env = make_env(world, image_size=image_size, **env_kwargs)
    try:
        obs, _ = env.reset(seed=seed)
        policy = ExplorationPolicy(env.action_space.shape[0], np.random.default_rng(seed))
        actions = [policy() for _ in range(steps)]
        start = time.perf_counter()
        for action in actions:
            obs = env.step(action)[0]
        elapsed = time.perf_counter() - start
    finally:
        env.close()
    return steps / elapsed, obs


def run(args):
    from jepa_ros.sim import WORLDS
    if args.world not in WORLDS:
        raise ValueError(f'--world must be one of {sorted(WORLDS)}, got {args.world!r}')
    if args.steps < 1:
        raise ValueError(f'--steps must be >= 1, got {args.steps}')
    if not 16 <= args.image_size <= 512:
        raise ValueError(f'--image-size must be in [16, 512], got {args.image_size}')
    fps, frame = measure_fps(args.world, args.steps, args.image_size, args.seed)
    print(f'{args.world}: {args.steps} steps at {args.image_size}x{args.image_size}: '
          f'{fps:.0f} frames/s')
    if args.save:
        from PIL import Image
        Image.fromarray(frame).save(args.save)
        print(f'last frame: {args.save}')
    return 0
