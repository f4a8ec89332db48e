"""Figures of the evaluation report: learned vs true DAG, node marginals against the true features."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from causal_pima.data.scm import BinarySCM
from causal_pima.evaluation.graphs import equivalence_class_record
from causal_pima.plots.models import dag_figure


def dag_comparison_figure(dag_metrics: Mapping[str, Any], true_dag: Mapping[str, Any]) -> Figure:
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


def node_marginals_figure(posteriors: pd.DataFrame, test_set: Mapping[str, np.ndarray], dag_metrics: Mapping[str, Any]) -> Figure:
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
