"""Data-parallel training over torch.distributed: one process per device, DDP gradients.

`torchrun --nproc_per_node N -m jepa_ros.cli train world-model ...` starts N copies of the
command with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT in their
environment. `setup()` turns that environment into a process group (gloo on CPU, NCCL on
CUDA, each rank on cuda:LOCAL_RANK); without those variables, or with WORLD_SIZE 1, nothing
is initialised and training runs exactly as a plain single process.

The rules every distributed training loop here keeps:

* **Data**: episodes are split by `shard()`: episode i of the sorted episode list goes to
  rank i mod N. A pure function of the list, the rank and N, so every rank knows the
  split without talking to the others, and a rerun splits the same way.
* **Gradients**: every backward goes through one DistributedDataParallel wrapper
  (`wrap()`), which averages the gradients over the ranks; every rank then takes the
  same optimiser step and the replicas stay identical (checked at the end:
  `params_in_sync`). `--batch-size` is per process (as in every torchrun recipe): N
  processes see N x the windows per step.
* **Control flow**: a collective that one rank skips deadlocks the others, so every
  decision that could differ between ranks is taken once: wall-clock time (time budgets,
  learning-rate progress by time) and "should the predictor be restarted" are rank 0's,
  broadcast (`from_main`); "can every rank go on" is an all-reduce (`all_true`).
* **Output**: rank 0 logs, shows progress and writes checkpoints; the others stay quiet.

No rclpy here.
"""
import dataclasses
import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from jepa_ros.core.device import pick_device

ENV_VARS = ('RANK', 'WORLD_SIZE', 'LOCAL_RANK')
# A rank that waits longer than this in a collective gives up with an error instead of
# hanging for torch's default 30 min (a crashed peer is normally noticed by torchrun first).
DEFAULT_TIMEOUT_S = 600.0


def _env_int(name, default):
    value = os.environ.get(name, '')
    if value == '':
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f'environment variable {name}={value!r} is not an integer') from None


def env_world():
    """(rank, world_size, local_rank) from the torchrun environment; (0, 1, 0) without."""
    world = _env_int('WORLD_SIZE', 1)
    rank, local = _env_int('RANK', 0), _env_int('LOCAL_RANK', 0)
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ValueError(f'inconsistent torchrun environment: RANK={rank} '
                         f'WORLD_SIZE={world} LOCAL_RANK={local}')
    return rank, world, local


def rank_seed(seed, rank):
    """The sampling seed of `rank`: `seed` itself on rank 0 (a single process samples as it
    always did), a different stream on every other rank."""
    return int(seed) if rank == 0 else int(seed) + 100_003 * int(rank)


def shard(items, rank, world_size):
    """Items i with i mod world_size == rank, in order (round robin over the list).

    Disjoint across ranks, together the whole list, sizes differing by at most one. A
    ValueError when there are fewer items than ranks (a rank without data cannot train)."""
    items = list(items)
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f'rank {rank} of {world_size} processes')
    if len(items) < world_size:
        raise ValueError(f'{world_size} processes need at least {world_size} episodes, '
                         f'got {len(items)}')
    return items[rank::world_size]


