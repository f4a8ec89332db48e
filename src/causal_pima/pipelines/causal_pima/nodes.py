"""Nodes of the ``causal_pima`` pipeline: fitting, DAG read-out, posteriors and figures."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from causal_pima.core.callbacks import KeepLastCheckpoint, ProgressBar
from causal_pima.core.dag import edges_above_threshold, tables_from_logits
from causal_pima.core.diagnostics import fit_diagnostics
from causal_pima.core.model import CausalPIMA, ModelConfig
from causal_pima.core.training import FitConfig, as_batches, fit
from causal_pima.datasets import TorchCheckpointDataset
from causal_pima.evaluation.graphs import equivalence_class_record
from causal_pima.model_input import specimen_tensors
from causal_pima.pipelines.causal_pima.resume import check_resume, fit_fingerprint
from causal_pima.pipelines.pretraining.nodes import metrics_history
from causal_pima.plots import (
    dag_figure,
    latent_projection_figure,
    reconstruction_figure,
    training_history_figure,
)

logger = logging.getLogger(__name__)

PRIOR_KEYS = ("n_nodes", "mean_structure", "mixture_weights", "conditionals", "variance_floor", "init_temperature")


def node_names(n_nodes: int) -> list[str]:
    return [f"N{j}" for j in range(n_nodes)]


def model_from_pretrained(pretrained_model: Mapping[str, Any], prior_params: Mapping[str, Any]) -> CausalPIMA:
    """A causalPIMA model with the pretrained networks and a fresh prior/DAG from ``prior_params``."""
    unknown = sorted(set(prior_params) - set(PRIOR_KEYS))
    if unknown:
        raise ValueError(f"unknown causal_pima.prior parameter(s) {unknown}; known: {list(PRIOR_KEYS)}")
    config = ModelConfig.from_dict({**pretrained_model["config"], **prior_params})
    model = CausalPIMA(config)
    networks = {k: v for k, v in pretrained_model["state_dict"].items() if k.startswith(("encoders.", "decoders.", "log_noise."))}
    missing = [k for k in model.state_dict() if k.startswith(("encoders.", "decoders.", "log_noise.")) and k not in networks]
    if missing:
        raise ValueError(f"pretrained model lacks network weights {missing[:5]}: was it pretrained with other model parameters?")
    model.load_state_dict(networks, strict=False)
    return model


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


class FitCollapsedError(RuntimeError):
    """The fitted mixture collapsed or its physics expert is worse than the mean curve (see core.diagnostics)."""


def resolve_n_nodes(prior_params: Mapping[str, Any], train_set: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The prior parameters with ``n_nodes`` filled in: an explicit value wins; ``null`` takes the number
    of label columns of the data set (one binary node per labelled feature; only the count is read).

    Raises:
        ValueError: ``n_nodes`` is null and the data set has no label columns.
    """
    prior_params = dict(prior_params)
    if prior_params.get("n_nodes") is not None:
        return prior_params
    label_names = train_set.get("label_names")
    if label_names is None or len(label_names) == 0:
        raise ValueError(
            "causal_pima.prior.n_nodes is null and the data set has no label columns to count: "
            "set causal_pima.prior.n_nodes (the number of binary features to discover) in the parameters"
        )
    prior_params["n_nodes"] = int(len(label_names))
    logger.info("n_nodes = %d, one node per labelled feature %s", prior_params["n_nodes"], [str(n) for n in label_names])
    return prior_params


def learned_dag_record(model: CausalPIMA, structure, initialisation: Mapping[str, Any], edge_threshold: float) -> dict[str, Any]:
    """JSON record of the learned DAG (node scores, adjacency, edges with strengths, tables).

    For free mixture weights (the PIMA baseline, ``structure`` None) there is no DAG: the record
    holds the weights and no edges or tables.
    """
    names = node_names(model.config.n_nodes)
    if structure is None:
        return {
            "node_names": names,
            "mixture_weights": "free",
            "log_weights": model.log_weights().tolist(),
            "edges": [],
            "conditional_probability_tables": None,
            "initialisation": dict(initialisation),
        }
    effects = model.dag.parent_effects().detach().double()
    tables = tables_from_logits(model.dag.outcome_logits().detach().double(), edge_threshold)
    edges = [
        {"from": names[i], "to": names[j], "strength": strength}
        for i, j, strength in edges_above_threshold(effects, edge_threshold)
    ]
    candidates = structure.candidates.copy()
    candidates["order"] = candidates["order"].map(lambda o: [names[i] for i in o])
    chosen = np.zeros((len(names), len(names)), dtype=int)
    for edge in edges:
        chosen[names.index(edge["from"]), names.index(edge["to"])] = 1
    return {
        "node_names": names,
        "mixture_weights": "dag",
        "order": [names[i] for i in structure.order],
        "node_scores": model.dag.node_scores.detach().tolist(),
        "temperature": float(model.dag.temperature),
        "edge_threshold": float(edge_threshold),
        "conditionals": model.dag.conditionals,
        # parent_effects[i][j]: the strongest change of node j's logit when node i flips 0 -> 1
        # (equal to the adjacency A_ij for logistic conditionals)
        "adjacency": effects.tolist(),
        "biases": model.dag.biases.detach().tolist(),
        "edges": edges,
        # which arrows observational data determines and which it leaves open (the CPDAG)
        "equivalence_class": equivalence_class_record(chosen, names),
        # same layout as the circles SCM configuration: p_one[c], c = sum_p value(parents[p]) * 2**p
        "conditional_probability_tables": {
            names[j]: {"parents": [names[i] for i in parents], "p_one": table.tolist()} for j, (parents, table) in tables.items()
        },
        "structure_search": {
            "val_score": float(structure.val_score),
            "candidates": candidates.to_dict(orient="records"),
            # share of the order-averaged search score on DAGs holding edge i -> j (tables only)
            "edge_confidence": None if structure.edge_confidence is None else structure.edge_confidence.tolist(),
        },
        "initialisation": dict(initialisation),
    }


