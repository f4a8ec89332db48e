"""Nodes of the ``evaluation`` pipeline (DESIGN.md section 5).

Ground truth (labels, true DAG) is used here and only here: for evaluation, never for selection.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from causal_pima.core.model import CURVE, IMAGE, CausalPIMA  # noqa: E402
from causal_pima.core.outcomes import outcome_index  # noqa: E402
from causal_pima.core.prediction import (  # noqa: E402
    cross_modal_prediction,
    reconstruction_rmse,
    sample_interventional_latents,
)
from causal_pima.core.training import evaluate  # noqa: E402
from causal_pima.data.scm import BinarySCM  # noqa: E402
from causal_pima.evaluation import (  # noqa: E402
    UNMATCHED_FEATURE_ACCURACY,
    UNMATCHED_FEATURE_P_ONE,
    clustering_scores,
    cpdag_shd,
    edge_scores,
    equivalence_class_record,
    interventional_tv,
    map_learned_graph,
    match_nodes,
    node_accuracy,
    shd,
    shd_decomposition,
    signed_edges,
)
from causal_pima.model_input import specimen_tensors  # noqa: E402
from causal_pima.plots import dag_figure  # noqa: E402

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


def test_posteriors(posteriors: pd.DataFrame, n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    test = posteriors[posteriors["split"] == "test"]
    return test[[f"q_N{j}" for j in range(n_nodes)]].to_numpy(), test["outcome"].to_numpy()


def graph_metrics(learned_dag: Mapping[str, Any], matching, true_scm: BinarySCM) -> dict[str, Any]:
    """SHD (and its split), CPDAG SHD, precision/recall/F1, interventional TV and the Markov
    equivalence classes of the learned graph mapped to feature space (over all true features:
    :func:`~causal_pima.evaluation.map_learned_graph` makes an unmatched feature a fair coin)."""
    names = list(true_scm.features)
    parents, tables = learned_tables(learned_dag)
    learned_scm = map_learned_graph(parents, tables, matching, names)
    pred_adj = learned_scm.adjacency()  # same feature order as the truth
    true_adj = true_scm.adjacency()
    strengths = signed_edges(np.asarray(learned_dag["adjacency"]), matching)
    learned_edges = [[names[i], names[j], float(strengths[i, j])] for i, j in zip(*np.nonzero(pred_adj), strict=True)]
    tv = interventional_tv(learned_scm, true_scm)
    return {
        "shd": int(shd(true_adj, pred_adj)),
        "cpdag_shd": int(cpdag_shd(true_adj, pred_adj)),
        **shd_decomposition(true_adj, pred_adj),
        **{k: float(v) for k, v in edge_scores(true_adj, pred_adj).items()},
        "interventional_tv": float(tv["mean"]),
        "interventional_tv_per_intervention": {k: float(v) for k, v in tv["per_intervention"].items()},
        "learned_edges": learned_edges,
        "true_edges": [list(e) for e in true_scm.edges()],
        "learned_equivalence_class": equivalence_class_record(pred_adj, names),
        "true_equivalence_class": equivalence_class_record(true_adj, names),
        "learned_tables": learned_scm.to_config(),
    }


@torch.no_grad()
def model_metrics(fitted_model: Mapping[str, Any], test_set: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Held-out ELBO and per-modality reconstruction RMSE (images in [0, 1], curves standardised)."""
    model = CausalPIMA.from_checkpoint(fitted_model)
    data = specimen_tensors(test_set, model.modalities)
    terms = evaluate(model, data, "mixture")
    return {
        "test_elbo": float(terms["elbo"]),
        "test_elbo_terms": {k: float(v) for k, v in terms.items() if k.startswith(("recon_", "prior"))},
        "reconstruction_error": reconstruction_rmse(model, data),
    }


