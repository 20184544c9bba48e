"""Support for the launch tests (test/test_launch_*.py): the stack as a ROS user runs it.

* `build_workspace`: copies this working tree (the files git tracks plus untracked ones it
  does not ignore, so uncommitted work is tested too) into `<ws>/src/jepa_ros` and runs the
  README's colcon build command there (no --symlink-install: the installed package must
  find everything it needs in its own install tree).
* `Launch`: `ros2 launch jepa_ros ...` from the sourced install, in its own session (process
  group) with SIGINT at its default action, its output in a log file; stopped with SIGINT
  like Ctrl-C in a terminal, or killed as a group when a test fails.
* `GraphClient`: an rclpy node on its own context in the test process (action goals,
  topics, lifecycle states, the graph).
* `ros2`: the real ros2 CLI in the sourced environment.

Where the tools are missing (no launch_ros, ros2 or colcon), `need_tools` skips with a reason
saying how to get them, or fails when JEPA_REQUIRE_ROS_TOOLS=1 (.ci/run sets it).
Linux only (process sessions are read from /proc), like ROS 2 on a robot.
"""
import contextlib
import importlib.util
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
import yaml
from support import REPO  # the checkout: jepa_ros.share.source_root()

from jepa_ros.nodes.stack_client import StackClient

REQUIRE_TOOLS = os.environ.get('JEPA_REQUIRE_ROS_TOOLS') == '1'
# Top-level folders of a checkout that are outputs or local data, never package sources.
NOT_COPIED = {'.venv', 'build', 'install', 'log', 'runs', 'data', '.git'}
HOW_TO_GET_TOOLS = ('install the ROS 2 tools into the venv with '
                    '`bash ../shared/ros2-toolchain/install.sh .venv` (see its README), or '
                    'source a ROS 2 install (`source /opt/ros/kilted/setup.bash`)')
LOG_TAIL_LINES = 120
GOAL_TIMEOUT_S = 40.0
# Sampled goals are sent until one is reached (the graph reaches most; one hard sample must
# not fail CI). JEPA_LAUNCH_GOALS=N sends N goals whatever happens (to measure a rate).
MAX_GOALS = int(os.environ.get('JEPA_LAUNCH_GOALS', '3'))
SEND_ALL_GOALS = 'JEPA_LAUNCH_GOALS' in os.environ


# ---- tools ---------------------------------------------------------------------------------
def _sourced(script, env=None, cwd=None):
    """The environment after `script` ran in bash (e.g. `. install/setup.bash`)."""
    out = subprocess.run(['bash', '-c', f'set +u; {script}\nenv -0'], env=env, cwd=cwd,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                         timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f'bash -c {script!r} failed ({out.returncode}): '
                           f'{out.stderr.decode(errors="replace")}')
    pairs = (item.split('=', 1) for item in out.stdout.decode().split('\0') if '=' in item)
    return dict(pairs)


def base_env():
    """The environment a user builds in: a sourced ROS install. In a pip-wheel venv with the
    toolchain, `<venv>/local_setup.bash` stands in for /opt/ros/kilted/setup.bash; elsewhere
    the ROS install sourced before pytest started."""
    venv_setup = os.path.join(sys.prefix, 'local_setup.bash')
    if os.path.exists(venv_setup):
        return _sourced(f'. {shlex.quote(venv_setup)}')
    return dict(os.environ)


def missing_tools(env):
    missing = []
    if importlib.util.find_spec('launch_ros') is None:
        missing.append('the launch_ros module')
    for exe in ('colcon', 'ros2'):
        if shutil.which(exe, path=env.get('PATH', '')) is None:
            missing.append(f'the {exe} command')
    return missing


def need_tools():
    """The build environment; skips (or fails under JEPA_REQUIRE_ROS_TOOLS=1) without tools."""
    env = base_env()
    missing = missing_tools(env)
    if missing:
        reason = f'ROS 2 tools missing ({", ".join(missing)}): {HOW_TO_GET_TOOLS}'
        if REQUIRE_TOOLS:
            pytest.fail(f'{reason}. JEPA_REQUIRE_ROS_TOOLS=1: the launch tests must run here.',
                        pytrace=False)
        pytest.skip(reason)
    return env


