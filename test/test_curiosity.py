"""The novelty cost term (curiosity): predicted latents far from the remembered ones cost
less, up to a cap; with no memory the term is zero."""
import torch

from jepa_ros.core.cost import IntrinsicCost, cost_params


def cost_with_novelty(weight=1.0, cap=1.0):
    return IntrinsicCost.from_params({'cost.terms': ['goal', 'novelty'],
                                      'cost.goal.weight': 0.0,
                                      'cost.novelty.weight': weight,
                                      'cost.novelty.cap': cap})


def test_the_term_is_declared_off_by_default():
    decl = {p.name: p.default for p in cost_params()}
    assert decl['cost.novelty.weight'] == 0.0
    assert 'novelty' not in IntrinsicCost.from_params({}).active()


def test_no_memory_no_novelty():
    cost = cost_with_novelty()
    latents = torch.randn(3, 4, 5)
    parts = cost.breakdown(latents, torch.zeros(3, 4, 2), torch.zeros(5))
    assert torch.equal(parts['novelty'], torch.zeros(3))


def test_far_from_memory_costs_less_and_is_capped():
    cost = cost_with_novelty(weight=2.0, cap=0.5)
    memory = torch.zeros(10, 4)
    cost.set_visited(memory)
    near = torch.full((1, 3, 4), 0.1)     # mean squared distance 0.01 per step
    mid = torch.full((1, 3, 4), 0.5)      # 0.25
    far = torch.full((1, 3, 4), 3.0)      # 9, capped at 0.5
    latents = torch.cat([near, mid, far])
    c = cost(latents, torch.zeros(3, 3, 2), torch.zeros(4))
    assert torch.allclose(c, torch.tensor([-0.02, -0.5, -1.0]), atol=1e-5)
    cost.set_visited(None)
    assert torch.equal(cost(latents, torch.zeros(3, 3, 2), torch.zeros(4)), torch.zeros(3))


def test_gradient_moves_predictions_away_from_the_memory():
    cost = cost_with_novelty(cap=100.0)
    cost.set_visited(torch.zeros(1, 2))
    latents = torch.tensor([[[0.1, 0.0]]], requires_grad=True)
    cost(latents, torch.zeros(1, 1, 1), torch.zeros(2)).sum().backward()
    assert latents.grad[0, 0, 0] < 0    # descending the cost increases the distance


def test_world_model_node_remembers_states_for_the_novelty_term(tmp_path, ros_context):
    """With cost.novelty.weight > 0 the world_model node plans with its received states as
    the memory; the plan's cost breakdown has the novelty term."""
    import numpy as np

    from jepa_ros.core.checkpoint import model_version
    from jepa_ros.nodes.lifecycle_util import SUCCESS
    from jepa_ros.nodes.world_model import WorldModelNode
    from jepa_ros_interfaces.msg import LatentState
    from support import save_tiny_world_model
    ckpt = save_tiny_world_model(str(tmp_path / 'wm.pt'), seed=3, scatter=True,
                                 action_scale=[0.5, 0.5])
    version = model_version(ckpt)
    wm = WorldModelNode(context=ros_context, cli_args=[
        '--ros-args', '-r', '__ns:=/curiosity', '-p', f'checkpoint:={ckpt}',
        '-p', 'planner:=cem', '-p', 'samples:=8', '-p', 'iterations:=1', '-p', 'horizon:=4',
        '-p', 'cost.novelty.weight:=1.0', '-p', 'cost.novelty.memory:=5',
        '-p', 'plan_on_state:=false'])
    try:
        assert wm.trigger_configure() == SUCCESS and wm.trigger_activate() == SUCCESS
        rng = np.random.default_rng(0)

        def latent():
            msg = LatentState(level=1, data=rng.normal(size=8).tolist(), model_version=version)
            msg.header.stamp = wm.get_clock().now().to_msg()
            return msg
        wm._on_goal(latent())
        for _ in range(7):
            wm._on_state(latent())
        memory = wm.remembered(5)
        assert memory.shape == (5, 8)                       # the latest 5 of 7
        assert torch.equal(memory[-1], wm.state[1])
        res = wm.plan_once()
        assert res is not None and 'novelty' in res.info['cost_terms']
        assert res.info['cost_terms']['novelty'] < 0        # a reward
    finally:
        wm.destroy_node()
