"""Surprise through the ROS graph (in-process nodes, real DDS, a context of the test's own):
the world_model node scores each new state against the prediction of the plan made from
the state before it; a shove (a latent jump the action does not explain) raises one event
on jepa/surprise_event and /diagnostics, normal motion none, and the memory node saves an
episode around the event (transitions before and after it)."""
import json
import time

import numpy as np
import pytest
import support
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Float32, Header, String

from jepa_ros.data.episodes import load_episodes
from jepa_ros.nodes.memory import MemoryNode
from jepa_ros.nodes.messages import rgb_to_image
from jepa_ros.nodes.world_model import WorldModelNode
from jepa_ros_interfaces.msg import LatentState

pytestmark = pytest.mark.ros
D = 8
STEP = 0.1
SUCCESS = TransitionCallbackReturn.SUCCESS


def spin_until(executor, pred, timeout=10.0):
    end = time.monotonic() + timeout
    while not pred() and time.monotonic() < end:
        executor.spin_once(timeout_sec=0.02)
    return pred()


def newest_buffered(memory):
    """Stamp of the newest frame in the memory's ring buffer (None when empty)."""
    stamps = memory.ring.snapshot(last=1)['stamps']
    return float(stamps[0]) if len(stamps) else None


def header_at(t):
    h = Header()
    h.stamp.sec, h.stamp.nanosec = int(t), int(round((t - int(t)) * 1e9))
    return h


def test_a_shove_raises_one_event_and_the_memory_keeps_an_episode(ros_context, tmp_path):
    # Unscattered: the predictor's residual starts at zero, so latents stay at their scale
    # over 40 steps (a scattered one grows them until float32 hides the noise).
    model = support.tiny_world_model(seed=0, latent_dim=D,
                                     action_scale=[0.6, 0.6]).requires_grad_(False)
    args = ['--ros-args'] + sum([['-p', f'{k}:={v}'] for k, v in {
        'planner': 'cem', 'horizon': 4, 'samples': 16, 'iterations': 2,
        'state_timeout': 60.0, 'plan_on_state': False, 'step_dt': STEP,
        'surprise.min_samples': 10}.items()], [])
    wm = WorldModelNode(model=model, context=ros_context, cli_args=args)
    memory = MemoryNode(context=ros_context, parameter_overrides=[
        Parameter('data_dir', value=str(tmp_path)), Parameter('session', value='s'),
        Parameter('record', value=False), Parameter('metadata_topic', value=''),
        Parameter('discovery_period', value=0.05),
        Parameter('surprise_save_before_s', value=0.55),
        Parameter('surprise_save_after_s', value=1.0)])
    probe = Node('surprise_probe', context=ros_context)
    energies, events, diags = [], [], []
    probe.create_subscription(Float32, 'jepa/surprise', lambda m: energies.append(m.data), 50)
    probe.create_subscription(String, 'jepa/surprise_event',
                              lambda m: events.append(json.loads(m.data)), 10)

    def on_diag(msg):
        for st in msg.status:
            if st.name.endswith('world_model'):
                diags.append({kv.key: kv.value for kv in st.values})
    probe.create_subscription(DiagnosticArray, '/diagnostics', on_diag, 10)
    camera = probe.create_publisher(type(rgb_to_image(np.zeros((2, 2, 3), np.uint8))),
                                    'camera/image_raw', 50)
    ex = SingleThreadedExecutor(context=ros_context)
    for n in (wm, memory, probe):
        ex.add_node(n)
    try:
        assert wm.trigger_configure() == SUCCESS
        assert wm.trigger_activate() == SUCCESS
        wm.destroy_timer(wm.plan_timer)       # plan by hand, one plan per state
        wm.plan_timer = None
        assert spin_until(ex, lambda: camera.get_subscription_count() >= 1
                          and wm.surprise_event_pub.get_subscription_count() >= 2
                          and wm.surprise_pub.get_subscription_count() >= 1)

        rng = np.random.default_rng(0)
        wm._on_goal(LatentState(level=1, data=rng.normal(size=D).astype(np.float32).tolist()))
        images = [rng.integers(0, 256, (support.SIZE, support.SIZE, 3), dtype=np.uint8)
                  for _ in range(40)]
        shove = 25
        state = rng.normal(size=D).astype(np.float32)
        for i, image in enumerate(images):
            t = 100.0 + STEP * i
            camera.publish(rgb_to_image(image, header_at(t).stamp))
            # the memory has buffered this frame before the state it shows is scored
            assert spin_until(ex, lambda: newest_buffered(memory) == pytest.approx(t))
            wm._on_state(LatentState(header=header_at(t), level=1, data=state.tolist()))
            res = wm.plan_once()
            assert res is not None
            # The next state: what the model predicted for the plan's first action, up to
            # small noise (normal motion), except once: a shove the action does not explain.
            predicted = res.latents[0].numpy()
            noise = rng.normal(0.0, 0.05, D)
            if i + 1 == shove:
                noise += 3.0 * rng.choice([-1.0, 1.0], D)
            state = (predicted + noise).astype(np.float32)

        scored = len(images) - 1                      # the first state has no prediction
        assert spin_until(ex, lambda: len(energies) >= scored and events)
        assert len(energies) == scored
        assert wm.surprise.samples == scored
        assert len(events) == 1, events               # flat on normal motion, one shove
        event = events[0]
        assert event['stamp'] == pytest.approx(100.0 + STEP * shove, abs=1e-6)
        assert event['score'] > wm.p['surprise.threshold'] and event['events'] == 1
        assert energies[shove - 1] == pytest.approx(event['energy'], rel=1e-5)
        assert max(energies[:shove - 1] + energies[shove:]) < event['baseline'] * 10
        assert wm.diag.values['surprise_events'] == 1
        assert spin_until(ex, lambda: any(d.get('surprise_events') == '1' for d in diags))
        last = [d for d in diags if d.get('surprise_events') == '1'][-1]
        assert {'surprise', 'surprise_baseline', 'surprise_spread'} <= set(last)

        # the memory saved one episode around the event: from 0.55 s before it (5 steps
        # of 0.1 s) to when the save ran, 1 s after the event arrived (the frames after
        # the event were published meanwhile)
        assert spin_until(ex, lambda: memory.counts['surprise_episodes'] == 1)
        assert memory.counts['surprise_events'] == 1
        files = sorted((tmp_path / 's' / 'episodes').glob('surprise_*.mcap'))
        assert len(files) == 1
        (episode,) = load_episodes(str(files[0]), use_cache=False)
        kept = episode.images
        assert np.array_equal(kept[0], images[shove - 5])      # before the event ...
        assert np.array_equal(kept[5], images[shove])          # the event ...
        assert len(kept) > 6                                    # ... and after it
        assert all(np.array_equal(k, images[shove - 5 + j]) for j, k in enumerate(kept))
    finally:
        ex.shutdown()
        for n in (probe, memory, wm):
            n.destroy_node()


def test_surprise_parameters_are_checked(ros_context):
    model = support.tiny_world_model(seed=0, latent_dim=D).requires_grad_(False)
    wm = WorldModelNode(model=model, context=ros_context)
    try:
        res = wm.set_parameters([Parameter('surprise.min_samples', value=500)])[0]
        assert not res.successful and 'surprise.window' in res.reason
        res = wm.set_parameters([Parameter('surprise.threshold', value=8.0),
                                 Parameter('surprise.window', value=50)])
        assert all(r.successful for r in res)
        assert wm.surprise.threshold == 8.0 and wm.surprise.window.maxlen == 50
    finally:
        wm.destroy_node()