# ---- workspace -----------------------------------------------------------------------------
def readme_build_command():
    """The `colcon build ...` line of README.md, as argv (the command the tests run)."""
    with open(os.path.join(REPO, 'README.md'), encoding='utf-8') as f:
        for line in f:
            command = line.split('#', 1)[0].strip()
            if command.startswith('colcon build'):
                return shlex.split(command)
    raise AssertionError('README.md shows no `colcon build` command')


def source_files(repo=REPO):
    """Relative paths of the working tree's sources: what git tracks plus untracked files it
    does not ignore (uncommitted work included), minus deleted files and output folders.
    Outside a git checkout: every file except the output folders and caches."""
    try:
        out = subprocess.run(['git', '-C', repo, 'ls-files', '-co', '--exclude-standard', '-z'],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True,
                             timeout=60)
        paths = [p for p in out.stdout.decode().split('\0') if p]
    except (OSError, subprocess.CalledProcessError):
        paths = []
        for dirpath, dirs, files in os.walk(repo):
            rel = os.path.relpath(dirpath, repo)
            dirs[:] = [d for d in dirs if d != '__pycache__'
                       and not (rel == '.' and d in NOT_COPIED)]
            paths += [os.path.normpath(os.path.join(rel, f)) for f in files
                      if not f.endswith('.pyc')]
    return sorted(p for p in set(paths)
                  if p.split('/', 1)[0] not in NOT_COPIED
                  and os.path.lexists(os.path.join(repo, p)))


@dataclass
class Workspace:
    root: str
    env: dict          # after `source install/setup.bash`
    build_s: float
    command: list

    @property
    def share(self):
        return os.path.join(self.root, 'install', 'jepa_ros', 'share', 'jepa_ros')

    def stack(self):
        """config/stack.yaml of the installed package (the nodes each launch file starts)."""
        with open(os.path.join(self.share, 'config', 'stack.yaml')) as f:
            return yaml.safe_load(f)

    def nodes(self, target):
        """{node name: is lifecycle} of the nodes a launch file of `target` starts."""
        return {s['name']: bool(s.get('lifecycle'))
                for s in self.stack()['nodes'] if target in s.get('targets', ['sim', 'robot'])}


