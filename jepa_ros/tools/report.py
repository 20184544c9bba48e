"""The demo report: plots, an animated GIF of one episode, report.md and a self-contained
report.html.

Pure numpy + matplotlib + Pillow (no ROS), so it is tested on synthetic runs and
reusable by anything that produces a `RunRecord`.
"""
import base64
from dataclasses import dataclass, field
import html
import json
import os
from typing import Dict, List, Optional

import numpy as np


@dataclass
class GoalRecord:
    """What happened while reaching one goal image."""
    index: int
    success: bool
    steps: int
    final_energy: float
    mode: str = 'mode2'
    message: str = ''
    energies: List[float] = field(default_factory=list)       # energy feedback over steps
    true_xy: List[List[float]] = field(default_factory=list)  # ground-truth trajectory
    probe_xy: List[List[float]] = field(default_factory=list)  # linear probe of the latent
    goal_xy: Optional[List[float]] = None
    wall_s: float = 0.0


@dataclass
class RunRecord:
    world: str
    goals: List[GoalRecord]
    plan_ms: List[float] = field(default_factory=list)       # planner compute time per plan
    latency_ms: List[float] = field(default_factory=list)    # image stamp -> command publish
    rates: Dict[str, float] = field(default_factory=dict)    # achieved rates, Hz
    modes: Dict[str, int] = field(default_factory=dict)      # commands issued per mode
    training: Optional[Dict[str, List[float]]] = None        # curves when the demo trained
    config: Dict = field(default_factory=dict)
    # One episode for the GIF: camera frames, the goal image, predicted paths in pixels.
    gif_frames: List[np.ndarray] = field(default_factory=list)
    gif_goal: Optional[np.ndarray] = None
    gif_paths_px: List[List[List[float]]] = field(default_factory=list)
    recording: str = ''


def percentile(values, q):
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else float('nan')


def summary(run: RunRecord):
    n = len(run.goals)
    ok = sum(g.success for g in run.goals)
    by_mode = {}
    for g in run.goals:
        s = by_mode.setdefault(g.mode, [0, 0])
        s[0] += int(g.success)
        s[1] += 1
    return {
        'goals': n,
        'successes': ok,
        'success_rate': ok / n if n else float('nan'),
        'success_by_mode': {m: {'successes': a, 'goals': b, 'rate': a / b} for m, (a, b) in
                            by_mode.items()},
        'mean_steps': float(np.mean([g.steps for g in run.goals])) if n else float('nan'),
        'plan_ms_p50': percentile(run.plan_ms, 50),
        'plan_ms_p95': percentile(run.plan_ms, 95),
        'latency_ms_p50': percentile(run.latency_ms, 50),
        'latency_ms_p99': percentile(run.latency_ms, 99),
        'rates_hz': dict(run.rates),
        'commands_by_mode': dict(run.modes),
    }


