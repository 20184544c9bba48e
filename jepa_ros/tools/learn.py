"""`jepa-ros learn`: the robot keeps learning while it runs (issue 15).

    jepa-ros learn --recordings data/recordings --models-dir data/models

Every `--interval` seconds the learner looks for recordings the memory node has closed
since the last look (finished `.mcap` files anywhere below `--recordings`; a chunk still
being written is a `.mcap.part` and is left alone), feeds them to
jepa_ros.core.learner.Learner as new episodes and, once enough have come in, runs a round:
fine-tune world model and critic on the new plus replayed earlier episodes (`--replay`),
validate candidate and running models on held-out recordings (and on seeded two_rooms
tasks with `--sim-check-tasks N`), keep the candidate only if it is not worse by the
stated margins. An accepted version is written to `<models-dir>/<version>/world_model.pt,
critic.pt` and the configurator is asked to switch the nodes to it
(`/configurator/swap_model`, paths relative to its `models_dir`, which must be the same
folder). If the switch fails or gets no answer, the learner goes back to the models the
robot still runs, so the next candidate is compared with what really runs.

Every decision, skipped file and swap is one JSON line in `--log`. The process runs at a
lower priority (`--nice`, one torch thread by default) so that it never takes the CPU from
the control loop; SIGINT and SIGTERM end it cleanly (exit 0), also in the middle of a
round. A file that cannot be read is logged with the reason and skipped: nothing a
recording contains stops the learner. Which files were consumed is kept in
`<models-dir>/learner_consumed.json`; after a restart they are replayed, not new.
"""
import json
import os
import signal
import sys
import time
import warnings

SWAP_SERVICE = '/configurator/swap_model'
CONSUMED_FILE = 'learner_consumed.json'
SIM_CHECK_WORLD = 'two_rooms'   # the world of bench_learning's seeded task check


class Stop(BaseException):
    """SIGINT/SIGTERM: leave, between rounds or in the middle of one (a BaseException so
    that no `except Exception` on the way swallows it)."""


class RecordingError(ValueError):
    """A recording that cannot be used as training data (the reason says why)."""


def add_arguments(p):
    p.add_argument('--recordings', default=None,
                   help="the memory node's data_dir, watched recursively for closed .mcap "
                        "files (default: memory's data_dir, data/recordings)")
    p.add_argument('--models-dir', default=None,
                   help="where versions are written as <version>/world_model.pt, critic.pt; "
                        "must be the configurator's models_dir (default: its default, "
                        "data/models)")
    p.add_argument('--world', default='two_rooms',
                   help='world of the default checkpoints (config/stack.yaml) and of the '
                        'sim check')
    p.add_argument('--world-model', default=None,
                   help="the world model the robot runs at start (default: the world's "
                        'checkpoint in config/stack.yaml)')
    p.add_argument('--critic', default=None,
                   help="the critic the robot runs at start ('' for none; default: the "
                        "world's critic in config/stack.yaml)")
    p.add_argument('--replay', action='append', default=[],
                   help='folder of earlier training episodes, replayed in every round so '
                        'the model does not forget (repeatable)')
    from jepa_ros.core.learner import LearnerConfig
    d = LearnerConfig()   # the one source of the learner's defaults
    p.add_argument('--round-budget', type=float, default=d.world_model_budget_s,
                   help='world model fine-tune seconds per round')
    p.add_argument('--critic-budget', type=float, default=d.critic_budget_s,
                   help='critic training seconds per round')
    p.add_argument('--critic-steps', type=int, default=d.critic_steps)
    p.add_argument('--min-new-episodes', type=int, default=d.min_new_episodes,
                   help='new training episodes needed before a round')
    p.add_argument('--holdout-every', type=int, default=d.holdout_every,
                   help='every n-th episode is held out for validation, never trained on')
    p.add_argument('--horizon', type=int, default=d.horizon,
                   help='open-loop steps of the held-out prediction check')
    p.add_argument('--prediction-margin', type=float, default=d.prediction_margin,
                   help="a candidate's held-out prediction ratio may exceed the running "
                        "one's times (1 + this)")
    p.add_argument('--task-margin', type=float, default=d.task_margin,
                   help="a candidate's sim task success may fall short of the running "
                        "one's by this much")
    p.add_argument('--replay-ratio', type=float, default=d.replay_ratio,
                   help='replayed earlier episodes per episode of experience in a round')
    p.add_argument('--min-replay', type=int, default=d.min_replay,
                   help='replayed earlier episodes per round at least (when there are)')
    p.add_argument('--sim-check-tasks', type=int, default=0,
                   help=f'seeded {SIM_CHECK_WORLD} tasks every candidate and the running '
                        'models are scored on (0: recordings only)')
    p.add_argument('--sim-check-seed', type=int, default=1000)
    p.add_argument('--sim-check-steps', type=int, default=150,
                   help='steps per sim check task')
    p.add_argument('--interval', type=float, default=10.0,
                   help='seconds between looks at the recordings folder')
    p.add_argument('--once', action='store_true',
                   help='one pass: load what is there, run a round if ready, exit')
    p.add_argument('--no-swap', action='store_true',
                   help='decide and log, never call the configurator (a dry run: the '
                        'learner goes on from its own accepted versions)')
    p.add_argument('--swap-timeout', type=float, default=120.0,
                   help='seconds to wait for the configurator to answer a swap')
    p.add_argument('--log', default=None,
                   help='JSON lines of every decision, skipped file and swap (default: '
                        '<models-dir>/learner_log.jsonl)')
    p.add_argument('--threads', type=int, default=1, help='torch threads')
    p.add_argument('--nice', type=int, default=10,
                   help='added to the process niceness at start (lower priority than the '
                        'nodes)')
    p.add_argument('--device', default='cpu', help="'cpu', 'cuda[:N]' or 'auto'")
    p.add_argument('--seed', type=int, default=0)


