"""One parameter authority: a parameter set on any node either takes effect and stays, or is
refused with a reason that names where to set it.

world_model, actor and (where a test wants it) the configurator run in this process on real
DDS (loopback, the session's domain), spun by their own executor in a thread; this test is
the operator and talks to them only through the ordinary parameter services, as
`ros2 param set/get` does. world_model and actor are not configured (no model is needed to
own parameters).
"""
import threading

import pytest
import rclpy
from rcl_interfaces.srv import SetParameters
from rclpy.node import Node
from rclpy.parameter import Parameter, parameter_value_to_python
from rclpy.parameter_client import AsyncParameterClient

from jepa_ros.nodes.executors import make_multithreaded_executor
from jepa_ros.nodes.ownership import OWNED_KEYS
from jepa_ros.nodes.waiting import call_until_answered, spin_until

pytestmark = pytest.mark.ros

SYNC_S = 0.2


@pytest.fixture(scope='module')
def operator():
    rclpy.init()
    node = Node('param_ownership_test')
    # One set of parameter clients for the whole module (the graphs come and go).
    node.param_clients = {name: AsyncParameterClient(node, name)
                          for name in ('world_model', 'actor', 'configurator')}
    try:
        yield node
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


class Graph:
    """world_model + actor (+ configurator), spun in a thread; parameter clients on them."""

    def __init__(self, op, configurator=True):
        from jepa_ros.nodes.actor import ActorNode
        from jepa_ros.nodes.configurator import ConfiguratorNode
        from jepa_ros.nodes.world_model import WorldModelNode
        self.op = op
        self.nodes = {'world_model': WorldModelNode(), 'actor': ActorNode()}
        if configurator:
            self.nodes['configurator'] = ConfiguratorNode(parameter_overrides=[
                Parameter('sync_period_s', value=SYNC_S)])
        self.executor = make_multithreaded_executor(3)
        for n in self.nodes.values():
            self.executor.add_node(n)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()
        self.clients = {name: op.param_clients[name] for name in self.nodes}
        for name, c in self.clients.items():
            assert c.wait_for_services(timeout_sec=30), f'{name} parameter services missing'

    def _spin(self):
        while not self.stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def close(self):
        self.stop.set()
        self.thread.join(timeout=10)
        for n in self.nodes.values():
            self.executor.remove_node(n)
            n.destroy_node()
        self.executor.shutdown(timeout_sec=5)

    def set(self, target, name, value):
        res = call_until_answered(self.op, lambda: self.clients[target].set_parameters(
            [Parameter(name, value=value)]), 15)
        assert res is not None, f'{target} did not answer a set'
        return res.results[0]

    def get(self, target, name):
        res = call_until_answered(
            self.op, lambda: self.clients[target].get_parameters([name]), 15)
        assert res is not None, f'{target} did not answer a get'
        return parameter_value_to_python(res.values[0])

    def wait(self, pred, timeout=20):
        return spin_until(self.op, pred, timeout)

    def checks(self, target):
        return self.nodes['configurator'].sync_checks[target]

    def wait_checks(self, target, n):
        """Spin until the configurator has compared `target` with its own values `n` more
        times (each check re-pushes what differs)."""
        goal = self.checks(target) + n
        assert self.wait(lambda: self.checks(target) >= goal), \
            f'configurator did not check {target} {n} times'


@pytest.fixture
def graph(operator):
    g = Graph(operator)
    try:
        yield g
    finally:
        g.close()


@pytest.fixture
def alone(operator):
    g = Graph(operator, configurator=False)
    try:
        yield g
    finally:
        g.close()


