"""`jepa-ros learn` (jepa_ros/tools/learn.py): the learner process on the memory's recordings.

Only closed recordings are read (a `.mcap.part` is a chunk still being written), a file
that cannot be read is logged and skipped, every decision is a JSON line; an accepted
version is offered to the configurator with paths inside models_dir, a refused swap puts
the learner back on the version the robot still runs, a worse candidate is never offered;
SIGINT/SIGTERM end the process cleanly, also in the middle of a round; `learn:=true` adds
the learner to both launch files with the memory's and the configurator's folders.
"""
import argparse
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor

from jepa_ros.core.checkpoint import save_checkpoint
from jepa_ros.core.checkpoint import model_version
from jepa_ros.tools import learn
from support import REPO, dot_episodes, tiny_critic, tiny_world_model, write_episodes

pytestmark = pytest.mark.ros

SIZE = 16
# A round of a few seconds: tiny models, short budgets.
FAST = ['--round-budget', '2', '--critic-budget', '0.5', '--critic-steps', '50',
        '--min-new-episodes', '3', '--holdout-every', '4', '--horizon', '2', '--threads', '1']


def running_models(folder):
    """(world model file, critic file) the robot 'runs' at start: tiny, random."""
    os.makedirs(folder, exist_ok=True)
    wm = save_checkpoint(os.path.join(folder, 'wm.pt'), tiny_world_model(seed=0),
                         kind='world_model')
    critic = save_checkpoint(os.path.join(folder, 'critic.pt'), tiny_critic(), kind='critic')
    return str(wm), str(critic)


def recordings(folder, n=8, seed=2):
    """A memory-like session folder of `n` closed dot episodes; the session folder."""
    return write_episodes(os.path.join(folder, 'rec_1'), dot_episodes(n, 12, seed=seed,
                                                                      size=SIZE))


def learn_argv(tmp_path, *extra):
    wm, critic = running_models(str(tmp_path / 'start'))
    return ['--recordings', str(tmp_path / 'rec'), '--models-dir', str(tmp_path / 'models'),
            '--world-model', wm, '--critic', critic, *FAST, *extra]


def log_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def events(lines, name):
    return [x for x in lines if x.get('event') == name]


def decisions(lines):
    return [x for x in lines if 'round' in x and 'event' not in x]


def run_cli(argv, tmp_path, timeout=180):
    env = dict(os.environ, JEPA_ROS_CACHE=str(tmp_path / 'cache'))
    return subprocess.run([sys.executable, '-m', 'jepa_ros.cli', 'learn', *argv], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=str(tmp_path))