# ---- defaults from the stack description -------------------------------------------------
def stack_defaults(world='two_rooms', params_file=''):
    """What the nodes of `world` run with (config/*.yaml, the world's overrides in
    config/stack.yaml, then `params_file`): {'recordings': memory's data_dir,
    'models_dir': configurator's models_dir, 'world_model': world_model's checkpoint,
    'critic': its critic_checkpoint}."""
    from jepa_ros.nodes import configurator
    from jepa_ros.nodes.graph import load_stack, node_params, user_params, world_overrides
    stack = load_stack()
    world_overrides(stack, world)   # ValueError naming the known worlds

    def params(name):
        out = node_params(name, world, stack)
        if params_file:
            out.update(user_params(params_file, name))
        return out
    memory, wm, conf = params('memory'), params('world_model'), params('configurator')
    models_dir = conf.get('models_dir', next(
        s.default for s in configurator.PARAMS if s.name == 'models_dir'))
    return {'recordings': memory.get('data_dir', 'data/recordings'),
            'models_dir': models_dir, 'world_model': wm.get('checkpoint', ''),
            'critic': wm.get('critic_checkpoint', '')}


def learner_arguments(target, world, params_file=''):
    """The `jepa-ros learn` arguments of the learner a launch file starts: the memory's
    recordings, the configurator's models_dir, the world model and critic the nodes start
    with; the seeded sim check only in simulation of the world it knows."""
    d = stack_defaults(world, params_file)
    args = ['--recordings', d['recordings'], '--models-dir', d['models_dir'],
            '--world', world, '--world-model', d['world_model'], '--critic', d['critic']]
    if target == 'sim' and world == SIM_CHECK_WORLD:
        args += ['--sim-check-tasks', '10']
    return args


def launch_learner(context, target):
    """For launch/*.launch.py: [] unless the launch argument `learn` is true, else the
    learner process (executable `learner` of package jepa_ros, the installed entry point
    of this module) on the launch's world and params_file."""
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    def arg(name):
        return LaunchConfiguration(name).perform(context)
    value = arg('learn').strip().lower()
    if value in ('false', '0', ''):
        return []
    if value not in ('true', '1'):
        raise ValueError(f'learn:={value!r}: expected true or false')
    return [Node(package='jepa_ros', executable='learner', name='learner',
                 arguments=learner_arguments(target, arg('world'), arg('params_file')),
                 output='screen')]


