"""`ros2 launch jepa_ros robot.launch.py camera:=/stand_in/image_raw cmd_vel:=/stand_in/cmd_vel`
as on a robot, from the colcon install (no --symlink-install), no simulator in the graph:

* a user's params_file (actor max_linear_speed) overrides the shipped parameters;
* a stand-in robot in this test (a jepa_ros.sim two_rooms world stepped by the commands it
  receives, publishing its camera frames at 10 Hz) is the only camera, on the remapped
  topic; a goal image (rendered by the same world) goes in the ReachGoal goal;
* the graph turns the camera images into commands on the remapped /stand_in/cmd_vel, each
  finite and within the actor's limits; nothing is published on plain /cmd_vel and nothing
  reads plain /camera/image_raw;
* SIGINT to `ros2 launch` ends it with exit code 0, every node finished cleanly, nothing
  left.
"""
import math
import os
import time

import launch_support as ls
import numpy as np
import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]

CAMERA = '/stand_in/image_raw'
CMD_VEL = '/stand_in/cmd_vel'
ARGS = ['jepa_ros', 'robot.launch.py', f'camera:={CAMERA}', f'cmd_vel:={CMD_VEL}']
STEP_S = 0.1             # the stand-in robot's control step = the world model's time step
CMD_TIMEOUT_S = 0.5      # older commands: the stand-in robot stops (as sim_bridge does)
GOAL_TIMEOUT_S = 30.0
SEED = 3
USER_MAX_LINEAR = 0.8  # m/s, set by the test's params_file (the shipped value is 1.5)


class StandInRobot:
    """A two_rooms robot outside the ROS graph: publishes what its camera sees on CAMERA
    and moves by the latest command received on CMD_VEL, one env step per tick()."""

    def __init__(self, node):
        from sensor_msgs.msg import Image

        from jepa_ros.sim.two_rooms import TwoRoomsEnv
        self.node = node
        self.env = TwoRoomsEnv(image_size=64)
        start, goal = self.env.sample_task(np.random.default_rng(SEED), kind='same_room')
        self.frame, self.info = self.env.reset(
            seed=SEED, options={'start_state': start, 'goal_state': goal, 'door_open': True})
        self.start_distance = self.info['distance']
        self.camera = node.create_publisher(Image, CAMERA, 10)
        self.commands = []       # (monotonic receive time, 6 components) of every command
        self.sub = None

    def listen(self, msg_class):
        self.sub = self.node.create_subscription(msg_class, CMD_VEL, self._on_cmd, 100)

    def _on_cmd(self, msg):
        twist = getattr(msg, 'twist', msg)     # TwistStamped or Twist
        self.commands.append((time.monotonic(), (
            twist.linear.x, twist.linear.y, twist.linear.z,
            twist.angular.x, twist.angular.y, twist.angular.z)))

    def goal_image(self):
        from jepa_ros.nodes.messages import rgb_to_image
        return rgb_to_image(self.env.goal_image, frame_id='camera')

    def tick(self):
        from jepa_ros.nodes.messages import rgb_to_image
        action = np.zeros(2)
        if self.commands and time.monotonic() - self.commands[-1][0] < CMD_TIMEOUT_S:
            lx, ly = self.commands[-1][1][:2]
            action = np.clip(np.array([lx, ly]) / self.env.max_linear_speed, -1.0, 1.0)
        self.frame, _, _, _, self.info = self.env.step(action)
        self.camera.publish(rgb_to_image(self.frame, self.node.get_clock().now().to_msg(),
                                         frame_id='camera'))

    def close(self):
        self.env.close()


@pytest.fixture(scope='module')
def stack(colcon_ws, tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp('launch_robot'))
    # A user's own parameter file over the shipped ones (a slower robot).
    params_file = os.path.join(run_dir, 'my_robot.yaml')
    with open(params_file, 'w') as f:
        f.write(f'actor:\n  ros__parameters: {{max_linear_speed: {USER_MAX_LINEAR}}}\n')
    args = ARGS + [f'params_file:={params_file}']
    with ls.running(colcon_ws, args, 'robot', run_dir) as (launch, client):
        robot = StandInRobot(client.node)
        try:
            yield colcon_ws, launch, client, robot
        finally:
            robot.close()


