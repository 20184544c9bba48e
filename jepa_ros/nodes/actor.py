"""Actor: turns the newest fresh plan (Mode 2) or the Mode-1 policy into cmd_vel.

At `control_rate` it picks the action of jepa/plan that covers "now" (plan stamp +
step * step_dt), falls back to the Mode-1 actor network (actor checkpoint) when the plan
is stale or absent, and publishes a command shaped by jepa_ros.core.command (speed and
acceleration limits, never NaN). The message type is the action mode's
(jepa_ros.core.action_modes): Twist for the bases, TwistStamped (stamped now, frame
`cmd_frame_id`) for the reach arm.

Idle means silent: when there is nothing to execute (latent state older than
`watchdog_timeout` because perception died, ~/estop, disabled, no goal, plan ended or
stale without a Mode-1 policy) the actor publishes ONE zero command and then nothing until
it has something to execute again, so it does not fight teleop or a twist_mux on a real
robot. `publish_when_idle` brings back a zero command every control tick (a heartbeat).

Model versions: states, goals and plans of another model version than the actor's are
dropped (counted, /diagnostics `dropped_version_<kind>`), so a plan of one world model never
drives the robot on latents of another. Hot swap (lifecycle_util): the candidate world
model's config (same action dim and mode; its action scales and latent size are taken)
and Mode-1 policy (the request's actor checkpoint, or the running policy when its latent
size still fits; finite output on a probe) are staged; on commit they replace the running
ones between two ticks and the state, goal and plan of the old version are dropped: the
watchdog stops the robot until perception and world_model send the new version (the
short window of a switch), then plans drive it again.
"""
import threading
import time

import numpy as np
from geometry_msgs.msg import Twist, TwistStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from std_srvs.srv import SetBool

from jepa_ros.core import action_modes
from jepa_ros.core import command as cmdlib
from jepa_ros.nodes.backend import backend_params, load_node_backend
from jepa_ros.nodes.lifecycle_util import (ModelLifecycleNode, check_finite, check_same_robot,
                                           checkpoint_param, resolve_path, run_lifecycle_node)
from jepa_ros.nodes.messages import stamp_to_sec
from jepa_ros.nodes.ownership import OWNED_KEYS
from jepa_ros.nodes.parameters import ParamSpec
from jepa_ros.nodes.qos import LATCHED_QOS

PARAMS = [
    checkpoint_param(': action scales and action mode come from its config'),
    ParamSpec('actor_checkpoint', '', 'Mode-1 actor checkpoint ("" = no Mode-1 '
              'policy: stale plan -> zero command); relative paths as for checkpoint',
              read_only=True),
    ParamSpec('device', 'cpu', 'torch device of the Mode-1 policy',
              choices=['cpu', 'cuda'], read_only=True),
    *backend_params('the Mode-1 policy'),
    ParamSpec('mode', 'mode2', 'mode2: execute plans (Mode-1 as fallback); mode1: '
              'Mode-1 policy only', choices=['mode2', 'mode1']),
    ParamSpec('enabled', True, 'false holds the robot (zero command); the '
              'configurator clears it when a goal ends or is cancelled'),
    ParamSpec('control_rate', 50.0, 'command rate (Hz)', min=1.0, max=500.0),
    ParamSpec('command_on_input', True, 'also send a command as soon as a new latent '
              'state or plan arrives (does not wait for the next control tick: '
              'saves up to 1/control_rate of latency)'),
    ParamSpec('step_dt', 0.1, 'duration of one plan step (s) = the model time step',
              min=0.001, max=10.0),
    ParamSpec('watchdog_timeout', 0.2, 'zero command when the newest latent state is '
              'older than this (s)', min=0.01, max=10.0),
    ParamSpec('plan_timeout', 0.5, 'a plan older than this (s) is stale', min=0.01,
              max=60.0),
    ParamSpec('max_linear_speed', 1.5, 'limit on |linear| (m/s)', min=0.0, max=10.0),
    ParamSpec('max_angular_speed', 1.5, 'limit on |angular.z| (rad/s)', min=0.0,
              max=20.0),
    ParamSpec('max_linear_accel', 15.0, 'limit on the change of linear velocity '
              '(m/s^2)', min=0.0, max=100.0),
    ParamSpec('max_angular_accel', 6.0, 'limit on the change of angular velocity '
              '(rad/s^2)', min=0.0, max=200.0),
    ParamSpec('action_mode', '', 'override the checkpoint action mode ("" = from the '
              'checkpoint); it sets the command type: Twist, or TwistStamped for reach',
              choices=['', *action_modes.ACTION_MODES], read_only=True),
    ParamSpec('publish_when_idle', False, 'true: publish a zero command every control '
              'tick while there is nothing to execute (heartbeat); false: one zero '
              'command when going idle, then silence (leaves cmd_vel to teleop / a '
              'twist_mux)'),
    ParamSpec('cmd_frame_id', 'base_link', 'header.frame_id of TwistStamped commands '
              '(action modes whose command is stamped, e.g. reach)'),
    ParamSpec('autostart', True, 'configure and activate on start (own process)',
              read_only=True),
]


