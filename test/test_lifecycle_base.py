"""ModelLifecycleNode (nodes/lifecycle_util.py), the base of perception, world_model and
actor: entities made in configure/activate are released in deactivate/cleanup, the parts
are dropped, /diagnostics levels follow the state, a bad checkpoint leaves the node
unconfigured with the path and the reason."""
from rclpy.parameter import Parameter
from support import tiny_world_model

from jepa_ros.nodes.diagnostics import DIAG_ERROR, DIAG_OK, DIAG_STALE, DIAG_WARN
from jepa_ros.nodes.lifecycle_util import SUCCESS
from jepa_ros.nodes.perception import PerceptionNode




def test_entities_made_and_released_through_the_lifecycle(ros_context):
    node = PerceptionNode(model=tiny_world_model(seed=0), context=ros_context)
    try:
        assert node.diag.level == DIAG_STALE and node.model is None
        assert node.trigger_configure() == SUCCESS
        assert node.model is not None and node.state_pub is not None
        assert node.diag.level == DIAG_OK and node.subs == []
        assert node.trigger_activate() == SUCCESS
        assert len(node.subs) == 2 and node.diag.level == DIAG_OK
        assert node.trigger_deactivate() == SUCCESS
        assert node.subs == [] and node.diag.level == DIAG_WARN
        assert node.trigger_cleanup() == SUCCESS
        assert node.state_pub is None and node.goal_pub is None and node.model is None
        assert node.diag.level == DIAG_STALE
        # configure again: the handed-in model is used again
        assert node.trigger_configure() == SUCCESS and node.model is not None
    finally:
        node.destroy_node()


def test_missing_checkpoint_leaves_the_node_unconfigured(ros_context, tmp_path):
    missing = str(tmp_path / 'nowhere.pt')
    node = PerceptionNode(context=ros_context, parameter_overrides=[
        Parameter('checkpoint', value=missing)])
    try:
        assert node.trigger_configure() != SUCCESS
        assert node.model is None and node.state_pub is None
        assert node.diag.level == DIAG_ERROR
        assert missing in node.diag.message and 'no such checkpoint' in node.diag.message
    finally:
        node.destroy_node()