def test_stand_in_camera_images_become_commands_on_the_remapped_topic(stack):
    from geometry_msgs.msg import Twist
    from rclpy.parameter_client import AsyncParameterClient

    from jepa_ros_interfaces.action import ReachGoal
    _ws, launch, client, robot = stack
    node = client.node
    # Remapped: perception reads the stand-in camera, nobody reads the default topic.

    def readers(topic):
        return sorted(i.node_name for i in node.get_subscriptions_info_by_topic(topic))
    client.spin_until(lambda: 'perception' in readers(CAMERA), 60.0,
                      f'perception subscribed to {CAMERA}', tick=robot.tick,
                      tick_period_s=STEP_S)
    assert readers('/camera/image_raw') == [], readers('/camera/image_raw')
    # The actor publishes on the remapped command topic, in its action mode's type.
    client.spin_until(lambda: client.topic_types(CMD_VEL), 60.0,
                      f'a publisher on {CMD_VEL}', tick=robot.tick, tick_period_s=STEP_S)
    types = client.topic_types(CMD_VEL)
    assert len(types) == 1, types
    robot.listen(ls.ros_message_class(types[0]))
    plain = []
    node.create_subscription(Twist, '/cmd_vel', plain.append, 100)
    # The actor's limits, as it runs (its parameter file, live values).
    params = AsyncParameterClient(node, 'actor')
    client.spin_until(params.services_are_ready, 60.0, 'actor parameter services')
    names = ['max_linear_speed', 'max_angular_speed']
    fut = params.get_parameters(names)
    client.spin_until(fut.done, 30.0, 'actor limits')
    max_linear, max_angular = (v.double_value for v in fut.result().values)
    assert max_linear == USER_MAX_LINEAR     # the user's params_file won over the defaults

    goal = ReachGoal.Goal(goal_image=robot.goal_image(), sample_in_sim=False,
                          timeout_s=GOAL_TIMEOUT_S)
    started = time.monotonic()
    send = client.action.send_goal_async(goal)
    client.spin_until(send.done, 60.0, 'goal accepted', tick=robot.tick, tick_period_s=STEP_S)
    handle = send.result()
    assert handle.accepted, 'a goal image from the stand-in camera was rejected'
    result = handle.get_result_async()

    def moving():
        return any(math.hypot(*c[:3]) > 1e-3 for _, c in robot.commands)
    client.spin_until(lambda: moving() or result.done(), 120.0,
                      f'a non-zero command on {CMD_VEL} after the goal', tick=robot.tick,
                      tick_period_s=STEP_S)
    first_command_s = time.monotonic() - started
    client.spin_until(result.done, GOAL_TIMEOUT_S + 60.0, 'the goal result', tick=robot.tick,
                      tick_period_s=STEP_S)
    r = result.result().result
    print(f'robot.launch.py: first moving command {first_command_s:.1f} s after the goal; '
          f'{len(robot.commands)} commands on {CMD_VEL}; goal '
          f'{"reached" if r.success else "NOT reached"} in {time.monotonic() - started:.1f} s '
          f'({r.message}); stand-in robot distance to the goal '
          f'{robot.start_distance:.2f} -> {robot.info["distance"]:.2f} m')

    assert moving(), launch.explain(f'no moving command on {CMD_VEL}: {robot.commands[-5:]}')
    for _, c in robot.commands:
        assert all(math.isfinite(v) for v in c), c
        assert math.hypot(*c[:3]) <= max_linear * (1 + 1e-6), (c, max_linear)
        assert abs(c[5]) <= max_angular * (1 + 1e-6) and c[3] == c[4] == 0.0, (c, max_angular)
    assert node.count_publishers('/cmd_vel') == 0 and plain == [], \
        f'{node.count_publishers("/cmd_vel")} publishers, {len(plain)} messages on /cmd_vel'


def test_sigint_to_ros2_launch_stops_every_process_with_exit_code_0(stack):
    ws, launch, _client, _robot = stack
    ls.assert_stops_cleanly(launch, ws.nodes('robot'), whole_group=False)