def test_owned_keys_set_on_world_model_or_actor_are_refused_naming_the_configurator(graph):
    # The configurator first brings world_model to its values (mppi from its defaults).
    graph.wait_checks('world_model', 1)
    before = graph.get('world_model', 'planner')
    r = graph.set('world_model', 'planner', 'cem')
    assert not r.successful, 'an owned key was accepted while the configurator is up'
    assert '/configurator' in r.reason and 'ros2 param set /configurator planner cem' \
        in r.reason, r.reason
    assert graph.get('world_model', 'planner') == before
    r = graph.set('world_model', 'planning', False)      # follows the configurator's mode
    assert not r.successful and '/configurator' in r.reason and 'mode' in r.reason, r.reason
    r = graph.set('actor', 'mode', 'mode1')
    assert not r.successful and 'ros2 param set /configurator mode mode1' in r.reason, r.reason
    assert graph.get('actor', 'mode') == 'mode2'
    # Every owned key is refused, not only those tried above.
    for target, keys in OWNED_KEYS.items():
        for key in keys:
            value = graph.get(target, key)
            r = graph.set(target, key, value)
            assert not r.successful and '/configurator' in r.reason, (target, key, r.reason)


def test_set_on_the_configurator_reaches_world_model_and_stays(graph):
    r = graph.set('configurator', 'planner', 'cem')
    assert r.successful, r.reason
    assert graph.wait(lambda: graph.nodes['world_model'].p['planner'] == 'cem'), \
        'planner never reached world_model'
    r = graph.set('configurator', 'mode', 'mode1')
    assert r.successful, r.reason
    assert graph.wait(lambda: graph.nodes['actor'].p['mode'] == 'mode1'
                      and graph.nodes['world_model'].p['planning'] is False)
    graph.wait_checks('world_model', 3)
    graph.wait_checks('actor', 3)
    # What `ros2 param get` reads, several checks (and re-pushes) later:
    assert graph.get('world_model', 'planner') == 'cem'
    assert graph.get('world_model', 'planning') is False
    assert graph.get('actor', 'mode') == 'mode1'


def test_not_owned_world_model_key_set_directly_takes_effect_and_stays(graph):
    r = graph.set('world_model', 'gd.iterations', 3)
    assert r.successful, r.reason
    assert graph.nodes['world_model'].p['gd.iterations'] == 3   # applied, not just stored
    graph.wait_checks('world_model', 3)
    assert graph.get('world_model', 'gd.iterations') == 3
    # A bad value of a key nobody owns is still refused by its range check.
    r = graph.set('world_model', 'gd.iterations', 0)
    assert not r.successful and 'gd.iterations' in r.reason
    assert graph.get('world_model', 'gd.iterations') == 3


def test_owned_channel_applies_the_node_checks_and_only_takes_owned_keys(graph):
    """What the configurator uses: ~/set_owned_parameters goes through the node's own
    parameter checks and is no back door for other parameters."""
    client = graph.op.create_client(SetParameters, '/world_model/set_owned_parameters')
    try:
        assert client.wait_for_service(timeout_sec=20)

        def send(*params):
            req = SetParameters.Request(parameters=[p.to_parameter_msg() for p in params])
            res = call_until_answered(graph.op, lambda: client.call_async(req), 15)
            assert res is not None
            return res.results
        bad, other = send(Parameter('horizon', value=0), Parameter('samples', value=8))
        assert not bad.successful and 'horizon' in bad.reason
        assert not other.successful and 'not an owned parameter' in other.reason
        assert graph.get('world_model', 'samples') != 8
    finally:
        graph.op.destroy_client(client)


def test_without_a_configurator_owned_keys_are_ordinary_parameters(alone):
    # No owner in the graph (an earlier test's configurator has left it).
    assert alone.wait(lambda: all(alone.op.count_clients(f'/{n}/set_owned_parameters') == 0
                                  for n in OWNED_KEYS))
    for target, name, value in (('world_model', 'planner', 'cem'),
                                ('world_model', 'horizon', 7),
                                ('world_model', 'planning', False),
                                ('actor', 'mode', 'mode1')):
        r = alone.set(target, name, value)
        assert r.successful, (target, name, r.reason)
        assert alone.nodes[target].p[name] == value
        assert alone.get(target, name) == value
