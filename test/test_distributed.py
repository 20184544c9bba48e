"""Data-parallel training on torch.distributed: two CPU processes over gloo on loopback.

One pair of spawned ranks (module fixture) runs, in one process group: a world-model
training under a time budget with rank 1's clock running 4x fast, a fine-tune that must
restart a dead predictor, and `jepa-ros train world-model` itself. A second test starts
`jepa-ros train critic` under torchrun, as a user would. Nothing depends on an exact
floating-point trajectory: the checks are disjoint shards, equal replicas, equal control
flow, one checkpoint writer, and weights that moved away from their initialisation.
"""
import multiprocessing
import os
import socket
import subprocess
import sys
import time

import pytest
import torch

from jepa_ros.core import distributed
from support import dot_episodes, save_tiny_world_model, tiny_world_model, write_episodes

WORLD = 2
EPISODES = 6
# A generous guard against a hang (a collective one rank skipped), not a speed target.
HANG_S = 300


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def loopback_env(rank, port, work):
    return {'RANK': str(rank), 'WORLD_SIZE': str(WORLD), 'LOCAL_RANK': str(rank),
            'MASTER_ADDR': '127.0.0.1', 'MASTER_PORT': str(port),
            'GLOO_SOCKET_IFNAME': 'lo',   # gloo's traffic stays on loopback too
            'JEPA_ROS_CACHE': os.path.join(work, f'cache{rank}')}


# ---- what each spawned rank runs --------------------------------------------------------
class FastClock:
    """time.monotonic running `factor` x fast: this rank's own clock would end its time
    budget long before the other's."""

    def __init__(self, factor):
        self.factor, self.start = factor, time.monotonic()

    def monotonic(self):
        return self.start + (time.monotonic() - self.start) * self.factor