def fit_causal_pima(
    pretrained_model: Mapping[str, Any],
    train_set: Mapping[str, np.ndarray],
    val_set: Mapping[str, np.ndarray],
    params: Mapping[str, Any],
    checkpoint: TorchCheckpointDataset | str | None = None,
    params_name: str = "causal_pima",
) -> tuple[dict[str, Any], dict[str, Any], pd.DataFrame, dict]:
    """Fit causalPIMA (DESIGN.md section 3, training steps 2-4).

    Every completed epoch is checkpointed to ``checkpoint`` (the catalog's ``<dataset>.fit_checkpoint``
    location, or a file path; atomic writes) together with a fingerprint of the data, the pretrained
    model and the parameters (:mod:`.resume`). With ``params.resume: true`` an interrupted fit
    continues after its last epoch if the fingerprint matches (or differs only in a harmless key such
    as ``epochs``); otherwise it stops with a message naming the checkpoint and what changed
    (``params_name`` is the parameter key the message uses). A divergence stops with an error naming
    the epoch and the loss term, leaving that checkpoint.

    Returns the fitted model checkpoint, the learned DAG record, the history and MLflow metrics.
    """
    params = dict(params)
    prior_params = resolve_n_nodes(params.pop("prior", {}), train_set)
    resume_requested = bool(params.pop("resume", False))
    collapse_weight = float(params.pop("collapse_weight", 0.99))
    on_collapse = str(params.pop("on_collapse", "raise"))
    if on_collapse not in ("raise", "warn"):
        raise ValueError(f"causal_pima.on_collapse must be 'raise' or 'warn', got {on_collapse!r}")
    fit_config = FitConfig.from_dict(params)
    torch.manual_seed(fit_config.seed)
    model = model_from_pretrained(pretrained_model, prior_params)
    train = specimen_tensors(train_set, model.modalities)
    val = specimen_tensors(val_set, model.modalities)

    store = TorchCheckpointDataset(filepath=str(checkpoint)) if isinstance(checkpoint, str | Path) else checkpoint
    fingerprint = None
    if store is not None:
        # the effective parameters: defaults filled in, n_nodes resolved, every prior setting of the model
        effective = {**asdict(fit_config), "prior": {k: getattr(model.config, k) for k in PRIOR_KEYS}}
        fingerprint = fit_fingerprint(train_set, val_set, pretrained_model, effective)
    resume = _resume_state(store, fingerprint, model, params_name, fit_config.epochs) if resume_requested else None

    def save(state: dict) -> None:
        store.save({**state, "fingerprint": fingerprint})

    callbacks = [ProgressBar(fit_config.epochs, "causalPIMA fit"), KeepLastCheckpoint(save if store is not None else None)]
    result = fit(model, train, val, fit_config, callbacks, resume=resume)
    diagnostics = fit_diagnostics(model, val, collapse_weight)
    for warning in diagnostics["warnings"]:
        logger.warning("causalPIMA fit: %s", warning)
    if diagnostics["warnings"] and on_collapse == "raise":
        raise FitCollapsedError(
            "; ".join(diagnostics["warnings"])
            + ". Nothing was written. To change it: with the physics expert, set the model parameter "
            "curve_decoder: neural (model / model_<dataset>); otherwise try other pretraining or "
            "causal_pima.prior.n_nodes; causal_pima.on_collapse: warn keeps such a fit and flags it in the reports."
        )

    history = pd.DataFrame(result["history"])
    if len(history):
        history = history[["epoch", *[c for c in history.columns if c != "epoch"]]]
    dag = learned_dag_record(model, result["structure"], result["initialisation"], fit_config.structure.edge_threshold)
    dag["diagnostics"] = diagnostics
    return model.checkpoint(), dag, history, metrics_history(history, "fit") if len(history) else {}


