"""The prepared GPU benchmark (jepa_ros.tools.bench_gpu) runs on CPU with tiny settings:
every row it cannot measure here is recorded with its reason, the rest with figures."""
import json
import os

import pytest
import torch

from jepa_ros.tools import bench_gpu


@pytest.fixture(scope='module')
def cpu_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('bench_gpu')
    rc = bench_gpu.main(['--device', 'cpu', '--out', str(out), '--horizons', '4',
                         '--planners', 'gd,mppi_128', '--plans', '3', '--warmup', '1',
                         '--replans', '2', '--tasks', '2', '--train-steps', '2',
                         '--cpu-train-steps', '2', '--train-batch', '8', '--threads', '1'])
    assert rc == 0
    with open(out / 'bench_gpu.json') as f:
        return out, json.load(f)


def test_cpu_run_writes_figures_and_reasons(cpu_run):
    out, res = cpu_run
    assert res['machine']['device'] == 'cpu' and res['machine']['torch'] == torch.__version__
    assert os.path.isfile(res['checkpoint'])
    rows = {(r['planner'], r['horizon'], r['mode'], r['precision']): r
            for r in res['planning']}
    # every combination asked for has a row
    assert set(rows) == {(p, 4, m, q) for p in ('gd', 'mppi_128') for m in bench_gpu.MODES
                         for q in bench_gpu.PRECISIONS if not (m == 'compile' and p != 'gd')}
    for planner in ('gd', 'mppi_128'):
        r = rows[(planner, 4, 'eager', 'fp32')]
        assert r['status'] == 'ok' and r['plans'] == 3, r
        assert 0 < r['plan_ms_p50'] <= r['plan_ms_p90']
        assert r['plans_per_s'] == pytest.approx(1e3 / r['plan_ms_p50'], rel=0.01)
    for key, r in rows.items():
        if key[2:] != ('eager', 'fp32'):   # CUDA graphs, compile, fp16, TensorRT: not here
            assert r['status'] == 'skipped' and r['reason'], r
    assert 'CUDA' in rows[('gd', 4, 'cuda_graph', 'fp32')]['reason']
    assert rows[('mppi_128', 4, 'tensorrt', 'fp32')]['reason']
    (train,) = res['training']   # the device is the CPU: one training row
    assert train['device'] == 'cpu' and train['status'] == 'ok' and train['steps_per_s'] > 0
    assert res['fp16_accuracy']['status'] == 'skipped'
    assert res['targets']['replan_ms_target'] == bench_gpu.TARGET_MS
    assert res['targets']['gd_h12_best'] is None   # horizon 12 was not asked for
    assert res['targets']['training_speedup_vs_cpu'] is None
    md = (out / 'bench_gpu.md').read_text()
    assert '| planner | horizon | mode | precision | p50 ms |' in md
    assert 'Not measured here' in md and 'steps/s' in md


def test_rows_run_baseline_first_and_compile_only_the_chosen_planners():
    import argparse
    ns = argparse.Namespace(modes=list(bench_gpu.MODES), precisions=['fp32'],
                            planners=['gd', 'mppi_1024', 'hierarchical'], horizons=[12, 16],
                            compile_planners=['mppi_1024'])
    jobs = bench_gpu.plan_jobs(ns)
    assert jobs[:6] == [('eager', 'fp32', p, h) for p in ns.planners for h in (12, 16)]
    assert [j for j in jobs if j[0] == 'compile'] == [('compile', 'fp32', 'mppi_1024', 12),
                                                      ('compile', 'fp32', 'mppi_1024', 16)]
    assert jobs[-1][0] == 'tensorrt'


def test_cuda_variants_refuse_a_cpu_device_with_a_reason():
    model = torch.nn.Linear(2, 2)
    with pytest.raises(bench_gpu.Skip, match='CUDA'):
        bench_gpu.patch_rollouts(model, 'cuda_graph', 'cpu')
    with pytest.raises(bench_gpu.Skip, match='CUDA'):
        bench_gpu.precision_context('fp16', 'cpu')
    assert bench_gpu.patch_rollouts(model, 'eager', 'cpu')() is None


def test_asking_for_cuda_without_it_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert bench_gpu.main(['--device', 'cuda', '--out', str(tmp_path)]) == 2
    assert '--device cpu' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench_gpu.main(['--device', 'cpu', '--planners', 'nope'])