# ---- recordings ----------------------------------------------------------------------------
def _inside(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return path == folder or path.startswith(folder + os.sep)


def finished_recordings(root, exclude=()):
    """Closed recordings below `root`, sorted: `*.mcap` files (never `.mcap.part`, the
    recorder's name for a chunk still being written), outside the `exclude` folders."""
    out = []
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs
                         if not any(_inside(os.path.join(dirpath, d), e) for e in exclude))
        out += [os.path.join(dirpath, f) for f in files if f.endswith('.mcap')]
    return sorted(out)


def resize_images(images, size):
    """(T,H,W,3) uint8 -> (T,size,size,3) as training resizes them (FrameBank)."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    if images.shape[1:3] == (size, size):
        return images
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    x = torch.cat([F.interpolate(c.float(), size=(size, size), mode='bilinear',
                                 align_corners=False, antialias=True)
                   .round().clamp(0, 255).to(torch.uint8) for c in x.split(256)])
    return x.permute(0, 2, 3, 1).contiguous().numpy()


def check_episode(ep, model_config):
    """`ep` fit for the running world model (images resized to its input size);
    RecordingError with the reason otherwise."""
    import numpy as np

    from jepa_ros.data.episodes import Episode
    if len(ep) < 2:
        raise RecordingError(f'{len(ep)} frame(s): an episode needs 2 or more')
    if ep.actions.ndim != 2 or ep.actions.shape[1] != model_config.action_dim:
        raise RecordingError(f'actions of shape {tuple(ep.actions.shape)}; the world model '
                             f'takes {model_config.action_dim} per step')
    if not np.isfinite(ep.actions).all():
        raise RecordingError('non-finite actions')
    if ep.images.ndim != 4 or ep.images.shape[-1] != 3:
        raise RecordingError(f'images of shape {tuple(ep.images.shape)}, not (T,H,W,3)')
    images = resize_images(ep.images, model_config.image_size)
    return Episode(images=images, actions=ep.actions, states=ep.states, meta=ep.meta,
                   path=ep.path)


def read_recording(path, model_config):
    """One closed recording as a checked Episode; RecordingError with the reason (any
    failure of the reader included: a bad file must never stop the learner)."""
    from jepa_ros.data.episodes import read_episode
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        try:
            ep = read_episode(path)
        except Exception as exc:
            raise RecordingError(f'{type(exc).__name__}: {exc}') from None
    ep = check_episode(ep, model_config)
    return ep, [str(w.message) for w in caught]


# ---- the configurator's swap service ----------------------------------------------------
class SwapClient:
    """A client of /configurator/swap_model on a node of its own context (no rclpy signal
    handlers: the learner handles SIGINT/SIGTERM itself), spun only while it waits."""

    def __init__(self, service=SWAP_SERVICE, ros_args=()):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        from jepa_ros_interfaces.srv import SwapModel
        self.SwapModel = SwapModel
        self.service = service
        self.context = rclpy.Context()
        rclpy.init(args=['learner', *ros_args], context=self.context,
                   signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node('learner', context=self.context)
        # Made at start, long before the first swap: discovery has matched it by then.
        self.client = self.node.create_client(SwapModel, service)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def _spin_until(self, pred, timeout_s):
        end = time.monotonic() + timeout_s
        while not pred():
            if time.monotonic() >= end:
                return bool(pred())
            self.executor.spin_once(timeout_sec=0.05)
        return True

    def swap(self, world_model, critic='', actor='', timeout_s=120.0):
        """-> dict(success, message, active_version, previous_version); never raises for a
        missing or silent configurator (success False with the reason)."""
        fail = {'success': False, 'active_version': '', 'previous_version': ''}
        if not self._spin_until(self.client.service_is_ready, min(timeout_s, 30.0)):
            return dict(fail, message=f'{self.service} is not available (is the '
                                      'configurator running?)')
        request = self.SwapModel.Request(world_model_checkpoint=world_model,
                                         critic_checkpoint=critic, actor_checkpoint=actor)
        future = self.client.call_async(request)
        if not self._spin_until(future.done, timeout_s):
            self.client.remove_pending_request(future)
            return dict(fail, message=f'no answer from {self.service} within {timeout_s:g} s')
        try:
            r = future.result()
        except Exception as exc:
            return dict(fail, message=f'{self.service} failed: {exc!r}')
        return {'success': bool(r.success), 'message': r.message,
                'active_version': r.active_version, 'previous_version': r.previous_version}

    def close(self):
        try:
            self.executor.shutdown(timeout_sec=1.0)
            self.node.destroy_node()
        finally:
            self.context.try_shutdown()


# ---- the loop ------------------------------------------------------------------------------
def _say(text):
    print(text, flush=True)   # under launch stdout is a pipe: show lines as they come


def sim_check(args, say):
    """task_success(world_model, critic) on seeded two_rooms tasks, or None (with the reason
    said) when the check is off or the simulator is not importable."""
    if args.sim_check_tasks <= 0:
        return None
    if args.world != SIM_CHECK_WORLD:
        raise ValueError(f'--sim-check-tasks: the seeded task check knows {SIM_CHECK_WORLD} '
                         f'only, not --world {args.world} (use 0: recordings only)')
    try:
        from jepa_ros.core.rollouts import make_tasks
        from jepa_ros.sim import make_env
        from jepa_ros.tools.bench_learning import PLANNING, make_task_success
    except ImportError as exc:
        say(f'[learn] no simulator ({exc}): validating on recordings only')
        return None
    env = make_env(SIM_CHECK_WORLD)
    try:
        tasks = make_tasks(env, args.sim_check_tasks, args.sim_check_seed, 'any')
    finally:
        env.close()
    with_critic = make_task_success(tasks, args.sim_check_steps)
    without = []   # made on first use: only a robot started without a critic needs it

    def success(model, critic):
        if critic is not None:
            return with_critic(model, critic)
        if not without:
            without.append(make_task_success(tasks, args.sim_check_steps,
                                             dict(PLANNING, **{'cost.critic.weight': 0.0})))
        return without[0](model, None)
    return success


class LearnLoop:
    """The learner process without its signal handling: `step()` is one look at the
    recordings (and a round when the learner is ready), `run_forever()` repeats it."""

    def __init__(self, args, say=None, ros_args=()):
        import torch

        from jepa_ros.core.checkpoint import CheckpointError, load_checkpoint, model_version
        from jepa_ros.core.critic import load_frozen_critic
        from jepa_ros.core.device import pick_device
        from jepa_ros.core.learner import Learner, LearnerConfig
        from jepa_ros.share import resolve_data_path
        self.args, self.say = args, say or _say
        self.swapper = None
        if args.nice:
            os.nice(args.nice)
        torch.set_num_threads(max(1, args.threads))
        if args.recordings is None or args.models_dir is None or args.world_model is None \
                or args.critic is None:
            d = stack_defaults(args.world)
            for key, attr in (('recordings', 'recordings'), ('models_dir', 'models_dir'),
                              ('world_model', 'world_model'), ('critic', 'critic')):
                if getattr(args, attr) is None:
                    setattr(args, attr, d[key])
        if not args.world_model:
            raise ValueError('--world-model: no world model given')
        self.models_dir = os.path.abspath(os.path.expanduser(args.models_dir))
        self.recordings = os.path.abspath(os.path.expanduser(args.recordings))
        if _inside(self.recordings, self.models_dir):
            raise ValueError(f'--recordings {args.recordings} lies inside --models-dir')
        os.makedirs(self.models_dir, exist_ok=True)
        self.log_path = args.log or os.path.join(self.models_dir, 'learner_log.jsonl')
        log_dir = os.path.dirname(os.path.abspath(self.log_path))
        os.makedirs(log_dir, exist_ok=True)
        self.device = pick_device(args.device)
        wm_path = resolve_data_path(args.world_model)
        critic_path = resolve_data_path(args.critic) if args.critic else ''
        try:
            model, _ = load_checkpoint(wm_path, map_location=self.device)
            critic = load_frozen_critic(critic_path, self.device) if critic_path else None
        except CheckpointError as exc:
            raise ValueError(f'cannot load the running models: {exc}') from None
        model.eval().requires_grad_(False)
        if critic is not None and critic.config.latent_dim != model.config.latent_dim:
            raise ValueError(f'--critic {args.critic} takes latents of size '
                             f'{critic.config.latent_dim}, the world model makes '
                             f'{model.config.latent_dim}')
        self.model_config = model.config
        config = LearnerConfig(
            world_model_budget_s=args.round_budget, critic_budget_s=args.critic_budget,
            critic_steps=args.critic_steps, min_new_episodes=args.min_new_episodes,
            holdout_every=args.holdout_every, horizon=args.horizon,
            prediction_margin=args.prediction_margin, task_margin=args.task_margin,
            replay_ratio=args.replay_ratio, min_replay=args.min_replay, seed=args.seed)
        self.learner = Learner(model, critic, self.models_dir, config,
                               task_success=sim_check(args, say), log_path=self.log_path,
                               device=self.device, say=say)
        self.learner.set_running(model, critic, model_version(wm_path))
        self.failed_round = False   # a round raised: wait for new data before the next
        self.consumed_path = os.path.join(self.models_dir, CONSUMED_FILE)
        self.consumed = self._read_consumed()
        self.log('start', version=self.learner.version, world_model=wm_path,
                 critic=critic_path, recordings=self.recordings, models_dir=self.models_dir,
                 swap=not args.no_swap, sim_check_tasks=args.sim_check_tasks,
                 config=config.__dict__, pid=os.getpid(), niceness=os.nice(0),
                 threads=torch.get_num_threads())
        self._load_replay()
        if not args.no_swap:
            self.swapper = SwapClient(ros_args=ros_args)

    # -- bookkeeping
    def log(self, event, **fields):
        record = dict(event=event, time=time.time(), **fields)
        with open(self.log_path, 'a') as f:
            f.write(json.dumps(record, default=str) + '\n')
        return record

    def _read_consumed(self):
        try:
            with open(self.consumed_path) as f:
                data = json.load(f)
            return {str(k): str(v) for k, v in dict(data['files']).items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.say(f'[learn] {self.consumed_path} unreadable ({exc}): starting afresh')
            return {}

    def _write_consumed(self):
        tmp = self.consumed_path + '.tmp'
        with open(tmp, 'w') as f:
            json.dump({'files': self.consumed}, f, indent=0)
        os.replace(tmp, self.consumed_path)

    def _load_files(self, paths, new):
        """Read, check and hand `paths` to the learner; every file ends up consumed
        ('loaded' or 'skipped'), the skipped ones logged with the reason."""
        episodes, loaded = [], []
        for path in paths:
            try:
                ep, notes = read_recording(path, self.model_config)
            except RecordingError as exc:
                self.consumed[path] = 'skipped'
                self.log('skipped', path=path, reason=str(exc))
                self.say(f'[learn] skipped {path}: {exc}')
                continue
            self.consumed[path] = 'loaded'
            episodes.append(ep)
            loaded.append({'path': path, 'frames': len(ep), 'notes': notes} if notes
                          else {'path': path, 'frames': len(ep)})
        if episodes:
            self.learner.add_episodes(episodes, new=new)
        if paths:
            self._write_consumed()
        return loaded

    def _load_replay(self):
        """--replay folders, and recordings consumed by an earlier run (already learned
        from, or refused): replayed, never the reason for a round."""
        paths = []
        for folder in self.args.replay:
            from jepa_ros.data.episodes import episode_files
            paths += episode_files(folder)
        earlier = [p for p, status in self.consumed.items()
                   if status == 'loaded' and os.path.isfile(p)]
        loaded = self._load_files(sorted(set(paths) | set(earlier)), new=False)
        for p in set(paths) - set(earlier):
            if self.consumed.get(p) == 'loaded':
                self.consumed[p] = 'replay'   # inside the recordings too: never new
        if paths:
            self._write_consumed()
        if loaded or paths:
            self.log('replay', files=len(loaded), frames=sum(x['frames'] for x in loaded))
            self.say(f'[learn] replaying {len(loaded)} earlier episodes')

    # -- one look, one round
    def poll(self):
        """Feed the recordings closed since the last look to the learner as new episodes;
        the number of files read."""
        if not os.path.isdir(self.recordings):
            return 0
        fresh = [p for p in finished_recordings(self.recordings, exclude=[self.models_dir])
                 if p not in self.consumed]
        if not fresh:
            return 0
        loaded = self._load_files(fresh, new=True)
        if loaded:
            self.failed_round = False
            learner = self.learner
            self.log('loaded', files=loaded, new_training_episodes=learner.fresh,
                     held_out=len(learner.held_out), replay_episodes=len(learner.train_old),
                     ready=learner.ready())
        return len(fresh)

    def step(self, once=False):
        """One look at the recordings, then a round when the learner is ready (`once`: a
        round in any case, which logs why it waits when it is not ready). The Decision, or
        None when no round ran."""
        if once and not os.path.isdir(self.recordings):
            raise FileNotFoundError(f'--recordings {self.args.recordings}: no such folder')
        try:
            self.poll()
        except OSError as exc:   # the disk, not a recording: try again at the next look
            self.say(f'[learn] cannot look at the recordings: {exc}')
        if not once and (self.failed_round or not self.learner.ready()):
            return None
        previous = (self.learner.world_model, self.learner.critic, self.learner.version)
        try:
            decision = self.learner.round()
        except Exception as exc:   # a bug or a full disk must not stop the robot's learner
            self.failed_round = True
            self.log('round_failed', reason=f'{type(exc).__name__}: {exc}',
                     running_version=self.learner.version)
            self.say(f'[learn] round failed: {type(exc).__name__}: {exc}')
            return None
        if decision.accepted and self.swapper is not None:
            self.swap(decision, previous)
        return decision

    def swap(self, decision, previous):
        """Ask the configurator to run the accepted version; on failure go back to the
        running models (`previous`: world model, critic, version)."""
        request = {k: os.path.relpath(decision.paths[k], self.models_dir)
                   for k in ('world_model', 'critic')}
        t0 = time.monotonic()
        result = self.swapper.swap(request['world_model'], request['critic'], '',
                                   self.args.swap_timeout)
        if not result['success']:
            self.learner.set_running(*previous)
        self.log('swap', version=decision.version, request=request,
                 seconds=round(time.monotonic() - t0, 2), running_version=self.learner.version,
                 **result)
        self.say(f"[learn] swap to {decision.version}: "
                 f"{'done' if result['success'] else 'FAILED'}: {result['message']}"
                 + ('' if result['success'] else
                    f'; the robot still runs {self.learner.version}'))
        return result

    def run_forever(self):
        self.say(f'[learn] watching {self.recordings} every {self.args.interval:g} s '
                 f'(version {self.learner.version}, log {self.log_path})')
        self.log('watching', recordings=self.recordings, interval_s=self.args.interval)
        while True:
            self.step()
            time.sleep(self.args.interval)

    def close(self):
        if self.swapper is not None:
            swapper, self.swapper = self.swapper, None
            swapper.close()


def run(args, ros_args=()):
    stopping = []

    def on_signal(signum, frame):
        if stopping:
            return   # already on the way out
        stopping.append(signal.Signals(signum).name)
        raise Stop(stopping[0])
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    loop = None
    try:
        loop = LearnLoop(args, ros_args=ros_args)
        if args.once:
            loop.step(once=True)
        else:
            loop.run_forever()
    except Stop as stop:
        if loop is not None:
            loop.log('stop', signal=str(stop), running_version=loop.learner.version)
        print(f'[learn] {stop}: stopped', flush=True)
    finally:
        stopping.append('exit')   # a signal from here on only waits for the exit
        if loop is not None:
            loop.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0


def split_ros_args(argv):
    """(own arguments, ROS arguments): `--ros-args ...` up to `--` or the end is ROS's."""
    own, ros, inside = [], [], False
    for a in argv:
        if a == '--ros-args':
            inside = True
        elif inside and a == '--':
            inside = False
            continue
        (ros if inside else own).append(a)
    return own, ros


def main(argv=None):
    """Entry point `learner` (what launch starts): `jepa-ros learn` with ROS arguments
    (`--ros-args ...`, added by launch) passed to the swap client's node."""
    import argparse
    argv, ros_args = split_ros_args(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog='learner', description=__doc__.split('\n')[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args, ros_args=ros_args)
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        print(f'learner: error: {exc}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
