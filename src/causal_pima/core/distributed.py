"""Data-parallel helpers on ``torch.distributed`` (docs/scaling.md "Several processes").

Training is the same function on one process and on several: every call below is the identity when
no process group is initialised. With one (``torch.distributed.init_process_group``, e.g. under
:func:`causal_pima.core.launch.run_data_parallel` or ``torchrun``), each process takes the rows
``rank, rank + world, ..`` of every batch (:func:`shard`), gradients are averaged by
``DistributedDataParallel``, and the mixture's sufficient statistics and the soft outcome counts are
summed over processes with :func:`all_reduce_sum`, so the closed-form update equals the one-process
update on the same data (up to the order of floating-point sums).
"""

from __future__ import annotations

import inspect

import torch
import torch.distributed as dist
from torch import Tensor, nn


def world() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` without a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard() -> tuple[int, int] | None:
    """``(rank, world_size)`` for :func:`causal_pima.core.batching.as_batches`, ``None`` on one process."""
    rank, size = world()
    return (rank, size) if size > 1 else None


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """Sum ``tensor`` over the processes, in place (returned for chaining); unchanged on one process."""
    if world()[1] > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def any_process(flag: bool, device: torch.device | str = "cpu") -> bool:
    """True on every process when ``flag`` is true on at least one (e.g. a non-finite loss)."""
    if world()[1] == 1:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    return bool(all_reduce_sum(value).item() > 0)


@torch.no_grad()
def broadcast_state(module: nn.Module, src: int = 0) -> None:
    """Copy every parameter and buffer of ``module`` from process ``src`` to the others."""
    if world()[1] == 1:
        return
    for tensor in module.state_dict().values():
        dist.broadcast(tensor, src)


class LossModule(nn.Module):
    """``forward(batch, **kwargs)`` = ``model.<method>(batch, **kwargs)``: the loss-term method of an
    objective as a module call, so that ``DistributedDataParallel`` can wrap it (DDP synchronises
    the gradients of what its wrapped module's ``forward`` computes)."""

    def __init__(self, model: nn.Module, method: str) -> None:
        super().__init__()
        self.model = model
        self.method = method

    def forward(self, batch: dict[str, Tensor], **kwargs) -> dict[str, Tensor]:
        return getattr(self.model, self.method)(batch, **kwargs)


def loss_step_module(model: nn.Module, method: str) -> nn.Module:
    """The module that computes one batch's loss terms: ``LossModule`` on one process, wrapped in
    ``DistributedDataParallel`` under a process group (gradients averaged over the processes)."""
    module = LossModule(model, method)
    if world()[1] == 1:
        return module
    device = next(model.parameters()).device
    # the buffers (temperature, outcome table) are updated identically on every process: no sync per step
    sync = {"forward_sync_buffers": False} if "forward_sync_buffers" in _DDP_ARGUMENTS else {"broadcast_buffers": False}
    return nn.parallel.DistributedDataParallel(
        module,
        device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=has_unused_parameters(model, method),
        **sync,
    )


def has_unused_parameters(model: nn.Module, method: str) -> bool:
    """Whether the objective ``method`` leaves some trainable parameters of ``model`` without a gradient
    (DDP must then look for them every step): the prior and DAG of a CausalPIMA that is pretrained,
    the DAG of free mixture weights (the PIMA baseline), the neural curve decoder when the physics
    curve expert models the curves."""
    if method == "pretraining_loss":
        return hasattr(model, "dag")
    return not getattr(model, "uses_dag", True) or getattr(model, "physics", None) is not None


_DDP_ARGUMENTS = inspect.signature(nn.parallel.DistributedDataParallel.__init__).parameters