def state_of(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def budget_run(ctx):
    import jepa_ros.core.train_world_model as twm
    episodes = distributed.shard(dot_episodes(EPISODES, 20, seed=0), ctx.rank, ctx.world_size)
    model = tiny_world_model(seed=0, level2_k=2, level2_dim=4, level2_hidden=8)
    tc = twm.TrainConfig(steps=10 ** 6, time_budget_s=2.0, batch_size=4, warmup_steps=5,
                         finetune_steps=10 ** 6, finetune_batch_size=8, level2_steps=10 ** 6,
                         log_every=10 ** 6)
    real = twm.time
    if ctx.rank == 1:
        twm.time = FastClock(4.0)
    try:
        model, summary = twm.train_world_model(episodes, train_config=tc, model=model,
                                               log=lambda *a: None)
    finally:
        twm.time = real
    return {'summary': summary, 'state': state_of(model)}


def restart_run(ctx):
    """A predictor whose hidden units are all off copies its input: the fine-tune watch
    (rank 0's) must restart it on every rank at once."""
    import jepa_ros.core.train_world_model as twm
    episodes = distributed.shard(dot_episodes(EPISODES, 20, seed=1), ctx.rank, ctx.world_size)
    model = tiny_world_model(seed=0)
    with torch.no_grad():
        model.predictor.net[2].bias.fill_(-50.0)   # GELU(-50) = 0: a dead predictor
    tc = twm.TrainConfig(steps=2, batch_size=4, warmup_steps=5, finetune_steps=160,
                         finetune_batch_size=8, level2_steps=0, predictor_reset_after=50,
                         log_every=10 ** 6)
    model, summary = twm.train_world_model(episodes, train_config=tc, model=model,
                                           log=lambda *a: None)
    return {'summary': summary, 'state': state_of(model)}


def cli_run(ctx, work):
    """`jepa-ros train world-model` in this rank, recording what it trained on and every
    checkpoint it saved."""
    import jepa_ros.core.checkpoint as checkpoint
    import jepa_ros.core.train_world_model as twm
    from jepa_ros import cli
    saved, seen = [], {}
    real_save, real_train = checkpoint.save_checkpoint, twm.train_world_model

    def recording_save(path, *args, **kwargs):
        saved.append(os.fspath(path))
        return real_save(path, *args, **kwargs)

    def recording_train(episodes, *args, **kwargs):
        seen['episodes'] = [os.path.basename(ep.path) for ep in episodes]
        model, summary = real_train(episodes, *args, **kwargs)
        seen['state'] = state_of(model)
        return model, summary

    checkpoint.save_checkpoint, twm.train_world_model = recording_save, recording_train
    try:
        rc = cli.main(['train', 'world-model', '--data', os.path.join(work, 'data'),
                       '--out', os.path.join(work, 'wm.pt'), '--steps', '6', '--batch-size',
                       '4', '--latent-dim', '16', '--level2-k', '2', '--level2-steps', '3',
                       '--z-dim', '2', '--finetune-steps', '10', '--device', 'cpu',
                       '--no-progress'])
    finally:
        checkpoint.save_checkpoint, twm.train_world_model = real_save, real_train
    return {'rc': rc, 'saved': saved, **seen}


def rank_main(rank, port, work):
    os.environ.update(loopback_env(rank, port, work))
    torch.set_num_threads(1)
    ctx, _ = distributed.setup('cpu', timeout_s=120)
    try:
        results = {'budget': budget_run(ctx), 'restart': restart_run(ctx),
                   'cli': cli_run(ctx, work)}
    finally:
        distributed.shutdown(ctx)
    torch.save(results, os.path.join(work, f'rank{rank}.pt'))


@pytest.fixture(scope='module')
def ranks(tmp_path_factory):
    """(work folder, [results of rank 0, results of rank 1])."""
    work = str(tmp_path_factory.mktemp('ddp'))
    write_episodes(os.path.join(work, 'data'), dot_episodes(EPISODES, 20, seed=2))
    spawn = multiprocessing.get_context('spawn')
    port = free_port()
    procs = [spawn.Process(target=rank_main, args=(r, port, work)) for r in range(WORLD)]
    for p in procs:
        p.start()
    end = time.monotonic() + HANG_S
    for p in procs:
        p.join(max(1.0, end - time.monotonic()))
    hung = [i for i, p in enumerate(procs) if p.is_alive()]
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join()
    assert not hung, f'ranks {hung} hung (a collective that another rank skipped?)'
    assert [p.exitcode for p in procs] == [0] * WORLD, 'a rank failed (traceback above)'
    return work, [torch.load(os.path.join(work, f'rank{r}.pt')) for r in range(WORLD)]


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f'replicas differ in {differ}'


# ---- tests ------------------------------------------------------------------------------
def test_shard_is_a_deterministic_disjoint_cover():
    items = [f'ep{i:03d}' for i in range(7)]
    shards = [distributed.shard(items, r, 3) for r in range(3)]
    assert shards == [['ep000', 'ep003', 'ep006'], ['ep001', 'ep004'], ['ep002', 'ep005']]
    assert sorted(sum(shards, [])) == items
    assert distributed.shard(items, 0, 1) == items
    with pytest.raises(ValueError, match='3 processes need at least 3 episodes'):
        distributed.shard(items[:2], 0, 3)
    with pytest.raises(ValueError):
        distributed.shard(items, 3, 3)
    assert distributed.rank_seed(5, 0) == 5 and distributed.rank_seed(5, 1) != 5


def test_without_torchrun_nothing_is_initialised(monkeypatch):
    for name in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK'):
        monkeypatch.delenv(name, raising=False)
    ctx, device = distributed.setup('cpu')
    assert ctx is distributed.SINGLE and device == 'cpu' and not ctx.active
    assert not torch.distributed.is_initialized()
    # torchrun --nproc_per_node 1 is a single process too
    monkeypatch.setenv('WORLD_SIZE', '1')
    assert distributed.setup('cpu')[0] is distributed.SINGLE
    assert ctx.from_main(2.5) == 2.5 and ctx.all_true(False) is False
    assert ctx.sum([1, 2]) == [1, 2] and ctx.gather('x') == ['x']
    module = torch.nn.Linear(2, 2)
    assert ctx.wrap(module) is module and ctx.params_in_sync(module)
    monkeypatch.setenv('WORLD_SIZE', '2')
    monkeypatch.setenv('RANK', '2')
    with pytest.raises(ValueError, match='inconsistent torchrun environment'):
        distributed.setup('cpu')


def test_train_world_model_command_on_two_processes(ranks):
    from jepa_ros.core.checkpoint import load_checkpoint
    from jepa_ros.core.world_model import WorldModel
    work, results = ranks
    cli = [r['cli'] for r in results]
    assert [c['rc'] for c in cli] == [0, 0]
    # each rank trained on its own episodes; together, all of them
    seen = [set(c['episodes']) for c in cli]
    assert not seen[0] & seen[1]
    assert seen[0] | seen[1] == {f'ep{i:03d}.mcap' for i in range(EPISODES)}
    # rank 0 alone wrote the checkpoint
    assert cli[0]['saved'] == [os.path.join(work, 'wm.pt')] and cli[1]['saved'] == []
    assert_same_state(cli[0]['state'], cli[1]['state'])
    model, extra = load_checkpoint(os.path.join(work, 'wm.pt'))   # weights_only loading
    assert_same_state(state_of(model), cli[0]['state'])
    dist_info = extra['data']['distributed']
    assert dist_info['world_size'] == 2 and dist_info['backend'] == 'gloo'
    assert [set(s) for s in dist_info['shards']] == seen
    assert extra['data']['episodes'] == EPISODES and extra['metrics']['episodes'] == EPISODES
    assert extra['metrics']['frames'] == EPISODES * 20
    assert extra['metrics']['distributed']['params_in_sync'] is True
    assert extra['metrics']['steps'] == 6
    # it trained: the encoder moved away from the seeded initialisation
    torch.manual_seed(0)
    init = WorldModel(model.config)
    moved = [k for k, v in init.encoder.state_dict().items()
             if not torch.equal(v, model.encoder.state_dict()[k])]
    assert moved, 'the encoder did not change'
    assert all(torch.isfinite(v).all() for v in cli[0]['state'].values())


def test_a_time_budget_is_decided_once_for_every_rank(ranks):
    """Rank 1's clock runs 4x fast; rank 0's clock decides, so both ranks run the same
    number of steps in every phase (a rank stopping early would hang the other)."""
    _, results = ranks
    summaries = [r['budget']['summary'] for r in results]
    for key in ('steps',):
        assert summaries[0][key] == summaries[1][key]
    for phase in ('finetune', 'level2'):
        assert summaries[0][phase]['steps'] == summaries[1][phase]['steps'] > 1
    assert summaries[0]['steps'] > 1
    assert all(s['distributed']['params_in_sync'] for s in summaries)
    assert_same_state(results[0]['budget']['state'], results[1]['budget']['state'])


def test_a_dead_predictor_is_restarted_on_every_rank(ranks):
    _, results = ranks
    ft = [r['restart']['summary']['finetune'] for r in results]
    assert ft[0]['predictor_resets'] >= 1, ft[0]
    assert ft[0]['predictor_resets'] == ft[1]['predictor_resets']
    assert_same_state(results[0]['restart']['state'], results[1]['restart']['state'])


def test_train_critic_under_torchrun(tmp_path):
    from jepa_ros.core.critic import load_critic
    data = write_episodes(tmp_path / 'data', dot_episodes(4, 12, seed=3))
    ckpt = save_tiny_world_model(tmp_path / 'wm.pt', seed=0, image_size=64,
                                 encoder_channels=(4, 4, 4))
    out = tmp_path / 'critic.pt'
    env = {**os.environ, **loopback_env(0, 0, str(tmp_path)), 'OMP_NUM_THREADS': '1'}
    for name in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
        env.pop(name)   # torchrun sets them for its workers
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nnodes', '1',
           '--nproc_per_node', str(WORLD), '--master_addr', '127.0.0.1',
           '--master_port', str(free_port()), '-m', 'jepa_ros.cli', 'train', 'critic',
           '--data', data, '--ckpt', ckpt, '--out', str(out), '--steps', '30',
           '--td-start', '10', '--hidden', '16', '--batch-size', '32', '--device', 'cpu']
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=HANG_S)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count('wrote ') == 1, proc.stdout   # rank 0 alone reports and writes
    critic, extra = load_critic(str(out))
    shards = [set(s) for s in extra['distributed']['shards']]
    assert not shards[0] & shards[1]
    assert shards[0] | shards[1] == {f'ep{i:03d}.mcap' for i in range(4)}
    assert extra['distributed']['params_in_sync'] is True
    assert extra['episodes'] == 4 and extra['frames'] == 48 and extra['final']['steps'] == 30
    assert critic.config.latent_dim == 8
