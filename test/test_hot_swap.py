"""Safe hot swap of model versions: versions on the wire, the two-phase switch of the model
nodes (~/prepare_model, ~/commit_model, ~/abort_model) and the configurator's ~/swap_model.

perception, world_model, actor and configurator run as one graph (`jepa-ros bringup
--only ...`) in ANOTHER process, on tiny random world models whose predictors are
scattered so plans move; the test drives it through a StackClient, playing camera and goal,
and reads the nodes' versions from /diagnostics. (In a process of its own the graph leaves
nothing behind: rclpy frees a destroyed lifecycle node only when its object is collected,
and until then other participants still list it.) Version filtering of single nodes is
checked on node instances, in a namespace of their own.
"""
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import rclpy
from geometry_msgs.msg import Twist
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import Image
from support import SIZE, random_image, save_tiny_world_model, tiny_actor, tiny_critic

from jepa_ros.core.checkpoint import model_version, save_checkpoint
from jepa_ros.nodes import waiting
from jepa_ros.nodes.lifecycle_util import SUCCESS
from jepa_ros.nodes.qos import LATCHED_QOS, SENSOR_QOS
from jepa_ros.nodes.stack_client import StackClient, is_zero
from jepa_ros_interfaces.msg import LatentState, Plan
from jepa_ros_interfaces.srv import CommitModel

OTHER = 'ffffffffffff'     # a model version no node runs
MODEL_NODES = ('perception', 'world_model', 'actor')


def tiny_world_model_file(path, seed, **config):
    config = {'action_scale': [0.5, 0.5], **config}
    return save_tiny_world_model(path, seed=seed, scatter=True, image_size=SIZE, **config)


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    """models_dir with the running model A, a second model B, and bad candidates; plus a
    checkpoint outside it."""
    root = tmp_path_factory.mktemp('hot_swap')
    d = root / 'models'
    d.mkdir()
    files = {
        'a': tiny_world_model_file(str(d / 'wm_a.pt'), seed=3),
        'b': tiny_world_model_file(str(d / 'wm_b.pt'), seed=5),
        # another robot: 3 action dimensions (the reach arm)
        'arm': tiny_world_model_file(str(d / 'wm_arm.pt'), seed=3, action_dim=3,
                                     action_scale=[0.25] * 3, action_mode='reach'),
        'critic16': save_checkpoint(str(d / 'critic16.pt'), tiny_critic(latent_dim=16),
                                    kind='critic'),
        'actor16': save_checkpoint(str(d / 'actor16.pt'), tiny_actor(latent_dim=16),
                                   kind='actor'),
        'outside': tiny_world_model_file(str(root / 'outside.pt'), seed=5),
    }
    corrupt = d / 'corrupt.pt'
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8).tobytes())
    files['corrupt'] = str(corrupt)
    os.symlink(files['outside'], d / 'link_out.pt')
    files['dir'] = str(d)
    return files


