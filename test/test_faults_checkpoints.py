"""Fault suite: broken checkpoints given to a real perception process.

Missing, truncated, wrong-architecture and pickle-payload files must give a clear error
at configure; the node stays up, unconfigured, and no code from the file runs. A good
checkpoint goes active (so the check itself can fail).
"""
import os
import signal
import subprocess
import sys

import pytest
import rclpy
import torch
from support import save_tiny_world_model

pytestmark = pytest.mark.ros


class _Payload:
    """Unpickling this runs os.mkdir(marker): proof of code execution if it appears."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def _make_checkpoints(tmp_path):
    good = save_tiny_world_model(tmp_path / 'good.pt', seed=None)
    data = open(good, 'rb').read()
    truncated = tmp_path / 'truncated.pt'
    truncated.write_bytes(data[:len(data) // 2])
    payload = torch.load(good, weights_only=True)
    payload['config']['latent_dim'] = 32          # weights no longer fit the config
    wrong = str(tmp_path / 'wrong_arch.pt')
    torch.save(payload, wrong)
    marker = str(tmp_path / 'PWNED')
    evil = str(tmp_path / 'pickle.pt')
    torch.save({'format': 'x', 'payload': _Payload(marker)}, evil)
    return {'good': good, 'missing': str(tmp_path / 'missing.pt'),
            'truncated': str(truncated), 'wrong_arch': wrong, 'pickle': evil}, marker


EXPECT = {'missing': 'no such checkpoint', 'truncated': 'corrupt',
          'wrong_arch': 'do not match', 'pickle': 'unsafe'}


def test_broken_checkpoints_leave_perception_unconfigured(tmp_path):
    from lifecycle_msgs.srv import GetState
    from rclpy.node import Node
    files, marker = _make_checkpoints(tmp_path)
    procs = {}
    for name, path in files.items():
        procs[name] = subprocess.Popen(
            [sys.executable, '-m', 'jepa_ros.nodes.perception', '--ros-args',
             '-r', f'__node:=perception_{name}', '-p', f'checkpoint:={path}'],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    rclpy.init()
    node = Node('checkpoint_fault_test')
    states, outputs = {}, {}
    try:
        for name in files:
            client = node.create_client(GetState, f'/perception_{name}/get_state')
            assert client.wait_for_service(timeout_sec=60), f'{name}: no lifecycle service'
            # autostart runs configure before the node spins: the first answer is final.
            future = client.call_async(GetState.Request())
            rclpy.spin_until_future_complete(node, future, timeout_sec=20)
            states[name] = future.result().current_state.label
            node.destroy_client(client)
            assert procs[name].poll() is None, f'{name}: perception process died'
    finally:
        node.destroy_node()
        rclpy.shutdown()
        for name, proc in procs.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for name, proc in procs.items():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            outputs[name] = proc.stdout.read().decode(errors='replace')
    assert states['good'] == 'active', outputs['good']
    for name, clue in EXPECT.items():
        assert states[name] == 'unconfigured', (name, states[name], outputs[name])
        assert 'cannot load checkpoint' in outputs[name] and clue in outputs[name], \
            (name, outputs[name])
        assert 'Traceback' not in outputs[name], outputs[name]
    assert not os.path.exists(marker), 'unpickling the checkpoint executed code'
