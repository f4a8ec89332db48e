"""Where the training loops and read-outs run: the device (``auto``, ``cpu``, ``cuda``, ``cuda:N``) and
bf16 autocast (docs/scaling.md). Plain PyTorch.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from causal_pima.core import distributed

logger = logging.getLogger(__name__)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto``: CUDA when available, else the CPU; otherwise ``cpu``, ``cuda`` or ``cuda:N`` as given.

    Raises:
        ValueError: a CUDA device on a machine without CUDA (or an index it does not have).
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {str(device)!r}") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} was asked for but this machine has no CUDA device (use cpu or auto)")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(device)!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif resolved.type != "cpu":
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {str(device)!r}")
    return resolved


@dataclass
class ComputeConfig:
    """Where and how the loops run (not part of a fit's identity: a fit resumes on any device).

    ``device``: ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N``. ``mixed_precision``: bf16 autocast of the
    gradient steps on CUDA (the closed-form mixture statistics stay float32/float64; ignored with a
    warning on the CPU). ``workers``: DataLoader worker processes reading the batches.
    """

    device: str = "auto"
    mixed_precision: bool = False
    workers: int = 0

    def resolved_device(self) -> torch.device:
        return resolve_device(self.device)

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.mixed_precision and device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's parameters."""
    return next(model.parameters()).device


@contextlib.contextmanager
def on_device(model: torch.nn.Module, compute: ComputeConfig | None) -> Iterator[torch.nn.Module]:
    """Run read-outs of ``model`` on ``compute``'s device (the CPU without one); the model is back on the
    CPU afterwards. The read-outs move each batch to the model's device and return CPU results."""
    device = compute.resolved_device() if compute is not None else torch.device("cpu")
    model.to(device)
    try:
        yield model
    finally:
        model.to("cpu")


def start_on_device(model: torch.nn.Module, compute: ComputeConfig | None) -> tuple[ComputeConfig, torch.device]:
    """Move ``model`` to ``compute``'s device (the CPU without one) for a training loop; returns the
    compute settings and the device (``cuda`` made ``cuda:<current>`` under a process group)."""
    compute = compute or ComputeConfig(device="cpu")
    device = compute.resolved_device()
    if compute.mixed_precision and device.type != "cuda":
        logger.warning("mixed_precision is true but the device is %s: training in float32 (bf16 autocast needs CUDA)", device)
    if device.type == "cuda" and distributed.world()[1] > 1 and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    model.to(device)
    return compute, device
