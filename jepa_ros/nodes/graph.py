"""The jepa_ros graph from config/stack.yaml, started in one process or one per node.

    g = start_graph('two_rooms')            # in-process, MultiThreadedExecutor thread
    ... drive it (ReachGoal client, ...) ...
    g.stop()

Both modes use the same description: each node gets `--ros-args --params-file
config/<node>.yaml -p <world overrides> -r <remappings>` (in-process through the Node's
cli_args, multi-process on the command line of `python -m <module>`). Lifecycle nodes are
configured and activated (in-process by `autostart`, in their own process by themselves).
"""
import importlib
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time

import yaml

from jepa_ros.share import share_dir

# The checkout, or install/share/jepa_ros (config/, launch/, models/): see jepa_ros.share.
ROOT = share_dir()
CONFIG_DIR = os.path.join(ROOT, 'config')
STACK_FILE = os.path.join(CONFIG_DIR, 'stack.yaml')
SWITCH_INTERVAL_S = 0.0005  # interpreter lock hand-over for the in-process graph


def load_stack(path=STACK_FILE):
    with open(path) as f:
        stack = yaml.safe_load(f)
    if not isinstance(stack, dict) or not isinstance(stack.get('nodes'), list):
        raise ValueError(f'{path}: expected a mapping with a `nodes` list')
    for n in stack['nodes']:
        for key in ('name', 'module', 'class', 'executable'):
            if key not in n:
                raise ValueError(f'{path}: node {n.get("name", "?")!r} has no {key!r}')
    return stack


def module_available(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _fmt(v):
    if isinstance(v, bool):
        return 'true' if v else 'false'
    if isinstance(v, str):
        return v if v else "''"
    return str(v)


def check_node_names(stack, names, what='node(s)'):
    """ValueError naming every entry of `names` that stack.yaml does not describe."""
    known = [n['name'] for n in stack['nodes']]
    unknown = set(names or ()) - set(known)
    if unknown:
        raise ValueError(f'unknown {what} {sorted(unknown)}; stack.yaml has {known}')


def select_nodes(stack, target='sim', only=None, skip=()):
    """Node specs to start: for `target`, optional ones only if their module exists."""
    check_node_names(stack, set(only or ()) | set(skip))
    out = []
    for n in stack['nodes']:
        if target not in n.get('targets', ['sim', 'robot']):
            continue
        if only and n['name'] not in only:
            continue
        if n['name'] in skip:
            continue
        if n.get('optional') and not module_available(n['module']):
            continue
        out.append(n)
    return out


def world_overrides(stack, world):
    """{node: {param: value}} of `world` in the stack description; ValueError naming the
    known worlds for any other name (a typo must not start the default world)."""
    worlds = stack.get('worlds') or {}
    if world not in worlds:
        raise ValueError(f'unknown world {world!r}; stack.yaml knows {sorted(worlds)}')
    return worlds[world] or {}


def _flatten(d, prefix=''):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f'{prefix}{k}.'))
        else:
            out[f'{prefix}{k}'] = v
    return out


def user_params(path, node):
    """{param: value} for `node` from a ros__parameters YAML file: its `/**` section, then
    its `node` or `/node` section, nested names flattened to dotted ones. Merged into the
    node's parameter dict rather than passed on as a file: launch_ros keys its dict files
    by `/node`, the user by `node`, and rcl did not then let the user's values win."""
    import yaml
    if not os.path.isfile(path):
        raise FileNotFoundError(f'params_file {path!r} does not exist')
    with open(path) as f:
        doc = yaml.safe_load(f) or {}
    if not isinstance(doc, dict):
        raise ValueError(f'params_file {path!r}: expected a mapping of node names')
    out = {}
    for key in ('/**', node, '/' + node):
        if key not in doc:
            continue
        params = (doc[key] or {}).get('ros__parameters')
        if not isinstance(params, dict):
            raise ValueError(f'params_file {path!r}: {key!r} has no ros__parameters mapping')
        out.update(_flatten(params))
    return out


