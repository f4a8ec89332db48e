"""Training loops for causalPIMA (docs/model.md "Training").

1. :func:`pretrain` - the encoders/decoders as a PoE VAE with a standard-normal prior.
2. :func:`initialise_prior` - over-cluster the training latents, merge to K = 2^d clusters, assign
   d-bit codes, closed-form mixture update, then a structure search on the DAG alone.
3. :func:`fit` - alternate gradient epochs (encoders, decoders, DAG; temperature annealed
   geometrically) with one closed-form mixture update; repeat the structure search at the end.

Plain PyTorch: progress, checkpoints and logging are callbacks supplied by the caller. The loops run
on the device of :class:`ComputeConfig` (the model is moved there and back to the CPU at the end) and,
under a ``torch.distributed`` process group, data-parallel (:mod:`causal_pima.core.distributed`,
docs/scaling.md); without either they are the one-process CPU loops, number for number.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from causal_pima.core import distributed
from causal_pima.core.batching import (
    Batch,
    Rows,
    as_batches,
    as_numpy,
    batch_indices,
    n_rows,
    read_batches,
    shardable,
)
from causal_pima.core.curve_scale import to_physical
from causal_pima.core.initialisation import initialise_outcomes
from causal_pima.core.model import CausalPIMA, PoEVAE
from causal_pima.core.physics import initial_parameters_from_curves
from causal_pima.core.prior import SufficientStatistics
from causal_pima.core.structure import (
    StructureSearchResult,
    search_structure,
    search_table_structure,
)

logger = logging.getLogger(__name__)

__all__ = ["Batch", "as_batches"]  # re-exported: callers import the batching helper from here too


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


def _start_on_device(model: torch.nn.Module, compute: ComputeConfig | None) -> tuple[ComputeConfig, torch.device]:
    compute = compute or ComputeConfig(device="cpu")
    device = compute.resolved_device()
    if compute.mixed_precision and device.type != "cuda":
        logger.warning("mixed_precision is true but the device is %s: training in float32 (bf16 autocast needs CUDA)", device)
    if device.type == "cuda" and distributed.world()[1] > 1 and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    model.to(device)
    return compute, device


def _forked_rng(device: torch.device) -> contextlib.AbstractContextManager:
    """Save and restore the global random state (the CPU's, and the CUDA device's when training there)."""
    return torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])


def _to_cpu(value: Any) -> Any:
    """Tensors of a nested state (optimiser state) on the CPU; CPU tensors are returned as they are."""
    if isinstance(value, Tensor):
        return value if value.device.type == "cpu" else value.cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(v) for v in value)
    return value


@dataclass
class PretrainConfig:
    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 1e-3
    noise_learning_rate: float = 2e-2
    kl_warmup_epochs: int = 0
    modality_dropout: float = 0.3
    seed: int = 0
    # at least this many gradient steps: epochs are raised for small data sets (core.budget); 0 = no
    # minimum here, the parameter files set 750 (a library call states its own budget)
    min_steps: int = 0


@dataclass
class InitConfig:
    clusterer: str = "hdbscan"
    assigner: str = "cube_length"
    oversample: int = 3
    # what the initial clusters are found in: "fused" (the PoE latent means) or "fused_and_modalities"
    # (those and each modality's own latent means, every block scaled to equal spread; docs/model.md
    # "Initial clusters and their codes")
    cluster_on: str = "fused"
    # hdbscan: the smallest cluster it may find
    min_cluster_size: int = 5


CLUSTER_SPACES = ("fused", "fused_and_modalities")


@dataclass
class StructureConfig:
    l1_weight: float = 0.02
    edge_threshold: float = 0.5
    max_orders: int = 120
    tie_tolerance: float = 1e-3
    steps: int = 500
    # table conditionals: penalty in nats per free table entry (None = BIC, log(N) / 2)
    complexity: float | None = None


@dataclass
class FitConfig:
    epochs: int = 15
    batch_size: int = 128
    learning_rate: float = 1e-3
    noise_learning_rate: float = 2e-2
    dag_learning_rate: float = 1e-2
    physics_learning_rate: float = 1e-2
    temperature_min: float = 0.05
    l1_weight: float = 0.0
    modality_dropout: float = 0.3
    seed: int = 0
    # at least this many gradient steps: epochs are raised for small data sets (core.budget); 0 = no
    # minimum here, the parameter files set 500
    min_steps: int = 0
    init: InitConfig = field(default_factory=InitConfig)
    structure: StructureConfig = field(default_factory=StructureConfig)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> FitConfig:
        values = dict(values)
        init = InitConfig(**values.pop("init", {}))
        structure = StructureConfig(**values.pop("structure", {}))
        return cls(init=init, structure=structure, **values)


@dataclass
class EpochRecord:
    """What a callback sees at the end of every epoch."""

    phase: str
    epoch: int
    metrics: dict[str, float]
    model: CausalPIMA
    checkpoint: Callable[[], dict]


EpochCallback = Callable[[EpochRecord], None]


# ---------------------------------------------------------------------------- data helpers
def objective(model: PoEVAE, prior: str) -> Callable[..., dict[str, Tensor]]:
    """The loss-term method of an objective name: ``"standard"`` (pretraining) or ``"mixture"``."""
    if prior == "standard":
        return model.pretraining_loss
    if prior == "mixture" and isinstance(model, CausalPIMA):
        return model.mixture_loss
    raise ValueError(f"prior must be 'mixture' (a CausalPIMA model) or 'standard', got {prior!r}")


@torch.no_grad()
def encode_dataset(model: PoEVAE, data: Rows, batch_size: int = 512) -> tuple[Tensor, Tensor]:
    """Fused posterior means and variances ``[N, D]`` of a whole data set (on the model's device)."""
    model.eval()
    mus, vars_ = [], []
    for batch in as_batches(data, batch_size, None, device=model_device(model)):
        mu, logvar = model.encode(batch)
        mus.append(mu)
        vars_.append(logvar.exp())
    return torch.cat(mus), torch.cat(vars_)


@torch.no_grad()
def evaluate(model: PoEVAE, data: Rows, prior: str, seed: int = 12345, batch_size: int = 512) -> dict[str, float]:
    """Mean loss terms over a data set; the latent sample uses a fixed seed so it is reproducible.

    ``prior``: ``"standard"`` (:meth:`PoEVAE.pretraining_loss`) or ``"mixture"`` (:meth:`CausalPIMA.mixture_loss`).
    Every process of a data-parallel run evaluates the whole set (the same numbers on each, as on one
    process: validation data select the model).
    """
    loss_terms = objective(model, prior)
    model.eval()
    device = model_device(model)
    with _forked_rng(device):
        torch.manual_seed(seed)
        totals: dict[str, float] = {}
        n_total = 0
        for batch in as_batches(data, batch_size, None, device=device):
            n = len(next(iter(batch.values())))
            for k, v in loss_terms(batch).items():
                totals[k] = totals.get(k, 0.0) + float(v) * n
            n_total += n
    return {k: v / n_total for k, v in totals.items()}


def _parameter_groups(
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


def _check_finite(phase: str, epoch: int, terms: Mapping[str, Tensor], last_good: dict | None) -> None:
    for name, value in terms.items():
        if not torch.isfinite(value).all():
            raise TrainingDivergedError(phase, epoch, name, float(value), last_good)


def _check_finite_everywhere(phase: str, epoch: int, terms: Mapping[str, Tensor], last_good: dict | None) -> None:
    """:func:`_check_finite`; with several processes every one stops when any has a non-finite term
    (the others would otherwise wait for it in the next gradient all-reduce)."""
    if distributed.world()[1] == 1:
        _check_finite(phase, epoch, terms, last_good)
        return
    bad = next((name for name, value in terms.items() if not torch.isfinite(value).all()), None)
    if distributed.any_process(bad is not None, next(iter(terms.values())).device):
        name = bad or "loss"
        raise TrainingDivergedError(phase, epoch, f"{name} (on some process)" if bad is None else name,
                                    float(terms[name]) if bad else float("nan"), last_good)


def _train_epoch(
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
        _check_finite_everywhere(phase, epoch, terms, last_good)
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


def _training_state(
    model: PoEVAE, optimiser: torch.optim.Optimizer, phase: str, epoch: int, history: list[dict], generator: torch.Generator
) -> dict:
    """A self-contained snapshot (copies, not views; CPU tensors whatever the device) from which training
    resumes exactly."""
    state = {
        "phase": phase,
        "epoch": epoch,
        "model": model.checkpoint(),
        "optimiser": _to_cpu(copy.deepcopy(optimiser.state_dict())),
        "history": copy.deepcopy(history),
        "rng_state": torch.get_rng_state(),
        "generator_state": generator.get_state(),
    }
    device = model_device(model)
    if device.type == "cuda":
        state["cuda_rng_state"] = torch.cuda.get_rng_state(device)
    return state


def _restore_rng(state: Mapping[str, Any], device: torch.device, generator: torch.Generator) -> None:
    torch.set_rng_state(state["rng_state"])
    generator.set_state(state["generator_state"])
    if device.type == "cuda" and "cuda_rng_state" in state:
        torch.cuda.set_rng_state(state["cuda_rng_state"], device)


def _seed_other_processes(seed: int) -> None:
    """Under a process group, give processes 1, 2, .. their own global random streams (their own
    latent samples and dropout masks); process 0 keeps the stream seeded by the loop, as on one
    process. The shuffling generator stays common to all."""
    rank, _ = distributed.world()
    if rank > 0:
        torch.manual_seed(seed + 1_000_003 * rank)


# ---------------------------------------------------------------------------- 1. pretraining
def pretrain(
    model: PoEVAE,
    train: Rows,
    val: Rows,
    config: PretrainConfig,
    callbacks: Sequence[EpochCallback] = (),
    compute: ComputeConfig | None = None,
) -> list[dict[str, float]]:
    """Train encoders and decoders as a PoE VAE with a N(0, I) prior (:meth:`PoEVAE.pretraining_loss`).

    ``model`` is a :class:`PoEVAE` (its checkpoints hold the networks only) or a :class:`CausalPIMA`
    (whose prior is left as it is).

    The weights of the epoch with the best validation ELBO are kept (model selection on validation
    data only). Returns the per-epoch history. The model ends on the CPU. Under a process group
    (data-parallel) only process 0 calls the callbacks.
    """
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    compute, device = _start_on_device(model, compute)
    optimiser = torch.optim.Adam(_parameter_groups(model, config.learning_rate, config.noise_learning_rate, None))
    step = distributed.loss_step_module(model, "pretraining_loss")
    _seed_other_processes(config.seed)
    rank = distributed.world()[0]
    history: list[dict[str, float]] = []
    best_elbo, best_state = -math.inf, None
    last_good: dict | None = None
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        # KL warm-up: the KL weight rises linearly to 1 over the first epochs (avoids the collapsed
        # "mean image" plateau); the reported ELBO is always the true bound
        kl_weight = min(1.0, (epoch - 1) / config.kl_warmup_epochs) if config.kl_warmup_epochs > 0 else 1.0
        metrics = _train_epoch(
            model, optimiser, train, config.batch_size, generator, "standard", "pretraining", epoch, last_good,
            kl_weight=kl_weight, modality_dropout=config.modality_dropout, compute=compute, step_module=step,
        )
        metrics.update({f"val_{k}": v for k, v in evaluate(model, val, "standard").items()})
        metrics.update(epoch=epoch, seconds=time.perf_counter() - start)
        history.append(metrics)
        if metrics["val_elbo"] > best_elbo:
            best_elbo, best_state = metrics["val_elbo"], copy.deepcopy(model.state_dict())
        record_state = _training_state(model, optimiser, "pretraining", epoch, history, generator)
        last_good = record_state
        for callback in callbacks if rank == 0 else ():
            callback(EpochRecord("pretraining", epoch, metrics, model, lambda s=record_state: s))
    if best_state is not None:
        model.load_state_dict(best_state)
    model.to("cpu")
    return history


# ---------------------------------------------------------------------------- 2. initialisation
def _process_rows(data: Rows, batch_size: int, device: torch.device) -> Iterator[Batch]:
    """Consecutive batches of this process's rows ``rank, rank + world, ..`` (all rows on one process)
    for a pass whose sums are then added over the processes (:func:`distributed.all_reduce_sum`)."""
    rank, size = distributed.world()
    rows = torch.arange(n_rows(data))[rank::size] if size > 1 else torch.arange(n_rows(data))
    return read_batches(data, list(rows.split(batch_size)), device=device)


@torch.no_grad()
def component_scores(model: CausalPIMA, data: Rows, batch_size: int = 512) -> tuple[Tensor, Tensor, Tensor]:
    """Posterior means, variances ``[N, D]`` and component scores ``[N, K]`` of a whole data set.

    The scores are ``-KL_k`` (plus the physics curve log-likelihood, see
    :meth:`CausalPIMA.component_log_scores`); responsibilities are ``softmax(log pi + scores)``.
    """
    model.eval()
    mus, vars_, scores = [], [], []
    for batch in as_batches(data, batch_size, None, device=model_device(model)):
        mu, logvar = model.encode(batch)
        var = logvar.exp()
        mus.append(mu)
        vars_.append(var)
        scores.append(model.component_log_scores(batch, mu, var))
    return torch.cat(mus), torch.cat(vars_), torch.cat(scores)


@torch.no_grad()
def soft_outcome_counts(model: CausalPIMA, data: Rows, batch_size: int = 512) -> Tensor:
    """``S0 [K]`` float64: the responsibilities summed over a data set, one batch at a time (summed
    over the processes of a data-parallel run, each taking its share of the rows).

    Memory is ``O(batch_size * K)`` whatever the number of specimens (the ``[N, K]`` matrix of
    component scores is never held).
    """
    model.eval()
    log_pi = model.log_weights()
    device = model_device(model)
    counts = torch.zeros(model.prior.n_components, dtype=torch.float64, device=device)
    for batch in _process_rows(data, batch_size, device):
        mu, logvar = model.encode(batch)
        gamma = torch.softmax(log_pi + model.component_log_scores(batch, mu, logvar.exp()), dim=-1)
        counts += gamma.sum(0).double()
    return distributed.all_reduce_sum(counts)


@torch.no_grad()
def mixture_update(model: CausalPIMA, data: Rows, batch_size: int = 512) -> SufficientStatistics:
    """One closed-form block update of the mixture from the whole data set (docs/model.md "Model and ELBO").

    Sufficient statistics are accumulated batch by batch, so the update equals the full-batch one;
    in a data-parallel run each process accumulates its share of the rows and the sums S0, S1, S2
    are added over the processes before the (identical) update on every process.
    """
    model.eval()
    log_pi = model.log_weights()
    device = model_device(model)
    stats = SufficientStatistics.zeros(model.prior.n_components, model.prior.latent_dim, device=device)
    for batch in _process_rows(data, batch_size, device):
        mu, logvar = model.encode(batch)
        var = logvar.exp()
        gamma = torch.softmax(log_pi + model.component_log_scores(batch, mu, var), dim=-1)
        stats = stats + SufficientStatistics.from_batch(gamma, mu, var)
    for total in (stats.s0, stats.s1, stats.s2):
        distributed.all_reduce_sum(total)
    model.prior.update(stats)
    if not model.uses_dag:
        model.set_free_weights(stats.s0)
    return stats


@torch.no_grad()
def run_structure_search(
    model: CausalPIMA, train: Mapping[str, Tensor], val: Mapping[str, Tensor], config: StructureConfig, seed: int
) -> StructureSearchResult:
    """Structure search on the DAG alone with everything else frozen (docs/model.md "Structure search").

    Training soft outcome counts S0 come from the responsibilities under the current mixture. Table
    conditionals: the exact BIC-penalised search on S0 (the validation prior term is reported);
    logistic: each candidate order is scored on the validation specimens' prior term. No ground
    truth is used.
    """
    counts = as_numpy(soft_outcome_counts(model, train))  # float64 [K]
    _, _, val_scores = component_scores(model, val)
    val_kl = -val_scores.cpu()  # KL (minus the physics curve log-likelihood, if any) of every val specimen
    if model.dag.conditionals == "table":
        result = search_table_structure(counts, val_kl.double(), model.prior_config.n_nodes, config.complexity, config.max_orders)
    else:
        result = search_structure(
            counts,
            val_kl.double().numpy(),
            model.prior_config.n_nodes,
            l1_weight=config.l1_weight,
            edge_threshold=config.edge_threshold,
            max_orders=config.max_orders,
            tie_tolerance=config.tie_tolerance,
            seed=seed,
            steps=config.steps,
        )
    # the effective coefficients equal the refit ones exactly (CausalDAG.set_structure rescales by the gates)
    model.dag.set_structure(result.order, result.weights, result.biases, result.interactions)
    return result


@torch.no_grad()
def _unit_spread(points: np.ndarray) -> np.ndarray:
    """``points [N, D]`` centred and scaled to a mean squared distance of 1 from their mean."""
    centred = points - points.mean(axis=0)
    spread = np.sqrt((centred**2).sum(axis=1).mean())
    return centred / spread if spread > 0 else centred


@torch.no_grad()
def clustering_points(model: PoEVAE, train: Rows, fused_mu: Tensor, cluster_on: str = "fused") -> np.ndarray:
    """The points the initial clusters are found in, float64 ``[N, D']``.

    ``fused``: the fused latent means ``fused_mu [N, D]``. ``fused_and_modalities``: those and each
    modality's own latent means (its expert alone with the prior expert), every block centred and
    scaled to the same spread, concatenated (``D' = D * (1 + M)``). In the product of experts the more
    confident expert decides the fused mean, so an outcome that only the other modality separates
    (a defect, 2.5 % of the lattice specimens, shown by the curve) can vanish in the fused means;
    its own latent keeps it (docs/model.md "Initial clusters and their codes").
    """
    fused = as_numpy(fused_mu.double())
    if cluster_on == "fused":
        return fused
    if cluster_on != "fused_and_modalities":
        raise ValueError(f"init.cluster_on must be one of {CLUSTER_SPACES}, got {cluster_on!r}")
    present = [m for m in model.modalities if m in train]
    if len(present) < 2:
        return fused
    blocks = [_unit_spread(fused)]
    for modality in present:
        own, _ = encode_dataset(model, {modality: train[modality]})
        blocks.append(_unit_spread(as_numpy(own.double())))
    return np.concatenate(blocks, axis=1)


def initialise_prior(
    model: CausalPIMA,
    train: Mapping[str, Tensor],
    val: Mapping[str, Tensor],
    init: InitConfig,
    structure: StructureConfig,
    seed: int = 0,
) -> dict[str, Any]:
    """Initialise the mixture from clusters of the training latents, then search the DAG structure."""
    mu, var = encode_dataset(model, train)
    points = clustering_points(model, train, mu, init.cluster_on)
    observations = {m: as_numpy(train[m]) for m in model.modalities if m in train}
    n_nodes = model.prior_config.n_nodes
    outcome_init = initialise_outcomes(
        points, n_nodes, clusterer=init.clusterer, assigner=init.assigner, oversample=init.oversample, seed=seed,
        observations=observations, min_cluster_size=init.min_cluster_size,
    )
    outcome = torch.as_tensor(outcome_init.outcome, device=mu.device)
    stats = sum(  # hard assignments, one chunk at a time: memory O(chunk * K), not O(N * K)
        SufficientStatistics.from_batch(
            torch.nn.functional.one_hot(chunk["outcome"], model.prior.n_components).to(mu.dtype), chunk["mu"], chunk["var"]
        )
        for chunk in as_batches({"outcome": outcome, "mu": mu, "var": var}, 65536, device=mu.device)
    )
    model.prior.update(stats)
    model.prior.update(stats)  # second pass: the additive least squares uses the new variances as weights
    model.prior.place_empty(stats.s0)
    if model.physics is not None and "curve" in train:
        curves = train["curve"] if isinstance(train["curve"], Tensor) else torch.from_numpy(np.asarray(train["curve"], dtype=np.float32))
        initialise_physics(model, curves, outcome.cpu())
    logger.info(
        "mixture initialised: cluster sizes %s, smallest component %d specimens",
        outcome_init.cluster_sizes.tolist(), outcome_init.smallest_count,
    )
    record = {"cluster_sizes": outcome_init.cluster_sizes.tolist(), "smallest_count": int(outcome_init.smallest_count),
              "n_clusters": outcome_init.n_clusters}
    if not model.uses_dag:
        model.set_free_weights(stats.s0)
        return {**record, "structure": None}
    result = run_structure_search(model, train, val, structure, seed)
    logger.info("initial structure search: order %s, edges %s", result.order, result.edges)
    return {**record, "structure": result}


@torch.no_grad()
def initialise_physics(model: CausalPIMA, curves: Tensor, outcome: Tensor) -> None:
    """Start each component's physical parameters from the mean curve of its initial cluster.

    The laws have kinks, so a parameter only receives gradient from grid points on its side of the
    kink; a start estimated from the data avoids stuck parameters (see core.physics). Empty
    components use the mean of all curves.
    """
    physics = model.physics
    curves, outcome = curves.cpu(), outcome.cpu()  # a start estimated on the CPU, whatever the device
    physical = to_physical(curves, physics.curve_mean.cpu(), physics.curve_std.cpu(), physics.curve_asinh_scale)  # [N, L]
    overall = physical.mean(0)
    means = torch.stack(
        [physical[outcome == k].mean(0) if bool((outcome == k).any()) else overall for k in range(physics.n_components)]
    )
    estimates = initial_parameters_from_curves(physics.law, physics.grid.cpu(), means)
    physics.set_physical_parameters(estimates)


# ---------------------------------------------------------------------------- 3. fitting
def _dag_metrics(model: CausalPIMA) -> dict[str, float]:
    table = model.dag.conditionals == "table"
    adj = (model.dag.parent_effects() if table else model.dag.adjacency()).detach()
    d = adj.shape[0]
    out = {"temperature": float(model.dag.temperature)}
    for i in range(d):
        for j in range(d):
            if i != j:
                out[f"edge_{i}_{j}"] = float(adj[i, j])
    return out


def fit(
    model: CausalPIMA,
    train: Rows,
    val: Rows,
    config: FitConfig,
    callbacks: Sequence[EpochCallback] = (),
    resume: Mapping[str, Any] | None = None,
    compute: ComputeConfig | None = None,
) -> dict[str, Any]:
    """Fit causalPIMA from a pretrained model.

    Without ``resume``: initialise the prior (clusters, codes, structure search), then alternate a
    gradient epoch and a closed-form mixture update for ``config.epochs`` epochs, annealing the
    temperature geometrically from its initial value to ``temperature_min``; finish with a second
    structure search and mixture update. With ``resume`` (a checkpoint from a callback), continue
    after its epoch with the same optimiser and random state.

    Returns ``{"history": [...], "initialisation": {...}, "structure": StructureSearchResult}``
    (``structure`` is ``None`` for free mixture weights, the PIMA baseline). The model ends on the
    CPU. Under a process group (data-parallel): every process initialises from the whole training set
    and then takes process 0's initial state; only process 0 calls the callbacks.
    """
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    compute, device = _start_on_device(model, compute)
    rank = distributed.world()[0]
    optimiser = torch.optim.Adam(
        _parameter_groups(
            model, config.learning_rate, config.noise_learning_rate, config.dag_learning_rate, config.physics_learning_rate
        )
    )
    history: list[dict[str, float]] = []
    start_epoch = 1
    initialisation: dict[str, Any] = {}
    tau0 = float(model.dag.temperature)
    if resume is not None:
        if resume.get("phase") != "fit":
            raise ValueError(f"cannot resume a fit from a '{resume.get('phase')}' checkpoint")
        model.load_state_dict(resume["model"]["state_dict"])
        optimiser.load_state_dict(resume["optimiser"])
        history = list(resume["history"])
        start_epoch = int(resume["epoch"]) + 1
        tau0 = float(resume.get("initial_temperature", tau0))
        initialisation = dict(resume.get("initialisation", {}))
        _restore_rng(resume, device, generator)
    else:
        initialisation = initialise_prior(model, train, val, config.init, config.structure, config.seed)
    distributed.broadcast_state(model)
    step = distributed.loss_step_module(model, "mixture_loss")
    _seed_other_processes(config.seed)
    # geometric annealing: tau_e = tau0 * r^e reaches temperature_min at the last epoch
    rate = (config.temperature_min / tau0) ** (1.0 / max(config.epochs, 1)) if tau0 > config.temperature_min else 1.0
    init_summary = {k: v for k, v in initialisation.items() if k != "structure"}

    last_good: dict | None = dict(resume) if resume is not None else None
    for epoch in range(start_epoch, config.epochs + 1):
        start = time.perf_counter()
        metrics = _train_epoch(
            model, optimiser, train, config.batch_size, generator, "mixture", "fit", epoch, last_good,
            l1_weight=config.l1_weight, modality_dropout=config.modality_dropout, compute=compute, step_module=step,
        )
        with torch.no_grad():
            model.dag.anneal(rate, config.temperature_min)
        mixture_update(model, train)
        val_terms = evaluate(model, val, "mixture")
        _check_finite("fit", epoch, {f"val_{k}": torch.tensor(v) for k, v in val_terms.items()}, last_good)
        metrics.update({f"val_{k}": v for k, v in val_terms.items()})
        if model.uses_dag:
            metrics.update(_dag_metrics(model))
        metrics.update(epoch=epoch, seconds=time.perf_counter() - start)
        history.append(metrics)
        state = _training_state(model, optimiser, "fit", epoch, history, generator)
        state["initial_temperature"] = tau0
        state["initialisation"] = init_summary
        last_good = state
        for callback in callbacks if rank == 0 else ():
            callback(EpochRecord("fit", epoch, metrics, model, lambda s=state: s))

    structure = None
    if model.uses_dag:
        structure = run_structure_search(model, train, val, config.structure, config.seed)
        logger.info("final structure search: order %s, edges %s", structure.order, structure.edges)
    mixture_update(model, train)
    model.to("cpu")
    return {"history": history, "initialisation": init_summary, "structure": structure}