# ---- plots ------------------------------------------------------------------------------
def _figure():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def plot_energy(run, path):
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for g in run.goals:
        if g.energies:
            ax.plot(g.energies, label=f'goal {g.index} ({"ok" if g.success else "miss"})',
                    lw=1.2, alpha=0.85)
    ax.set_xlabel('feedback step')
    ax.set_ylabel('energy (latent distance to goal)')
    ax.set_title('Energy while reaching each goal image')
    if len(run.goals) <= 12:
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_plan_time(run, path):
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if run.plan_ms:
        ax.hist(run.plan_ms, bins=30, color='#4878d0')
        ax.axvline(percentile(run.plan_ms, 50), color='k', ls='--', lw=1, label='p50')
        ax.axvline(percentile(run.plan_ms, 95), color='r', ls='--', lw=1, label='p95')
        ax.legend()
    ax.set_xlabel('plan compute time (ms)')
    ax.set_ylabel('plans')
    ax.set_title('Mode-2 planning time')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_probe(run, path, arena=1.5):
    """Linear-probe read-out of the latent state against the ground-truth path."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(4.8, 4.8))
    ax.plot([0, 0], [-arena, -0.25], 'k', lw=3)
    ax.plot([0, 0], [0.25, arena], 'k', lw=3)
    colors = plt.rcParams['axes.prop_cycle'].by_key()['color']
    for i, g in enumerate(run.goals):
        c = colors[i % len(colors)]
        if g.true_xy:
            t = np.asarray(g.true_xy)
            ax.plot(t[:, 0], t[:, 1], '-', color=c, lw=1.5)
        if g.probe_xy:
            p = np.asarray(g.probe_xy)
            ax.plot(p[:, 0], p[:, 1], ':', color=c, lw=1.2)
        if g.goal_xy is not None:
            ax.plot(*g.goal_xy[:2], marker='*', color=c, ms=12, mec='k')
    ax.plot([], [], 'k-', label='ground truth')
    ax.plot([], [], 'k:', label='linear probe of latent')
    ax.legend(fontsize=7, loc='upper left', framealpha=0.6)
    ax.set_xlim(-arena, arena)
    ax.set_ylim(-arena, arena)
    ax.set_aspect('equal')
    ax.set_title('Trajectories: truth vs latent probe')
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_training(curves, path):
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, values in curves.items():
        if len(values):
            ax.plot(values, label=name)
    ax.set_yscale('log')
    ax.set_xlabel('logged step')
    ax.set_title('Training curves')
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---- GIF --------------------------------------------------------------------------------
def episode_gif(frames, goal, paths_px, path, scale=4, fps=10):
    """Camera view | goal image, with the planner's predicted path drawn on the camera view."""
    from PIL import Image, ImageDraw
    if not frames:
        raise ValueError('no frames to animate')
    out = []
    for i, frame in enumerate(frames):
        h, w = frame.shape[:2]
        cam = Image.fromarray(np.asarray(frame, dtype=np.uint8)).resize((w * scale, h * scale),
                                                                         Image.NEAREST)
        canvas = Image.new('RGB', (w * scale * 2 + 8, h * scale + 18), (255, 255, 255))
        canvas.paste(cam, (0, 18))
        if goal is not None:
            g = Image.fromarray(np.asarray(goal, dtype=np.uint8)).resize((w * scale, h * scale),
                                                                          Image.NEAREST)
            canvas.paste(g, (w * scale + 8, 18))
        draw = ImageDraw.Draw(canvas)
        draw.text((2, 2), f'camera  step {i}', fill=(0, 0, 0))
        draw.text((w * scale + 10, 2), 'goal image', fill=(0, 0, 0))
        if i < len(paths_px) and len(paths_px[i]) > 1:
            pts = [(float(x) * scale, float(y) * scale + 18) for x, y in paths_px[i]]
            draw.line(pts, fill=(255, 0, 255), width=2)
        out.append(canvas)
    out[0].save(path, save_all=True, append_images=out[1:], duration=int(1000 / fps), loop=0)
    return len(out)


# ---- documents --------------------------------------------------------------------------
def _fmt(x, digits=1):
    if isinstance(x, float):
        return 'n/a' if np.isnan(x) else f'{x:.{digits}f}'
    return str(x)


