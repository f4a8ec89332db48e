"""The training loops of causalPIMA (docs/model.md "Training").

1. :func:`pretrain` - the encoders/decoders as a PoE VAE with a standard-normal prior.
2. :func:`fit` - initialise the prior (:mod:`causal_pima.core.prior_initialisation`: clusters, codes,
   closed-form mixture update, a structure search on the DAG alone), then alternate gradient epochs
   (encoders, decoders, DAG; temperature annealed geometrically) with one closed-form mixture update;
   repeat the structure search at the end.

Their parts live in files of one idea each: the settings (:mod:`~causal_pima.core.training_config`),
the device (:mod:`~causal_pima.core.compute`), one gradient epoch (:mod:`~causal_pima.core.epoch_loop`),
the resumable state (:mod:`~causal_pima.core.training_state`), the read-outs over a data set
(:mod:`~causal_pima.core.evaluate`), the mixture update (:mod:`~causal_pima.core.mixture_update`) and the
structure searches (:mod:`~causal_pima.core.structure_search`).

Plain PyTorch: progress, checkpoints and logging are callbacks supplied by the caller. The loops run
on the device of :class:`ComputeConfig` (the model is moved there and back to the CPU at the end) and,
under a ``torch.distributed`` process group, data-parallel (:mod:`causal_pima.core.distributed`,
docs/scaling.md); without either they are the one-process CPU loops, number for number.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from causal_pima.core import distributed
from causal_pima.core.batching import Rows
from causal_pima.core.compute import ComputeConfig, start_on_device
from causal_pima.core.epoch_loop import (
    EpochCallback,
    EpochRecord,
    adam,
    check_finite,
    parameter_groups,
    train_epoch,
)
from causal_pima.core.evaluate import evaluate
from causal_pima.core.mixture_update import mixture_update
from causal_pima.core.model import CausalPIMA, PoEVAE
from causal_pima.core.prior_initialisation import initialise_prior
from causal_pima.core.structure_search import run_structure_search
from causal_pima.core.training_config import FitConfig, PretrainConfig
from causal_pima.core.training_state import restore_rng, seed_other_processes, training_state

logger = logging.getLogger(__name__)


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
    compute, device = start_on_device(model, compute)
    optimiser = adam(parameter_groups(model, config.learning_rate, config.noise_learning_rate, None))
    step = distributed.loss_step_module(model, "pretraining_loss")
    seed_other_processes(config.seed)
    rank = distributed.world()[0]
    history: list[dict[str, float]] = []
    best_elbo, best_state = -math.inf, None
    last_good: dict | None = None
    for epoch in range(1, config.epochs + 1):
        start = time.perf_counter()
        # KL warm-up: the KL weight rises linearly to 1 over the first epochs (avoids the collapsed
        # "mean image" plateau); the reported ELBO is always the true bound
        kl_weight = min(1.0, (epoch - 1) / config.kl_warmup_epochs) if config.kl_warmup_epochs > 0 else 1.0
        metrics = train_epoch(
            model, optimiser, train, config.batch_size, generator, "standard", "pretraining", epoch, last_good,
            kl_weight=kl_weight, modality_dropout=config.modality_dropout, compute=compute, step_module=step,
        )
        metrics.update({f"val_{k}": v for k, v in evaluate(model, val, "standard").items()})
        metrics.update(epoch=epoch, seconds=time.perf_counter() - start)
        history.append(metrics)
        if metrics["val_elbo"] > best_elbo:
            best_elbo, best_state = metrics["val_elbo"], copy.deepcopy(model.state_dict())
        record_state = training_state(model, optimiser, "pretraining", epoch, history, generator)
        last_good = record_state
        for callback in callbacks if rank == 0 else ():
            callback(EpochRecord("pretraining", epoch, metrics, model, lambda s=record_state: s))
    if best_state is not None:
        model.load_state_dict(best_state)
    model.to("cpu")
    return history


# ---------------------------------------------------------------------------- 2. fitting
def dag_metrics(model: CausalPIMA) -> dict[str, float]:
    """The temperature and every edge ``edge_<i>_<j>`` (parent effects for tables, else the adjacency)."""
    table = model.dag.conditionals == "table"
    adj = (model.dag.parent_effects() if table else model.dag.adjacency()).detach()
    d = adj.shape[0]
    out = {"temperature": float(model.dag.temperature)}
    for i in range(d):
        for j in range(d):
            if i != j:
                out[f"edge_{i}_{j}"] = float(adj[i, j])
    return out


@dataclass
class FitStart:
    """Where a fit's epochs start: the history so far, the first epoch, the initial temperature of the
    annealing and the initialisation record (without the structure search result)."""

    history: list[dict[str, float]]
    first_epoch: int
    initial_temperature: float
    initialisation: dict[str, Any]


def start_fit(
    model: CausalPIMA, train: Rows, val: Rows, config: FitConfig, optimiser: torch.optim.Optimizer,
    generator: torch.Generator, device: torch.device, resume: Mapping[str, Any] | None,
) -> FitStart:
    """Without ``resume``: initialise the prior (clusters, codes, structure search). With ``resume`` (a
    checkpoint from a callback): load its model, optimiser and random state, to go on after its epoch."""
    tau0 = float(model.dag.temperature)
    if resume is None:
        initialisation = initialise_prior(model, train, val, config.init, config.structure, config.seed)
        return FitStart([], 1, tau0, {k: v for k, v in initialisation.items() if k != "structure"})
    if resume.get("phase") != "fit":
        raise ValueError(f"cannot resume a fit from a '{resume.get('phase')}' checkpoint")
    model.load_state_dict(resume["model"]["state_dict"])
    optimiser.load_state_dict(resume["optimiser"])
    restore_rng(resume, device, generator)
    initialisation = dict(resume.get("initialisation", {}))
    return FitStart(list(resume["history"]), int(resume["epoch"]) + 1, float(resume.get("initial_temperature", tau0)),
                    {k: v for k, v in initialisation.items() if k != "structure"})


def fit_epoch(
    model: CausalPIMA, optimiser: torch.optim.Optimizer, train: Rows, val: Rows, config: FitConfig,
    generator: torch.Generator, epoch: int, rate: float, last_good: dict | None, compute: ComputeConfig,
    step: torch.nn.Module,
) -> dict[str, float]:
    """One epoch of the fit: a gradient epoch, the temperature annealed by ``rate``, a closed-form
    mixture update; returns the epoch's metrics (training and validation terms, DAG edges, seconds)."""
    start = time.perf_counter()
    metrics = train_epoch(
        model, optimiser, train, config.batch_size, generator, "mixture", "fit", epoch, last_good,
        l1_weight=config.l1_weight, modality_dropout=config.modality_dropout, compute=compute, step_module=step,
    )
    with torch.no_grad():
        model.dag.anneal(rate, config.temperature_min)
    mixture_update(model, train)
    val_terms = evaluate(model, val, "mixture")
    check_finite("fit", epoch, {f"val_{k}": torch.tensor(v) for k, v in val_terms.items()}, last_good)
    metrics.update({f"val_{k}": v for k, v in val_terms.items()})
    if model.uses_dag:
        metrics.update(dag_metrics(model))
    metrics.update(epoch=epoch, seconds=time.perf_counter() - start)
    return metrics


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
    compute, device = start_on_device(model, compute)
    rank = distributed.world()[0]
    optimiser = adam(
        parameter_groups(
            model, config.learning_rate, config.noise_learning_rate, config.dag_learning_rate, config.physics_learning_rate
        )
    )
    begun = start_fit(model, train, val, config, optimiser, generator, device, resume)
    history, tau0 = begun.history, begun.initial_temperature
    distributed.broadcast_state(model)
    step = distributed.loss_step_module(model, "mixture_loss")
    seed_other_processes(config.seed)
    # geometric annealing: tau_e = tau0 * r^e reaches temperature_min at the last epoch
    rate = (config.temperature_min / tau0) ** (1.0 / max(config.epochs, 1)) if tau0 > config.temperature_min else 1.0
    last_good: dict | None = dict(resume) if resume is not None else None
    for epoch in range(begun.first_epoch, config.epochs + 1):
        metrics = fit_epoch(model, optimiser, train, val, config, generator, epoch, rate, last_good, compute, step)
        history.append(metrics)
        state = training_state(model, optimiser, "fit", epoch, history, generator)
        state["initial_temperature"] = tau0
        state["initialisation"] = begun.initialisation
        last_good = state
        for callback in callbacks if rank == 0 else ():
            callback(EpochRecord("fit", epoch, metrics, model, lambda s=state: s))

    structure = None
    if model.uses_dag:
        structure = run_structure_search(model, train, val, config.structure, config.seed)
        logger.info("final structure search: %s", structure.describe())
    mixture_update(model, train)
    model.to("cpu")
    return {"history": history, "initialisation": begun.initialisation, "structure": structure}
