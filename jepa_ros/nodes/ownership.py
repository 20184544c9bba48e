"""Who owns which parameter: the configurator owns the task-level settings of world_model
and actor (planner, horizon, budget, cost weights, mode).

`OWNED_KEYS` is the one definition (node role -> parameter of that node -> configurator
parameter it follows); the configurator sets exactly these, the owned nodes refuse
ordinary sets of them while it is up (`ParameterOwnership`), and `jepa-ros params` and
the README mark them. A module of its own so the nodes share it without importing each
other.
"""
import threading

from rcl_interfaces.msg import SetParametersResult

from jepa_ros.core.cost import COST_TERMS, term_params

# The weight of every registered cost term (core declarations: name, default, range).
COST_WEIGHT_PARAMS = [p for name in COST_TERMS for p in term_params(name)
                      if p.name == f'cost.{name}.weight']
WORLD_MODEL_KEYS = ['planner', 'horizon', 'budget_s'] + [p.name for p in COST_WEIGHT_PARAMS]
ACTOR_KEYS = ['mode']
OWNED_KEYS = {
    'world_model': {**{k: k for k in WORLD_MODEL_KEYS}, 'planning': 'mode'},
    'actor': {k: k for k in ACTOR_KEYS},
}
# Owned parameters whose value is derived from the configurator parameter they follow.
DERIVED = {
    # Mode-1 acts without plans: pause the planner so the reactive path has the CPU.
    'planning': lambda mode: mode != 'mode1',
}


def owned_values(target, p):
    """The values the configurator with parameters `p` sets on `target`'s owned keys."""
    return {key: p[source] if key == source else DERIVED[key](p[source])
            for key, source in OWNED_KEYS[target].items()}


OWNED_PARAMETERS_SERVICE = 'set_owned_parameters'


def _cli_value(value):
    """`value` as `ros2 param set` reads it (YAML)."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


class ParameterOwnership:
    """Parameters of a node that another node, their owner, sets (the configurator owns
    world_model's planner, horizon, ... and the actor's mode).

    The owner sets them through this node's `~/set_owned_parameters`
    (rcl_interfaces/srv/SetParameters); they are applied through the node's own parameter
    machinery, so the same checks refuse bad values and `ros2 param get` shows them.
    While an owner is in the graph (a node with a client on that service), setting an owned
    parameter through the ordinary parameter services (`ros2 param set`) is refused with a
    reason that names the owner and the command to use there: the owner would put its own
    value back on its next check, so a set that looked successful would not stay. With no
    owner (the node run alone, tests) they are ordinary parameters.
    """

    def __init__(self, node, owned):
        from rcl_interfaces.srv import SetParameters
        self.node = node
        self.owned = dict(owned)     # parameter -> the owner's parameter that sets it
        self._from_owner = threading.local()
        self.service = node.create_service(SetParameters, f'~/{OWNED_PARAMETERS_SERVICE}',
                                           self._on_owner_set)
        self.service_name = node.resolve_service_name(f'~/{OWNED_PARAMETERS_SERVICE}')

    def owner(self):
        """Fully qualified name of the node that owns these parameters now, or None."""
        name = self.service_name
        try:
            if self.node.count_clients(name) == 0:
                return None
            for node_name, ns in self.node.get_node_names_and_namespaces():
                clients = self.node.get_client_names_and_types_by_node(node_name, ns)
                if any(c == name for c, _ in clients):
                    return ns.rstrip('/') + '/' + node_name
        except Exception:  # the graph changed while we looked (a node left)
            pass
        return f'the node with a client on {name}'   # listed in the graph a moment later

    def refusal(self, params):
        """The reason an ordinary set of `params` is refused, or None when it is not."""
        if getattr(self._from_owner, 'active', False):
            return None
        mine = [p for p in params if p.name in self.owned]
        if not mine:
            return None
        owner = self.owner()
        if owner is None:
            return None
        p = mine[0]
        source = self.owned[p.name]
        if source == p.name:
            return (f'{p.name} is owned by {owner}, which would put its own value back; '
                    f'set it there: ros2 param set {owner} {source} {_cli_value(p.value)}')
        return (f'{p.name} is owned by {owner}, which sets it from its {source} and would '
                f'put its own value back; set that there: '
                f'ros2 param set {owner} {source} <value>')

    def _on_owner_set(self, request, response):
        from rclpy.exceptions import ParameterNotDeclaredException
        from rclpy.parameter import Parameter
        for msg in request.parameters:
            if msg.name not in self.owned:
                response.results.append(SetParametersResult(
                    successful=False, reason=f'{msg.name} is not an owned parameter of '
                    f'{self.node.get_fully_qualified_name()}: set it with ~/set_parameters'))
                continue
            self._from_owner.active = True
            try:
                result = self.node.set_parameters_atomically(
                    [Parameter.from_parameter_msg(msg)])
            except ParameterNotDeclaredException as exc:
                result = SetParametersResult(successful=False, reason=str(exc))
            finally:
                self._from_owner.active = False
            response.results.append(result)
        return response
