"""Pretraining and the causalPIMA fit from parameter dicts and model-input sets, without Kedro.

The ``pretraining`` and ``causal_pima`` nodes and the benchmark call these; the nodes add only the
catalog's concerns (checkpoint location and resume fingerprint, MLflow metric histories, figures).
Order of the random draws (``torch.manual_seed(seed)`` right before the model is built) is part of
the seeded run and must not change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from causal_pima.core import distributed
from causal_pima.core.batching import n_rows, specimen_data
from causal_pima.core.budget import epochs_for_budget
from causal_pima.core.callbacks import KeepLastCheckpoint, ProgressBar
from causal_pima.core.compute import ComputeConfig
from causal_pima.core.diagnostics import fit_diagnostics
from causal_pima.core.elbo_gap import elbo_gap
from causal_pima.core.epoch_loop import EpochCallback
from causal_pima.core.launch import TrainingJob, join_torchrun_group, run_data_parallel
from causal_pima.core.modality_spec import array_keys
from causal_pima.core.model import CausalPIMA, PoEVAE
from causal_pima.core.model_config import ModelConfig, NetworkConfig
from causal_pima.core.outcome_support import outcome_support
from causal_pima.core.readout import (
    PRIOR_KEYS,
    learned_dag_record,
    model_from_pretrained,
    resolve_n_nodes,
)
from causal_pima.core.training_config import FitChecks, FitConfig, PretrainConfig

logger = logging.getLogger(__name__)


class FitCollapsedError(RuntimeError):
    """The fitted mixture collapsed or its physics expert is worse than the mean curve (see core.diagnostics)."""


def compute_settings(
    compute_params: Mapping[str, Any] | None, distributed_params: Mapping[str, Any] | None
) -> tuple[ComputeConfig, DistributedConfig]:
    """The ``compute`` and ``distributed`` parameter groups as configs; without a group: the CPU, one process."""
    compute = ComputeConfig(**dict(compute_params)) if compute_params is not None else ComputeConfig(device="cpu")
    return compute, DistributedConfig(**dict(distributed_params or {}))


@dataclass(frozen=True)
class DistributedConfig:
    """Data-parallel training (docs/scaling.md). ``processes >= 2``: that many processes on this
    machine, started by the training itself; under ``torchrun`` (several machines) the process group
    that torchrun set up is used and ``processes`` is ignored. ``backend``: ``auto`` (gloo on the
    CPU, nccl on CUDA), ``gloo`` or ``nccl``. ``threads_per_process``: torch threads of each process
    (``None``: the CPU count divided by the processes)."""

    processes: int = 1
    backend: str = "auto"
    threads_per_process: int | None = None

    def __post_init__(self) -> None:
        if int(self.processes) < 1:
            raise ValueError(f"distributed.processes must be 1 or more, got {self.processes}")
        if self.backend not in ("auto", "gloo", "nccl"):
            raise ValueError(f"distributed.backend must be auto, gloo or nccl, got {self.backend!r}")


def _train(job: TrainingJob, callbacks: list[EpochCallback], compute: ComputeConfig | None, parallel: DistributedConfig | None) -> Any:
    """Run ``job`` in this process (one process, or one rank of a torchrun job), or data-parallel in
    ``parallel.processes`` processes started here."""
    compute = compute or ComputeConfig(device="cpu")
    parallel = parallel or DistributedConfig()
    join_torchrun_group(parallel.backend, compute)
    if distributed.world()[1] == 1 and parallel.processes >= 2:
        return run_data_parallel(job, int(parallel.processes), callbacks, compute, parallel.backend, parallel.threads_per_process)
    return job.run(callbacks, compute)


def _epoch_first(history: pd.DataFrame) -> pd.DataFrame:
    if len(history):
        history = history[["epoch", *[c for c in history.columns if c != "epoch"]]]
    return history


def pretrain_from_data(
    network_config: NetworkConfig | ModelConfig,
    train_set: Mapping[str, np.ndarray],
    val_set: Mapping[str, np.ndarray],
    pretraining_params: Mapping[str, Any],
    compute: ComputeConfig | None = None,
    parallel: DistributedConfig | None = None,
) -> tuple[PoEVAE, pd.DataFrame]:
    """Pretrain fresh networks (seeded by ``pretraining_params.seed``); returns the PoE VAE and its history table.

    ``compute``: device, mixed precision and loader workers (default: this process's CPU);
    ``parallel``: data-parallel processes (default: one). Memory-mapped sets are read a batch at a time.

    A :class:`ModelConfig` is accepted for its network part. The weights of the epoch with the best
    validation ELBO are kept; a fit starts from them (:func:`plan_fit`, :meth:`CausalPIMA.from_pretrained`).
    """
    if isinstance(network_config, ModelConfig):
        network_config = network_config.network
    config = PretrainConfig(**dict(pretraining_params))
    # the network initialisation is part of the seeded run; a CausalPIMA builds its networks first,
    # the same way, and pretrain() reseeds before its first draw, so the prior is not needed here
    torch.manual_seed(config.seed)
    model = PoEVAE(network_config)
    train = specimen_data(train_set, model.modalities)
    val = specimen_data(val_set, model.modalities)
    config = replace(config, epochs=epochs_for_budget(config.epochs, config.min_steps, n_rows(train), config.batch_size, "pretraining"))
    history = pd.DataFrame(_train(TrainingJob("pretrain", model, train, val, config), [ProgressBar(config.epochs, "pretraining")], compute, parallel))
    return model, history[["epoch", *[c for c in history.columns if c != "epoch"]]]


@dataclass
class FitPlan:
    """A causalPIMA model built from the pretrained networks, and how to fit it (:func:`plan_fit`)."""

    model: CausalPIMA
    config: FitConfig
    resume: bool
    collapse_weight: float
    on_collapse: str
    params_name: str = "causal_pima"
    min_outcome_count: float = FitChecks.min_outcome_count

    def effective_parameters(self) -> dict[str, Any]:
        """The fit parameters with defaults filled in, ``n_nodes`` resolved, every prior setting and,
        with a physics expert, its settings (no longer part of the networks-only pretrained model)."""
        effective = {**asdict(self.config), "prior": {k: getattr(self.model.config, k) for k in PRIOR_KEYS}}
        if self.model.physics is not None:
            effective["physics"] = self.model.physics_config.to_dict()
        return effective


def plan_fit(
    pretrained_model: Mapping[str, Any],
    train_set: Mapping[str, np.ndarray],
    params: Mapping[str, Any],
    model_config: ModelConfig | None = None,
    params_name: str = "causal_pima",
) -> FitPlan:
    """Read the ``causal_pima`` parameters, seed torch and build the model from the pretrained networks.

    ``model_config``: the ``model`` parameters with the data statistics (physics expert, prior
    defaults; :func:`causal_pima.core.readout.model_from_pretrained`). ``params_name``: the parameter
    group the messages name (``causal_pima_lattice``).
    """
    params = dict(params)
    prior_params = resolve_n_nodes(params.pop("prior", {}), train_set, params_name)
    resume = bool(params.pop("resume", False))
    collapse_weight = float(params.pop("collapse_weight", FitChecks.collapse_weight))
    on_collapse = str(params.pop("on_collapse", FitChecks.on_collapse))
    min_outcome_count = float(params.pop("min_outcome_count", FitChecks.min_outcome_count))
    params.pop("node_count", None)  # how n_nodes: auto chooses among candidate fits (pipelines.causal_pima.node_count)
    params.pop("max_components", None)  # checked with the parameters before the run (parameter_schemas)
    if on_collapse not in ("raise", "warn"):
        raise ValueError(f"{params_name}.on_collapse must be 'raise' or 'warn', got {on_collapse!r}")
    config = FitConfig.from_dict(params)
    n_train = n_rows({key: values for key, values in train_set.items() if key in array_keys().values()})
    config = replace(config, epochs=epochs_for_budget(config.epochs, config.min_steps, n_train, config.batch_size, f"{params_name} fit"))
    torch.manual_seed(config.seed)
    model = model_from_pretrained(pretrained_model, prior_params, model_config)
    return FitPlan(model, config, resume, collapse_weight, on_collapse, params_name, min_outcome_count)


@dataclass
class FitOutcome:
    """The fitted model, its learned-DAG record (with the fit diagnostics) and the history table."""

    model: CausalPIMA
    learned_dag: dict[str, Any]
    history: pd.DataFrame


def run_fit(
    plan: FitPlan,
    train_set: Mapping[str, np.ndarray],
    val_set: Mapping[str, np.ndarray],
    save: Callable[[dict], None] | None = None,
    resume_state: dict | None = None,
    compute: ComputeConfig | None = None,
    parallel: DistributedConfig | None = None,
) -> FitOutcome:
    """Fit ``plan.model`` (steps 2-4 of the training; README "Pipelines", docs/model.md).

    ``save`` receives the checkpoint of every completed epoch; ``resume_state`` (such a checkpoint)
    continues an interrupted fit. A collapsed fit raises :class:`FitCollapsedError` unless the plan
    says ``on_collapse: warn``; the diagnostics are kept in the record either way.
    """
    train = specimen_data(train_set, plan.model.modalities)
    val = specimen_data(val_set, plan.model.modalities)
    callbacks = [ProgressBar(plan.config.epochs, "causalPIMA fit"), KeepLastCheckpoint(save)]
    result = _train(TrainingJob("fit", plan.model, train, val, plan.config, resume_state), callbacks, compute, parallel)
    diagnostics = fit_diagnostics(plan.model, val, plan.collapse_weight)
    for warning in diagnostics["warnings"]:
        logger.warning("causalPIMA fit: %s", warning)
    if diagnostics["warnings"] and plan.on_collapse == "raise":
        raise FitCollapsedError(
            "; ".join(diagnostics["warnings"])
            + ". Nothing was written. To change it: with the physics expert, set the model parameter "
            "curve_decoder: neural (model / model_<dataset>); otherwise try other pretraining or "
            f"{plan.params_name}.prior.n_nodes; {plan.params_name}.on_collapse: warn keeps such a fit and flags it "
            "in the reports."
        )
    support = outcome_support(plan.model, train, plan.min_outcome_count,
                              initial_clusters=result["initialisation"].get("n_clusters"))
    for warning in support["warnings"]:
        logger.warning("causalPIMA fit: %s", warning)
    gap = elbo_gap(plan.model, train, val)
    for warning in gap["warnings"]:
        logger.warning("causalPIMA fit: %s", warning)
    diagnostics["warnings"] = [*diagnostics["warnings"], *support.pop("warnings"), *gap.pop("warnings")]
    diagnostics["outcome_support"] = support
    diagnostics["elbo_gap"] = gap
    history = _epoch_first(pd.DataFrame(result["history"]))
    dag = learned_dag_record(plan.model, result["structure"], result["initialisation"], plan.config.structure.edge_threshold)
    dag["diagnostics"] = diagnostics
    return FitOutcome(plan.model, dag, history)
