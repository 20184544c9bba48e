"""Benchmark `sim`: step+render frames/s per world on one core, and how well the
exploration policy covers two_rooms. Writes section `sim` of docs/BENCHMARKS.md.

    python -m jepa_ros.tools.bench_sim [--quick]
"""
import argparse
import os
import sys

COMMAND = 'python -m jepa_ros.tools.bench_sim'
# (world, steps timed): reach renders a meshed arm, so fewer steps give the same accuracy.
WORLDS = [('two_rooms', 2000), ('reach', 200)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='fewer steps and episodes')
    parser.add_argument('--no-write', action='store_true', help='print only')
    args = parser.parse_args(argv)
    # One core, as the brief for the sim target says; set before torch/numpy threads start.
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    from jepa_ros.sim import make_env
    from jepa_ros.sim.exploration import exploration_stats
    from jepa_ros.tools.benchmarks import md_table, write_section
    from jepa_ros.tools.sim_cmd import measure_fps

    scale = 10 if args.quick else 1
    rows = []
    for world, steps in WORLDS:
        steps = max(steps // scale, 20)
        fps, _ = measure_fps(world, steps, image_size=64, seed=0)
        rows.append([world, '64x64', steps, f'{fps:.0f}', f'{1000 / fps:.2f}'])
        print(f'{world}: {fps:.0f} frames/s', flush=True)
    env = make_env('two_rooms')
    episodes, ep_steps = (10, 200) if args.quick else (100, 200)
    stats = exploration_stats(env, episodes=episodes, steps=ep_steps, seed=0)
    env.close()
    print(stats)
    body = '\n'.join([
        'Step + render (TinyRenderer, PyBullet DIRECT) with exploration actions, one process '
        'on one core, env construction and reset excluded. Target: two_rooms >= 500 frames/s.',
        '',
        md_table(['world', 'image', 'steps timed', 'frames/s', 'ms/frame'], rows),
        '',
        f'Exploration (`ExplorationPolicy`, two_rooms, {episodes} episodes x {ep_steps} steps '
        'from random starts, seeds 0..):',
        '',
        md_table(['door-crossing fraction', 'coverage, all episodes', 'coverage per episode'],
                 [[f'{stats["door_crossing_fraction"]:.2f}', f'{stats["coverage_all"]:.2f}',
                   f'{stats["coverage_episode"]:.2f}']]),
        '',
        'Coverage: fraction of a 10x10 grid of 0.3 m cells over the arena visited by the '
        'robot centre. Door-crossing fraction: episodes whose robot was in both rooms.',
    ])
    if not args.no_write:
        path = write_section('sim', 'Simulation speed and exploration',
                             COMMAND + (' --quick' if args.quick else ''), body)
        print(f'wrote section sim of {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