def read_action_config(path):
    """(action_scale list, canonical action_mode, latent_dim) from a world model checkpoint
    config (legacy mode names such as 'ee_velocity' read as their canonical name)."""
    from jepa_ros.core.checkpoint import read_checkpoint
    cfg = read_checkpoint(resolve_path(path))['config']
    return ([float(x) for x in cfg['action_scale']],
            action_modes.canonical(str(cfg.get('action_mode', 'holonomic'))),
            int(cfg['latent_dim']))


class ActorNode(ModelLifecycleNode):
    MODEL_ATTRS = ('policy',)
    CONFIGURED_ENTITIES = ('cmd_pub',)
    ACTIVE_ENTITIES = ('subs', 'timer')
    VERSION_PART = 'action_config'   # handed in instead of the world model checkpoint

    def __init__(self, action_config=None, policy=None, **kwargs):
        """action_config=(scale, mode, latent_dim) and policy=callable(z, g) may be handed in
        (bringup, tests) instead of being read from the checkpoints."""
        # `mode` is the configurator's (OWNED_KEYS): refused for `ros2 param set` while it is up.
        # _on_params runs after a set (timer, limits): validation is the specs' ranges.
        super().__init__('actor', PARAMS, given={'action_config': action_config,
                                                 'policy': policy},
                         on_applied=self._on_params, owned=OWNED_KEYS['actor'], **kwargs)
        self.lock = threading.Lock()
        # Ticks run from the timer and (command_on_input) from the input callbacks, which
        # are in different callback groups: one tick at a time.
        self.tick_lock = threading.Lock()
        self.group = MutuallyExclusiveCallbackGroup()
        self.in_group = MutuallyExclusiveCallbackGroup()
        self.shaper = cmdlib.CommandShaper(self._limits(self.p))
        self.estop = False
        self.state = self.goal = None        # numpy latents
        self.state_rx = None                 # monotonic receive time
        self.plan = None                     # (stamp_s, actions (T,A) np)
        self.last_tick = None
        self.timer = None
        self.subs = []
        self.cmd_pub = None
        self.mode = None                     # ActionMode (from the checkpoint), on configure
        # True once the zero command of going idle went out: idle ticks stay silent.
        self.idle_sent = False
        self.counts = {'ticks': 0, 'plan': 0, 'mode1': 0, 'stop': 0, 'rejected_plans': 0,
                       'published': 0}
        self.last_reason = ''
        self.create_service(SetBool, '~/estop', self._on_estop, callback_group=self.in_group)

    @staticmethod
    def _limits(p):
        return cmdlib.Limits(p['max_linear_speed'], p['max_angular_speed'],
                             p['max_linear_accel'], p['max_angular_accel'])

    def _on_params(self, changed):
        trial = dict(self.p)
        trial.update(changed)
        limits = self._limits(trial)
        with self.lock:
            self.shaper.limits = limits
        if 'control_rate' in changed and self.timer is not None:
            self.destroy_timer(self.timer)
            self.timer = self.create_timer(1.0 / float(changed['control_rate']), self._tick,
                                           callback_group=self.group)
        if changed.get('enabled') is False:
            self.plan = None  # a held robot does not resume an old plan

    def _on_estop(self, req, resp):
        # Under the tick lock: no tick sees the e-stop before its zero command went out
        # (that would send two), and the stopped ticks after it stay silent.
        with self.tick_lock:
            self.estop = bool(req.data)
            if self.estop and self.cmd_pub is not None:
                with self.lock:
                    out = self.shaper.stop()
                self._publish(out)
                self.idle_sent = True
        resp.success = True
        resp.message = 'estop engaged: zero command' if self.estop else 'estop released'
        self.get_logger().warning(resp.message)
        return resp

    # ---- lifecycle (ModelLifecycleNode hooks) -------------------------------------------
    def load(self):
        exported = None
        if not {'action_config', 'policy'} <= set(self.given):
            exported = load_node_backend(self, [], optional=['actor'])
        if exported is not None and 'action_config' not in self.given:
            cfg = exported.manifest['config']   # what the checkpoint config would say
            scale, mode, d = cfg['action_scale'], cfg['action_mode'], cfg['latent_dim']
        else:
            scale, mode, d = self.part('action_config', 'checkpoint', read_action_config)
        self.action_scale = list(scale)
        self.mode = action_modes.get(self.p['action_mode'] or mode)
        self.action_mode = self.mode.name
        self.latent_dim = int(d)
        # What a candidate must keep: the command type and the number of action fields.
        self.robot = {'action_dim': len(scale), 'action_mode': action_modes.canonical(mode),
                      'image_size': None}
        cmdlib.action_to_twist(np.zeros(len(scale)), scale, self.mode)  # check
        if exported is not None and 'policy' not in self.given:
            self.policy = self._exported_policy(exported.actor)
        else:
            self.policy = self.part('policy', 'actor_checkpoint', self._load_policy,
                                    optional=True)

    def _exported_policy(self, net):
        """The Mode-1 policy callable(z, g) of the export's actor (None: it has none)."""
        if net is None:
            self.get_logger().info('export_dir holds no actor network: no Mode-1 policy')
            return None

        def policy(z, g):
            return net.numpy(np.reshape(z, (1, -1)), np.reshape(g, (1, -1)))[0]
        return policy

    def create_outputs(self):
        # The command type is the action mode's: whoever drives the robot (sim_bridge,
        # a robot driver) subscribes the type its mode says.
        self.cmd_pub = self.create_lifecycle_publisher(
            TwistStamped if self.mode.stamped else Twist, 'cmd_vel', 10)
        self.get_logger().info(f'action mode {self.mode.name}: {self.mode.cmd_msgtype} on '
                               f'cmd_vel, fields {list(self.mode.fields)}, scales '
                               f'{self.action_scale}')

    def _load_policy(self, path, latent_dim=None, action_dim=None):
        """The Mode-1 policy callable(z, g) of an actor checkpoint (resolved `path`) for a
        world model of `latent_dim` / `action_dim` (default: the running one's)."""
        import torch

        import jepa_ros.core.actor  # noqa: F401  registers the 'actor' checkpoint kind
        from jepa_ros.core.checkpoint import load_checkpoint
        want_d = self.latent_dim if latent_dim is None else int(latent_dim)
        want_a = len(self.action_scale) if action_dim is None else int(action_dim)
        net, _ = load_checkpoint(path, map_location=self.device, kind='actor')
        d, a = int(net.config.latent_dim), int(net.config.action_dim)
        if d != want_d or a != want_a:
            raise ValueError(f'actor checkpoint {path} takes {d}-d latents and gives {a}-d '
                             f'actions; the world model has {want_d} and {want_a}')

        def policy(z, g):
            with torch.no_grad():
                zt = torch.as_tensor(z, dtype=torch.float32).reshape(1, -1)
                gt = torch.as_tensor(g, dtype=torch.float32).reshape(1, -1)
                return net(zt, gt)[0].cpu().numpy()
        return policy

    # ---- hot swap (ModelLifecycleNode hooks) --------------------------------------------
    def prepare_candidate(self, path, request, version):
        """The candidate's action scales and latent size (from its config) and Mode-1
        policy (request.actor_checkpoint; '' keeps the running one for the same model version
        and drops it for another), checked."""
        from jepa_ros.core.checkpoint import read_checkpoint
        from jepa_ros.core.world_model import WorldModelConfig
        payload = read_checkpoint(path)   # torch.load(weights_only=True): no code runs
        if payload['kind'] != 'world_model':
            raise ValueError(f"is a {payload['kind']!r} checkpoint, not a world model")
        config = WorldModelConfig.from_dict(payload['config'])   # ValueError when invalid
        scale = [float(x) for x in config.action_scale]
        d = int(config.latent_dim)
        check_same_robot({'action_dim': len(scale),
                          'action_mode': action_modes.canonical(str(config.action_mode))},
                         self.robot)
        cmdlib.action_to_twist(np.zeros(len(scale)), scale, self.mode)  # check
        actor_path = str(request.actor_checkpoint)
        if actor_path:
            try:
                policy = self._load_policy(resolve_path(actor_path), d, len(scale))
            except Exception as exc:
                raise ValueError(f'actor {actor_path!r}: {exc}') from None
        elif version == self.model_version:
            policy = self.policy
        else:
            # The running policy was distilled on the old model's latents: on the new ones
            # its commands mean nothing. Without a new one, Mode-1 is off (a stale plan
            # then stops the robot instead of falling back).
            policy = None
            if self.policy is not None:
                self.get_logger().warning(
                    f'swap to {version} without actor_checkpoint: the Mode-1 policy of '
                    f'{self.model_version} is dropped (Mode-1 off until one is given)')
        if policy is not None:
            zero = np.zeros(d, np.float32)
            out = np.asarray(check_finite('the Mode-1 policy', policy(zero, zero)))
            if out.shape != (len(scale),):
                raise ValueError(f'the Mode-1 policy gives {out.shape} actions, want '
                                 f'({len(scale)},)')
        return {'scale': scale, 'latent_dim': d, 'policy': policy}

    def install_candidate(self, parts, version):
        with self.tick_lock, self.lock:   # between two ticks
            self.policy = parts['policy']
            self.action_scale = list(parts['scale'])
            self.latent_dim = int(parts['latent_dim'])
            self.model_version = version
            # Inputs of the old version: the watchdog holds the robot until new ones come.
            self.plan = self.state = self.state_rx = self.goal = None

    def start(self):
        from jepa_ros_interfaces.msg import LatentState, Plan
        self.subs = [
            self.create_subscription(LatentState, 'jepa/state', self._on_state, 10,
                                     callback_group=self.in_group),
            self.create_subscription(LatentState, 'jepa/goal_state', self._on_goal,
                                     LATCHED_QOS, callback_group=self.in_group),
            self.create_subscription(Plan, 'jepa/plan', self._on_plan, 10,
                                     callback_group=self.in_group),
        ]
        self.shaper.reset()
        self.last_tick = None
        self.idle_sent = False  # the first idle tick sends the one zero command
        self.timer = self.create_timer(1.0 / self.p['control_rate'], self._tick,
                                       callback_group=self.group)

    def stop(self):
        if self.cmd_pub is not None:  # leave the robot stopped
            with self.tick_lock:
                with self.lock:
                    out = self.shaper.stop()
                self._publish(out)
                self.idle_sent = True

    # ---- inputs -----------------------------------------------------------------------
    def _now(self):
        return self.get_clock().now().nanoseconds * 1e-9

    def _vec(self, msg, kind):
        with np.errstate(over='ignore', invalid='ignore'):  # huge values -> inf -> refused
            z = np.asarray(msg.data, dtype=np.float32)
        if msg.level != 1 or z.shape[0] != self.latent_dim or not np.all(np.isfinite(z)):
            self.log.warn(kind, f'ignoring {kind}: level {msg.level}, {z.shape[0]} values, '
                                f'finite={bool(np.all(np.isfinite(z)))}')
            return None
        return z

    # Inputs are checked and stored under self.lock: a switch (install_candidate) cannot
    # come between the version check and the store.
    def _on_state(self, msg):
        with self.lock:
            z = self._vec(msg, 'state') if self.version_ok(msg, 'state') else None
            if z is not None:
                self.state, self.state_rx = z, time.monotonic()
        if z is not None and self.p['command_on_input']:
            self._tick()

    def _on_goal(self, msg):
        with self.lock:
            z = self._vec(msg, 'goal') if self.version_ok(msg, 'goal') else None
            if z is not None:
                self.goal = z
                self.plan = None

    def _on_plan(self, msg):
        a = np.asarray(msg.actions, dtype=np.float64)
        n, t = int(msg.action_dim), int(msg.horizon)
        with self.lock:
            if not self.version_ok(msg, 'plan'):
                self.counts['rejected_plans'] += 1
                return
            if n != len(self.action_scale) or t < 1 or a.shape[0] != n * t:
                self.counts['rejected_plans'] += 1
                self.log.warn('plan', f'rejecting plan: {t}x{n} with {a.shape[0]} actions, '
                                      f'want action_dim {len(self.action_scale)}')
                return
            self.plan = (stamp_to_sec(msg.header.stamp), a.reshape(t, n))
        if self.p['command_on_input'] and self.p['mode'] == 'mode2':
            self._tick()

    # ---- control ----------------------------------------------------------------------
    def decide(self, now_mono, now_ros):
        plan = self.plan
        plan_time = plan[0] if plan is not None else None
        plan_len = plan[1].shape[0] * self.p['step_dt'] if plan is not None else 0.0
        # Plan stamps are ROS times; the state watchdog uses the monotonic receive time.
        src, reason = cmdlib.select_source(
            now=now_ros, state_time=(now_ros - (now_mono - self.state_rx)
                                     if self.state_rx is not None else None),
            plan_time=plan_time, plan_len_s=plan_len, mode=self.p['mode'],
            estop=self.estop or not self.p['enabled'], goal_known=self.goal is not None,
            watchdog_timeout=self.p['watchdog_timeout'], plan_timeout=self.p['plan_timeout'],
            mode1_available=self.policy is not None and self.state is not None)
        action = None
        if src == cmdlib.SOURCE_PLAN:
            i = cmdlib.plan_step(now_ros, plan_time, self.p['step_dt'], plan[1].shape[0])
            action = plan[1][i] if i is not None else None
            if action is None:
                src, reason = cmdlib.SOURCE_STOP, 'plan ended'
        elif src == cmdlib.SOURCE_MODE1:
            try:
                action = np.asarray(self.policy(self.state, self.goal), dtype=np.float64)
            except Exception as exc:
                self.log.warn('mode1', f'Mode-1 policy failed: {exc!r}')
                src, reason = cmdlib.SOURCE_STOP, 'mode1 failed'
        return src, reason, action

    def _tick(self):
        with self.tick_lock:
            self._tick_locked()

    def _tick_locked(self):
        if self.cmd_pub is None:
            return
        now_mono = time.monotonic()
        dt = 0.0 if self.last_tick is None else now_mono - self.last_tick
        self.last_tick = now_mono
        src, reason, action = self.decide(now_mono, self._now())
        idle = src == cmdlib.SOURCE_STOP or action is None
        with self.lock:
            if idle:
                out = self.shaper.stop()
            else:
                try:
                    target = cmdlib.action_to_twist(action, self.action_scale, self.mode)
                except ValueError as exc:
                    self.log.warn('shape', f'bad action: {exc}')
                    target = np.zeros(6)
                out = self.shaper.shape(target, dt)
        # Idle: the zero command goes out once (the robot stops now), then cmd_vel is left
        # to others; with publish_when_idle it repeats every tick.
        if not idle or not self.idle_sent or self.p['publish_when_idle']:
            self._publish(out)
        self.idle_sent = idle
        self.counts['ticks'] += 1
        self.counts[src] += 1
        for k, v in self.counts.items():
            self.diag.set(k, v)
        self.diag.set('source', src)
        self.diag.set('reason', reason)
        self.diag.set('sanitised', self.shaper.sanitised)
        self.diag.set('idle_silent', idle and not self.p['publish_when_idle'])
        if src != cmdlib.SOURCE_STOP:
            self.diag.ok(f'{src}: {reason}')
        else:
            self.diag.warn(f'{src}: {reason}')
        if reason != self.last_reason:
            # A change of source (perception stale, planner dead -> Mode-1, back to plans)
            # goes out on /diagnostics at once, not at the next 1 Hz report.
            self.get_logger().info(f'command source: {src} ({reason})')
            self.last_reason = reason
            self.diag.publish()

    def _publish(self, v):
        """Publish the 6-vector command `v` as the action mode's message type."""
        self.cmd_pub.publish(self._command(v))
        self.counts['published'] += 1

    def _command(self, v):
        t = Twist()
        t.linear.x, t.linear.y, t.linear.z = float(v[0]), float(v[1]), float(v[2])
        t.angular.x, t.angular.y, t.angular.z = float(v[3]), float(v[4]), float(v[5])
        if self.mode is None or not self.mode.stamped:
            return t
        msg = TwistStamped(twist=t)
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self.p['cmd_frame_id']
        return msg


def main(args=None):
    run_lifecycle_node(ActorNode, args)


if __name__ == '__main__':
    main()