def seed_owned(stack, world, specs, overrides):
    """`overrides` plus, for every started node the configurator owns keys of, the values
    the configurator will set (its defaults, file, world overrides and `overrides`): the
    owned nodes start from the owner's values, so a node that checks them at configure
    (world_model: a critic weight needs a critic) sees what the configurator will keep."""
    names = {spec['name'] for spec in specs}
    if 'configurator' not in names:
        return overrides
    from jepa_ros.nodes import configurator, ownership
    owner = {s.name: s.default for s in configurator.PARAMS}
    owner.update(node_params('configurator', world, stack))
    owner.update(overrides.get('configurator') or {})
    out = dict(overrides)
    for target in ownership.OWNED_KEYS:
        if target in names:
            out[target] = {**(out.get(target) or {}),
                           **ownership.owned_values(target, owner)}
    return out


def launch_nodes(target, world, remap=None, params_file='', stack_file=STACK_FILE):
    """launch_ros Node / LifecycleNode actions of `target` ('sim' or 'robot') in `world`:
    the same parameter files, world overrides and remappings as start_graph, then the
    user's `params_file` (ros__parameters per node name, or `/**` for all) over them. For
    the launch files (launch_ros is imported here, not at module load: the in-process
    graph runs without it)."""
    from launch_ros.actions import LifecycleNode, Node
    stack = load_stack(stack_file)
    per_node = world_overrides(stack, world)
    specs = select_nodes(stack, target)
    user = {spec['name']: user_params(params_file, spec['name']) if params_file else {}
            for spec in specs}
    user = seed_owned(stack, world, specs, user)
    out = []
    for spec in specs:
        params = []
        if spec.get('params') and os.path.exists(os.path.join(CONFIG_DIR, spec['params'])):
            params.append(os.path.join(CONFIG_DIR, spec['params']))
        params.append({**(per_node.get(spec['name']) or {}), **user[spec['name']]})
        remaps = dict(spec.get('remappings') or {})
        remaps.update(remap or {})
        kind, kw = (LifecycleNode, {'namespace': ''}) if spec.get('lifecycle') else (Node, {})
        out.append(kind(package='jepa_ros', executable=spec['executable'],
                        name=spec['name'], parameters=params,
                        remappings=list(remaps.items()), output='screen', **kw))
    return out


def node_params(name, world=None, stack=None, config_dir=CONFIG_DIR):
    """The parameters node `name` starts with in `world`: its parameter file's
    ros__parameters, then the world's overrides from the stack description (what
    ros_args passes), as one dict."""
    import yaml
    stack = stack or load_stack()
    spec = next((n for n in stack['nodes'] if n['name'] == name), None)
    if spec is None:
        raise ValueError(f'no node {name!r} in the stack description')
    params = {}
    if spec.get('params'):
        path = os.path.join(config_dir, spec['params'])
        if os.path.exists(path):
            with open(path) as f:
                doc = yaml.safe_load(f) or {}
            params.update(((doc.get(name) or {}).get('ros__parameters')) or {})
    params.update(((stack.get('worlds') or {}).get(world) or {}).get(name) or {})
    return params


def ros_args(spec, stack, world=None, overrides=None, remap=None, config_dir=CONFIG_DIR):
    """The `--ros-args ...` list for one node."""
    args = ['--ros-args']
    if spec.get('params'):
        path = os.path.join(config_dir, spec['params'])
        if os.path.exists(path):
            args += ['--params-file', path]
    params = dict(((stack.get('worlds') or {}).get(world) or {}).get(spec['name']) or {})
    params.update((overrides or {}).get(spec['name']) or {})
    for k, v in params.items():
        args += ['-p', f'{k}:={_fmt(v)}']
    remaps = dict(spec.get('remappings') or {})
    remaps.update(remap or {})
    for a, b in remaps.items():
        args += ['-r', f'{a}:={b}']
    return args


