"""`jepa-ros demo` shortened to 2 goals, end to end over DDS (loopback), with the shipped models.

Checks what a newcomer gets: the report (md + self-contained html), the plots, an
animated GIF with frames, a valid MCAP recording and the config used.
"""
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from jepa_ros.tools import make_train
from support import REPO as ROOT


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_short_demo_writes_a_valid_report(tmp_path):
    models = make_train.model_paths('two_rooms')
    missing = [p for p in models.values() if not os.path.exists(p)]
    assert not missing, f'shipped checkpoints missing (run `make train`): {missing}'
    out = tmp_path / 'run'
    proc = subprocess.run(
        [sys.executable, '-m', 'jepa_ros.cli', 'demo', '--goals', '2', '--seed', '3',
         '--goal-timeout', '25', '--out', str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=540)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # progress per goal, and where the report is
    assert proc.stdout.count('[demo] goal ') == 2, proc.stdout
    assert str(out / 'report.md') in proc.stdout

    summary = json.loads((out / 'summary.json').read_text())
    assert summary['goals'] == 2
    md = (out / 'report.md').read_text()
    assert 'goal images reached' in md and '![episode](episode.gif)' in md
    html_text = (out / 'report.html').read_text()
    assert 'src="data:image/gif;base64,' in html_text

    gif = Image.open(out / 'episode.gif')
    assert gif.n_frames >= 5
    for name in ('energy.png', 'plan_time.png', 'latent_probe.png'):
        assert Image.open(out / name).size[0] > 100

    config = json.loads((out / 'config.json').read_text())
    assert config['goals'] == 2 and config['seed'] == 3

    # the recording is real MCAP that an independent reader understands
    from rosbags.highlevel import AnyReader
    chunks = sorted((out / 'recording').rglob('*.mcap'))
    assert chunks, 'no MCAP recording written'
    topics = set()
    for chunk in chunks:
        with AnyReader([chunk]) as reader:
            topics |= {c.topic for c in reader.connections}
            n = sum(1 for _ in reader.messages())
            assert n > 0
    assert {'/camera/image_raw', '/cmd_vel'} <= topics or {'camera/image_raw', 'cmd_vel'} <= topics