class Driver:
    """The test's side of the graph: a StackClient plus camera and goal publishers."""

    def __init__(self, proc):
        self.proc = proc
        self.client = StackClient('hot_swap_test', own_context=True)
        node = self.client.node
        self.rng = np.random.default_rng(0)
        self.cam = node.create_publisher(Image, 'camera/image_raw', SENSOR_QOS)
        self.goal = node.create_publisher(Image, 'goal/image_raw', LATCHED_QOS)
        self.goal_states = []
        node.create_subscription(LatentState, 'jepa/goal_state', self.goal_states.append,
                                 LATCHED_QOS)
        self.commit_clients = {n: node.create_client(CommitModel, f'/{n}/commit_model')
                               for n in MODEL_NODES}

    def camera(self):
        self.cam.publish(random_image(self.rng, self.client.node.get_clock().now().to_msg()))

    def wait(self, pred, timeout_s, camera=True):
        """Spin the client (camera frames every 50 ms) until pred() or the timeout."""
        end = time.monotonic() + timeout_s
        next_frame = 0.0
        while not pred():
            now = time.monotonic()
            if now >= end or self.proc.poll() is not None:
                return bool(pred())
            if camera and now >= next_frame:
                self.camera()
                next_frame = now + 0.05
            self.client.executor.spin_once(timeout_sec=0.01)
        return True

    def call(self, client, request, timeout_s=120):
        assert self.wait(client.service_is_ready, 30), f'{client.srv_name} not available'
        fut = client.call_async(request)
        assert self.wait(fut.done, timeout_s), f'{client.srv_name} did not answer'
        return fut.result()

    def swap(self, world_model, critic='', actor=''):
        """The SwapModel response; the camera keeps running while the nodes load."""
        c = self.client
        return self.call(c.swap_cli, c.SwapModel.Request(world_model_checkpoint=world_model,
                                                         critic_checkpoint=critic,
                                                         actor_checkpoint=actor))

    def versions(self):
        """{node: model_version on its newest /diagnostics}."""
        return {n: self.client.diag_values(n).get('model_version') for n in MODEL_NODES}

    def wait_versions(self, version, timeout_s=15):
        """True once every model node reports `version` on /diagnostics after now (1 Hz)."""
        self.client.diag.clear()
        return self.wait(lambda: self.versions() == dict.fromkeys(MODEL_NODES, version),
                         timeout_s)

    def plans_of(self, version, since):
        return [p for p in self.client.plans if p.receipt >= since
                and p.msg.model_version == version]

    def moving_since(self, since):
        return any(c.receipt >= since and not is_zero(c.msg) for c in self.client.cmds)


@pytest.fixture(scope='module')
def running(models):
    ck = models['a']
    overrides = {
        'perception': {'checkpoint': ck},
        'world_model': {'checkpoint': ck, 'critic_checkpoint': '', 'plan_rate': 5.0,
                        'samples': 32, 'iterations': 2, 'state_timeout': 2.0},
        'actor': {'checkpoint': ck, 'actor_checkpoint': '', 'watchdog_timeout': 1.0,
                  'plan_timeout': 2.0},
        'configurator': {'planner': 'cem', 'horizon': 6, 'budget_s': 0.1,
                         'cost.critic.weight': 0.0, 'max_deadline_misses': 0,
                         'models_dir': models['dir'], 'swap_timeout_s': 60.0},
    }
    proc = subprocess.Popen([sys.executable, '-m', 'jepa_ros.cli', 'bringup',
                             *[a for n in overrides for a in ('--only', n)],
                             '--overrides', json.dumps(overrides)], env=dict(os.environ))
    driver = None
    try:
        driver = Driver(proc)
        driver.goal.publish(random_image(driver.rng))
        version_a = model_version(ck)
        assert driver.wait(lambda: len(driver.plans_of(version_a, 0.0)) >= 2, 120), \
            'no plans of the running version'
        yield driver
    finally:
        if driver is not None:
            driver.client.close()
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def assert_still_running(driver, version, candidate):
    """The graph alive, every model node on `version` with nothing staged (a commit of the
    `candidate` version is refused), plans of `version` keep coming."""
    assert driver.proc.poll() is None, 'the graph process died'
    for n in MODEL_NODES:
        r = driver.call(driver.commit_clients[n], CommitModel.Request(version=candidate))
        assert not r.success and 'nothing staged' in r.message, (n, r.message)
    since = driver.client.now()
    assert driver.wait(lambda: len(driver.plans_of(version, since)) >= 2, 30), \
        f'plans of version {version} stopped'
    assert driver.wait_versions(version), driver.versions()


def test_versions_on_the_wire(models, running):
    driver = running
    version_a = model_version(models['a'])
    assert len(version_a) == 12 and int(version_a, 16) >= 0
    assert driver.wait_versions(version_a), driver.versions()
    assert driver.wait(lambda: bool(driver.client.states), 10)
    assert {s.msg.model_version for s in driver.client.states} == {version_a}
    assert driver.goal_states and \
        all(g.model_version == version_a for g in driver.goal_states)
    # The configurator takes the running version from perception's states, latched.
    assert driver.wait(lambda: version_a in driver.client.model_versions, 10)


