"""``prior.n_nodes: auto``: one fit node per candidate node count, and the node that chooses among them.

With ``causal_pima.prior.n_nodes: auto`` (or ``--params causal_pima.prior.n_nodes=auto``) the
``causal_pima`` pipeline has, instead of the one fit node, ``count_density_clusters`` (the
density clusters of the pretrained training latents, which bound the candidates worth fitting), a
node ``fit_candidate_d<d>`` for every d
of ``node_count.d_min .. node_count.d_max`` (any runner fans them out: ``--runner ParallelRunner``
fits two at once on two workers), all from the same pretrained model, and ``choose_node_count``,
which scores them on validation data only (:mod:`causal_pima.core.node_count`) and hands the chosen
fit on as ``<dataset>.fitted_model`` (with its learned DAG, history and metrics), so the rest of the
pipeline is the same as with a fixed d. The candidates' range decides the pipeline's nodes, so it is
read when the pipeline is registered (:func:`causal_pima.core.node_count.candidate_node_counts` of the
run's parameters, :mod:`causal_pima.session_parameters`) and passed to ``pipeline.create_pipeline``.

A candidate whose ``2**d`` outcomes cannot each hold ``min_outcome_count`` training specimens on
average, or above ``ceil(log2 clusters) + node_count.cluster_slack``, is not fitted; one that collapses (``on_collapse: raise``) or diverges is not eligible; each
is listed in the selection table with the reason. Candidate fits keep no per-epoch checkpoint
(``resume`` does not apply to them).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from causal_pima.core.batching import specimen_data
from causal_pima.core.causal_fit import compute_settings
from causal_pima.core.model import PoEVAE
from causal_pima.core.node_count import SharedPosteriors, candidate_clusters, choose_candidate
from causal_pima.core.node_count import fit_candidate as fit_scored_candidate
from causal_pima.core.training_config import NodeCountConfig
from causal_pima.evaluation.report import metrics_history
from causal_pima.model_input import model_config_from_data
from causal_pima.plots import node_count_figure

logger = logging.getLogger(__name__)

def fit_candidate(
    pretrained_model: Mapping[str, Any],
    train_set: Mapping[str, np.ndarray],
    val_set: Mapping[str, np.ndarray],
    params: Mapping[str, Any],
    model_params: Mapping[str, Any] | None = None,
    compute_params: Mapping[str, Any] | None = None,
    distributed_params: Mapping[str, Any] | None = None,
    clusters: Mapping[str, Any] | None = None,
    n_nodes: int = 1,
    params_name: str = "causal_pima",
) -> dict[str, Any]:
    """One candidate node count, fitted and scored (:func:`causal_pima.core.node_count.fit_candidate`);
    the arguments as for :func:`~causal_pima.pipelines.causal_pima.nodes.fit_causal_pima`, and
    ``clusters`` (:func:`count_density_clusters`): candidates above its ``max_nodes`` are not fitted.

    Returns ``{"n_nodes", "fitted", "eligible", "note"}`` and, when eligible, the fitted model's
    ``"checkpoint"``, ``"learned_dag"``, ``"history"``, ``"metrics"`` and ``"val_scores"`` ``[M]``.
    """
    model_config = model_config_from_data(train_set, model_params) if model_params is not None else None
    compute, parallel = compute_settings(compute_params, distributed_params)
    candidate = fit_scored_candidate(pretrained_model, train_set, val_set, params, n_nodes, model_config, params_name,
                                     clusters, compute=compute, parallel=parallel)
    model = candidate.pop("model", None)
    if model is not None:
        candidate["checkpoint"] = model.checkpoint()
        history = candidate["history"]
        candidate["metrics"] = metrics_history(history, "fit") if len(history) else {}
    return candidate


def count_density_clusters(pretrained_model: Mapping[str, Any], train_set: Mapping[str, np.ndarray],
                           params: Mapping[str, Any]) -> dict[str, Any]:
    """The density clusters of the pretrained training latents and the largest node count worth fitting
    (:func:`causal_pima.core.node_count.candidate_clusters`)."""
    return candidate_clusters(PoEVAE.from_checkpoint(pretrained_model), train_set, params)


def choose_node_count_fit(
    pretrained_model: Mapping[str, Any],
    train_set: Mapping[str, np.ndarray],
    val_set: Mapping[str, np.ndarray],
    params: Mapping[str, Any],
    *candidates: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], pd.DataFrame, dict, pd.DataFrame]:
    """The chosen candidate's fit (checkpoint, learned DAG, history, metrics) and the selection table.

    The learned DAG record gains ``node_count``: the chosen d, the criterion, the table's rows and
    the warnings (which also join the fit's diagnostics warnings, so the reports show them); the
    metrics gain ``node_count.chosen`` and ``node_count.score_d<d>`` for every scored candidate.
    """
    pretrained = PoEVAE.from_checkpoint(pretrained_model)
    shared = SharedPosteriors.encode(pretrained, specimen_data(train_set, pretrained.modalities), specimen_data(val_set, pretrained.modalities))
    settings = NodeCountConfig.from_params(params)
    tolerance, step_share = float(settings.tolerance), float(settings.step_share)
    choice, chosen = choose_candidate({int(c["n_nodes"]): c for c in candidates}, shared, tolerance, step_share)
    for warning in choice.warnings:
        logger.warning("n_nodes: auto: %s", warning)
    logger.info("n_nodes: auto chose d = %d\n%s", choice.chosen, choice.table.to_string(index=False))
    learned_dag = dict(chosen["learned_dag"])
    learned_dag["node_count"] = {
        "chosen": choice.chosen,
        "criterion": "mean validation prior term in the pretrained latent space (nats per specimen); the largest d "
                     f"whose step over the next smaller candidate exceeds {tolerance:g} paired standard error(s) and "
                     f"{step_share:.0%} of the largest step (docs/model.md 'How many features')",
        "table": choice.table.to_dict(orient="records"),
        "warnings": list(choice.warnings),
    }
    diagnostics = dict(learned_dag.get("diagnostics") or {})
    diagnostics["warnings"] = [*diagnostics.get("warnings", []), *(f"n_nodes: auto: {w}" for w in choice.warnings)]
    learned_dag["diagnostics"] = diagnostics
    metrics = dict(chosen["metrics"])
    metrics["node_count.chosen"] = [{"step": 0, "value": float(choice.chosen)}]
    for row in choice.table.itertuples():
        if np.isfinite(row.score):
            metrics[f"node_count.score_d{row.n_nodes}"] = [{"step": 0, "value": float(row.score)}]
    return chosen["checkpoint"], learned_dag, chosen["history"], metrics, choice.table


def plot_node_count(selection: pd.DataFrame) -> Figure:
    """The criterion against d with its paired standard error, the chosen d marked."""
    return node_count_figure(selection)
