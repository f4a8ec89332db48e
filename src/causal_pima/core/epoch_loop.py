"""One gradient epoch of a training loop (docs/model.md "Training"), its optimiser's parameter groups,
the check that every loss term stays finite, and what a callback sees at the end of an epoch.

Under a ``torch.distributed`` process group each process steps on its shard of every batch
(docs/scaling.md); without one it is the one-process CPU loop, number for number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from causal_pima.core import distributed
from causal_pima.core.batching import Rows, batch_indices, n_rows, read_batches, shardable
from causal_pima.core.compute import ComputeConfig, model_device
from causal_pima.core.evaluate import objective
from causal_pima.core.model import CausalPIMA, PoEVAE


class TrainingDivergedError(RuntimeError):
    """A loss term became NaN or infinite. Carries the last good checkpoint (or ``None``)."""

    def __init__(self, phase: str, epoch: int, term: str, value: float, last_good: dict | None) -> None:
        self.phase, self.epoch, self.term, self.value, self.last_good = phase, epoch, term, value, last_good
        kept = (
            f"the last good checkpoint (end of epoch {last_good['epoch']}) is kept"
            if last_good is not None
            else "no epoch had completed, so there is no checkpoint"
        )
        super().__init__(f"{phase} diverged at epoch {epoch}: loss term '{term}' became {value}; {kept}")

    def __reduce__(self):  # picklable with its fields (relayed from a training process to the launcher)
        return (TrainingDivergedError, (self.phase, self.epoch, self.term, self.value, self.last_good))



@dataclass
class EpochRecord:
    """What a callback sees at the end of every epoch."""

    phase: str
    epoch: int
    metrics: dict[str, float]
    model: CausalPIMA
    checkpoint: Callable[[], dict]


EpochCallback = Callable[[EpochRecord], None]


def adam(groups: list[dict]) -> torch.optim.Adam:
    """The trainer's Adam over :func:`parameter_groups`, with the multi-tensor (``foreach``) update: one
    fused update per group instead of a loop over the tensors. torch's CPU default is the loop; both give
    the same numbers (tests/core/test_training.py checks it bitwise), the fused one in fewer kernel
    calls (benchmarks/peer_speed.py)."""
    return torch.optim.Adam(groups, foreach=True)


def parameter_groups(
    model: PoEVAE, lr: float, noise_lr: float, dag_lr: float | None = None, physics_lr: float | None = None
) -> list[dict]:
    """Adam groups: networks; observation noise scales (faster: they must track the fit quickly);
    when fitting, the DAG parameters and the physics expert (fitted with the mixture, not pretrained)."""
    networks = [p for n, p in model.named_parameters() if n.startswith(("encoders.", "decoders."))]
    groups = [{"params": networks, "lr": lr}, {"params": list(model.log_noise.parameters()), "lr": noise_lr}]
    if dag_lr is not None and model.uses_dag:
        groups.append({"params": list(model.dag.parameters()), "lr": dag_lr})
    if physics_lr is not None and model.physics is not None:
        groups.append({"params": list(model.physics.parameters()), "lr": physics_lr})
    return groups


def check_finite(phase: str, epoch: int, terms: Mapping[str, Tensor], last_good: dict | None) -> None:
    for name, value in terms.items():
        if not torch.isfinite(value).all():
            raise TrainingDivergedError(phase, epoch, name, float(value), last_good)


def check_finite_everywhere(phase: str, epoch: int, terms: Mapping[str, Tensor], last_good: dict | None) -> None:
    """:func:`check_finite`; with several processes every one stops when any has a non-finite term
    (the others would otherwise wait for it in the next gradient all-reduce)."""
    if distributed.world()[1] == 1:
        check_finite(phase, epoch, terms, last_good)
        return
    bad = next((name for name, value in terms.items() if not torch.isfinite(value).all()), None)
    if distributed.any_process(bad is not None, next(iter(terms.values())).device):
        name = bad or "loss"
        raise TrainingDivergedError(phase, epoch, f"{name} (on some process)" if bad is None else name,
                                    float(terms[name]) if bad else float("nan"), last_good)


def train_epoch(
    model: PoEVAE,
    optimiser: torch.optim.Optimizer,
    data: Rows,
    batch_size: int,
    generator: torch.Generator,
    prior: str,
    phase: str,
    epoch: int,
    last_good: dict | None,
    l1_weight: float = 0.0,
    kl_weight: float = 1.0,
    modality_dropout: float = 0.0,
    compute: ComputeConfig | None = None,
    step_module: torch.nn.Module | None = None,
) -> dict[str, float]:
    """One gradient epoch; returns the mean of every loss term over the specimens (``train_<term>``).

    Under a process group each process steps on its shard of every batch; its loss is scaled by
    ``n_local * world / n_batch`` so that the gradient DDP averages is the gradient of the whole
    batch's mean loss (docs/scaling.md).
    """
    compute = compute or ComputeConfig(device="cpu")
    settings = {"kl_weight": kl_weight} if prior == "standard" else {"l1_weight": l1_weight}
    step = step_module if step_module is not None else distributed.LossModule(model, objective(model, prior).__name__)
    device = model_device(model)
    shard = distributed.shard()
    model.train()
    sums: dict[str, float] = {}
    n_total = 0
    indices = shardable(batch_indices(n_rows(data), batch_size, generator), shard)
    batches = read_batches(data, indices, device=device, shard=shard, workers=compute.workers)
    for index, batch in zip(indices, batches, strict=True):
        mask = model.modality_dropout_mask(batch, modality_dropout)
        with compute.autocast(device):
            terms = step(batch, mask=mask, **settings)
        check_finite_everywhere(phase, epoch, terms, last_good)
        optimiser.zero_grad(set_to_none=True)
        n = len(next(iter(batch.values())))
        loss = terms["loss"] if shard is None else terms["loss"] * (n * shard[1] / len(index))
        loss.backward()
        optimiser.step()
        n_total += n
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach()) * n
    if shard is not None:  # the epoch's means over every process's specimens
        keys = sorted(sums)
        totals = distributed.all_reduce_sum(torch.tensor([sums[k] for k in keys] + [n_total], dtype=torch.float64, device=device))
        sums, n_total = dict(zip(keys, totals[:-1].tolist(), strict=True)), float(totals[-1])
    return {f"train_{k}": v / n_total for k, v in sums.items()}