def test_paths_outside_models_dir_are_refused(models, running):
    driver = running
    version_a = model_version(models['a'])
    for path, clue in (('../outside.pt', '..'), (models['outside'], 'relative'),
                       ('link_out.pt', 'outside'), ('missing.pt', 'no file'),
                       ('', 'no file')):
        r = driver.swap(path)
        assert not r.success, path
        assert 'configurator refused' in r.message and clue in r.message, (path, r.message)
        assert r.active_version == version_a and r.previous_version == version_a
    r = driver.client.swap_model('wm_b.pt', critic_checkpoint='../outside.pt')
    assert not r.success and 'critic_checkpoint' in r.message, r.message
    assert driver.wait_versions(version_a), driver.versions()


def test_bad_candidates_fail_cleanly_and_the_old_version_keeps_running(models, running):
    driver = running
    version_a, version_b = model_version(models['a']), model_version(models['b'])
    # Garbage bytes: every node refuses; the old version keeps planning and driving.
    r = driver.swap('corrupt.pt')
    assert not r.success
    for n in MODEL_NODES:
        assert f'{n} refused' in r.message, r.message
    assert 'unsafe or unknown content' in r.message or 'corrupt checkpoint' in r.message, \
        r.message
    assert len(r.message) < 1500, r.message
    assert r.active_version == version_a and r.previous_version == version_a
    assert_still_running(driver, version_a, model_version(models['corrupt']))

    # Another robot (3 action dimensions, reach mode): refused, with what differs.
    r = driver.swap('wm_arm.pt')
    assert not r.success and 'action_dim 3 (running: 2)' in r.message, r.message
    assert r.active_version == version_a
    assert_still_running(driver, version_a, model_version(models['arm']))

    # A critic of another latent size: world_model refuses; perception and actor had
    # staged the candidate, and the abort dropped it (their commit finds nothing staged).
    r = driver.swap('wm_b.pt', critic='critic16.pt')
    assert not r.success, r.message
    assert 'world_model refused' in r.message and 'critic latent_dim 16' in r.message
    assert 'perception refused' not in r.message and 'actor refused' not in r.message
    assert r.active_version == version_a
    assert_still_running(driver, version_a, version_b)

    # A Mode-1 actor of another latent size: the actor refuses.
    r = driver.swap('wm_b.pt', actor='actor16.pt')
    assert not r.success and 'actor refused' in r.message and '16-d' in r.message, r.message
    assert_still_running(driver, version_a, version_b)
    assert driver.moving_since(0.0), 'the robot never moved'
    # The latched version did not change.
    assert driver.client.model_versions[-1] == version_a


def test_swap_switches_all_three_nodes_together(models, running):
    driver = running
    version_a, version_b = model_version(models['a']), model_version(models['b'])
    assert version_a != version_b
    n_goals = len(driver.goal_states)
    r = driver.swap('wm_b.pt')
    assert r.success, r.message
    assert r.previous_version == version_a and r.active_version == version_b
    # Perception re-encoded the last goal image and sent it with the new version (the test
    # did not publish a new goal image).
    assert driver.wait(lambda: any(g.model_version == version_b
                                   for g in driver.goal_states[n_goals:]), 10), \
        'goal state not republished in the new version'
    # Plans of the new version come; once one has, none of the old version follows.
    swapped = driver.client.now()
    assert driver.wait(lambda: len(driver.plans_of(version_b, swapped)) >= 3, 30), \
        'no plans of the new version'
    first_b = min(p.receipt for p in driver.plans_of(version_b, swapped))
    later = [p.msg.model_version for p in driver.client.plans if p.receipt > first_b]
    assert set(later) == {version_b}, later
    # Commands keep flowing: the robot moves on the new version's plans.
    assert driver.wait(lambda: driver.moving_since(first_b), 20), 'robot did not move again'
    for c in driver.client.cmds:
        v = (c.msg.linear.x, c.msg.linear.y, c.msg.angular.z)
        assert all(math.isfinite(x) for x in v)
    # Every node reports it (and the file it came from); the configurator publishes it.
    assert driver.wait_versions(version_b), driver.versions()
    assert driver.client.diag_values('world_model')['model_checkpoint'] == \
        os.path.realpath(models['b'])
    assert driver.wait(lambda: driver.client.model_versions[-1:] == [version_b], 10)
    # ... and back: the two-phase switch works in both directions.
    r = driver.swap('wm_a.pt')
    assert r.success and r.active_version == version_a and r.previous_version == version_b
    assert_still_running(driver, version_a, version_b)