@torch.no_grad()
def cross_modal_report(fitted_model: Mapping[str, Any], test_set: Mapping[str, np.ndarray], n_plot: int = 6) -> tuple[dict[str, Any], Figure]:
    """Predict each test curve from its image alone (curve masked out of the fusion).

    RMSE against the true curve, in physical and standardised units, next to the baseline that
    predicts the training mean curve; and a figure of predicted vs true curves.
    """
    model = CausalPIMA.from_checkpoint(fitted_model)
    fig, axes = plt.subplots(1, n_plot, figsize=(2.4 * n_plot, 2.4), squeeze=False)
    if not (IMAGE in model.modalities and CURVE in model.modalities):
        for ax in axes[0]:
            ax.axis("off")
        axes[0, 0].text(0, 0.5, "the model does not have both an image and a curve modality", fontsize=8)
        return {"available": False, "modalities": list(model.modalities)}, fig
    data = specimen_tensors(test_set, model.modalities)
    predicted = cross_modal_prediction(model, data, IMAGE, CURVE).numpy().astype(np.float64)
    truth = test_set["curves"].astype(np.float64)
    mean, std = test_set["curve_mean"].astype(np.float64), test_set["curve_std"].astype(np.float64)
    physical_truth, physical_pred = truth * std + mean, predicted * std + mean

    def rmse(a, b):
        return float(np.sqrt(np.mean((a - b) ** 2)))

    report = {
        "available": True,
        "predictor": "physics expert of the most likely outcome" if model.physics is not None else "neural decoder at the image-only posterior mean",
        "n_test": int(len(truth)),
        "rmse": rmse(physical_pred, physical_truth),
        "baseline_mean_curve_rmse": rmse(np.broadcast_to(mean, truth.shape), physical_truth),
        "rmse_standardised": rmse(predicted, truth),
        "baseline_mean_curve_rmse_standardised": rmse(np.zeros_like(truth), truth),
    }
    report["improvement_over_baseline"] = 1.0 - report["rmse"] / report["baseline_mean_curve_rmse"]
    grid = test_set["grid"]
    for i, ax in enumerate(axes[0]):
        if i >= len(truth):
            ax.axis("off")
            continue
        ax.plot(grid, physical_truth[i], color="k", linewidth=1, label="true")
        ax.plot(grid, physical_pred[i], color="tab:red", linewidth=1, label="from image")
        ax.plot(grid, mean, color="0.6", linewidth=1, linestyle="--", label="train mean")
        ax.set_title(f"specimen {test_set['specimen_id'][i]}", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(f"Cross-modal prediction (test RMSE {report['rmse']:.3g} vs mean-curve baseline {report['baseline_mean_curve_rmse']:.3g})", fontsize=9)
    fig.tight_layout()
    return report, fig


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
) -> dict[str, Any]:
    """Feature, cluster and graph recovery from test-split node marginals ``[N, d]`` and outcomes ``[N]``.

    Every headline metric is over all ``m`` true features (``labels`` is ``[N, m]``); see
    :data:`UNMATCHED_FEATURE_CONVENTION`, stored in the report as ``unmatched_feature_convention``.
    When ``d != m`` the report's ``warnings`` say so and a WARNING is logged.
    """
    names = list(true_scm.features)
    matching = match_nodes(node_marginals, labels)
    accuracy = node_accuracy(node_marginals, labels, matching, feature_names=names)
    has_dag = learned_dag.get("conditional_probability_tables") is not None
    graph = graph_metrics(learned_dag, matching, true_scm) if has_dag else {"true_edges": [list(e) for e in true_scm.edges()]}
    n_nodes, n_features = int(np.shape(node_marginals)[1]), len(names)
    warnings = []
    if n_nodes < n_features:
        missed = [names[f] for f in matching.unmatched_features]
        warnings.append(
            f"the model has {n_nodes} nodes for {n_features} true features: no node for {missed}, "
            "which count at chance in every headline metric"
        )
    elif n_nodes > n_features:
        extra = [f"N{j}" for j in matching.unmatched_nodes]
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
            f"N{j}": {"feature": names[f], "flipped": bool(matching.flipped[j])} for j, f in matching.node_to_feature.items()
        },
        "unmatched_nodes": [f"N{j}" for j in matching.unmatched_nodes],
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
    return out


