"""sim_bridge: a jepa_ros.sim world as a ROS 2 robot.

Publishes camera/image_raw (SENSOR_QOS, rgb8), odom (ground truth), joint_states (reach),
goal/image_raw (latched) and /clock (when use_sim_time is on); takes velocity commands on
cmd_vel (the world's action mode says the type, jepa_ros.core.action_modes: Twist for
two_rooms, TwistStamped for reach). Commands are physical units; the bridge divides
by the world's max speeds to get the normalised action the env takes, and rejects
(counts, logs at a limited rate) non-finite, malformed or over-range commands instead of
clipping them. When no valid command arrived for `cmd_timeout` seconds (wall time) the
robot is stopped (zero action) until the next one.

Ground-truth success for the configurator: service ~/goal_status (std_srvs/Trigger):
success = goal reached by ground truth, message = JSON {reached, distance, state,
goal_state, has_goal, sim_time}. In-process users call `SimStepper.goal_status()`.

The stepping logic is `jepa_ros.sim.stepper.SimStepper` (no rclpy), so the single-process
bringup, the benchmarks and tests drive it directly; `SimBridgeNode` only adds the ROS
interface.
"""
import json
import math
import time

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from std_msgs.msg import String

from jepa_ros.core import action_modes
from jepa_ros.nodes.diagnostics import DIAG_ERROR, Diagnostics, RateMeter
from jepa_ros.nodes.executors import run_node
from jepa_ros.nodes.messages import rgb_to_image
from jepa_ros.nodes.parameters import ParamSpec, declare_params
from jepa_ros.nodes.qos import LATCHED_QOS, RELIABLE_QOS, SENSOR_QOS
from jepa_ros.sim.stepper import WORLDS, CommandError, SimStepper

PARAMS = [
    ParamSpec('world', 'two_rooms', 'simulated world', choices=WORLDS, read_only=True),
    ParamSpec('grid', '1x2', 'rooms world: R x C grid of rooms (e.g. 1x2, 3x3; a 3x3 '
              'wants image_size 96)', read_only=True),
    ParamSpec('layout_split', 'held-out', 'rooms world: layout seeds of this split '
              '(train: the layouts data is collected on; held-out: never trained on)',
              choices=['train', 'held-out'], read_only=True),
    ParamSpec('layout_index', 0, 'rooms world: index of the first layout in its split',
              min=0, max=999_999, read_only=True),
    ParamSpec('new_layout_on_reset', True, 'rooms world: every ~/reset moves to the next '
              'layout of the split (walls and doors rebuilt, ~/metadata republished)'),
    ParamSpec('drive', 'holonomic', 'two_rooms / rooms drive: holonomic (Twist linear.x/y) '
              'or diff_drive (linear.x, angular.z); ignored for reach (TwistStamped '
              'linear.x/y/z)', choices=action_modes.WORLD_MODES['two_rooms'],
              read_only=True),
    ParamSpec('image_size', 64, 'camera image width = height in pixels',
              min=16, max=512, read_only=True),
    ParamSpec('camera_rate', 10.0, 'camera frames per second of simulated time (Hz)',
              min=0.1, max=200.0),
    ParamSpec('control_rate', 10.0, 'env steps (command applications) per second '
              'of simulated time (Hz); the env dt is 1/control_rate',
              min=1.0, max=200.0, read_only=True),
    ParamSpec('physics_rate', 100.0, 'physics solver steps per second of simulated '
              'time (Hz); rounded to a whole number of substeps per control step',
              min=1.0, max=10000.0, read_only=True),
    ParamSpec('real_time_factor', 1.0, 'simulated seconds per wall second',
              min=0.01, max=100.0),
    ParamSpec('cmd_timeout', 0.5, 'stop the robot when no valid command arrived '
              'for this many wall seconds', min=0.01, max=60.0),
    ParamSpec('cmd_topic', 'cmd_vel', 'velocity command topic', read_only=True),
    ParamSpec('over_range_tolerance', 0.01, 'a command component may exceed the '
              'max speed by this fraction before it is rejected', min=0.0, max=1.0),
    ParamSpec('seed', 0, 'seed of resets and sampled goals', min=0, max=2**31 - 1),
    ParamSpec('max_catch_up_steps', 10, 'most env steps per timer tick when the '
              'wall clock runs ahead (beyond that the sim slows down)', min=1, max=1000),
    ParamSpec('frame_id', 'camera', 'frame_id of camera images'),
    ParamSpec('odom_frame', 'odom', 'frame_id of odom'),
    ParamSpec('base_frame', 'base_link', 'child_frame_id of odom'),
]


