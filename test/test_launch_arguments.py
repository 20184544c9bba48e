"""Bad launch arguments are a clear error, not a silently different robot: `world:=` with a
world config/stack.yaml does not describe makes `ros2 launch` fail before any node starts,
naming the worlds it knows (sim.launch.py and robot.launch.py; from the colcon install)."""
import time

import pytest

import launch_support as ls

pytestmark = [pytest.mark.ros]


@pytest.mark.parametrize('launch_file', ['sim.launch.py', 'robot.launch.py'])
def test_an_unknown_world_fails_naming_the_known_worlds(colcon_ws, tmp_path, launch_file):
    launch = ls.Launch(colcon_ws, ['jepa_ros', launch_file, 'world:=two_room'], str(tmp_path))
    try:
        end = time.monotonic() + 120.0
        # Until it exits, or (the fault) starts nodes as if the world were fine.
        while launch.proc.poll() is None and time.monotonic() < end:
            with open(launch.log_path, errors='replace') as f:
                if 'process started' in f.read():
                    break
            time.sleep(0.1)
        rc = launch.proc.poll()
    finally:
        launch.kill()
    with open(launch.log_path, errors='replace') as f:
        log = f.read()
    known = sorted(colcon_ws.stack()['worlds'])
    assert rc not in (None, 0) and 'process started' not in log, launch.explain(
        f'world:=two_room: ros2 launch should fail before starting nodes (rc {rc})')
    assert 'two_room' in log and all(w in log for w in known), launch.explain(
        f'the error should name the unknown world and the known ones {known}')
