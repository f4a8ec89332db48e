"""Nodes of the ``causal_pima`` pipeline: the fit (with its resumable checkpoint), read-outs and figures.

The library lives below: :mod:`causal_pima.core.causal_fit` (building and fitting the model),
:mod:`causal_pima.core.readout` (learned-DAG record, posteriors, physics parameters) and
:mod:`causal_pima.plots` (figures). The nodes after the fit receive the fitted model itself (the
catalog's ``<dataset>.fitted_model`` is a :class:`~causal_pima.datasets.CausalPIMADataset`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from causal_pima.core.batching import specimen_data
from causal_pima.core.causal_fit import FitCollapsedError, compute_settings, plan_fit, run_fit
from causal_pima.core.compute import on_device
from causal_pima.core.modality_spec import array_keys
from causal_pima.core.model import CausalPIMA
from causal_pima.core.outcomes import node_names
from causal_pima.core.readout import physics_parameter_table, posterior_table, require_physics
from causal_pima.datasets import TorchCheckpointDataset
from causal_pima.evaluation.report import metrics_history
from causal_pima.model_input import model_config_from_data, physical_curves, specimen_tensors
from causal_pima.pipelines.causal_pima.resume import check_resume, fit_fingerprint
from causal_pima.plots import (
    dag_figure,
    physics_curves_figure,
    reconstruction_figure,
    training_history_figure,
)

logger = logging.getLogger(__name__)

__all__ = [
    "FitCollapsedError",  # raised by fit_causal_pima (defined in core.causal_fit)
    "compute_posteriors",
    "fit_causal_pima",
    "physics_parameters",
    "plot_fit_history",
    "plot_learned_dag",
    "plot_physics_curves",
    "plot_reconstructions",
]


def _resume_state(
    store: TorchCheckpointDataset | None, fingerprint: dict | None, model: CausalPIMA, params_name: str, epochs: int
) -> dict | None:
    """The checkpoint to resume from (``None``: start afresh), checked against ``fingerprint``."""
    if store is None:
        logger.warning("%s.resume is true but this fit has no checkpoint location: fitting from the start", params_name)
        return None
    path = store._get_load_path()
    if not store.exists():
        logger.info("%s.resume is true but there is no fit checkpoint at %s yet: fitting from the start", params_name, path)
        return None
    state = store.load()
    for change in check_resume(state, fingerprint, str(path), params_name, model.state_dict()):
        logger.warning("resuming despite a change since the checkpoint %s: %s", path, change)
    done = int(state["epoch"])
    if done < epochs:
        logger.info("resuming the fit from the checkpoint %s after epoch %d: training continues with epoch %d of %d",
                    path, done, done + 1, epochs)
    else:
        logger.info("resuming the fit from the checkpoint %s after epoch %d: all %d epochs are done, "
                    "only the final structure search and mixture update run", path, done, epochs)
    return state


def fit_causal_pima(
    pretrained_model: Mapping[str, Any],
    train_set: Mapping[str, np.ndarray],
    val_set: Mapping[str, np.ndarray],
    params: Mapping[str, Any],
    checkpoint: TorchCheckpointDataset | str | None = None,
    model_params: Mapping[str, Any] | None = None,
    compute_params: Mapping[str, Any] | None = None,
    distributed_params: Mapping[str, Any] | None = None,
    params_name: str = "causal_pima",
) -> tuple[dict[str, Any], dict[str, Any], pd.DataFrame, dict]:
    """Fit causalPIMA (README "Pipelines", docs/model.md; :func:`causal_pima.core.causal_fit.run_fit`).

    Every completed epoch is checkpointed to ``checkpoint`` (the catalog's ``<dataset>.fit_checkpoint``
    location, or a file path; atomic writes) together with a fingerprint of the data, the pretrained
    model and the parameters (:mod:`.resume`). With ``params.resume: true`` an interrupted fit
    continues after its last epoch if the fingerprint matches (or differs only in a harmless key such
    as ``epochs``); otherwise it stops with a message naming the checkpoint and what changed
    (``params_name`` is the parameter key the message uses). A divergence stops with an error naming
    the epoch and the loss term, leaving that checkpoint.

    ``pretrained_model`` holds the networks only; ``model_params`` (the ``model`` parameters, with
    the data statistics of ``train_set``) give the physics expert's settings and the prior's defaults
    (without them, the pretrained checkpoint's config does).

    ``compute_params`` / ``distributed_params``: the ``compute`` and ``distributed`` groups (device,
    data-parallel processes; docs/scaling.md; not fingerprinted); without them, one process on the CPU.

    Returns the fitted model's checkpoint (the catalog's ``CausalPIMADataset`` stores it and loads it
    back as a model), the learned DAG record, the history and MLflow metrics.
    """
    model_config = model_config_from_data(train_set, model_params) if model_params is not None else None
    plan = plan_fit(pretrained_model, train_set, params, model_config, params_name)
    store = TorchCheckpointDataset(filepath=str(checkpoint)) if isinstance(checkpoint, str | Path) else checkpoint
    fingerprint = None
    if store is not None:
        fingerprint = fit_fingerprint(train_set, val_set, pretrained_model, plan.effective_parameters())
    resume = _resume_state(store, fingerprint, plan.model, params_name, plan.config.epochs) if plan.resume else None

    def save(state: dict) -> None:
        store.save({**state, "fingerprint": fingerprint})

    compute, parallel = compute_settings(compute_params, distributed_params)
    outcome = run_fit(plan, train_set, val_set, save if store is not None else None, resume, compute, parallel)
    history = outcome.history
    return outcome.model.checkpoint(), outcome.learned_dag, history, metrics_history(history, "fit") if len(history) else {}


def compute_posteriors(fitted_model: CausalPIMA, train_set, val_set, test_set, compute_params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Per-specimen responsibilities gamma_k, node marginals q(N_j = 1 | x) and the most likely outcome,
    read a batch at a time on ``compute.device`` (the CPU without ``compute_params``)."""
    splits = {"train": train_set, "val": val_set, "test": test_set}
    with on_device(fitted_model, compute_settings(compute_params, None)[0]):
        return posterior_table(
            fitted_model, {name: (data["specimen_id"], specimen_data(data, fitted_model.modalities)) for name, data in splits.items()}
        )