class InProcessGraph:
    """Every node in this process, spun by a MultiThreadedExecutor in a thread."""

    def __init__(self, specs, stack, world, overrides=None, remap=None, node_kwargs=None,
                 threads=6):
        import rclpy

        from jepa_ros.nodes.executors import make_multithreaded_executor
        from jepa_ros.nodes.lifecycle_util import autostart
        # All nodes share one interpreter lock. The planner releases it in every torch op
        # and, at the default 5 ms switch interval, another callback thread may keep it
        # that long each time: plans took ~9x longer in-process than in their own process.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.nodes, self.active = {}, {}
        self._stopping = False
        try:
            for spec in specs:
                cls = getattr(importlib.import_module(spec['module']), spec['class'])
                kw = dict((node_kwargs or {}).get(spec['name']) or {})
                node = cls(context=self.context,
                           cli_args=ros_args(spec, stack, world, overrides, remap), **kw)
                self.nodes[spec['name']] = node
            self.executor = make_multithreaded_executor(threads, context=self.context)
            for node in self.nodes.values():
                self.executor.add_node(node)
            self._stop = threading.Event()
            self.thread = threading.Thread(target=self._spin, name='jepa_graph', daemon=True)
            self.thread.start()
            for spec in specs:
                if spec.get('lifecycle'):
                    self.active[spec['name']] = autostart(self.nodes[spec['name']])
        except BaseException:
            self.stop()
            raise

    def _spin(self):
        while not self._stop.is_set() and self.context.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception as exc:  # keep the graph alive; report
                # During stop() the lifecycle transitions destroy timers and subscriptions
                # under the spinning executor: InvalidHandle then is teardown, not a fault.
                if self.context.ok() and not self._stopping:
                    print(f'jepa_graph: executor error: {exc!r}', file=sys.stderr)

    def alive(self):
        return self.thread.is_alive()

    def stop(self):
        """Stop the actor first (zero command), then everything; idempotent."""
        from rclpy.lifecycle import LifecycleNode
        self._stopping = True
        stop = getattr(self, '_stop', None)
        for name in ('actor', 'world_model', 'perception'):
            node = self.nodes.get(name)
            if isinstance(node, LifecycleNode) and self.active.get(name):
                try:
                    node.trigger_deactivate()
                except Exception:
                    pass
                self.active[name] = False
        if stop is not None:
            stop.set()
            self.thread.join(timeout=5)
        ex = getattr(self, 'executor', None)
        if ex is not None:
            ex.shutdown(timeout_sec=2)
        for node in self.nodes.values():
            try:
                node.destroy_node()
            except Exception:
                pass
        self.nodes = {}
        if self.context.ok():
            self.context.try_shutdown()


class MultiProcessGraph:
    """Every node its own `python -m <module>` process."""

    def __init__(self, specs, stack, world, overrides=None, remap=None, env=None,
                 log_dir=None):
        self.procs = {}
        self.logs = {}
        env = dict(os.environ if env is None else env)
        env.setdefault('PYTHONUNBUFFERED', '1')
        for spec in specs:
            cmd = [sys.executable, '-m', spec['module']] + \
                ros_args(spec, stack, world, overrides, remap)
            out = None
            if log_dir:
                os.makedirs(log_dir, exist_ok=True)
                out = open(os.path.join(log_dir, spec['name'] + '.log'), 'w')
                self.logs[spec['name']] = out
            self.procs[spec['name']] = subprocess.Popen(
                cmd, env=env, stdout=out, stderr=subprocess.STDOUT if out else None)

    def alive(self):
        return all(p.poll() is None for p in self.procs.values())

    def dead(self):
        return {n: p.returncode for n, p in self.procs.items() if p.poll() is not None}

    def stop(self, timeout=10.0):
        # Actor first so the robot's last command is zero.
        order = sorted(self.procs, key=lambda n: 0 if n == 'actor' else 1)
        for name in order:
            p = self.procs[name]
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        end = time.monotonic() + timeout
        for p in self.procs.values():
            try:
                p.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for f in self.logs.values():
            f.close()
        self.procs = {}


def start_graph(world='two_rooms', multiprocess=False, target='sim', only=None, skip=(),
                overrides=None, remap=None, node_kwargs=None, stack_file=STACK_FILE,
                log_dir=None):
    """Start the graph; returns an object with .nodes/.procs, alive() and stop().

    overrides: {node: {param: value}} applied after the files and world overrides.
    node_kwargs (in-process only): extra constructor kwargs per node (e.g. model=...).
    """
    stack = load_stack(stack_file)
    if world is not None:
        world_overrides(stack, world)  # an unknown world is an error, not two_rooms
    specs = select_nodes(stack, target, only, skip)
    check_node_names(stack, overrides, 'node(s) in overrides')
    overrides = seed_owned(stack, world, specs, overrides or {})
    if multiprocess:
        return MultiProcessGraph(specs, stack, world, overrides, remap, log_dir=log_dir)
    return InProcessGraph(specs, stack, world, overrides, remap, node_kwargs)
