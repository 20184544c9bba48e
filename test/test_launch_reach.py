"""`ros2 launch jepa_ros sim.launch.py world:=reach` (the Panda arm) as a ROS user runs it,
from the colcon install (no --symlink-install; one launch for the module):

* a goal the simulator samples (`sample_in_sim: true`) is reached through the reach_goal
  action, and sim_bridge's ground truth (~/goal_status) confirms the hand is there: the
  actor's commands (the reach action mode's TwistStamped) move the arm through sim_bridge;
* SIGINT to `ros2 launch` alone (`kill -INT`, as a supervisor sends it) ends it with exit
  code 0, every node finished cleanly, nothing left.

Needs the ROS 2 tools (see launch_support.need_tools). Measured figures are printed (-s).
"""
import pytest

import launch_support as ls

pytestmark = [pytest.mark.ros, pytest.mark.slow]

WORLD = 'reach'


@pytest.fixture(scope='module')
def stack(colcon_ws, tmp_path_factory):
    yield from ls.sim_launch(colcon_ws, tmp_path_factory, WORLD)


@pytest.mark.timeout(900)
def test_reaches_a_sampled_goal_through_the_action(stack):
    ls.reaches_a_sampled_goal(stack, WORLD)


def test_sigint_to_ros2_launch_stops_every_process_with_exit_code_0(stack):
    ws, launch, _client = stack
    ls.assert_stops_cleanly(launch, ws.nodes('sim'), whole_group=False)