# ---- version filtering on node instances ------------------------------------------------
def spin_until(executor, pred, timeout_s, tick=None):
    return waiting.spin_until(executor, pred, timeout_s, tick=tick, period_s=0.01,
                              tick_period_s=0.05)


# In their own namespace: the graph of the tests above is still up on the same domain.
NAMESPACE = 'version_filter'


def node_args(**params):
    return ['--ros-args', '-r', f'__ns:=/{NAMESPACE}'] + \
        sum([['-p', f'{k}:={v}'] for k, v in params.items()], [])


def latent(node, version, rng, dim=8):
    msg = LatentState(level=1, data=rng.normal(size=dim).tolist(), model_version=version)
    msg.header.stamp = node.get_clock().now().to_msg()
    return msg


def test_world_model_ignores_states_of_another_version(models, ros_context):
    from jepa_ros.nodes.world_model import WorldModelNode
    version = model_version(models['a'])
    wm = WorldModelNode(context=ros_context, cli_args=node_args(
        checkpoint=models['a'], planner='cem', horizon=6, samples=16, iterations=1,
        plan_rate=5.0, critic_checkpoint="''", **{'cost.critic.weight': 0.0}))
    probe = rclpy.create_node('version_probe', namespace=NAMESPACE, context=ros_context)
    ex = SingleThreadedExecutor(context=ros_context)
    try:
        assert wm.trigger_configure() == SUCCESS and wm.trigger_activate() == SUCCESS
        assert wm.model_version == version
        ex.add_node(wm)
        ex.add_node(probe)
        plans = []
        probe.create_subscription(Plan, 'jepa/plan', plans.append, 10)
        states = probe.create_publisher(LatentState, 'jepa/state', 10)
        goals = probe.create_publisher(LatentState, 'jepa/goal_state', LATCHED_QOS)
        assert spin_until(ex, lambda: states.get_subscription_count() > 0
                          and goals.get_subscription_count() > 0
                          and probe.count_publishers('jepa/plan') > 0, 10)
        rng = np.random.default_rng(1)
        goals.publish(latent(probe, OTHER, rng))      # dropped: no goal of its version
        assert spin_until(ex, lambda: wm.version_drops.get('goal', 0) >= 1, 10)
        goals.publish(latent(probe, version, rng))
        assert spin_until(ex, lambda: wm.goal is not None, 10)
        # States of another version (and unversioned ones) are dropped: no plan.
        assert spin_until(ex, lambda: wm.version_drops.get('state', 0) >= 10, 20,
                          lambda: states.publish(latent(probe, OTHER, rng)))
        states.publish(latent(probe, '', rng))
        assert spin_until(ex, lambda: wm.version_drops.get('state', 0) >= 11, 10)
        assert wm.state is None and plans == []
        assert wm.diag.values['dropped_version_state'] >= 11
        # The same states with the node's version are planned from.
        assert spin_until(ex, lambda: len(plans) >= 2, 20,
                          lambda: states.publish(latent(probe, version, rng)))
        assert {p.model_version for p in plans} == {version}
    finally:
        for n in (wm, probe):
            ex.remove_node(n)
            n.destroy_node()
        ex.shutdown()


