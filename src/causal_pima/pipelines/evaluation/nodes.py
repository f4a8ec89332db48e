"""Nodes of the ``evaluation`` pipeline: every metric of the fit on the test split, and its figures.

Ground truth (labels, true DAG) is used here and only here: for evaluation, never for selection.
The report is assembled by :mod:`causal_pima.evaluation.report` from the model read-outs of
:mod:`causal_pima.core.readout`; the figures are :mod:`causal_pima.plots`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from causal_pima.core.model import IMAGE, CausalPIMA
from causal_pima.core.outcomes import node_name
from causal_pima.core.prediction import sample_interventional_latents
from causal_pima.core.readout import (
    cross_modal_curves,
    cross_modal_predictor,
    has_cross_modal,
    model_metrics,
)
from causal_pima.data.scm import BinarySCM
from causal_pima.evaluation.report import (
    UNMATCHED_FEATURE_CONVENTION,
    cross_modal_summary,
    discovery_metrics,
    evaluation_report,
    scalar_metrics,
    split_node_marginals,
    true_labels,
)
from causal_pima.model_input import specimen_tensors
from causal_pima.plots import (
    cross_modal_figure,
    dag_comparison_figure,
    do_grid_figure,
    node_marginals_figure,
)

__all__ = [
    "UNMATCHED_FEATURE_CONVENTION",
    "cross_modal_report",
    "evaluate_fit",
    "plot_cross_modal",
    "plot_dag_comparison",
    "plot_do_grid",
    "plot_node_marginals",
]


def cross_modal_report(fitted_model: CausalPIMA, test_set: Mapping[str, np.ndarray]) -> tuple[dict[str, Any], np.ndarray]:
    """Predict each test curve from its image alone (curve masked out of the fusion).

    Returns the report (RMSE against the true curve, in physical and standardised units, next to the
    baseline that predicts the training mean curve; ``available: false`` without both modalities)
    and the predicted standardised curves ``[N, L]`` (empty when not available) for the figure.
    """
    if not has_cross_modal(fitted_model):
        return {"available": False, "modalities": list(fitted_model.modalities)}, np.zeros((0, 0))
    predicted = cross_modal_curves(fitted_model, specimen_tensors(test_set, fitted_model.modalities))
    report, _, _ = cross_modal_summary(predicted, test_set, cross_modal_predictor(fitted_model))
    return report, predicted


def plot_cross_modal(
    cross_modal: Mapping[str, Any], cross_modal_curves: np.ndarray, test_set: Mapping[str, np.ndarray], n_plot: int = 6
) -> Figure:
    """Predicted vs true curves of the first ``n_plot`` test specimens (physical units)."""
    if not cross_modal.get("available"):
        return cross_modal_figure(cross_modal, np.zeros(0), np.zeros((0, 0)), np.zeros((0, 0)), np.zeros(0), [], n_plot)
    _, truth, predicted = cross_modal_summary(cross_modal_curves, test_set, str(cross_modal["predictor"]))
    mean = test_set["curve_mean"].astype(np.float64)
    return cross_modal_figure(cross_modal, test_set["grid"], truth, predicted, mean, test_set["specimen_id"], n_plot)


@torch.no_grad()
def evaluate_fit(
    fitted_model: CausalPIMA,
    learned_dag: Mapping[str, Any],
    posteriors: pd.DataFrame,
    test_set: Mapping[str, np.ndarray],
    true_dag: Mapping[str, Any],
    cross_modal: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """All metrics on the test split (README "What the reports hold"); returns the report and MLflow metrics.

    The report (``<dataset>.dag_metrics``) holds every metric, not only the graph's: see
    :mod:`causal_pima.evaluation.report`. Its ``warnings`` hold the node-count mismatch and the fit's
    own diagnostics (collapse, physics expert worse than the mean curve) so that no failure hides
    behind a headline number.
    """
    true_scm = BinarySCM.from_config(true_dag["scm"])
    marginals, outcome = split_node_marginals(posteriors, len(learned_dag["node_names"]))
    discovery = discovery_metrics(marginals, outcome, learned_dag, true_labels(test_set, true_scm), true_scm)
    model = model_metrics(fitted_model, specimen_tensors(test_set, fitted_model.modalities))
    metrics = evaluation_report(discovery, model, learned_dag, cross_modal)
    mlflow_metrics = {f"eval.{k}": {"step": 0, "value": v} for k, v in scalar_metrics(metrics).items()}
    return metrics, mlflow_metrics


def plot_dag_comparison(dag_metrics: Mapping[str, Any], true_dag: Mapping[str, Any]) -> Figure:
    """Learned (mapped to feature names) and true DAG side by side; undetermined edges dashed."""
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
        labels.append(node_name(j) + (f" ({info['feature']}{', flipped' if info['flipped'] else ''})" if info else ""))
        decoded = []
        for v in (0, 1):
            z = sample_interventional_latents(fitted_model, j, v, n_samples, generator)
            decoded.append(fitted_model.decode(z)[IMAGE if image else "curve"].numpy())
        samples.append(decoded)
    grayscale = image and fitted_model.config.image_shape[0] == 1
    return do_grid_figure(samples, labels, image, grayscale)