@dataclass(frozen=True)
class Context:
    """Where this process stands: rank, number of processes, backend.

    The single-process context (world_size 1) makes every helper an identity: no
    collective runs, values pass through unchanged."""
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ''
    # The device collective tensors live on: CPU for gloo, this rank's GPU for NCCL.
    device: str = 'cpu'
    # True when setup() created the process group (then shutdown() ends it); a group made
    # by the caller (a test, a launcher of its own) is left to the caller.
    owns_group: bool = False

    @property
    def active(self):
        return self.world_size > 1

    @property
    def is_main(self):
        return self.rank == 0

    def describe(self):
        return {'world_size': self.world_size, 'backend': self.backend}

    # ---- collectives (identities for a single process) ----------------------------------
    def from_main(self, value):
        """Rank 0's float `value` on every rank (e.g. its clock: one time-budget decision)."""
        if not self.active:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64, device=self.device)
        dist.broadcast(t, src=0)
        return float(t.item())

    def all_true(self, flag):
        """True on every rank when `flag` is true on every rank."""
        if not self.active:
            return bool(flag)
        t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return bool(t.item())

    def sum(self, values):
        """Element-wise sum over the ranks of a list of numbers (float64) -> list."""
        if not self.active:
            return list(values)
        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def sum_tensor(self, tensor):
        """Sum over the ranks of `tensor` (a new tensor, same device and dtype)."""
        if not self.active:
            return tensor
        t = tensor.detach().to(self.device).clone()
        dist.all_reduce(t)
        return t.to(tensor.device)

    def gather(self, obj):
        """[obj of rank 0, obj of rank 1, ...] on every rank (picklable objects)."""
        if not self.active:
            return [obj]
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast_module(self, module):
        """Rank 0's parameters and buffers copied into `module` on every rank."""
        if not self.active:
            return
        with torch.no_grad():
            for t in list(module.parameters()) + list(module.buffers()):
                dist.broadcast(t.data, src=0)

    def params_in_sync(self, module):
        """True when every rank holds exactly rank 0's parameters and buffers."""
        if not self.active:
            return True
        with torch.no_grad():
            flat = torch.cat([t.detach().reshape(-1).double()
                              for t in list(module.parameters()) + list(module.buffers())])
            flat = flat.to(self.device)
            ref = flat.clone()
            dist.broadcast(ref, src=0)
            return self.all_true(torch.equal(flat, ref))

    def barrier(self):
        if self.active:
            dist.barrier()

    def wrap(self, module, find_unused_parameters=False):
        """`module` in DistributedDataParallel (gradients averaged over the ranks in every
        backward of what its forward returned); the module itself for a single process."""
        if not self.active:
            return module
        from torch.nn.parallel import DistributedDataParallel
        ids = None
        if self.backend == 'nccl':
            ids = [torch.device(self.device).index]
        return DistributedDataParallel(module, device_ids=ids,
                                       find_unused_parameters=find_unused_parameters)


SINGLE = Context()


def current():
    """The Context of the initialised default process group; SINGLE when there is none."""
    if not (dist.is_available() and dist.is_initialized()):
        return SINGLE
    backend = str(dist.get_backend())
    device = 'cpu'
    if backend == 'nccl':
        device = f'cuda:{torch.cuda.current_device()}'
    return Context(rank=dist.get_rank(), world_size=dist.get_world_size(),
                   local_rank=_env_int('LOCAL_RANK', 0), backend=backend, device=device)


def setup(device='auto', timeout_s=DEFAULT_TIMEOUT_S):
    """Join the process group torchrun describes, if any. -> (Context, device string).

    The device is this rank's: on CUDA, 'cuda' (or 'auto' on a CUDA machine) becomes
    cuda:LOCAL_RANK, and the backend is NCCL; on CPU the backend is gloo. Without a torchrun
    environment (or WORLD_SIZE 1): (SINGLE, pick_device(device)), nothing initialised."""
    rank, world, local = env_world()
    dev = pick_device(device)
    if world == 1:
        return SINGLE, dev
    if not dist.is_available():
        raise RuntimeError('this torch build has no torch.distributed')
    if dev.startswith('cuda'):
        if dev == 'cuda':
            if local >= torch.cuda.device_count():
                raise ValueError(f'LOCAL_RANK {local} but only {torch.cuda.device_count()} '
                                 'CUDA devices: start at most that many processes per node')
            dev = f'cuda:{local}'
        elif _env_int('LOCAL_WORLD_SIZE', 1) > 1:
            raise ValueError(f'--device {dev} would put every process of this node on one '
                             'GPU; use --device cuda (process r runs on cuda:r)')
        torch.cuda.set_device(dev)
        backend = 'nccl'
    else:
        backend = 'gloo'
    owns = not dist.is_initialized()
    if owns:
        for name in ('MASTER_ADDR', 'MASTER_PORT'):
            if not os.environ.get(name):
                raise ValueError(f'WORLD_SIZE={world} but {name} is not set: start the job '
                                 'with torchrun (it sets both)')
        dist.init_process_group(backend, rank=rank, world_size=world,
                                timeout=datetime.timedelta(seconds=timeout_s))
    return dataclasses.replace(current(), owns_group=owns), dev


def shutdown(ctx):
    """End the process group `setup` made (nothing for a single process or for a group
    that existed before setup)."""
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()