def write_report(run: RunRecord, out_dir):
    """Write plots, GIF, summary.json, report.md and report.html into `out_dir`."""
    os.makedirs(out_dir, exist_ok=True)
    plots = {}
    plots['energy'] = os.path.join(out_dir, 'energy.png')
    plot_energy(run, plots['energy'])
    plots['plan_time'] = os.path.join(out_dir, 'plan_time.png')
    plot_plan_time(run, plots['plan_time'])
    plots['probe'] = os.path.join(out_dir, 'latent_probe.png')
    plot_probe(run, plots['probe'])
    if run.training:
        plots['training'] = os.path.join(out_dir, 'training.png')
        plot_training(run.training, plots['training'])
    gif = None
    if run.gif_frames:
        gif = os.path.join(out_dir, 'episode.gif')
        episode_gif(run.gif_frames, run.gif_goal, run.gif_paths_px, gif)
    s = summary(run)
    with open(os.path.join(out_dir, 'summary.json'), 'w') as f:
        json.dump(s, f, indent=2)

    lines = [f'# jepa_ros demo — {run.world}', '',
             f'**{s["successes"]}/{s["goals"]} goal images reached** '
             f'(success rate {100 * s["success_rate"]:.0f} %), mean {_fmt(s["mean_steps"])} steps.',
             '', '## Success by mode', '', '| mode | reached | goals | rate |', '|---|---|---|---|']
    for m, v in s['success_by_mode'].items():
        lines.append(f'| {m} | {v["successes"]} | {v["goals"]} | {100 * v["rate"]:.0f} % |')
    lines += ['', '## Goals', '', '| goal | reached | steps | final energy | time (s) | note |',
              '|---|---|---|---|---|---|']
    for g in run.goals:
        lines.append(f'| {g.index} | {"yes" if g.success else "no"} | {g.steps} | '
                     f'{g.final_energy:.3f} | {g.wall_s:.1f} | {g.message} |')
    lines += ['', '## Timing', '', '| figure | value |', '|---|---|',
              f'| plan compute p50 / p95 | {_fmt(s["plan_ms_p50"])} / '
              f'{_fmt(s["plan_ms_p95"])} ms |',
              f'| image stamp -> command p50 / p99 | {_fmt(s["latency_ms_p50"])} / '
              f'{_fmt(s["latency_ms_p99"])} ms |']
    for k, v in s['rates_hz'].items():
        lines.append(f'| {k} rate | {v:.1f} Hz |')
    for k, v in s['commands_by_mode'].items():
        lines.append(f'| commands from {k} | {v} |')
    lines += ['', '## Plots', '']
    for name, p in plots.items():
        lines.append(f'![{name}]({os.path.basename(p)})')
    if gif:
        lines += ['', '## One episode', '', '![episode](episode.gif)', '',
                  'Left: the camera; right: the goal image; magenta: the path the planner '
                  'predicted in latent space, read out by a linear probe.']
    if run.recording:
        lines += ['', f'Recording of the run (MCAP, rosbag2-compatible): `{run.recording}`']
    lines += ['', '## Configuration', '', '```json', json.dumps(run.config, indent=2,
                                                                 default=str), '```', '']
    md = '\n'.join(lines)
    with open(os.path.join(out_dir, 'report.md'), 'w') as f:
        f.write(md)
    with open(os.path.join(out_dir, 'report.html'), 'w') as f:
        f.write(markdown_to_html(md, out_dir))
    return {'report_md': os.path.join(out_dir, 'report.md'),
            'report_html': os.path.join(out_dir, 'report.html'), 'gif': gif, 'plots': plots,
            'summary': s}


def _data_uri(path):
    mime = 'image/gif' if path.endswith('.gif') else 'image/png'
    with open(path, 'rb') as f:
        return f'data:{mime};base64,' + base64.b64encode(f.read()).decode()


def markdown_to_html(md, base_dir):
    """Just enough markdown (headings, tables, images, code, paragraphs) for our own report.

    Images are embedded as data URIs so the HTML is one self-contained file.
    """
    out, table, code = [], [], False

    def inline(t):
        t = html.escape(t)
        parts = t.split('**')
        t = ''.join(f'<b>{p}</b>' if i % 2 else p for i, p in enumerate(parts))
        parts = t.split('`')
        return ''.join(f'<code>{p}</code>' if i % 2 else p for i, p in enumerate(parts))

    def flush_table():
        if table:
            rows = [r for r in table if not set(r.replace('|', '').strip()) <= set('-')]
            out.append('<table>')
            for i, r in enumerate(rows):
                cells = [c.strip() for c in r.strip().strip('|').split('|')]
                tag = 'th' if i == 0 else 'td'
                out.append('<tr>' + ''.join(f'<{tag}>{inline(c)}</{tag}>' for c in cells) + '</tr>')
            out.append('</table>')
            table.clear()

    for line in md.splitlines():
        if line.startswith('```'):
            flush_table()
            out.append('</pre>' if code else '<pre>')
            code = not code
            continue
        if code:
            out.append(html.escape(line))
            continue
        if line.startswith('|'):
            table.append(line)
            continue
        flush_table()
        if line.startswith('#'):
            level = len(line) - len(line.lstrip('#'))
            out.append(f'<h{level}>{inline(line[level:].strip())}</h{level}>')
        elif line.startswith('!['):
            alt, src = line[2:].split('](', 1)
            src = src.rstrip(')')
            path = os.path.join(base_dir, src)
            uri = _data_uri(path) if os.path.exists(path) else src
            out.append(f'<p><img alt="{html.escape(alt)}" src="{uri}"></p>')
        elif line.strip():
            out.append(f'<p>{inline(line)}</p>')
    flush_table()
    style = ('body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}'
             'table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}'
             'img{max-width:100%;image-rendering:pixelated}pre{background:#f4f4f4;padding:1em}')
    return ('<!doctype html><html><head><meta charset="utf-8"><title>jepa_ros demo</title>'
            f'<style>{style}</style></head><body>\n' + '\n'.join(out) + '\n</body></html>\n')
