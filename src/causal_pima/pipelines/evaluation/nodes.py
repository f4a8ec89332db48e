"""Nodes of the ``evaluation`` pipeline: every metric of the fit on the test split, and its figures.

Ground truth (labels, true DAG) is used here and only here: for evaluation, never for selection.
The report is assembled by :mod:`causal_pima.evaluation.report` from the model read-outs of
:mod:`causal_pima.core.readout`; the figures are :mod:`causal_pima.plots`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from causal_pima.core.batching import specimen_data
from causal_pima.core.causal_fit import compute_settings
from causal_pima.core.compute import on_device
from causal_pima.core.model import CausalPIMA
from causal_pima.core.model_config import IMAGE
from causal_pima.core.outcomes import node_name
from causal_pima.core.prediction import cross_modal_errors, sample_interventional_latents
from causal_pima.core.readout import (
    cross_modal_curves,
    cross_modal_predictor,
    has_cross_modal,
    model_metrics,
)
from causal_pima.data.scm import validated_true_dag
from causal_pima.datasets.grouped_metrics_dataset import metric_name_part
from causal_pima.evaluation.report import (
    UNMATCHED_FEATURE_CONVENTION,
    cross_modal_summary,
    discovery_metrics,
    evaluation_report,
    scalar_metrics,
    split_node_marginals,
    true_labels,
    truth_for_evaluation,
)
from causal_pima.model_input import baseline_curve, specimen_tensors
from causal_pima.plots import (
    cross_modal_figure,
    dag_comparison_figure,
    do_grid_figure,
    do_row_labels,
    latent_projection_figure,
    node_marginals_figure,
)

logger = logging.getLogger(__name__)

__all__ = [
    "UNMATCHED_FEATURE_CONVENTION",
    "cross_modal_report",
    "evaluate_fit",
    "plot_cross_modal",
    "plot_dag_comparison",
    "plot_do_grid",
    "plot_latent_projection",
    "plot_node_marginals",
    "validate_true_dag",
]


def true_dag_source(dataset: str) -> str:
    """How messages name a data set's ground-truth DAG file (its catalog entry)."""
    return f"'{dataset}.true_dag' (the file of that catalog entry, e.g. data/01_raw/{dataset}/true_dag.json)"


def validate_true_dag(true_dag: Mapping[str, Any], dataset: str = "circles") -> None:
    """Check the ground-truth DAG file before any training (the first node of the data set's path).

    Accepts the full record (``features``, ``edges``, ``scm`` tables) or a graph only
    (``{"features": [...], "edges": [[parent, child], ...]}``); raises ``ValueError`` naming the
    catalog entry and the problem (unknown feature, cycle, malformed edge...).
    """
    features, edges, scm = validated_true_dag(true_dag, true_dag_source(dataset))
    logger.info(
        "ground-truth DAG %s.true_dag: %d features, %d edges, %s",
        dataset, len(features), len(edges),
        "with probability tables" if scm is not None else "graph only (interventional TV estimated from the test labels)",
    )


def cross_modal_report(
    fitted_model: CausalPIMA, test_set: Mapping[str, np.ndarray], compute_params: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], np.ndarray]:
    """Predict each test curve from its image alone (curve masked out of the fusion), on the
    ``compute.device`` (the CPU without ``compute_params``).

    Returns the report (RMSE against the true curve, in physical and standardised units, next to the
    baseline that predicts the training mean curve; ``available: false`` without both modalities)
    and the predicted standardised curves ``[N, L]`` (empty when not available) for the figure.
    """
    if not has_cross_modal(fitted_model):
        return {"available": False, "modalities": list(fitted_model.modalities)}, np.zeros((0, 0))
    with on_device(fitted_model, compute_settings(compute_params, None)[0]):
        predicted = cross_modal_curves(fitted_model, specimen_tensors(test_set, fitted_model.modalities))
    report, _, _ = cross_modal_summary(predicted, test_set, cross_modal_predictor(fitted_model))
    return report, predicted


