"""The evaluation report: every metric of a fit on the test split, assembled from plain records.

Ground truth (labels, true DAG) is used here and only here: for evaluation, never for selection.
Inputs are the learned-DAG record, the posterior table, the model read-outs of
:mod:`causal_pima.core.readout` and the true DAG record; no Kedro, MLflow, torch or file I/O.

The report (the catalog's ``<dataset>.dag_metrics``, ``data/08_reporting/<dataset>/dag_metrics.json``)
holds every metric of the fit, not only the graph's: graph recovery (:func:`graph_metrics`), node and
cluster recovery (:func:`discovery_metrics`), the held-out ELBO and reconstruction error
(``core.readout.model_metrics``), the cross-modal prediction summary and the fit diagnostics
(:func:`evaluation_report`). README "What the reports hold" lists the keys.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from causal_pima.core.outcomes import node_name, node_names, outcome_index
from causal_pima.data.scm import BinarySCM, scm_from_labels, validated_true_dag
from causal_pima.evaluation.clustering import (
    UNMATCHED_FEATURE_ACCURACY,
    clustering_scores,
    node_accuracy,
)
from causal_pima.evaluation.graphs import (
    cpdag_shd,
    edge_scores,
    equivalence_class_record,
    shd,
    shd_decomposition,
)
from causal_pima.evaluation.interventions import interventional_tv
from causal_pima.evaluation.matching import (
    UNMATCHED_FEATURE_P_ONE,
    map_learned_graph,
    match_nodes,
    signed_edges,
)
from causal_pima.model_input import baseline_curve, physical_curves

logger = logging.getLogger(__name__)

UNMATCHED_FEATURE_CONVENTION = (
    "Every headline metric covers all true features. A true feature that no learned node is matched "
    f"to counts at chance: node accuracy {UNMATCHED_FEATURE_ACCURACY}; in the learned graph it is an "
    f"independent fair coin (P = {UNMATCHED_FEATURE_P_ONE}, no edges), so its true edges count as "
    "missing in SHD, CPDAG SHD and recall, and the interventional TV includes it."
)


def learned_tables(learned_dag: Mapping[str, Any]) -> tuple[dict[int, list[int]], dict[int, np.ndarray]]:
    """Parents and tables of the learned DAG record, indexed by node number."""
    index = {name: j for j, name in enumerate(learned_dag["node_names"])}
    parents, tables = {}, {}
    for name, cpt in learned_dag["conditional_probability_tables"].items():
        parents[index[name]] = [index[p] for p in cpt["parents"]]
        tables[index[name]] = np.asarray(cpt["p_one"], dtype=float)
    return parents, tables


def split_node_marginals(posteriors: pd.DataFrame, n_nodes: int, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """Node marginals ``[N, d]`` and most likely outcomes ``[N]`` of one split of a posterior table."""
    rows = posteriors[posteriors["split"] == split]
    return rows[[f"q_{name}" for name in node_names(n_nodes)]].to_numpy(), rows["outcome"].to_numpy()


# where the true interventional distributions of ``interventional_tv`` come from (the report's
# ``interventional_tv_source``): the ground-truth file's tables, tables estimated from the test labels
# on the true graph (a graph-only file), or none (``interventional_tv`` is null)
TV_SOURCES = ("tables", "estimated_from_labels", "unavailable")


def truth_for_evaluation(
    true_dag: Mapping[str, Any], labels_for: Any = None, source: str = "true_dag"
) -> tuple[BinarySCM, str]:
    """The true SCM of a ground-truth DAG record and where its tables come from (:data:`TV_SOURCES`).

    A record with ``scm`` tables is used as it is (``"tables"``, the circles and lattice stand-ins).
    A graph-only record (``{"features": [...], "edges": [[parent, child], ...]}``) gets tables
    estimated from labels (``"estimated_from_labels"``) when ``labels_for`` (a function of the feature
    names returning ``[N, m]`` 0/1 labels, or None) gives them, else fair-coin placeholder tables whose
    interventional TV is not reported (``"unavailable"``). The graph metrics use the graph only.
    """
    features, edges, scm = validated_true_dag(true_dag, source)
    if scm is not None:
        return scm, "tables"
    labels = labels_for(features) if labels_for is not None else None
    if labels is not None and len(labels):
        return scm_from_labels(features, edges, labels), "estimated_from_labels"
    return scm_from_labels(features, edges, np.zeros((0, len(features)))), "unavailable"


def graph_metrics(learned_dag: Mapping[str, Any], matching, true_scm: BinarySCM, tv_source: str = "tables") -> dict[str, Any]:
    """SHD (and its split), CPDAG SHD, precision/recall/F1, interventional TV and the Markov
    equivalence classes of the learned graph mapped to feature space (over all true features:
    :func:`~causal_pima.evaluation.map_learned_graph` makes an unmatched feature a fair coin).

    ``tv_source`` (:data:`TV_SOURCES`) is stored as ``interventional_tv_source``; with
    ``"unavailable"`` the interventional TV is null (the true tables are unknown)."""
    if tv_source not in TV_SOURCES:
        raise ValueError(f"tv_source must be one of {TV_SOURCES}, got {tv_source!r}")
    names = list(true_scm.features)
    parents, tables = learned_tables(learned_dag)
    learned_scm = map_learned_graph(parents, tables, matching, names)
    pred_adj = learned_scm.adjacency()  # same feature order as the truth
    true_adj = true_scm.adjacency()
    strengths = signed_edges(np.asarray(learned_dag["adjacency"]), matching)
    learned_edges = [[names[i], names[j], float(strengths[i, j])] for i, j in zip(*np.nonzero(pred_adj), strict=True)]
    tv = interventional_tv(learned_scm, true_scm) if tv_source != "unavailable" else None
    return {
        "shd": int(shd(true_adj, pred_adj)),
        "cpdag_shd": int(cpdag_shd(true_adj, pred_adj)),
        **shd_decomposition(true_adj, pred_adj),
        **{k: float(v) for k, v in edge_scores(true_adj, pred_adj).items()},
        "interventional_tv": float(tv["mean"]) if tv is not None else None,
        "interventional_tv_per_intervention": {k: float(v) for k, v in tv["per_intervention"].items()} if tv is not None else {},
        "interventional_tv_source": tv_source,
        "learned_edges": learned_edges,
        "true_edges": [list(e) for e in true_scm.edges()],
        "learned_equivalence_class": equivalence_class_record(pred_adj, names),
        "true_equivalence_class": equivalence_class_record(true_adj, names),
        "learned_tables": learned_scm.to_config(),
    }


def true_labels(test_set: Mapping[str, np.ndarray], true_scm: BinarySCM) -> np.ndarray:
    """``[N, m]`` true feature values of the test specimens, columns in the SCM's feature order."""
    names = list(true_scm.features)
    label_names = [str(n) for n in test_set["label_names"]]
    missing = [f for f in names if f not in label_names]
    if missing:
        raise ValueError(f"test set has no labels for true features {missing} (labels: {label_names})")
    return test_set["labels"][:, [label_names.index(f) for f in names]]