def plot_fit_history(history: pd.DataFrame) -> Figure:
    return training_history_figure(history, "causalPIMA fit")


def plot_learned_dag(learned_dag: Mapping[str, Any]) -> Figure:
    """The learned DAG; arrows the data cannot orient (undirected in its CPDAG) are dashed."""
    edges = [(e["from"], e["to"], e["strength"]) for e in learned_dag["edges"]]
    undetermined = (learned_dag.get("equivalence_class") or {}).get("undetermined_edges", [])
    return dag_figure(
        edges, learned_dag["node_names"], "Learned DAG (edge strength = largest logit change)", undetermined=undetermined
    )


@torch.no_grad()
def plot_reconstructions(fitted_model: CausalPIMA, test_set: Mapping[str, np.ndarray], n: int = 8) -> Figure:
    batch = specimen_tensors({k: v[:n] for k, v in test_set.items() if k in array_keys().values()}, fitted_model.modalities)
    mu, _ = fitted_model.encode(batch)
    originals, recon = {k: v.numpy() for k, v in batch.items()}, {k: v.numpy() for k, v in fitted_model.decode(mu).items()}
    # curves in physical units, as the cross-modal figure (issue 23, item 7), when the set carries its scaler
    physical = "curve" in originals and {"curve_mean", "curve_std"} <= set(test_set)
    if physical:
        originals["curve"], recon["curve"] = (physical_curves(test_set, c) for c in (originals["curve"], recon["curve"]))
    return reconstruction_figure(originals, recon, test_set.get("grid"), n=min(n, len(mu)), standardised=not physical)


NO_PHYSICS = "no physics expert (curve_decoder: neural)"


def physics_parameters(fitted_model: CausalPIMA) -> pd.DataFrame:
    """Learned physical parameters of every outcome's curve law (one row per joint outcome).

    A model without the physics curve expert (``curve_decoder: neural``) gives an empty table (header
    ``outcome, note``) and an INFO line instead of an error, so the rest of the path still runs.
    """
    if fitted_model.physics is None:
        logger.info("physics_parameters: %s; the table is empty", NO_PHYSICS)
        return pd.DataFrame(columns=["outcome", "note"])
    return physics_parameter_table(fitted_model)


@torch.no_grad()
def plot_physics_curves(fitted_model: CausalPIMA, train_set: Mapping[str, np.ndarray], posteriors: pd.DataFrame) -> Figure:
    """Each outcome's fitted law over the training curves assigned to it (physical units); a model
    without the physics expert gets a figure saying so."""
    if fitted_model.physics is None:
        fig = Figure(figsize=(6, 2))
        fig.text(0.5, 0.5, f"{NO_PHYSICS}:\nno per-outcome curve laws to show", ha="center", va="center")
        return fig
    require_physics(fitted_model)
    names = node_names(fitted_model.config.n_nodes)
    titles = [",".join(f"{n}={b}" for n, b in zip(names, bits, strict=True)) for bits in fitted_model.outcomes.long().tolist()]
    return physics_curves_figure(
        train_set["grid"],
        physical_curves(train_set),
        posteriors.loc[posteriors["split"] == "train", "outcome"].to_numpy(),
        fitted_model.physics.predict().numpy(),
        titles,
        fitted_model.physics.law.name,
    )
