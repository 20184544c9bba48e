"""Inference backends (jepa_ros/core/backends.py) on an exported folder of the shipped
two_rooms checkpoints: the sampling planners run unchanged on the onnxruntime rollout and
plan what they plan on torch (same seed); gradient planning is refused off torch; a folder
or backend that cannot load says why; the nodes take `backend` / `export_dir`.
"""
import json
import os
import shutil

import numpy as np
import pytest
import torch
from support import REPO, sim_images

from jepa_ros.core import backends
from jepa_ros.core.backends import BackendError, load_exported
from jepa_ros.core.checkpoint import load_checkpoint, model_version
from jepa_ros.core.critic import load_frozen_critic
from jepa_ros.core.export import export_checkpoint
from jepa_ros.core.planners import build_planning

WM = os.path.join(REPO, 'models', 'two_rooms_world_model.pt')
CRITIC = os.path.join(REPO, 'models', 'two_rooms_critic.pt')
ACTOR = os.path.join(REPO, 'models', 'two_rooms_actor.pt')


@pytest.fixture(scope='module')
def onnx_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('onnx'))
    export_checkpoint(WM, out, 'onnx', critic=CRITIC, actor=ACTOR)
    return out


@pytest.fixture(scope='module')
def ts_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('torchscript'))
    export_checkpoint(WM, out, 'torchscript', critic=CRITIC)
    return out


@pytest.fixture(scope='module')
def problems():
    """The shipped model and critic, and 4 (state, goal) latent pairs of real renders."""
    model, _ = load_checkpoint(WM)
    model.requires_grad_(False)
    critic = load_frozen_critic(CRITIC)
    with torch.no_grad():
        z = model.encode(sim_images('two_rooms', 8, seed=5))
    return model, critic, z[:4], z[4:]


def plan_both(values, torch_model, other_model, critic, states, goals):
    out = []
    for model in (torch_model, other_model):
        planner, cost = build_planning(values, model, critic=critic, action_dim=2)
        out.append(planner.plan_batch(states, goals, cost))
    return out


@pytest.mark.parametrize('values', [
    {'planner': 'mppi'},
    {'planner': 'cem'},
    {'planner': 'random', 'samples': 64},
    {'planner': 'hierarchical', 'hierarchical.level1': 'mppi', 'hierarchical.level2': 'cem'},
], ids=lambda v: v['planner'])
def test_sampling_planners_plan_the_same_on_onnxruntime(values, problems, onnx_dir):
    model, critic, states, goals = problems
    exported = load_exported(onnx_dir, 'onnxruntime', 'cpu', threads=1)
    values = dict(values, **{'cost.critic.weight': 1.0})
    backends.check_planner_backend(values, 'onnxruntime')   # allowed
    ref, got = plan_both(values, model, exported.world_model, critic, states, goals)
    # The same seed draws the same samples; rollouts differ by ~1e-6, so every planner
    # ranks and weights them alike: the same plan up to float noise.
    assert got.actions.shape == ref.actions.shape == (4, 12, 2)
    assert float((got.actions - ref.actions).abs().max()) < 1e-3
    assert np.allclose(got.info['costs'], ref.info['costs'], rtol=1e-4)
    assert not torch.equal(ref.actions[0], ref.actions[1])   # real, distinct plans


def test_the_critic_of_the_export_can_score_plans(problems, onnx_dir):
    model, critic, states, goals = problems
    exported = load_exported(onnx_dir, 'onnxruntime', 'cpu', threads=1)
    values = {'planner': 'mppi', 'cost.critic.weight': 1.0}
    ref, got = plan_both(values, model, exported.world_model, exported.critic, states, goals)
    assert np.allclose(got.info['costs'], ref.info['costs'], rtol=1e-4)


