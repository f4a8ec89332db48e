"""Data-parallel training on one machine: start the processes, relay their epochs, return the model.

:func:`run_data_parallel` starts ``processes`` workers with ``torch.multiprocessing`` (spawn), each
joining one ``torch.distributed`` process group (gloo on the CPU, NCCL on CUDA, rendezvous on a
free local TCP port) and running the same :func:`causal_pima.core.training.pretrain` or
:func:`~causal_pima.core.training.fit` as one process would (docs/scaling.md). Process 0 sends every
epoch's metrics and checkpoint back; the callbacks run here, in the calling process, so they may
write files or log to MLflow as on one process. The trained weights come back at the end and are
loaded into the caller's model.
"""

from __future__ import annotations

import atexit
import copy
import io
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from causal_pima.core.batching import by_reference
from causal_pima.core.compute import ComputeConfig
from causal_pima.core.epoch_loop import EpochCallback, EpochRecord, TrainingDivergedError
from causal_pima.core.training import fit, pretrain
from causal_pima.core.training_config import FitConfig, PretrainConfig

logger = logging.getLogger(__name__)


class DistributedTrainingError(RuntimeError):
    """A training process failed (its traceback is in the message)."""


@dataclass
class TrainingJob:
    """What to train: ``task`` ``"pretrain"`` (:func:`pretrain`) or ``"fit"`` (:func:`fit`, optionally
    resumed from ``resume``), the model, the training and validation rows and the loop's config."""

    task: str
    model: torch.nn.Module
    train: Mapping[str, Any]
    val: Mapping[str, Any]
    config: PretrainConfig | FitConfig
    resume: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.task not in ("pretrain", "fit"):
            raise ValueError(f"task must be 'pretrain' or 'fit', got {self.task!r}")

    def run(self, callbacks: Sequence[EpochCallback], compute: ComputeConfig) -> Any:
        """Train in this process (one process, or one rank of a process group)."""
        if self.task == "pretrain":
            return pretrain(self.model, self.train, self.val, self.config, callbacks, compute)
        return fit(self.model, self.train, self.val, self.config, callbacks, self.resume, compute)

    def by_reference(self) -> TrainingJob:
        """This job to send to other processes: memory-mapped data as file references."""
        return replace(self, model=self.model.cpu(), train=by_reference(self.train), val=by_reference(self.val))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _dumps(value: Any) -> bytes:
    # tensors travel as bytes, not as shared-memory handles that die with the process that made them
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return buffer.getvalue()


def _loads(data: bytes) -> Any:
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)


def launched_by_torchrun() -> bool:
    """True in a process started by ``torchrun`` (``torch.distributed.run``) with 2 or more processes in all."""
    return "TORCHELASTIC_RUN_ID" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1


def join_torchrun_group(backend: str, compute: ComputeConfig) -> None:
    """Under ``torchrun``, join its process group once (``env://`` rendezvous: RANK, WORLD_SIZE,
    MASTER_ADDR, MASTER_PORT set by torchrun); training in this process is then one rank of the job.
    Nothing happens outside torchrun or when the group exists already."""
    if not launched_by_torchrun() or dist.is_initialized():
        return
    backend = default_backend(compute) if backend == "auto" else backend
    if compute.resolved_device().type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend, init_method="env://")
    atexit.register(dist.destroy_process_group)
    logger.info("joined the torchrun process group: rank %d of %d (%s)", dist.get_rank(), dist.get_world_size(), backend)


def default_backend(compute: ComputeConfig) -> str:
    """``nccl`` when training on CUDA, else ``gloo``."""
    return "nccl" if compute.resolved_device().type == "cuda" else "gloo"


def _worker(
    rank: int,
    world_size: int,
    port: int,
    backend: str,
    threads: int,
    job: TrainingJob,
    compute: ComputeConfig,
    messages: Any,
) -> None:
    torch.set_num_threads(threads)
    # the model arrives in shared memory, the same storage in every process: each trains its own copy
    job = replace(job, model=copy.deepcopy(job.model))
    if compute.resolved_device().type == "cuda":
        torch.cuda.set_device(rank % torch.cuda.device_count())
        compute = ComputeConfig(f"cuda:{rank % torch.cuda.device_count()}", compute.mixed_precision, compute.workers)
    dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world_size)
    try:
        relay: list[EpochCallback] = []
        if rank == 0:
            def relay_epoch(record: EpochRecord) -> None:
                messages.put(("epoch", record.phase, record.epoch, record.metrics, _dumps(record.checkpoint())))
            relay = [relay_epoch]
        result = job.run(relay, compute)
        if rank == 0:
            messages.put(("done", _dumps({"state_dict": job.model.state_dict(), "result": result})))
    except TrainingDivergedError as exc:
        if rank == 0:
            messages.put(("diverged", _dumps(exc)))
        raise
    finally:
        dist.destroy_process_group()


def run_data_parallel(
    job: TrainingJob,
    processes: int,
    callbacks: Sequence[EpochCallback] = (),
    compute: ComputeConfig | None = None,
    backend: str = "auto",
    threads_per_process: int | None = None,
) -> Any:
    """Train ``job`` with ``processes`` data-parallel processes on this machine; returns what
    :meth:`TrainingJob.run` returns (the history, or the fit's result).

    ``job.model`` receives the trained weights (on the CPU). ``callbacks`` run in this process once per
    epoch with process 0's metrics and checkpoint (``record.model`` holds that epoch's weights).
    ``threads_per_process``: torch threads of each process (default: the CPU count divided by the
    processes, at least 1). ``backend``: ``auto`` (gloo on the CPU, nccl on CUDA), ``gloo`` or ``nccl``.

    Raises:
        TrainingDivergedError: as on one process (relayed from process 0).
        DistributedTrainingError: a process failed otherwise; the message holds its traceback.
    """
    if processes < 2:
        raise ValueError(f"run_data_parallel needs 2 or more processes, got {processes}")
    compute = compute or ComputeConfig(device="cpu")
    backend = default_backend(compute) if backend == "auto" else backend
    threads = threads_per_process or max(1, (os.cpu_count() or 1) // processes)
    context = mp.get_context("spawn")
    messages = context.SimpleQueue()
    port = _free_port()
    logger.info("data-parallel %s: %d processes (%s, %d torch thread(s) each) on 127.0.0.1:%d",
                job.task, processes, backend, threads, port)
    workers = mp.start_processes(
        _worker,
        args=(processes, port, backend, threads, job.by_reference(), compute, messages),
        nprocs=processes,
        join=False,
        start_method="spawn",
    )
    final, diverged = None, None
    model = job.model

    def drain() -> None:
        nonlocal final, diverged
        while not messages.empty():
            kind, *payload = messages.get()
            if kind == "epoch":
                phase, epoch, metrics, state_bytes = payload
                state = _loads(state_bytes)
                model.load_state_dict(state["model"]["state_dict"], strict=False)
                for callback in callbacks:
                    callback(EpochRecord(phase, epoch, metrics, model, lambda s=state: s))
            elif kind == "done":
                final = _loads(payload[0])
            elif kind == "diverged":
                diverged = _loads(payload[0])

    try:
        while not workers.join(timeout=0.2):
            drain()
    except mp.ProcessRaisedException as exc:
        drain()
        if diverged is not None:
            raise diverged from None
        raise DistributedTrainingError(f"a data-parallel {job.task} process failed:\n{exc}") from None
    drain()
    if final is None:
        raise DistributedTrainingError(f"the data-parallel {job.task} ended without sending the trained model")
    model.load_state_dict(final["state_dict"])
    return final["result"]