def test_once_reads_closed_recordings_skips_a_corrupt_one_and_logs_the_decision(tmp_path):
    session = recordings(str(tmp_path / 'rec'))
    # A complete, valid episode that is still named as a chunk being written: never read.
    shutil.copy(os.path.join(session, 'ep000.mcap'), os.path.join(session, 'rec_9.mcap.part'))
    corrupt = os.path.join(session, 'broken.mcap')
    with open(os.path.join(session, 'ep001.mcap'), 'rb') as f:
        head = f.read(300)
    with open(corrupt, 'wb') as f:     # an MCAP cut inside its first records, then garbage
        f.write(head + os.urandom(200))
    r = run_cli(learn_argv(tmp_path, '--once', '--no-swap', '--nice', '3'), tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    lines = log_lines(str(tmp_path / 'models' / 'learner_log.jsonl'))

    skipped = events(lines, 'skipped')
    assert [s['path'] for s in skipped] == [corrupt] and skipped[0]['reason'], skipped
    loaded = [f['path'] for e in events(lines, 'loaded') for f in e['files']]
    good = sorted(os.path.join(session, f'ep{i:03d}.mcap') for i in range(8))
    assert sorted(loaded) == good                    # the .part is not read
    assert not any('.part' in json.dumps(x) for x in lines)
    with open(tmp_path / 'models' / learn.CONSUMED_FILE) as f:
        consumed = json.load(f)['files']
    assert consumed == {**{p: 'loaded' for p in good}, corrupt: 'skipped'}

    start = events(lines, 'start')[0]
    assert start['version'] == model_version(str(tmp_path / 'start' / 'wm.pt'))
    assert start['swap'] is False and start['threads'] == 1
    parent_niceness = os.nice(0)
    assert start['niceness'] == min(19, parent_niceness + 3)
    [decision] = decisions(lines)                    # a round ran and was logged
    assert decision['round'] == 1 and decision['version'], decision
    fig = decision['figures']
    assert fig['held_out_episodes'] >= 1 and fig['experience'] >= 3
    assert fig['prediction_ratio'] > 0 and fig['running_prediction_ratio'] > 0
    assert not events(lines, 'swap')


def test_once_without_a_recordings_folder_is_a_clear_error(tmp_path):
    r = run_cli(learn_argv(tmp_path, '--once', '--no-swap', '--nice', '0'), tmp_path)
    assert r.returncode == 2 and 'no such folder' in r.stderr, r.stderr[-2000:]
    assert 'Traceback' not in r.stderr


# ---- with a stand-in configurator ------------------------------------------------------------
class StandInConfigurator:
    """/configurator/swap_model served from this process: records every request and
    answers with `success` (a configurator whose nodes accept, or refuse, the version)."""

    def __init__(self, context, success):
        from jepa_ros_interfaces.srv import SwapModel
        self.success = success
        self.requests = []
        self.node = rclpy.create_node('configurator', context=context)
        self.node.create_service(SwapModel, '/configurator/swap_model', self.on_swap)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def on_swap(self, request, response):
        self.requests.append({'world_model': request.world_model_checkpoint,
                              'critic': request.critic_checkpoint,
                              'actor': request.actor_checkpoint})
        version = request.world_model_checkpoint.split('/')[0]
        response.success = self.success
        response.previous_version = 'v-start'
        response.active_version = version if self.success else 'v-start'
        response.message = 'switched' if self.success else \
            'perception refused: cannot load checkpoint (stand-in)'
        return response

    def wait_for_client(self, timeout_s=20.0):
        end = time.monotonic() + timeout_s
        while self.node.count_clients('/configurator/swap_model') < 1:
            assert time.monotonic() < end, 'the learner never made its swap client'
            time.sleep(0.05)

    def close(self):
        self.executor.shutdown(timeout_sec=2.0)
        self.thread.join(timeout=5)
        self.node.destroy_node()


@pytest.fixture
def configurator(ros_context):
    made = []

    def make(success=True):
        made.append(StandInConfigurator(ros_context, success))
        return made[-1]
    yield make
    for c in made:
        c.close()


def learn_loop(tmp_path, *extra):
    parser = argparse.ArgumentParser()
    learn.add_arguments(parser)
    args = parser.parse_args(learn_argv(tmp_path, '--nice', '0', '--swap-timeout', '30',
                                        *extra))
    return learn.LearnLoop(args, say=lambda *a: None)


@pytest.fixture
def loops():
    made = []
    yield made
    for loop in made:
        loop.close()


def test_an_accepted_round_asks_the_configurator_once_with_files_in_models_dir(
        tmp_path, configurator, loops):
    server = configurator(success=True)
    recordings(str(tmp_path / 'rec'))
    loop = learn_loop(tmp_path, '--prediction-margin', '1e6')   # any candidate passes
    loops.append(loop)
    server.wait_for_client()
    decision = loop.step()
    assert decision is not None and decision.accepted, decision
    models = str(tmp_path / 'models')
    assert server.requests == [{'world_model': f'{decision.version}/world_model.pt',
                                'critic': f'{decision.version}/critic.pt', 'actor': ''}]
    for rel in (server.requests[0]['world_model'], server.requests[0]['critic']):
        assert os.path.isfile(os.path.join(models, rel))
    assert model_version(os.path.join(models, server.requests[0]['world_model'])) == \
        decision.version
    assert loop.learner.version == decision.version
    [swap] = events(log_lines(loop.log_path), 'swap')
    assert swap['success'] is True and swap['running_version'] == decision.version


def test_a_refused_swap_puts_the_learner_back_on_the_version_the_robot_runs(
        tmp_path, configurator, loops):
    server = configurator(success=False)
    recordings(str(tmp_path / 'rec'))
    loop = learn_loop(tmp_path, '--prediction-margin', '1e6')
    loops.append(loop)
    start_model, start_critic = loop.learner.world_model, loop.learner.critic
    start_version = model_version(str(tmp_path / 'start' / 'wm.pt'))
    assert loop.learner.version == start_version
    server.wait_for_client()
    decision = loop.step()
    assert decision.accepted and len(server.requests) == 1
    # The candidate was good, but the robot did not switch: later candidates are compared
    # with what it really runs.
    assert loop.learner.version == start_version
    assert loop.learner.world_model is start_model and loop.learner.critic is start_critic
    [swap] = events(log_lines(loop.log_path), 'swap')
    assert swap['success'] is False and 'perception refused' in swap['message']
    assert swap['version'] == decision.version and swap['running_version'] == start_version



def test_without_a_configurator_the_learner_keeps_the_version_the_robot_runs(tmp_path, loops):
    recordings(str(tmp_path / 'rec'))
    loop = learn_loop(tmp_path, '--prediction-margin', '1e6', '--swap-timeout', '1')
    loops.append(loop)
    start_version = loop.learner.version
    decision = loop.step()
    assert decision.accepted and loop.learner.version == start_version
    [swap] = events(log_lines(loop.log_path), 'swap')
    assert swap['success'] is False and 'not available' in swap['message']
    assert swap['running_version'] == start_version

def test_a_worse_candidate_is_refused_and_never_offered(tmp_path, configurator, loops):
    server = configurator(success=True)
    recordings(str(tmp_path / 'rec'))
    loop = learn_loop(tmp_path, '--prediction-margin', '1e6')
    loops.append(loop)
    start_model = loop.learner.world_model

    def task_success(model, critic):    # the sim check: the running models solve the tasks
        return 1.0 if model is start_model else 0.0
    loop.learner.task_success = task_success
    server.wait_for_client()
    decision = loop.step()
    assert decision is not None and not decision.accepted
    assert 'task success 0.00 is below the running 1.00' in decision.reason
    assert server.requests == [] and loop.learner.world_model is start_model
    assert not events(log_lines(loop.log_path), 'swap')


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_a_signal_in_the_middle_of_a_round_ends_the_learner_cleanly(tmp_path, sig):
    recordings(str(tmp_path / 'rec'))
    argv = learn_argv(tmp_path, '--interval', '0.5', '--swap-timeout', '5')
    argv[argv.index('--round-budget') + 1] = '600'    # a round far longer than the test
    log = tmp_path / 'models' / 'learner_log.jsonl'
    env = dict(os.environ, JEPA_ROS_CACHE=str(tmp_path / 'cache'))
    proc = subprocess.Popen([sys.executable, '-m', 'jepa_ros.cli', 'learn', *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=str(tmp_path), start_new_session=True)
    try:
        end = time.monotonic() + 120
        # The round starts right after the recordings are loaded and the learner is ready.
        while not (log.exists() and any(e.get('ready') for e in events(log_lines(log),
                                                                         'loaded'))):
            assert proc.poll() is None and time.monotonic() < end, proc.communicate()[0]
            time.sleep(0.1)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, out[-3000:]
    lines = log_lines(log)
    [stop] = events(lines, 'stop')
    assert stop['signal'] == sig.name and not decisions(lines)   # stopped inside round 1
    assert 'Traceback' not in out


# ---- launch ---------------------------------------------------------------------------------
def launch_actions(launch_file, **arguments):
    """The actions the launch file's OpaqueFunction makes for these launch arguments."""
    from launch import LaunchContext
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    spec = importlib.util.spec_from_file_location('launch_file',
                                                  os.path.join(REPO, 'launch', launch_file))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    context = LaunchContext()
    for entity in description.entities:
        if isinstance(entity, DeclareLaunchArgument):
            context.launch_configurations[entity.name] = arguments.get(
                entity.name, entity.default_value[0].text if entity.default_value else '')
    opaque = next(e for e in description.entities if isinstance(e, OpaqueFunction))
    return opaque.execute(context)


def learner_argv(actions):
    from launch.substitutions import TextSubstitution
    nodes = [a for a in actions if getattr(a, 'node_executable', None) == 'learner']
    if not nodes:
        return None
    [node] = nodes
    # after the executable; ROS's own arguments (node name) go to the swap client's node
    parts = [''.join(s.text for s in part) for part in node.cmd[1:]
             if all(isinstance(s, TextSubstitution) for s in part)]
    own, ros = learn.split_ros_args(parts)
    assert ros[:1] == ['--ros-args'] and '--ros-args' not in own
    parser = argparse.ArgumentParser()
    learn.add_arguments(parser)
    return parser.parse_args(own)


@pytest.mark.parametrize('launch_file,target', [('sim.launch.py', 'sim'),
                                                ('robot.launch.py', 'robot')])
def test_learn_true_adds_the_learner_on_the_memory_and_configurator_folders(
        tmp_path, launch_file, target):
    assert learner_argv(launch_actions(launch_file)) is None    # learn:=false by default
    args = learner_argv(launch_actions(launch_file, learn='true'))
    assert args is not None
    assert (args.recordings, args.models_dir) == ('data/recordings', 'data/models')
    assert args.world_model == 'models/two_rooms_world_model.pt'
    assert args.critic == 'models/two_rooms_critic.pt'
    assert args.sim_check_tasks == (10 if target == 'sim' else 0)
    assert not args.no_swap and not args.once
    # the user's params_file moves the memory's folder: the learner follows it
    params = tmp_path / 'mine.yaml'
    params.write_text('memory: {ros__parameters: {data_dir: /srv/rec}}\n'
                      'configurator: {ros__parameters: {models_dir: /srv/models}}\n')
    args = learner_argv(launch_actions(launch_file, learn='true', params_file=str(params)))
    assert (args.recordings, args.models_dir) == ('/srv/rec', '/srv/models')


def test_the_installed_package_runs_the_learner_and_launch_declares_learn(colcon_ws):
    import launch_support as ls
    exe = os.path.join(colcon_ws.root, 'install', 'jepa_ros', 'lib', 'jepa_ros', 'learner')
    assert os.access(exe, os.X_OK), f'{exe} is not installed'
    r = subprocess.run([exe, '--help'], env=colcon_ws.env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and '--recordings' in r.stdout, r.stderr[-2000:]
    for launch_file in ('sim.launch.py', 'robot.launch.py'):
        r = ls.ros2(colcon_ws, 'launch', 'jepa_ros', launch_file, '--show-args')
        assert r.returncode == 0 and "'learn'" in r.stdout, r.stdout
        assert "(default: 'false')" in r.stdout.split("'learn'", 1)[1], r.stdout