def test_rollouts_of_other_lengths_chain_predictor_steps(problems, onnx_dir):
    model, _, states, _ = problems
    w = load_exported(onnx_dir, 'onnxruntime', 'cpu').world_model
    for t in (1, 5, 20):
        actions = torch.rand(4, t, 2, generator=torch.Generator().manual_seed(t)) * 2 - 1
        with torch.no_grad():
            ref = model.rollout(states, actions)
        got = w.rollout(states, actions)
        assert got.shape == (4, t, 128)
        assert float((got - ref).abs().max()) / float(ref.std()) < 1e-4


def test_gradient_planning_is_refused_off_torch(problems, onnx_dir):
    model, critic, states, goals = problems
    for values in ({'planner': 'gd'}, {'planner': 'hierarchical'},
                   {'planner': 'hierarchical', 'hierarchical.level1': 'mppi'}):
        with pytest.raises(ValueError, match='gradient planning .* backend .onnxruntime.'):
            backends.check_planner_backend(values, 'onnxruntime')
        backends.check_planner_backend(values, 'torch')
    # Built anyway, gd fails at its first gradient with the same reason, not deep in ORT.
    exported = load_exported(onnx_dir, 'onnxruntime', 'cpu')
    planner, cost = build_planning({'planner': 'gd', 'cost.critic.weight': 0.0},
                                   exported.world_model, action_dim=2)
    with pytest.raises(RuntimeError, match='needs autograd'):
        planner.plan_batch(states, goals, cost)


def test_torchscript_on_the_torch_backend_keeps_autograd(problems, ts_dir):
    """gd runs on TorchScript modules (backend torch) and plans as on the checkpoint."""
    model, critic, states, goals = problems
    exported = load_exported(ts_dir, 'torch', 'cpu')
    values = {'planner': 'gd', 'gd.iterations': 3, 'cost.critic.weight': 1.0}
    ref, got = plan_both(values, model, exported.world_model, exported.critic, states, goals)
    assert float((got.actions - ref.actions).abs().max()) < 1e-4


def test_encoder_and_actor_backends(problems, onnx_dir):
    from jepa_ros.core.actor import load_actor
    model, _, states, goals = problems
    exported = load_exported(onnx_dir, 'onnxruntime', 'cpu', parts=['encoder', 'actor'])
    images = sim_images('two_rooms', 3, seed=9)
    z = exported.encoder(images)
    assert isinstance(z, np.ndarray) and z.dtype == np.float32 and z.shape == (3, 128)
    with torch.no_grad():
        assert np.abs(z - model.encode(images).numpy()).max() < 1e-4
    with pytest.raises(ValueError, match='uint8'):
        exported.encoder(images.astype(np.float32) / 255)
    with pytest.raises(ValueError, match=r'\(B, 64, 64, 3\)'):
        exported.encoder(np.zeros((1, 32, 32, 3), np.uint8))
    actor, _ = load_actor(ACTOR)
    with torch.no_grad():
        ref = actor(states, goals[0]).numpy()
    assert np.abs(exported.actor.numpy(states.numpy(), goals[0].numpy()) - ref).max() < 1e-4
    # only the parts asked for are loaded; another part says it is missing when used
    with pytest.raises(BackendError, match="no 'rollout'"):
        exported.world_model.rollout(states, torch.zeros(4, 12, 2))