@torch.no_grad()
def compute_posteriors(fitted_model: Mapping[str, Any], train_set, val_set, test_set) -> pd.DataFrame:
    """Per-specimen responsibilities gamma_k, node marginals q(N_j = 1 | x) and the most likely outcome."""
    model = CausalPIMA.from_checkpoint(fitted_model)
    frames = []
    for split, data in (("train", train_set), ("val", val_set), ("test", test_set)):
        parts = [model.posterior(b) for b in as_batches(specimen_tensors(data, model.modalities), 512, None)]
        gamma = torch.cat([p["gamma"] for p in parts]).numpy()
        marginals = torch.cat([p["node_marginals"] for p in parts]).numpy()
        frame = pd.DataFrame({"specimen_id": data["specimen_id"].astype(str), "split": split, "outcome": gamma.argmax(1)})
        frame = frame.join(pd.DataFrame(gamma, columns=[f"gamma_{k}" for k in range(gamma.shape[1])]))
        frame = frame.join(pd.DataFrame(marginals, columns=[f"q_{n}" for n in node_names(marginals.shape[1])]))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def plot_fit_history(history: pd.DataFrame) -> Figure:
    return training_history_figure(history, "causalPIMA fit")


@torch.no_grad()
def plot_latent_projection(fitted_model: Mapping[str, Any], test_set: Mapping[str, np.ndarray]) -> Figure:
    model = CausalPIMA.from_checkpoint(fitted_model)
    post = model.posterior(specimen_tensors(test_set, model.modalities))
    return latent_projection_figure(post["mu"].numpy(), post["gamma"].argmax(1).numpy(), model.prior.means.numpy(), model.config.n_nodes)


def plot_learned_dag(learned_dag: Mapping[str, Any]) -> Figure:
    """The learned DAG; arrows the data cannot orient (undirected in its CPDAG) are dashed."""
    edges = [(e["from"], e["to"], e["strength"]) for e in learned_dag["edges"]]
    undetermined = (learned_dag.get("equivalence_class") or {}).get("undetermined_edges", [])
    return dag_figure(
        edges, learned_dag["node_names"], "Learned DAG (edge strength = largest logit change)", undetermined=undetermined
    )


@torch.no_grad()
def plot_reconstructions(fitted_model: Mapping[str, Any], test_set: Mapping[str, np.ndarray], n: int = 8) -> Figure:
    model = CausalPIMA.from_checkpoint(fitted_model)
    batch = specimen_tensors({k: v[:n] for k, v in test_set.items() if k in ("images", "curves")}, model.modalities)
    mu, _ = model.encode(batch)
    recon = model.decode(mu)
    return reconstruction_figure({k: v.numpy() for k, v in batch.items()}, {k: v.numpy() for k, v in recon.items()}, test_set.get("grid"), n=min(n, len(mu)))




def physics_parameters(fitted_model: Mapping[str, Any]) -> pd.DataFrame:
    """Learned physical parameters of every outcome's curve law (one row per joint outcome)."""
    model = CausalPIMA.from_checkpoint(fitted_model)
    if model.physics is None:
        raise ValueError("the fitted model has no physics curve expert (model parameter curve_decoder: physics)")
    names = node_names(model.config.n_nodes)
    table = pd.DataFrame(model.outcomes.long().numpy(), columns=names)
    table.insert(0, "outcome", np.arange(len(table)))
    table["mixture_weight"] = model.log_weights().exp().detach().numpy()
    for name, values in model.physics.physical_parameters().items():
        table[name] = values.detach().numpy()
    table["noise_scale"] = float(model.physics.noise_scale())
    table.attrs["law"] = model.physics.law.name
    return table


@torch.no_grad()
def plot_physics_curves(fitted_model: Mapping[str, Any], train_set: Mapping[str, np.ndarray], posteriors: pd.DataFrame) -> Figure:
    """Each outcome's fitted law over the training curves assigned to it (physical units)."""
    import matplotlib.pyplot as plt

    model = CausalPIMA.from_checkpoint(fitted_model)
    if model.physics is None:
        raise ValueError("the fitted model has no physics curve expert (model parameter curve_decoder: physics)")
    grid = train_set["grid"]
    curves = train_set["curves"] * train_set["curve_std"] + train_set["curve_mean"]
    outcome = posteriors.loc[posteriors["split"] == "train", "outcome"].to_numpy()
    laws = model.physics.predict().numpy()
    k = laws.shape[0]
    cols = min(4, k)
    rows = int(np.ceil(k / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False, sharex=True)
    names = node_names(model.config.n_nodes)
    for index, ax in enumerate(axes.ravel()):
        if index >= k:
            ax.axis("off")
            continue
        members = curves[outcome == index]
        if len(members):
            ax.plot(grid, members[:40].T, color="0.6", linewidth=0.5, alpha=0.6)
        ax.plot(grid, laws[index], color="tab:red", linewidth=1.5)
        bits = ",".join(f"{n}={b}" for n, b in zip(names, model.outcomes[index].long().tolist(), strict=True))
        ax.set_title(f"{bits} (n={len(members)})", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.suptitle(f"Physics expert ({model.physics.law.name}) per outcome: law (red) over assigned training curves", fontsize=9)
    fig.tight_layout()
    return fig