def discovery_metrics(
    node_marginals: np.ndarray,
    outcome: np.ndarray,
    learned_dag: Mapping[str, Any],
    labels: np.ndarray,
    true_scm: BinarySCM,
    tv_source: str = "tables",
) -> dict[str, Any]:
    """Feature, cluster and graph recovery from test-split node marginals ``[N, d]`` and outcomes ``[N]``.

    Every headline metric is over all ``m`` true features (``labels`` is ``[N, m]``); see
    :data:`UNMATCHED_FEATURE_CONVENTION`, stored in the report as ``unmatched_feature_convention``.
    When ``d != m`` the report's ``warnings`` say so and a WARNING is logged. ``tv_source``: see
    :func:`graph_metrics`.
    """
    names = list(true_scm.features)
    matching = match_nodes(node_marginals, labels)
    accuracy = node_accuracy(node_marginals, labels, matching, feature_names=names)
    has_dag = learned_dag.get("conditional_probability_tables") is not None
    graph = graph_metrics(learned_dag, matching, true_scm, tv_source) if has_dag else {"true_edges": [list(e) for e in true_scm.edges()]}
    n_nodes, n_features = int(np.shape(node_marginals)[1]), len(names)
    warnings = []
    if n_nodes < n_features:
        missed = [names[f] for f in matching.unmatched_features]
        warnings.append(
            f"the model has {n_nodes} nodes for {n_features} true features: no node for {missed}, "
            "which count at chance in every headline metric"
        )
    elif n_nodes > n_features:
        extra = [node_name(j) for j in matching.unmatched_nodes]
        warnings.append(
            f"the model has {n_nodes} nodes for {n_features} true features: nodes {extra} match no "
            "feature and are left out of the metrics"
        )
    for warning in warnings:
        logger.warning("evaluation: %s", warning)
    return {
        **graph,
        "node_accuracy": float(accuracy.pop("mean")),
        "node_accuracy_per_feature": {k: float(v) for k, v in accuracy.items()},
        **{k: float(v) for k, v in clustering_scores(outcome, outcome_index(labels)).items()},
        "matching": {
            node_name(j): {"feature": names[f], "flipped": bool(matching.flipped[j])} for j, f in matching.node_to_feature.items()
        },
        "unmatched_nodes": [node_name(j) for j in matching.unmatched_nodes],
        "unmatched_features": [names[f] for f in matching.unmatched_features],
        "n_features": n_features,
        "n_matched_features": len(matching.node_to_feature),
        "n_nodes": n_nodes,
        "unmatched_feature_convention": UNMATCHED_FEATURE_CONVENTION,
        "warnings": warnings,
        "n_test": int(len(labels)),
    }


def scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numeric metrics flattened to one level (for MLflow and the benchmark table)."""
    out = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    for modality, value in metrics.get("reconstruction_error", {}).items():
        out[f"reconstruction_error_{modality}"] = float(value)
    for key, value in metrics.get("cross_modal", {}).items():
        if isinstance(value, float | int) and not isinstance(value, bool):
            out[f"cross_modal_{key}"] = float(value)
    for key, value in metrics.get("node_accuracy_per_feature", {}).items():
        out[f"node_accuracy_{key}"] = float(value)
    gap = metrics.get("fit_diagnostics", {}).get("elbo_gap") or {}  # core.elbo_gap
    for key, name in (("gap", "elbo_gap"), ("effect", "elbo_gap_effect")):
        if isinstance(gap.get(key), float | int):
            out[name] = float(gap[key])
    if "warnings" in metrics:
        out["n_warnings"] = float(len(metrics["warnings"]))
    return out


def metrics_history(history: pd.DataFrame, prefix: str) -> dict[str, list[dict[str, float]]]:
    """Per-epoch metrics in kedro-mlflow's ``MlflowMetricsHistoryDataset`` format."""
    out = {}
    for column in history.columns:
        if column == "epoch":
            continue
        values = history[column].to_numpy(dtype=float)
        if np.isfinite(values).all():
            out[f"{prefix}.{column}"] = [{"step": int(e), "value": float(v)} for e, v in zip(history["epoch"], values, strict=True)]
    return out


def evaluation_report(
    discovery: Mapping[str, Any],
    model: Mapping[str, Any],
    learned_dag: Mapping[str, Any],
    cross_modal: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The full report: discovery metrics, model metrics, the cross-modal summary (when available),
    the node count's choice (``n_nodes: auto``: ``node_count``, with ``n_nodes_right`` 1 or 0 when the
    data have labels) and the fit's own diagnostics, whose warnings join the report's ``warnings``."""
    metrics = {**discovery, **model}
    if cross_modal is not None and cross_modal.get("available"):
        metrics["cross_modal"] = dict(cross_modal)
    node_count = learned_dag.get("node_count")
    if node_count is not None:  # n_nodes: auto chose the node count (core.node_count)
        chosen, n_features = int(node_count["chosen"]), discovery.get("n_features")
        metrics["node_count"] = {"chosen": chosen, "true_features": n_features, "chosen_is_true": chosen == n_features,
                                 "table": node_count.get("table", [])}
        if n_features is not None:
            metrics["n_nodes_right"] = float(chosen == n_features)
    diagnostics = learned_dag.get("diagnostics")
    if diagnostics is not None:  # collapse / physics-expert checks of the fit (core.diagnostics)
        metrics["fit_diagnostics"] = dict(diagnostics)
        metrics["warnings"] = [*metrics.get("warnings", []), *diagnostics.get("warnings", [])]
    return metrics


def cross_modal_summary(
    predicted: np.ndarray, test_set: Mapping[str, np.ndarray], predictor: str
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """RMSE of curves predicted from images against the true test curves, in physical and
    standardised units, next to the baseline that predicts the training mean curve (the mean on the
    model's curve scale, so with ``curve_transform: asinh`` the mean of the asinh curves mapped back).

    The errors are over the test specimens with both an image and a curve (a NaN row: not measured).

    Returns the report and the physical true and predicted curves (for the figure; NaN rows where the
    curve is missing).
    """
    truth = test_set["curves"].astype(np.float64)
    physical_truth, physical_pred = physical_curves(test_set), physical_curves(test_set, predicted)
    mean = baseline_curve(test_set)  # [L]
    both = ~np.isnan(truth).all(axis=1)
    if "images" in test_set:
        both &= ~np.isnan(np.asarray(test_set["images"]).reshape(len(truth), -1)).all(axis=1)
    measured_truth, measured_pred = physical_truth, physical_pred
    if not both.all():  # specimens without an image or a curve are left out of the errors
        truth, predicted = truth[both], predicted[both]
        measured_truth, measured_pred = physical_truth[both], physical_pred[both]

    def rmse(a, b):
        return float(np.sqrt(np.mean((a - b) ** 2)))

    report = {
        "available": True,
        "predictor": predictor,
        "n_test": int(len(truth)),
        "rmse": rmse(measured_pred, measured_truth),
        "baseline_mean_curve_rmse": rmse(np.broadcast_to(mean, truth.shape), measured_truth),
        "rmse_standardised": rmse(predicted, truth),
        "baseline_mean_curve_rmse_standardised": rmse(np.zeros_like(truth), truth),
    }
    report["improvement_over_baseline"] = 1.0 - report["rmse"] / report["baseline_mean_curve_rmse"]
    return report, physical_truth, physical_pred