def test_folders_and_backends_that_cannot_load_say_why(onnx_dir, ts_dir, tmp_path):
    cases = [('', 'onnxruntime', 'no export_dir given'),
             (str(tmp_path / 'missing'), 'onnxruntime', 'is not a folder'),
             (str(tmp_path), 'onnxruntime', 'has no export.json'),
             (onnx_dir, 'torch', 'holds a onnx export'),
             (ts_dir, 'onnxruntime', 'holds a torchscript export'),
             (onnx_dir, 'openvino', 'unknown backend')]
    for folder, backend, reason in cases:
        with pytest.raises(BackendError, match=reason):
            load_exported(folder, backend, 'cpu')
    with pytest.raises(BackendError, match=r"no \['nothing'\]"):
        load_exported(onnx_dir, 'onnxruntime', 'cpu', parts=['nothing'])
    # a damaged copy: corrupt manifest, a missing file, a corrupt network
    bad = tmp_path / 'bad'
    shutil.copytree(onnx_dir, bad)
    (bad / 'export.json').write_text('{not json')
    with pytest.raises(BackendError, match='unreadable manifest'):
        load_exported(str(bad), 'onnxruntime', 'cpu')
    shutil.copy(os.path.join(onnx_dir, 'export.json'), bad / 'export.json')
    (bad / 'actor.onnx').unlink()
    with pytest.raises(BackendError, match='listed in export.json but missing'):
        load_exported(str(bad), 'onnxruntime', 'cpu')
    (bad / 'actor.onnx').write_bytes(b'not a graph')
    with pytest.raises(BackendError, match='cannot load'):
        load_exported(str(bad), 'onnxruntime', 'cpu')
    manifest = json.loads((bad / 'export.json').read_text())
    manifest['format_version'] = 99
    (bad / 'export.json').write_text(json.dumps(manifest))
    with pytest.raises(BackendError, match='manifest version 99'):
        load_exported(str(bad), 'onnxruntime', 'cpu')


def test_gpu_backends_without_a_gpu_say_so(onnx_dir):
    import onnxruntime as ort
    if 'CUDAExecutionProvider' not in ort.get_available_providers():
        with pytest.raises(BackendError, match='no CUDAExecutionProvider'):
            load_exported(onnx_dir, 'onnxruntime', 'cuda')
    else:
        assert 'CUDAExecutionProvider' in load_exported(onnx_dir, 'onnxruntime',
                                                        'cuda').providers
    try:
        import tensorrt  # noqa: F401
        have_trt = torch.cuda.is_available()
    except ImportError:
        have_trt = False
    if not have_trt:
        with pytest.raises(BackendError, match='tensorrt'):
            load_exported(onnx_dir, 'tensorrt', 'cuda')
    else:
        w = load_exported(onnx_dir, 'tensorrt', 'cuda', parts=['rollout']).world_model
        assert w.rollout(torch.zeros(2, 128), torch.zeros(2, 12, 2)).shape == (2, 12, 128)


# ---- the nodes: `backend` and `export_dir` parameters ------------------------------------------
def node_args(**params):
    return ['--ros-args'] + sum([['-p', f'{k}:={v}'] for k, v in params.items()], [])


def test_perception_node_encodes_with_onnxruntime(ros_context, onnx_dir, problems):
    from jepa_ros.nodes.lifecycle_util import SUCCESS
    from jepa_ros.nodes.messages import rgb_to_image
    from jepa_ros.nodes.perception import PerceptionNode
    model = problems[0]
    node = PerceptionNode(context=ros_context, cli_args=node_args(
        backend='onnxruntime', export_dir=onnx_dir, checkpoint='/nonexistent/not/read.pt'))
    try:
        assert node.trigger_configure() == SUCCESS
        assert isinstance(node.model, backends.ExportedWorldModel)
        image = sim_images('two_rooms', 1, seed=11)[0]
        z = node.encode_msg(rgb_to_image(image))
        with torch.no_grad():
            ref = model.encode(image).numpy()[0]
        assert z.dtype == np.float32 and np.abs(z - ref).max() < 1e-4
    finally:
        node.destroy_node()


