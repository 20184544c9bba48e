"""`ros2 launch jepa_ros sim.launch.py world:=two_rooms` as a ROS user runs it: built by the
README's colcon command (no --symlink-install), `source install/setup.bash`, launched from
the installed package (one launch for the whole module).

* a goal the simulator samples (`sample_in_sim: true`: sim_bridge picks it and publishes
  its image) is reached through the reach_goal action, and sim_bridge's ground truth
  (~/goal_status) confirms the robot is there;
* `ros2 param set` behaves as the README documents: a configurator-owned key set on
  /world_model is refused with a reason naming /configurator; set on /configurator it
  reaches /world_model and stays; a key nobody owns, set on /world_model, takes effect
  and stays;
* Ctrl-C (SIGINT to the launch's process group) ends it with exit code 0, nothing left.

Needs the ROS 2 tools (see launch_support.need_tools). Measured figures are printed (-s).
"""
import time

import pytest

import launch_support as ls

pytestmark = [pytest.mark.ros, pytest.mark.slow]

WORLD = 'two_rooms'


@pytest.fixture(scope='module')
def stack(colcon_ws, tmp_path_factory):
    yield from ls.sim_launch(colcon_ws, tmp_path_factory, WORLD)


@pytest.mark.timeout(900)
def test_reaches_a_sampled_goal_through_the_action(stack):
    ls.reaches_a_sampled_goal(stack, WORLD)


def stays(ws, node, name, value, seconds):
    """`ros2 param get` reads `value` every time over `seconds` (at least twice): no one
    puts another value back."""
    end = time.monotonic() + seconds
    reads = []
    while len(reads) < 2 or time.monotonic() < end:
        reads.append(ls.param_get(ws, node, name))
        assert reads[-1] == value, f'{node} {name} went back: read {reads} after setting {value}'


def becomes(ws, node, name, value, timeout_s=30.0):
    """Poll `ros2 param get` until it reads `value`; the reads."""
    end = time.monotonic() + timeout_s
    reads = [ls.param_get(ws, node, name)]
    while reads[-1] != value and time.monotonic() < end:
        reads.append(ls.param_get(ws, node, name))
    assert reads[-1] == value, f'{node} {name}: read {reads}, expected {value}'
    return reads


def test_ros2_param_set_behaves_as_documented(stack):
    ws, _launch, client = stack
    # Several of the configurator's checks (each compares and re-pushes): a value that
    # survives them stays.
    window = 3 * float(ls.param_get(ws, '/configurator', 'sync_period_s'))
    planner = ls.param_get(ws, '/configurator', 'planner')
    becomes(ws, '/world_model', 'planner', planner)
    other = 'cem' if planner != 'cem' else 'mppi'

    # An owned key set where it is used: refused, and the reason says where to set it.
    rc, text = ls.param_set(ws, '/world_model', 'planner', other)
    assert 'successful' not in text and '/configurator' in text, text
    assert ls.param_get(ws, '/world_model', 'planner') == planner

    # Set on its owner: reaches world_model, and stays there.
    rc, text = ls.param_set(ws, '/configurator', 'planner', other)
    assert rc == 0 and text.startswith('Set parameter successful'), text
    becomes(ws, '/world_model', 'planner', other)
    stays(ws, '/world_model', 'planner', other, window)

    # A key nobody owns: set directly, takes effect at once and stays.
    iterations = ls.param_get(ws, '/world_model', 'gd.iterations')
    new = str(int(iterations) + 2)
    rc, text = ls.param_set(ws, '/world_model', 'gd.iterations', new)
    assert rc == 0 and text.startswith('Set parameter successful'), text
    stays(ws, '/world_model', 'gd.iterations', new, window)

    # Put both back for whoever uses the stack next (through rclpy: quicker than the CLI).
    assert client.set_param('/configurator', 'planner', planner).successful
    assert client.set_param('/world_model', 'gd.iterations', int(iterations)).successful


def test_ctrl_c_stops_every_process_with_exit_code_0(stack):
    ws, launch, _client = stack
    ls.assert_stops_cleanly(launch, ws.nodes('sim'), whole_group=True)
