"""Matplotlib figures of models and metrics. Pure functions of arrays / tables returning ``Figure``s
(saved by the catalog's Matplotlib datasets, never written here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402


def training_history_figure(history: pd.DataFrame, title: str) -> Figure:
    """Loss terms by epoch (train and validation ELBO, reconstruction and prior terms) and temperature."""
    has_tau = "temperature" in history
    fig, axes = plt.subplots(1, 2 if has_tau else 1, figsize=(11 if has_tau else 6, 3.8), squeeze=False)
    ax = axes[0, 0]
    for column in sorted(c for c in history.columns if c.startswith(("train_", "val_")) and c.split("_", 1)[1] in {"elbo", "prior", "kl"} | {c.split("_", 1)[1] for c in history.columns if "recon_" in c}):
        ax.plot(history["epoch"], history[column], label=column, linestyle="-" if column.startswith("train") else "--")
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per specimen")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    if has_tau:
        ax2 = axes[0, 1]
        ax2.plot(history["epoch"], history["temperature"], color="k", label="temperature")
        ax2.set_yscale("log")
        ax2.set_xlabel("epoch")
        ax2.set_ylabel("temperature tau")
        edge_cols = [c for c in history.columns if c.startswith("edge_")]
        if edge_cols:
            ax3 = ax2.twinx()
            for c in edge_cols:
                if history[c].abs().max() > 1e-6:
                    ax3.plot(history["epoch"], history[c], alpha=0.7, label=c.replace("edge_", "A ").replace("_", "->"))
            ax3.set_ylabel("edge strength A_ij (logit)")
            ax3.legend(fontsize=7, loc="upper right")
        ax2.set_title("temperature and edge strengths")
    fig.tight_layout()
    return fig


def latent_projection_figure(latent_means: np.ndarray, outcome: np.ndarray, mixture_means: np.ndarray, n_nodes: int) -> Figure:
    """2-D PCA projection of posterior means, coloured by most likely outcome; mixture means marked."""
    pca = PCA(n_components=2, random_state=0).fit(latent_means)
    points, centres = pca.transform(latent_means), pca.transform(mixture_means)
    fig, ax = plt.subplots(figsize=(6, 5))
    cmap = plt.get_cmap("tab10" if 2**n_nodes <= 10 else "tab20")
    for k in range(2**n_nodes):
        sel = outcome == k
        label = format(k, f"0{n_nodes}b")[::-1]  # bit j of k = node j, printed N0 first
        ax.scatter(points[sel, 0], points[sel, 1], s=4, alpha=0.5, color=cmap(k % cmap.N), label=f"{label} (n={sel.sum()})")
        ax.scatter(centres[k, 0], centres[k, 1], marker="X", s=120, color=cmap(k % cmap.N), edgecolor="k")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title("Latent means by most likely outcome (N0..N{}); X = mixture means".format(n_nodes - 1))
    ax.legend(fontsize=7, markerscale=3, loc="best")
    fig.tight_layout()
    return fig


def dag_figure(edges: Sequence[Sequence], node_names: Sequence[str], title: str, ax=None) -> Figure:
    """Draw a DAG with edge strengths as labels; ``edges`` are ``(from, to, strength)`` name triples."""
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(4.5, 4))
    else:
        fig = ax.figure
    graph = nx.DiGraph()
    graph.add_nodes_from(node_names)
    for e in edges:
        graph.add_edge(e[0], e[1], weight=float(e[2]) if len(e) > 2 else 1.0)
    pos = nx.circular_layout(graph)
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_color="#dde6f5", node_size=1500, edgecolors="k")
    nx.draw_networkx_labels(graph, pos, ax=ax, font_size=9)
    widths = [0.8 + 1.2 * min(abs(graph.edges[e]["weight"]), 5.0) / 2.5 for e in graph.edges]
    nx.draw_networkx_edges(graph, pos, ax=ax, arrows=True, arrowsize=20, width=widths, node_size=1500)
    if any(len(e) > 2 for e in edges):
        nx.draw_networkx_edge_labels(graph, pos, ax=ax, edge_labels={(e[0], e[1]): f"{float(e[2]):+.2f}" for e in edges}, font_size=8)
    ax.set_title(title)
    ax.axis("off")
    ax.margins(0.2)
    if own:
        fig.tight_layout()
    return fig


def reconstruction_figure(originals: Mapping[str, np.ndarray], reconstructions: Mapping[str, np.ndarray], grid: np.ndarray | None, n: int = 8) -> Figure:
    """Original vs reconstructed images (two rows) and curves (one panel per specimen)."""
    rows = (2 if "image" in originals else 0) + (1 if "curve" in originals else 0)
    fig, axes = plt.subplots(rows, n, figsize=(1.6 * n, 1.7 * rows), squeeze=False)
    r = 0
    if "image" in originals:
        for i in range(n):
            for rr, source in ((0, originals), (1, reconstructions)):
                img = np.clip(np.transpose(source["image"][i], (1, 2, 0)), 0, 1).squeeze()
                axes[r + rr, i].imshow(img, cmap="gray" if img.ndim == 2 else None)
                axes[r + rr, i].axis("off")
            axes[r, 0].set_title("original", fontsize=7, loc="left")
            axes[r + 1, 0].set_title("reconstruction", fontsize=7, loc="left")
        r += 2
    if "curve" in originals:
        x = grid if grid is not None else np.arange(originals["curve"].shape[1])
        for i in range(n):
            ax = axes[r, i]
            ax.plot(x, originals["curve"][i], color="k", linewidth=0.8, label="original")
            ax.plot(x, reconstructions["curve"][i], color="tab:orange", linewidth=0.8, label="reconstruction")
            ax.tick_params(labelsize=5)
        axes[r, 0].legend(fontsize=5)
    fig.suptitle("Test specimens: originals and reconstructions (curves standardised)", fontsize=9)
    fig.tight_layout()
    return fig