def evaluate_fit(
    fitted_model: Mapping[str, Any],
    learned_dag: Mapping[str, Any],
    posteriors: pd.DataFrame,
    test_set: Mapping[str, np.ndarray],
    true_dag: Mapping[str, Any],
    cross_modal: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """All metrics on the test split (docs/metrics.md); returns the report and MLflow metrics.

    The report's ``warnings`` hold the node-count mismatch and the fit's own diagnostics (collapse,
    physics expert worse than the mean curve) so that no failure hides behind a headline number.
    """
    true_scm = BinarySCM.from_config(true_dag["scm"])
    marginals, outcome = test_posteriors(posteriors, len(learned_dag["node_names"]))
    metrics = {
        **discovery_metrics(marginals, outcome, learned_dag, true_labels(test_set, true_scm), true_scm),
        **model_metrics(fitted_model, test_set),
    }
    if cross_modal is not None and cross_modal.get("available"):
        metrics["cross_modal"] = dict(cross_modal)
    diagnostics = learned_dag.get("diagnostics")
    if diagnostics is not None:  # collapse / physics-expert checks of the fit (core.diagnostics)
        metrics["fit_diagnostics"] = dict(diagnostics)
        metrics["warnings"] = [*metrics.get("warnings", []), *diagnostics.get("warnings", [])]
    mlflow_metrics = {f"eval.{k}": {"step": 0, "value": v} for k, v in scalar_metrics(metrics).items()}
    return metrics, mlflow_metrics


def plot_dag_comparison(dag_metrics: Mapping[str, Any], true_dag: Mapping[str, Any]) -> Figure:
    """Learned (mapped to feature names) and true DAG side by side; in each, the edges whose
    direction observational data cannot decide (undirected in its CPDAG) are dashed."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.4))
    names = list(true_dag["features"])
    if "learned_edges" not in dag_metrics:
        axes[0].text(0.5, 0.5, "no DAG (free mixture weights)", ha="center", va="center")
        axes[0].axis("off")
    else:
        title = f"learned (SHD {dag_metrics['shd']}, CPDAG SHD {dag_metrics['cpdag_shd']})"
        undetermined = dag_metrics["learned_equivalence_class"]["undetermined_edges"]
        dag_figure(dag_metrics["learned_edges"], names, title, ax=axes[0], undetermined=undetermined)
    true_scm = BinarySCM.from_config(true_dag["scm"])
    true_class = equivalence_class_record(true_scm.adjacency(), list(true_scm.features))
    dag_figure([tuple(e) for e in true_dag["edges"]], names, "true", ax=axes[1], undetermined=true_class["undetermined_edges"])
    fig.tight_layout()
    return fig


def plot_node_marginals(posteriors: pd.DataFrame, test_set: Mapping[str, np.ndarray], dag_metrics: Mapping[str, Any]) -> Figure:
    """Histograms of q(N_j = 1 | x) on the test split, split by the value of the matched true feature."""
    matching = dag_metrics["matching"]
    label_names = [str(n) for n in test_set["label_names"]]
    test = posteriors[posteriors["split"] == "test"]
    nodes = sorted(matching)
    fig, axes = plt.subplots(1, max(len(nodes), 1), figsize=(3.3 * max(len(nodes), 1), 3), squeeze=False)
    for ax, node in zip(axes[0], nodes, strict=False):
        feature = matching[node]["feature"]
        truth = test_set["labels"][:, label_names.index(feature)]
        for value, colour in ((0, "tab:orange"), (1, "tab:blue")):
            ax.hist(test[f"q_{node}"].to_numpy()[truth == value], bins=20, range=(0, 1), alpha=0.6, color=colour, label=f"{feature} = {value}")
        flip = " (flipped)" if matching[node]["flipped"] else ""
        ax.set_title(f"q({node} = 1 | x) vs {feature}{flip}", fontsize=9)
        ax.set_xlabel("node marginal")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


@torch.no_grad()
def plot_do_grid(fitted_model: Mapping[str, Any], dag_metrics: Mapping[str, Any], n_samples: int = 6, seed: int = 0) -> Figure:
    """Images (or curves) decoded from the interventional prior for each node and value."""
    model = CausalPIMA.from_checkpoint(fitted_model)
    d = model.config.n_nodes
    generator = torch.Generator().manual_seed(seed)
    image = IMAGE in model.modalities
    fig, axes = plt.subplots(2 * d, n_samples, figsize=(1.3 * n_samples, 1.35 * 2 * d), squeeze=False)
    for j in range(d):
        info = dag_metrics.get("matching", {}).get(f"N{j}")
        label = f"N{j}" + (f" ({info['feature']}{', flipped' if info['flipped'] else ''})" if info else "")
        for v in (0, 1):
            z = sample_interventional_latents(model, j, v, n_samples, generator)
            decoded = model.decode(z)
            row = 2 * j + v
            for i in range(n_samples):
                ax = axes[row, i]
                if image:
                    ax.imshow(np.clip(decoded[IMAGE][i].permute(1, 2, 0).numpy().squeeze(), 0, 1), cmap="gray" if model.config.image_shape[0] == 1 else None)
                    ax.set_xticks([])
                    ax.set_yticks([])
                else:
                    ax.plot(decoded[CURVE][i].numpy(), linewidth=0.8)
                    ax.tick_params(labelsize=4)
            axes[row, 0].set_ylabel(f"do({label}={v})", fontsize=6)
    fig.suptitle("Samples from the interventional prior do(N_j = v)", fontsize=9)
    fig.tight_layout()
    return fig
