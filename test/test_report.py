"""The demo report renders real files from a (synthetic) run record."""
import json
import os

import numpy as np
from PIL import Image

from jepa_ros.tools.report import GoalRecord, RunRecord, markdown_to_html, summary, write_report


def _run():
    rng = np.random.default_rng(0)
    goals = [GoalRecord(index=i, success=i % 2 == 0, steps=20 + i, final_energy=0.1 * i,
                        mode='mode2' if i < 2 else 'mode1',
                        energies=list(np.linspace(1, 0.1, 10)),
                        true_xy=rng.uniform(-1, 1, (10, 2)).tolist(),
                        probe_xy=rng.uniform(-1, 1, (10, 2)).tolist(), goal_xy=[0.5, 0.5])
             for i in range(3)]
    frames = [rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(5)]
    return RunRecord(world='two_rooms', goals=goals, plan_ms=list(rng.uniform(5, 50, 40)),
                     latency_ms=list(rng.uniform(1, 9, 40)), rates={'plan': 10.0},
                     gif_frames=frames, gif_goal=frames[0],
                     gif_paths_px=[[[10, 10], [20, 30], [40, 40]]] * 5,
                     training={'loss': [1.0, 0.5, 0.2]}, config={'seed': 1})


def test_summary_counts_successes_per_mode():
    s = summary(_run())
    assert s['goals'] == 3 and s['successes'] == 2
    assert s['success_by_mode']['mode2'] == {'successes': 1, 'goals': 2, 'rate': 0.5}
    assert s['success_by_mode']['mode1']['rate'] == 1.0


def test_write_report_produces_valid_files(tmp_path):
    out = write_report(_run(), str(tmp_path))
    gif = Image.open(out['gif'])
    assert gif.n_frames == 5
    for p in out['plots'].values():
        assert Image.open(p).size[0] > 100
    md = open(out['report_md']).read()
    assert '2/3 goal images reached' in md
    page = open(out['report_html']).read()
    # self-contained: every image is embedded, none is a relative link
    assert page.count('src="data:image/') == len(out['plots']) + 1
    assert json.load(open(os.path.join(tmp_path, 'summary.json')))['successes'] == 2


def test_markdown_tables_and_escaping():
    page = markdown_to_html('# T <x>\n\n| a | b |\n|---|---|\n| 1 | `c` |\n', '.')
    assert '<h1>T &lt;x&gt;</h1>' in page
    assert '<th>a</th>' in page and '<td><code>c</code></td>' in page