def build_workspace(ws, env):
    """Copy the working tree into ws/src/jepa_ros, run the README's colcon build in ws,
    source install/setup.bash; a Workspace."""
    command = readme_build_command()
    assert '--symlink-install' not in command, \
        f'README build command {command} must install copies (no --symlink-install)'
    src = os.path.join(ws, 'src', 'jepa_ros')
    for rel in source_files():
        dst = os.path.join(src, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(os.path.join(REPO, rel), dst, follow_symlinks=False)
    log = os.path.join(ws, 'colcon_build.log')
    started = time.monotonic()
    with open(log, 'wb') as out:
        proc = subprocess.run(command, cwd=ws, env=env, stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.STDOUT, timeout=1200)
    build_s = time.monotonic() - started
    if proc.returncode != 0:
        pytest.fail(f'`{shlex.join(command)}` failed ({proc.returncode}) in {ws}:\n'
                    f'{tail(log)}', pytrace=False)
    sourced = _sourced('. install/setup.bash', env=env, cwd=ws)
    # The nodes must run the installed copy, not the checkout this test runs from.
    where = subprocess.run(
        [shutil.which('python3', path=sourced['PATH']) or sys.executable, '-c',
         'import jepa_ros, jepa_ros_interfaces\n'
         'from ament_index_python.packages import get_package_share_directory as share\n'
         'print(jepa_ros.__file__, jepa_ros_interfaces.__file__, share("jepa_ros"))'],
        cwd=ws, env=sourced, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=120)
    install = os.path.join(os.path.realpath(ws), 'install') + os.sep
    paths = where.stdout.split()
    assert where.returncode == 0 and len(paths) == 3 and all(
        os.path.realpath(p).startswith(install) for p in paths), \
        f'after `source install/setup.bash` the packages do not come from {install}: ' \
        f'{where.stdout}'
    return Workspace(ws, sourced, build_s, command)


def tail(path, lines=LOG_TAIL_LINES):
    try:
        with open(path, errors='replace') as f:
            text = f.readlines()
    except OSError as exc:
        return f'(no log: {exc})'
    return ''.join(text[-lines:])


# ---- ros2 CLI ------------------------------------------------------------------------------
def ros2(ws, *args, timeout=120):
    """`ros2 ARGS...` in the sourced workspace environment; CompletedProcess (text, stdout
    and stderr together in .stdout)."""
    exe = shutil.which('ros2', path=ws.env['PATH'])
    return subprocess.run([exe, *args], env=ws.env, cwd=ws.root, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)


def param_get(ws, node, name):
    """Value of `ros2 param get NODE NAME` as printed (e.g. 'gd', '12', '0.05')."""
    out = ros2(ws, 'param', 'get', '--no-daemon', '--timeout', '30', node, name)
    text = out.stdout.strip()
    print(f'$ ros2 param get {node} {name}\n{text}')
    assert out.returncode == 0 and ' value is: ' in text, \
        f'ros2 param get {node} {name} -> rc {out.returncode}: {text}'
    return text.rsplit(' value is: ', 1)[1].strip()


def param_set(ws, node, name, value):
    """(rc, printed text) of `ros2 param set NODE NAME VALUE`."""
    out = ros2(ws, 'param', 'set', '--no-daemon', '--timeout', '30', node, name, str(value))
    print(f'$ ros2 param set {node} {name} {value}\n{out.stdout.strip()}')
    return out.returncode, out.stdout.strip()


# ---- processes -----------------------------------------------------------------------------
# A background job of a non-interactive shell (CI) inherits SIGINT ignored, and an ignored
# signal stays ignored across exec; `ros2 launch` relies on Python's default handler. Restore
# the default (as an interactive shell does) in a tiny exec wrapper: no preexec_fn, which is
# unsafe in a process with threads (this one has rclpy's and torch's).
SIGINT_DEFAULT_EXEC = ('import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); '
                       'os.execvp(sys.argv[1], sys.argv[1:])')


def session_processes(sid):
    """[(pid, command line)] of the live processes in session `sid` (from /proc)."""
    found = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                stat = f.read()
            with open(f'/proc/{entry}/cmdline', 'rb') as f:
                cmdline = f.read().replace(b'\0', b' ').decode(errors='replace').strip()
        except OSError:      # exited while we looked
            continue
        # Fields after "(comm)": state ppid pgrp session ...
        fields = stat[stat.rindex(')') + 2:].split()
        if int(fields[3]) == sid:
            found.append((int(entry), cmdline or stat[:stat.rindex(')') + 1]))
    return found


class Launch:
    """`ros2 launch ARGS` from the sourced workspace, in its own session; log in run_dir."""

    def __init__(self, ws, args, run_dir):
        os.makedirs(run_dir, exist_ok=True)
        self.args = list(args)
        self.log_path = os.path.join(run_dir, 'launch.log')
        env = dict(ws.env)
        env['ROS_LOG_DIR'] = os.path.join(run_dir, 'ros_log')   # not ~/.ros/log
        env['PYTHONUNBUFFERED'] = '1'
        env['PYTHONFAULTHANDLER'] = '1'     # a node that crashes leaves its Python stack
        exe = shutil.which('ros2', path=env['PATH'])
        self._log = open(self.log_path, 'wb')
        self._scanned = 0        # bytes of the log already searched for dead nodes
        # cwd = run_dir: relative output paths (memory's data/recordings) land there.
        self.proc = subprocess.Popen(
            [sys.executable, '-c', SIGINT_DEFAULT_EXEC, exe, 'launch', *self.args],
            cwd=run_dir, env=env, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True)
        self.sid = self.proc.pid

    def log(self):
        return tail(self.log_path)

    def explain(self, what):
        """Assertion message: what failed, then the end of the launch log."""
        return f'{what}\n--- ros2 launch {shlex.join(self.args)} (log {self.log_path}) ---\n' \
               f'{self.log()}'

    def died(self):
        """Why the launch is no longer healthy (it exited, or launch reports that a node
        died), or None. Reads only what the log gained since the last call."""
        rc = self.proc.poll()
        if rc is not None:
            return f'ros2 launch exited with {rc}'
        with open(self.log_path, 'rb') as f:
            f.seek(self._scanned)
            new = f.read()
        complete = new[:new.rfind(b'\n') + 1]     # a line still being written: next time
        self._scanned += len(complete)
        for line in complete.decode(errors='replace').splitlines():
            if 'process has died' in line:
                return f'a node died: {line.strip()}'
        return None

    def processes(self):
        return session_processes(self.sid)

    def interrupt(self, whole_group=True, timeout=90):
        """SIGINT (to the process group like Ctrl-C in a terminal, or to `ros2 launch`
        alone like `kill -INT`); the exit code, or None when it did not exit in time."""
        if whole_group:
            os.killpg(self.sid, signal.SIGINT)
        else:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def wait_no_processes(self, timeout=15.0):
        """Processes of the session still alive after `timeout` (none expected)."""
        end = time.monotonic() + timeout
        while True:
            self.proc.poll()     # reap ros2 launch itself: a zombie still counts
            left = self.processes()
            if not left or time.monotonic() >= end:
                return left
            time.sleep(0.1)

    def kill(self):
        """Stop everything this launch started, however the test ended (finalizer): SIGINT
        to ros2 launch, which stops its nodes; then SIGTERM, then SIGKILL, to whatever of
        its session is still alive."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)
                self.wait_no_processes(timeout=30.0)
            for sig in (signal.SIGTERM, signal.SIGKILL):
                left = self.processes()
                if not left:
                    break
                for pid, _ in left:
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
                self.wait_no_processes(timeout=10.0)
        finally:
            self._log.close()


# ---- rclpy client --------------------------------------------------------------------------
@dataclass
class GoalOutcome:
    success: bool
    status: str
    message: str
    seconds: float
    steps: int
    final_energy: float
    # Simulator ground truth (sim worlds): at the goal right after; distance then; distance
    # from the robot to the goal when it was sent; the world's success distance.
    sim_reached: bool = None
    sim_distance: float = None
    start_distance: float = None
    success_distance: float = None

    @property
    def confirmed(self):
        """Reported reached, the simulator agrees, and the robot had to move (the goal was
        not already reached when it was sent)."""
        return (self.success and bool(self.sim_reached)
                and self.start_distance >= self.success_distance)

    def __str__(self):
        text = (f'{"reached" if self.success else "NOT reached"} in {self.seconds:.1f} s '
                f'({self.status}, {self.steps} feedback steps, energy {self.final_energy:.4f}): '
                f'{self.message}')
        if self.sim_reached is not None:
            distance = 'n/a' if self.sim_distance is None else f'{self.sim_distance:.3f}'
            text += (f' [simulator: sent {self.start_distance:.3f} m away, now '
                     f'{"at" if self.sim_reached else "NOT at"} the goal, distance {distance}]')
        return text


GOAL_STATUS = {2: 'executing', 4: 'succeeded', 5: 'canceled', 6: 'aborted'}


class GraphClient(StackClient):
    """The stack client (jepa_ros.nodes.stack_client) on its own context (other tests'
    rclpy.init/shutdown do not touch it), spun in the calling thread, whose waits end the
    test with the launch log: at once when the launch died, after the timeout otherwise."""

    def __init__(self, name, launch=None, world=None):
        super().__init__(name, world=world, own_context=True)
        self.launch = launch

    def _fail(self, message):
        pytest.fail(self.launch.explain(message) if self.launch else message, pytrace=False)

    def spin_until(self, pred, timeout_s, what=None, tick=None, tick_period_s=0.1):
        """Spin until pred() holds; `tick()` runs every tick_period_s. After timeout_s the
        test fails naming `what` (without `what`: the final pred(), as StackClient)."""
        end = time.monotonic() + timeout_s
        next_tick = 0.0
        while not pred():
            now = time.monotonic()
            problem = self.launch.died() if self.launch is not None else None
            if problem:
                self._fail(f'{what or "waiting"}: {problem}')
            if now > end:
                if what is None:
                    return bool(pred())
                self._fail(f'{what}: not within {timeout_s:.0f} s')
            if tick is not None and now >= next_tick:
                tick()
                next_tick = now + tick_period_s
            self.executor.spin_once(timeout_sec=0.02)
        return True

    def call(self, client, request, timeout_s, what, resend_s=3.0):
        """Answer of an idempotent service call, sent again every resend_s while unanswered
        (a request sent just as the server was discovered can lose its answer)."""
        self.spin_until(client.service_is_ready, timeout_s, f'{what}: service')
        deadline = time.monotonic() + timeout_s
        while True:
            fut = client.call_async(request)
            resend_at = min(time.monotonic() + resend_s, deadline)
            self.spin_until(lambda: fut.done() or time.monotonic() >= resend_at,
                            timeout_s + 1.0, what)
            if fut.done():
                return fut.result()
            client.remove_pending_request(fut)
            if time.monotonic() >= deadline:
                self._fail(f'{what}: no answer within {timeout_s:.0f} s')

    def node_names(self):
        return {('/' + ns.strip('/') + '/' + n).replace('//', '/')
                for n, ns in self.node.get_node_names_and_namespaces()}

    def wait_ready(self, nodes, timeout_s=240.0):
        """Every node of `nodes` ({name: lifecycle}) in the graph, the lifecycle ones
        active, the reach_goal action server up."""
        from lifecycle_msgs.srv import GetState
        expected = {f'/{n}' for n in nodes}
        self.spin_until(lambda: expected <= self.node_names(), timeout_s,
                        f'nodes {sorted(expected)} in the graph')
        for name, lifecycle in nodes.items():
            if not lifecycle:
                continue
            client = self.node.create_client(GetState, f'/{name}/get_state')
            end = time.monotonic() + timeout_s
            while self.call(client, GetState.Request(), timeout_s,
                            f'/{name}/get_state').current_state.label != 'active':
                if time.monotonic() > end:
                    self._fail(f'/{name} not active within {timeout_s:.0f} s')
                self.executor.spin_once(timeout_sec=0.1)    # between two polls
            self.node.destroy_client(client)
        self.spin_until(self.action.server_is_ready, timeout_s, 'the /reach_goal action server')

    def reach_goal(self, goal, result_timeout_s):
        """Send a ReachGoal; its GoalOutcome once it ends."""
        started = time.monotonic()
        send = self.action.send_goal_async(goal)
        self.spin_until(send.done, 60.0, 'reach_goal: goal accepted or rejected')
        handle = send.result()
        if not handle.accepted:
            return GoalOutcome(False, 'rejected', 'goal rejected', time.monotonic() - started,
                               0, float('nan'))
        res = handle.get_result_async()
        self.spin_until(res.done, result_timeout_s, 'reach_goal: result')
        r = res.result()
        return GoalOutcome(bool(r.result.success), GOAL_STATUS.get(r.status, str(r.status)),
                           r.result.message, time.monotonic() - started, int(r.result.steps),
                           float(r.result.final_energy))

    def set_param(self, node_name, name, value, timeout_s=30.0):
        """Set a parameter through rclpy (not the CLI); its SetParametersResult."""
        return self.set_params(node_name, timeout_s, **{name: value})[0]

    def topic_types(self, topic):
        return [t for name, types in self.node.get_topic_names_and_types() if name == topic
                for t in types]


def sampled_goals(client, world):
    """Send simulator-sampled goals (`sample_in_sim: true`) through reach_goal, up to
    MAX_GOALS, stopping at the first one reached that needed the robot to move; the
    outcomes (printed). sim_bridge's ~/goal_status (ground truth) gives the robot's state
    before each goal and, after it, whether the robot is really there."""
    import json

    from std_msgs.msg import String
    from std_srvs.srv import Trigger

    from jepa_ros.nodes.qos import LATCHED_QOS
    from jepa_ros_interfaces.action import ReachGoal
    meta = []
    sub = client.node.create_subscription(String, '/sim_bridge/metadata',
                                          lambda m: meta.append(json.loads(m.data)), LATCHED_QOS)
    client.spin_until(lambda: meta, 30.0, '/sim_bridge/metadata')
    client.node.destroy_subscription(sub)
    success_distance = float(meta[-1]['success_distance'])
    status = client.node.create_client(Trigger, '/sim_bridge/goal_status')

    def ground_truth():
        return json.loads(client.call(status, Trigger.Request(), 30.0,
                                      '/sim_bridge/goal_status').message)
    outcomes = []
    for i in range(MAX_GOALS):
        before = ground_truth()['state']
        goal = ReachGoal.Goal(sample_in_sim=True, timeout_s=GOAL_TIMEOUT_S)
        outcome = client.reach_goal(goal, result_timeout_s=GOAL_TIMEOUT_S + 60.0)
        after = ground_truth()
        outcome.sim_reached = bool(after['reached'])
        outcome.sim_distance = after['distance']
        # Straight-line distance from where the robot was to the goal the simulator drew.
        n = min(len(before), len(after['goal_state']))
        outcome.start_distance = math.dist(before[:n], after['goal_state'][:n])
        outcome.success_distance = success_distance
        print(f'{world} goal {i + 1}: {outcome}')
        outcomes.append(outcome)
        if outcome.confirmed and not SEND_ALL_GOALS:
            break
    client.node.destroy_client(status)
    print(f'{world}: {sum(o.success for o in outcomes)}/{len(outcomes)} goals reported '
          f'reached through ros2 launch, {sum(o.confirmed for o in outcomes)} of them confirmed '
          f'by the simulator and sampled away from the robot (>= {success_distance} m)')
    return outcomes


def assert_reached_a_goal(launch, outcomes):
    """One goal reported reached that needed the robot to move and that the simulator's
    ground truth confirms; every outcome's message agrees with its success flag."""
    for o in outcomes:
        assert o.success == o.message.startswith('reached'), o
    assert any(o.confirmed for o in outcomes), launch.explain(
        'no goal reached (reported, confirmed by the simulator, sampled away from the '
        'robot): ' + '; '.join(map(str, outcomes)))


def ros_message_class(type_name):
    """'geometry_msgs/msg/Twist' -> the class."""
    pkg, kind, name = type_name.split('/')
    module = importlib.import_module(f'{pkg}.{kind}')
    return getattr(module, name)


# ---- one launch per test module ------------------------------------------------------------
@contextlib.contextmanager
def running(ws, args, target, run_dir):
    """(Launch, GraphClient) of `ros2 launch ARGS` once every node of `target` is up (the
    lifecycle ones active) and the reach_goal action server answers; everything it started
    is stopped on the way out, whatever happened."""
    launch = Launch(ws, args, run_dir)
    client = None
    try:
        world = next((a.split(':=', 1)[1] for a in args if a.startswith('world:=')), None)
        client = GraphClient('launch_test_client', launch, world=world)
        started = time.monotonic()
        client.wait_ready(ws.nodes(target))
        print(f'ros2 launch {shlex.join(args)}: ready in {time.monotonic() - started:.1f} s')
        yield launch, client
    finally:
        if client is not None:
            client.close()
        launch.kill()


def sim_launch(ws, tmp_path_factory, world):
    """Module fixture body: (ws, Launch, GraphClient) of `ros2 launch jepa_ros
    sim.launch.py world:=WORLD`, ready, stopped after the module."""
    run_dir = str(tmp_path_factory.mktemp(f'launch_{world}'))
    args = ['jepa_ros', 'sim.launch.py', f'world:={world}']
    with running(ws, args, 'sim', run_dir) as (launch, client):
        yield ws, launch, client


def reaches_a_sampled_goal(stack, world):
    """The launched stack reaches a goal the simulator samples, confirmed by it."""
    _ws, launch, client = stack
    assert_reached_a_goal(launch, sampled_goals(client, world))


def assert_stops_cleanly(launch, nodes, whole_group):
    """SIGINT ends `ros2 launch` with exit code 0, every node finishes cleanly (launch's
    own account in its log) and no process of the launch's session is left."""
    before = launch.processes()
    # ros2 launch + one process per node: otherwise "nothing left" would prove nothing.
    assert len(before) >= 1 + len(nodes), launch.explain(f'processes before SIGINT: {before}')
    started = time.monotonic()
    rc = launch.interrupt(whole_group=whole_group)
    seconds = time.monotonic() - started
    left = launch.wait_no_processes()
    how = 'process group (Ctrl-C)' if whole_group else 'ros2 launch (kill -INT)'
    print(f'SIGINT to the {how}: exit code {rc} after {seconds:.1f} s, {len(left)} left')
    assert rc == 0, launch.explain(f'ros2 launch exit code after SIGINT: {rc}')
    assert not left, launch.explain(f'processes left after SIGINT: {left}')
    with open(launch.log_path, errors='replace') as f:
        log = f.read()
    unclean = [n for n in nodes
               if not re.search(rf'\[{re.escape(n)}-\d+\]: process has finished cleanly', log)]
    assert not unclean, launch.explain(f'nodes that did not finish cleanly: {unclean}')
    assert 'process has died' not in log, launch.explain('a node died')