def cross_modal_pairs(
    fitted_model: CausalPIMA, test_set: Mapping[str, np.ndarray], compute_params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Each modality of the test split predicted from each other one alone (``core.prediction.cross_modal_errors``:
    RMSE on the model's scale next to predicting the mean), on the ``compute.device``."""
    with on_device(fitted_model, compute_settings(compute_params, None)[0]):
        pairs = cross_modal_errors(fitted_model, specimen_tensors(test_set, fitted_model.modalities))
    return {"modalities": list(fitted_model.modalities), "pairs": pairs}


def plot_cross_modal(
    cross_modal: Mapping[str, Any], cross_modal_curves: np.ndarray, test_set: Mapping[str, np.ndarray], n_plot: int = 6
) -> Figure:
    """Predicted vs true curves of the first ``n_plot`` test specimens (physical units)."""
    if not cross_modal.get("available"):
        return cross_modal_figure(cross_modal, np.zeros(0), np.zeros((0, 0)), np.zeros((0, 0)), np.zeros(0), [], n_plot)
    _, truth, predicted = cross_modal_summary(cross_modal_curves, test_set, str(cross_modal["predictor"]))
    mean = baseline_curve(test_set)
    return cross_modal_figure(cross_modal, test_set["grid"], truth, predicted, mean, test_set["specimen_id"], n_plot)


@torch.no_grad()
def evaluate_fit(
    fitted_model: CausalPIMA,
    learned_dag: Mapping[str, Any],
    posteriors: pd.DataFrame,
    test_set: Mapping[str, np.ndarray],
    true_dag: Mapping[str, Any],
    cross_modal: Mapping[str, Any] | None = None,
    compute_params: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """All metrics on the test split (README "What the reports hold"); returns the report and MLflow metrics.

    The report (``<dataset>.dag_metrics``) holds every metric, not only the graph's: see
    :mod:`causal_pima.evaluation.report`. Its ``warnings`` hold the node-count mismatch and the fit's
    own diagnostics (collapse, physics expert worse than the mean curve) so that no failure hides
    behind a headline number. The model's read-outs run on ``compute.device`` (the CPU without
    ``compute_params``).
    """
    def labels_for(features):
        if "label_names" not in test_set or not len(test_set["label_names"]):
            return None
        names = [str(n) for n in test_set["label_names"]]
        return test_set["labels"][:, [names.index(f) for f in features]] if set(features) <= set(names) else None

    # a graph-only truth file: tables estimated from the test labels (interventional_tv_source says which)
    true_scm, tv_source = truth_for_evaluation(true_dag, labels_for, "true_dag")
    marginals, outcome = split_node_marginals(posteriors, len(learned_dag["node_names"]))
    discovery = discovery_metrics(marginals, outcome, learned_dag, true_labels(test_set, true_scm), true_scm, tv_source)
    with on_device(fitted_model, compute_settings(compute_params, None)[0]):
        model = model_metrics(fitted_model, specimen_data(test_set, fitted_model.modalities))
    metrics = evaluation_report(discovery, model, learned_dag, cross_modal)
    mlflow_metrics = {f"eval.{k}": {"step": 0, "value": v} for k, v in scalar_metrics(metrics).items()}
    for source, target, strength in metrics.get("learned_edges") or []:  # in feature terms: <dataset>/eval/edge/radius_to_hue
        mlflow_metrics[f"eval.edge.{metric_name_part(source)}_to_{metric_name_part(target)}"] = {"step": 0, "value": float(strength)}
    return metrics, mlflow_metrics


@torch.no_grad()
def plot_latent_projection(fitted_model: CausalPIMA, test_set: Mapping[str, np.ndarray], dag_metrics: Mapping[str, Any]) -> Figure:
    """Test posterior means in 2-D, coloured by most likely outcome, named by the matched features' values."""
    post = fitted_model.posterior(specimen_tensors(test_set, fitted_model.modalities))
    return latent_projection_figure(
        post["mu"].numpy(), post["gamma"].argmax(1).numpy(), fitted_model.prior.means.numpy(),
        fitted_model.config.n_nodes, matching=dag_metrics.get("matching"),
    )


def plot_dag_comparison(dag_metrics: Mapping[str, Any], true_dag: Mapping[str, Any]) -> Figure:
    """Learned (mapped to feature names) and true DAG side by side; undetermined edges dashed."""
    if true_dag.get("scm") is None:  # a graph-only truth: the figure reads the graph of an SCM record
        features, edges, _ = validated_true_dag(true_dag, "true_dag")
        placeholder = {f: {"parents": [p for p, c in edges if c == f], "p_one": [0.5] * 2 ** sum(c == f for _, c in edges)} for f in features}
        true_dag = {"features": list(features), "edges": [list(e) for e in edges], "scm": placeholder}
    return dag_comparison_figure(dag_metrics, true_dag)


def plot_node_marginals(posteriors: pd.DataFrame, test_set: Mapping[str, np.ndarray], dag_metrics: Mapping[str, Any]) -> Figure:
    """Histograms of q(N_j = 1 | x) on the test split, split by the value of the matched true feature."""
    return node_marginals_figure(posteriors, test_set, dag_metrics)


@torch.no_grad()
def plot_do_grid(fitted_model: CausalPIMA, dag_metrics: Mapping[str, Any], n_samples: int = 6, seed: int = 0) -> Figure:
    """Images (or curves) decoded from the interventional prior for each node and value."""
    generator = torch.Generator().manual_seed(seed)
    image = IMAGE in fitted_model.modalities
    samples, labels = [], []
    for j in range(fitted_model.config.n_nodes):
        info = dag_metrics.get("matching", {}).get(node_name(j))
        labels.append(do_row_labels(node_name(j), info))
        decoded = []
        for v in (0, 1):
            z = sample_interventional_latents(fitted_model, j, v, n_samples, generator)
            decoded.append(fitted_model.decode(z)[IMAGE if image else "curve"].numpy())
        samples.append(decoded)
    grayscale = image and fitted_model.config.image_shape[0] == 1
    return do_grid_figure(samples, labels, image, grayscale)
