"""The resumable state of a training loop: a self-contained snapshot (model, optimiser, history and the
random streams) and its restoration, the forked random state of an evaluation, and the random streams
of the processes of a data-parallel run.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from causal_pima.core import distributed
from causal_pima.core.compute import model_device
from causal_pima.core.model import PoEVAE


def forked_rng(device: torch.device) -> contextlib.AbstractContextManager:
    """Save and restore the global random state (the CPU's, and the CUDA device's when training there)."""
    return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])


def to_cpu(value: Any) -> Any:
    """Tensors of a nested state (optimiser state) on the CPU; CPU tensors are returned as they are."""
    if isinstance(value, Tensor):
        return value if value.device.type == "cpu" else value.cpu()
    if isinstance(value, dict):
        return {k: to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(to_cpu(v) for v in value)
    return value


def training_state(
    model: PoEVAE, optimiser: torch.optim.Optimizer, phase: str, epoch: int, history: list[dict], generator: torch.Generator
) -> dict:
    """A self-contained snapshot (copies, not views; CPU tensors whatever the device) from which training
    resumes exactly."""
    state = {
        "phase": phase,
        "epoch": epoch,
        "model": model.checkpoint(),
        "optimiser": to_cpu(copy.deepcopy(optimiser.state_dict())),
        "history": copy.deepcopy(history),
        "rng_state": torch.get_rng_state(),
        "generator_state": generator.get_state(),
    }
    device = model_device(model)
    if device.type == "cuda":
        state["cuda_rng_state"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: Mapping[str, Any], device: torch.device, generator: torch.Generator) -> None:
    """The random streams of a :func:`training_state` snapshot back in place (global, shuffling, CUDA)."""
    torch.set_rng_state(state["rng_state"])
    generator.set_state(state["generator_state"])
    if device.type == "cuda" and "cuda_rng_state" in state:
        torch.cuda.set_rng_state(state["cuda_rng_state"], device)


def seed_other_processes(seed: int) -> None:
    """Under a process group, give processes 1, 2, .. their own global random streams (their own
    latent samples and dropout masks); process 0 keeps the stream seeded by the loop, as on one
    process. The shuffling generator stays common to all."""
    rank, _ = distributed.world()
    if rank > 0:
        torch.manual_seed(seed + 1_000_003 * rank)
