"""A recording made by the memory node during a graph run trains a world model with
`jepa-ros train world-model` directly (load_episodes reads the memory's MCAP chunks).

The graph (sim_bridge, perception, world_model, actor, configurator, memory) runs in a
subprocess with a tiny random model; this process sends a ReachGoal so the robot moves,
then stops the graph (the memory closes its chunk) and trains a few steps on the folder.
"""
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import rclpy
import support
import torch

SIZE = 16


def tiny_checkpoint(path):
    # scattered predictor: an untrained one ignores actions
    return support.save_tiny_world_model(path, seed=5, scatter=True, image_size=SIZE,
                                         action_scale=[0.6, 0.6])


def test_memory_recording_trains_a_world_model(tmp_path):
    from jepa_ros.nodes.stack_client import StackClient, twist_of
    ck = tiny_checkpoint(str(tmp_path / 'tiny.pt'))
    data = tmp_path / 'rec'
    ov = {'sim_bridge': {'image_size': SIZE},
          'perception': {'checkpoint': ck}, 'actor': {'checkpoint': ck, 'actor_checkpoint': ''},
          # no critic for the tiny model
          'world_model': {'checkpoint': ck, 'samples': 32, 'iterations': 2,
                          'critic_checkpoint': '', 'cost.critic.weight': 0.0},
          'configurator': {'success_energy': 0.0, 'horizon': 6, 'cost.critic.weight': 0.0},
          'memory': {'data_dir': str(data), 'session': 'run'}}
    proc = subprocess.Popen([sys.executable, '-m', 'jepa_ros.cli', 'bringup',
                             '--overrides', json.dumps(ov)])
    rclpy.init()
    op = StackClient('recording_test', world='two_rooms')
    try:
        op.wait_up(timeout_s=90)
        res = op.reach(timeout_s=6.0)   # times out: the robot moved 6 s
        assert res is not None and 'timed out' in res.result.message
        moving = [r for r in op.cmds
                  if abs(twist_of(r.msg).linear.x) + abs(twist_of(r.msg).linear.y) > 1e-3]
        assert len(moving) > 10, 'the robot never moved: nothing worth learning'
    finally:
        op.close()
        rclpy.shutdown()
        # SIGTERM, as a process manager stops it; the graph closes the recording.
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail('bringup did not stop within 30 s of SIGTERM (recording not closed)')
    files = glob.glob(str(data / 'run' / '*.mcap'))
    assert files, f'memory wrote nothing under {data}'

    from jepa_ros.data.episodes import load_episodes
    eps = load_episodes(str(data / 'run'), use_cache=False)
    assert eps and sum(len(e.images) for e in eps) >= 40
    acts = np.concatenate([e.actions for e in eps])
    assert np.abs(acts).max() > 0.05 and np.abs(acts).max() <= 1.0 + 1e-6

    out = tmp_path / 'wm.pt'
    env = dict(os.environ, JEPA_ROS_CACHE=str(tmp_path / 'cache'))
    r = subprocess.run([sys.executable, '-m', 'jepa_ros.cli', 'train', 'world-model',
                        '--data', str(data / 'run'), '--out', str(out), '--steps', '5',
                        '--batch-size', '4', '--latent-dim', '8', '--level2-k', '0',
                        '--threads', '1', '--device', 'cpu', '--no-progress'],
                       env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    from jepa_ros.core.checkpoint import load_checkpoint
    model, _ = load_checkpoint(str(out), kind='world_model')
    assert model.config.latent_dim == 8
    # the action description came from the recording (sim_bridge metadata), not a default
    assert model.config.action_scale == [1.5, 1.5] and model.config.action_dim == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())