def _yaw_to_quat(yaw):
    return 0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0)


def _sec_to_stamp(t):
    from builtin_interfaces.msg import Time
    sec = int(math.floor(t))
    return Time(sec=sec, nanosec=int(round((t - sec) * 1e9)) % 1_000_000_000)


class SimBridgeNode(Node):
    """The ROS face of SimStepper. Timers run on the steady clock (sim time is ours)."""

    def __init__(self, stepper=None, **node_kwargs):
        super().__init__('sim_bridge', **node_kwargs)
        self.p = declare_params(self, PARAMS, self._on_params)
        p = self.p
        self.use_sim_time = bool(self.get_parameter('use_sim_time').value)
        self.layout_index = int(p['layout_index'])
        self.stepper = stepper or SimStepper(
            world=p['world'], seed=p['seed'], cmd_timeout=p['cmd_timeout'], drive=p['drive'],
            image_size=p['image_size'], control_rate=p['control_rate'],
            physics_rate=p['physics_rate'],
            over_range_tolerance=p['over_range_tolerance'], env_kwargs=self._env_kwargs())
        self.world = self.stepper.world
        from geometry_msgs.msg import Twist, TwistStamped
        from nav_msgs.msg import Odometry
        from sensor_msgs.msg import Image, JointState
        from std_srvs.srv import Trigger
        self.image_pub = self.create_publisher(Image, 'camera/image_raw', SENSOR_QOS)
        self.goal_pub = self.create_publisher(Image, 'goal/image_raw', LATCHED_QOS)
        self.odom_pub = self.create_publisher(Odometry, 'odom', 10)
        # The world's action/state description, latched, for the memory node's metadata.
        self.meta_pub = self.create_publisher(String, '~/metadata', LATCHED_QOS)
        self.meta_pub.publish(String(data=json.dumps(self.stepper.metadata())))
        self.joint_pub = (self.create_publisher(JointState, 'joint_states', 10)
                          if self.world == 'reach' else None)
        self.clock_pub = None
        if self.use_sim_time:
            from rosgraph_msgs.msg import Clock as ClockMsg
            self.clock_pub = self.create_publisher(ClockMsg, '/clock', 10)
        self.cmd_type = TwistStamped if self.stepper.mode.stamped else Twist
        self.cmd_sub = self.create_subscription(self.cmd_type, p['cmd_topic'], self._on_cmd,
                                                RELIABLE_QOS)
        self.srv_group = MutuallyExclusiveCallbackGroup()
        self.create_service(Trigger, '~/reset', self._on_reset, callback_group=self.srv_group)
        self.create_service(Trigger, '~/sample_goal', self._on_sample_goal,
                            callback_group=self.srv_group)
        self.create_service(Trigger, '~/goal_status', self._on_goal_status,
                            callback_group=self.srv_group)
        self.diag = Diagnostics(self)
        self.camera_meter = RateMeter()
        self.wall_clock = Clock(clock_type=ClockType.STEADY_TIME)
        self.step_group = MutuallyExclusiveCallbackGroup()
        self._next_camera = 0.0
        self._sim_origin = None  # (wall, sim) at the last rate change
        self.timer = None
        self._restart_timer()
        self.get_logger().info(
            f'{self.world} ({self.stepper.mode.name}) dt={self.stepper.dt:.3f}s '
            f'camera={p["camera_rate"]}Hz rtf={p["real_time_factor"]} '
            f'scales={self.stepper.scales.tolist()} '
            f'cmd={p["cmd_topic"]} ({self.stepper.mode.cmd_msgtype})')

    # ---- parameters ------------------------------------------------------------------
    def _on_params(self, changed):
        if 'cmd_timeout' in changed:
            self.stepper.cmd_timeout = float(changed['cmd_timeout'])
        if 'over_range_tolerance' in changed:
            self.stepper.tolerance = float(changed['over_range_tolerance'])
        if 'camera_rate' in changed or 'real_time_factor' in changed:
            self.p.update(changed)
            self._restart_timer()

    def _restart_timer(self):
        if self.timer is not None:
            self.destroy_timer(self.timer)
        rtf = float(self.p['real_time_factor'])
        # Tick at the faster of control and camera rate, in wall time.
        sim_period = min(self.stepper.dt, 1.0 / float(self.p['camera_rate']))
        self._sim_origin = (time.monotonic(), self.stepper.sim_time)
        self.timer = self.create_timer(sim_period / rtf, self._on_tick,
                                       callback_group=self.step_group, clock=self.wall_clock)

    # ---- commands --------------------------------------------------------------------
    def _on_cmd(self, msg):
        twist = msg.twist if self.stepper.mode.stamped else msg
        lin = (twist.linear.x, twist.linear.y, twist.linear.z)
        ang = (twist.angular.x, twist.angular.y, twist.angular.z)
        try:
            self.stepper.command(lin, ang)
        except CommandError as exc:
            self.get_logger().warning(f'rejected {exc.kind} command: {exc}',
                                      throttle_duration_sec=2.0)
        except Exception as exc:  # a bad message must never kill the node
            self.stepper.counts['malformed'] += 1
            self.get_logger().error(f'rejected command: {exc!r}', throttle_duration_sec=2.0)

    # ---- stepping --------------------------------------------------------------------
    def _on_tick(self):
        try:
            self._tick()
        except Exception as exc:  # keep stepping; report loudly
            if not self.context.ok():
                return  # SIGINT/SIGTERM shut the context down under a step: not a fault
            self.diag.error(f'step failed: {exc!r}')
            self.get_logger().error(f'step failed: {exc!r}', throttle_duration_sec=2.0)

    def _tick(self):
        st = self.stepper
        rtf = float(self.p['real_time_factor'])
        wall0, sim0 = self._sim_origin
        target = sim0 + (time.monotonic() - wall0) * rtf
        steps = 0
        max_steps = int(self.p['max_catch_up_steps'])
        while st.sim_time + st.dt <= target + 1e-9 and steps < max_steps:
            st.step()
            steps += 1
            if self.clock_pub is not None:
                from rosgraph_msgs.msg import Clock as ClockMsg
                self.clock_pub.publish(ClockMsg(clock=_sec_to_stamp(st.sim_time)))
        if steps == max_steps and st.sim_time + st.dt <= target:
            # Too slow for real time: re-anchor rather than run an ever-growing backlog.
            self._sim_origin = (time.monotonic(), st.sim_time)
        if steps:
            self._publish_odom()
        st.watchdog()
        if st.sim_time + 1e-9 >= self._next_camera and st.obs is not None:
            self._publish_camera()
            period = 1.0 / float(self.p['camera_rate'])
            self._next_camera = max(self._next_camera + period, st.sim_time - period)
        self._update_diag()

    def _stamp(self):
        if self.use_sim_time:
            return _sec_to_stamp(self.stepper.sim_time)
        return self.get_clock().now().to_msg()

    def _publish_camera(self):
        with self.stepper.lock:
            obs = self.stepper.obs
        self.image_pub.publish(rgb_to_image(obs, self._stamp(), self.p['frame_id']))
        self.camera_meter.tick()

    def _publish_odom(self):
        from nav_msgs.msg import Odometry
        st = self.stepper
        state = st.state()
        if state is None:
            return
        msg = Odometry()
        msg.header.stamp = self._stamp()
        msg.header.frame_id = self.p['odom_frame']
        msg.child_frame_id = self.p['base_frame']
        vel = st.applied_velocity()
        pose = msg.pose.pose
        if self.world == 'reach':
            pose.position.x, pose.position.y, pose.position.z = (float(v) for v in state[:3])
            pose.orientation.w = 1.0
            msg.twist.twist.linear.x, msg.twist.twist.linear.y, msg.twist.twist.linear.z = (
                float(v) for v in vel[:3])
        else:
            pose.position.x, pose.position.y = float(state[0]), float(state[1])
            yaw = float(state[2]) if len(state) > 2 else 0.0
            (pose.orientation.x, pose.orientation.y, pose.orientation.z,
             pose.orientation.w) = _yaw_to_quat(yaw)
            if st.mode is action_modes.DIFF_DRIVE:
                msg.twist.twist.linear.x, msg.twist.twist.angular.z = float(vel[0]), float(vel[1])
            else:
                msg.twist.twist.linear.x, msg.twist.twist.linear.y = float(vel[0]), float(vel[1])
        self.odom_pub.publish(msg)
        if self.joint_pub is not None:
            js = st.joint_state()
            if js is not None:
                from sensor_msgs.msg import JointState
                jmsg = JointState()
                jmsg.header.stamp = msg.header.stamp
                jmsg.name, jmsg.position = js[0], js[1]
                self.joint_pub.publish(jmsg)

    def _update_diag(self):
        st = self.stepper
        c = st.counts
        for k, v in c.items():
            self.diag.set(k, v)
        self.diag.set('rejected', c['nonfinite'] + c['malformed'] + c['over_range'])
        self.diag.set('camera_hz', f'{self.camera_meter.rate():.2f}')
        self.diag.set('sim_time', f'{st.sim_time:.3f}')
        self.diag.set('stopped_by_watchdog', st.stopped_by_watchdog)
        status = st.goal_status()
        self.diag.set('goal_reached', status['reached'])
        if status['distance'] is not None:
            self.diag.set('goal_distance', f'{status["distance"]:.4f}')
        if self.diag.level != DIAG_ERROR:
            self.diag.ok('stopped (no command)' if st.stopped_by_watchdog else 'driving')

    # ---- services --------------------------------------------------------------------
    def _env_kwargs(self):
        if self.p['world'] != 'rooms':
            return None
        return {'grid': self.p['grid'], 'layout_seed': self._layout_seed()}

    def _layout_seed(self):
        from jepa_ros.sim.rooms_layout import layout_seed
        return layout_seed(self.p['layout_split'], self.layout_index)

    def _on_reset(self, _req, resp):
        try:
            if self.world == 'rooms' and self.p['new_layout_on_reset']:
                self.layout_index += 1
                self.stepper.reset(layout_seed=self._layout_seed())
                # The layout is part of the world's description: memory records it.
                self.meta_pub.publish(String(data=json.dumps(self.stepper.metadata())))
            else:
                self.stepper.reset()
            self._next_camera = self.stepper.sim_time
            resp.success = True
            state = self.stepper.state()
            resp.message = json.dumps({'state': None if state is None else state.tolist()})
        except Exception as exc:
            resp.success, resp.message = False, f'reset failed: {exc!r}'
        return resp

    def _on_sample_goal(self, _req, resp):
        try:
            state, image = self.stepper.sample_goal()
            self.goal_pub.publish(rgb_to_image(image, self._stamp(), 'goal'))
            resp.success = True
            resp.message = json.dumps({'goal_state': state.tolist()})
        except Exception as exc:
            resp.success, resp.message = False, f'sample_goal failed: {exc!r}'
        return resp

    def _on_goal_status(self, _req, resp):
        status = self.stepper.goal_status()
        resp.success = bool(status['reached'])
        resp.message = json.dumps(status)
        return resp

    def destroy_node(self):
        # Also called (by rclpy's context shutdown) on a node whose __init__ raised: the
        # stepper may not exist, and an error here must not hide the one that stopped it.
        stepper = getattr(self, 'stepper', None)
        if stepper is not None:
            stepper.close()
        return super().destroy_node()


def main(args=None):
    run_node(SimBridgeNode, args, threads=2)


if __name__ == '__main__':
    main()