def test_actor_does_not_execute_a_plan_of_another_version(models, ros_context):
    from jepa_ros.nodes.actor import ActorNode
    version = model_version(models['a'])
    actor = ActorNode(context=ros_context, cli_args=node_args(
        checkpoint=models['a'], actor_checkpoint="''", watchdog_timeout=2.0,
        plan_timeout=5.0))
    probe = rclpy.create_node('actor_probe', namespace=NAMESPACE, context=ros_context)
    ex = SingleThreadedExecutor(context=ros_context)
    try:
        assert actor.trigger_configure() == SUCCESS and actor.trigger_activate() == SUCCESS
        ex.add_node(actor)
        ex.add_node(probe)
        cmds = []
        probe.create_subscription(Twist, 'cmd_vel', cmds.append, 100)
        states = probe.create_publisher(LatentState, 'jepa/state', 10)
        goals = probe.create_publisher(LatentState, 'jepa/goal_state', LATCHED_QOS)
        plans = probe.create_publisher(Plan, 'jepa/plan', 10)
        assert spin_until(ex, lambda: plans.get_subscription_count() > 0
                          and states.get_subscription_count() > 0
                          and probe.count_publishers('cmd_vel') > 0, 10)
        rng = np.random.default_rng(2)
        goals.publish(latent(probe, version, rng))
        assert spin_until(ex, lambda: actor.goal is not None, 10)

        def plan(v):
            msg = Plan(planner='cem', horizon=20, action_dim=2, actions=[0.8] * 40,
                       model_version=v)
            msg.header.stamp = probe.get_clock().now().to_msg()
            return msg

        def feed(v):
            def tick():
                states.publish(latent(probe, version, rng))
                plans.publish(plan(v))
            return tick
        # Fresh states and goal of its version, plans of another: no command moves.
        assert spin_until(ex, lambda: actor.version_drops.get('plan', 0) >= 10, 20,
                          feed(OTHER))
        assert actor.plan is None
        assert not [c for c in cmds if not is_zero(c)], 'moved on a plan of another version'
        assert actor.diag.values['dropped_version_plan'] >= 10
        # The same plan with the actor's version drives it.
        assert spin_until(ex, lambda: any(not is_zero(c) for c in cmds), 20, feed(version))
        assert all(math.hypot(c.linear.x, c.linear.y) <= 1.5 + 1e-6 for c in cmds)
    finally:
        for n in (actor, probe):
            ex.remove_node(n)
            n.destroy_node()
        ex.shutdown()


def test_critic_and_mode1_policy_follow_their_world_model(models, tmp_path, ros_context):
    """The critic and the Mode-1 policy read the world model's latents: '' keeps them for
    the same model version only. A new world model with a critic in use and none given is
    refused; the actor drops its Mode-1 policy instead of driving on foreign latents."""
    from jepa_ros.nodes.actor import ActorNode
    from jepa_ros.nodes.world_model import WorldModelNode
    from jepa_ros_interfaces.srv import PrepareModel
    critic = save_checkpoint(str(tmp_path / 'critic8.pt'), tiny_critic(), kind='critic')
    policy = save_checkpoint(str(tmp_path / 'actor8.pt'), tiny_actor(), kind='actor')
    va, vb = model_version(models['a']), model_version(models['b'])
    wm = WorldModelNode(context=ros_context, cli_args=node_args(
        checkpoint=models['a'], planner='cem', horizon=4, samples=8, iterations=1,
        critic_checkpoint=critic, **{'cost.critic.weight': 1.0}))
    actor = ActorNode(context=ros_context, cli_args=node_args(
        checkpoint=models['a'], actor_checkpoint=policy))
    try:
        assert wm.trigger_configure() == SUCCESS and actor.trigger_configure() == SUCCESS
        keep = PrepareModel.Request(world_model_checkpoint='', critic_checkpoint='',
                                    actor_checkpoint='')
        with pytest.raises(ValueError, match='give critic_checkpoint'):
            wm.prepare_candidate(models['b'], keep, vb)
        parts = wm.prepare_candidate(models['a'], keep, va)   # same version: kept
        assert parts['critic'] is wm.critic
        given = PrepareModel.Request(critic_checkpoint=critic)
        assert wm.prepare_candidate(models['b'], given, vb)['critic'] is not None
        assert actor.policy is not None
        assert actor.prepare_candidate(models['a'], keep, va)['policy'] is actor.policy
        assert actor.prepare_candidate(models['b'], keep, vb)['policy'] is None
        assert actor.prepare_candidate(models['b'], PrepareModel.Request(
            actor_checkpoint=policy), vb)['policy'] is not None
    finally:
        for n in (wm, actor):
            n.destroy_node()