def test_nodes_with_a_backend_that_cannot_load_stay_unconfigured(ros_context, tmp_path,
                                                                 onnx_dir):
    from jepa_ros.nodes.actor import ActorNode
    from jepa_ros.nodes.diagnostics import DIAG_ERROR
    from jepa_ros.nodes.lifecycle_util import SUCCESS
    from jepa_ros.nodes.perception import PerceptionNode
    from jepa_ros.nodes.world_model import WorldModelNode
    bogus = str(tmp_path / 'no_such_export')
    cases = [
        (PerceptionNode, dict(backend='onnxruntime', export_dir=bogus), 'is not a folder'),
        (PerceptionNode, dict(backend='onnxruntime'), 'set export_dir'),
        (PerceptionNode, dict(backend='torch', export_dir=onnx_dir), 'holds a onnx export'),
        (PerceptionNode, dict(backend='tensorrt', export_dir=onnx_dir), 'tensorrt'),
        (ActorNode, dict(backend='onnxruntime', export_dir=bogus), 'is not a folder'),
        (WorldModelNode, dict(backend='onnxruntime', export_dir=bogus, planner='mppi'),
         'is not a folder'),
        (WorldModelNode, dict(backend='onnxruntime', export_dir=onnx_dir, planner='gd'),
         'gradient planning'),
    ]
    for cls, params, reason in cases:
        node = cls(context=ros_context, cli_args=node_args(**params))
        try:
            assert node.trigger_configure() != SUCCESS, (cls.__name__, params)
            assert all(getattr(node, a) is None for a in cls.MODEL_ATTRS)
            assert node.diag.level == DIAG_ERROR and reason in node.diag.message, \
                (cls.__name__, node.diag.message)
            # the node survives: configure can be tried again (and fails the same way)
            assert node.trigger_configure() != SUCCESS
        finally:
            node.destroy_node()


def test_world_model_node_plans_with_onnxruntime_and_refuses_gd(ros_context, onnx_dir,
                                                                problems):
    from rclpy.parameter import Parameter
    from std_msgs.msg import Header
    from jepa_ros_interfaces.msg import LatentState

    from jepa_ros.nodes.lifecycle_util import SUCCESS
    from jepa_ros.nodes.world_model import WorldModelNode
    _, _, states, goals = problems
    node = WorldModelNode(context=ros_context, cli_args=node_args(
        backend='onnxruntime', export_dir=onnx_dir, planner='mppi', state_timeout=60.0,
        **{'cost.critic.weight': 1.0}))
    try:
        assert node.trigger_configure() == SUCCESS
        assert isinstance(node.critic, backends.GoalNetBackend)
        header = Header()
        header.stamp.sec = 5
        # Its model version is the one of the export's source checkpoint.
        assert node.model_version == model_version(onnx_dir) == model_version(WM)
        version = node.model_version
        node._on_state(LatentState(header=header, level=1, data=states[0].tolist(),
                                   model_version=version))
        node._on_goal(LatentState(level=1, data=goals[0].tolist(), model_version=version))
        res = node.plan_once()
        assert res is not None and res.actions.shape == (12, 2)
        assert torch.isfinite(res.actions).all() and res.actions.abs().max() <= 1.0
        assert 'critic' in res.info['cost_terms']
        # gd needs autograd: the set is refused, the node keeps planning with mppi
        result = node.set_parameters([Parameter('planner', value='gd')])[0]
        assert not result.successful and 'gradient planning' in result.reason
        assert node.p['planner'] == 'mppi' and node.plan_once() is not None
    finally:
        node.destroy_node()


def test_actor_node_runs_the_exported_mode1_policy(ros_context, onnx_dir, problems):
    from jepa_ros.core.actor import load_actor
    from jepa_ros.nodes.actor import ActorNode
    from jepa_ros.nodes.lifecycle_util import SUCCESS
    _, _, states, goals = problems
    node = ActorNode(context=ros_context, cli_args=node_args(
        backend='onnxruntime', export_dir=onnx_dir, checkpoint='/nonexistent/not/read.pt'))
    try:
        assert node.trigger_configure() == SUCCESS
        assert node.action_scale == [1.5, 1.5] and node.mode.name == 'holonomic'
        actor, _ = load_actor(ACTOR)
        with torch.no_grad():
            ref = actor(states[:1], goals[:1])[0].numpy()
        got = node.policy(states[0].numpy(), goals[0].numpy())
        assert got.shape == (2,) and np.abs(got - ref).max() < 1e-4
    finally:
        node.destroy_node()
