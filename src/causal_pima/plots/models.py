"""Figures of models and fits (training history, latents, DAGs, reconstructions, predictions). Pure functions of arrays / tables returning ``Figure``s
(saved by the catalog's Matplotlib datasets, never written here)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import matplotlib
import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator
from sklearn.decomposition import PCA

from causal_pima.core.modality_spec import CURVE, MODALITY_SPECS
from causal_pima.plots.canvas import subplots

TRAIN_LABEL = "train (epoch mean, modality dropout)"
VALIDATION_LABEL = "validation (end of epoch, all modalities)"
TRAIN_VALIDATION_CAPTION = (
    "Train (solid): mean over the epoch's mini-batches while the weights change, in training mode, with modality dropout "
    "(part of the specimens encoded from one modality only)\n"
    "and a sampled latent; validation (dashed): after the epoch, every modality, evaluation mode. The train bound is "
    "therefore lower by construction: compare epochs, not train with validation."
)


def integer_epochs(ax) -> None:
    """Epoch axes tick at whole epochs only."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def edge_legend_label(column: str, node_labels: Sequence[str] | None = None) -> str:
    """``edge_1_0`` -> ``N1 -> N0`` (or the given labels of node 1 and node 0)."""
    i, j = (int(v) for v in column.removeprefix("edge_").split("_"))
    names = node_labels if node_labels is not None else [f"N{k}" for k in range(max(i, j) + 1)]
    return f"{names[i]} -> {names[j]}"


def training_history_figure(history: pd.DataFrame, title: str, node_labels: Sequence[str] | None = None) -> Figure:
    """One panel per loss term (train solid, validation dashed) and, when fitting, the temperature
    with the edge strengths A_ij by epoch.

    A caption under the panels says why the train ELBO sits below the validation ELBO (modality
    dropout, sampled latents and a running mean in training; none of them in validation).
    ``node_labels``: names of the nodes in the edge legend (default ``N0, N1, ...``).
    """
    terms = [c.split("_", 1)[1] for c in history.columns if c.startswith("train_") and c not in ("train_loss", "train_l1")]
    has_tau = "temperature" in history
    n = len(terms) + int(has_tau)
    fig, axes = subplots(1, n, figsize=(max(3.4 * n, 9.0), 4.0), squeeze=False)
    for ax, term in zip(axes[0], terms, strict=False):
        ax.plot(history["epoch"], history[f"train_{term}"], label=TRAIN_LABEL)
        if f"val_{term}" in history:
            ax.plot(history["epoch"], history[f"val_{term}"], linestyle="--", label=VALIDATION_LABEL)
        ax.set_title(term + (" (higher is better)" if term == "elbo" else ""), fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel("nats per specimen", fontsize=8)
        integer_epochs(ax)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=6)
    if has_tau:
        ax = axes[0, -1]
        ax.plot(history["epoch"], history["temperature"], color="k", label="temperature")
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("temperature (black, log scale)", fontsize=8)
        integer_epochs(ax)
        ax.tick_params(labelsize=7)
        ax.set_title("temperature and edge strengths", fontsize=9)
        edge_cols = [c for c in history.columns if c.startswith("edge_") and history[c].abs().max() > 1e-6]
        if edge_cols:
            twin = ax.twinx()
            for c in edge_cols:
                twin.plot(history["epoch"], history[c], alpha=0.8, label=edge_legend_label(c, node_labels))
            twin.set_ylabel("edge strength A_ij (logit)", fontsize=8)
            twin.tick_params(labelsize=7)
            twin.legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.text(0.5, 0.01, TRAIN_VALIDATION_CAPTION, ha="center", va="bottom", fontsize=7, color="0.25")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def outcome_label(bits: Sequence[int], matching: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """``"N0=0, N1=1"``; with a node-to-feature ``matching`` (``dag_metrics["matching"]``: node name
    -> ``{"feature", "flipped"}``), matched nodes are written as their feature's value
    (``"radius=0, shift=0, hue=1"``; a flipped node's 1 is its feature's 0)."""
    parts = []
    for j, bit in enumerate(bits):
        info = (matching or {}).get(f"N{j}")
        if info:
            parts.append(f"{info['feature']}={int(bit) ^ int(bool(info['flipped']))}")
        else:
            parts.append(f"N{j}={int(bit)}")
    return ", ".join(parts)


def latent_projection_figure(
    latent_means: np.ndarray,
    outcome: np.ndarray,
    mixture_means: np.ndarray,
    n_nodes: int,
    matching: Mapping[str, Mapping[str, Any]] | None = None,
) -> Figure:
    """2-D PCA projection of posterior means, coloured by most likely outcome; mixture means marked.

    Legend entries name each outcome by its node values (``N0=0, N1=1, ...``) or, given the
    evaluation's ``matching`` (``dag_metrics["matching"]``), by the matched features' values.
    """
    pca = PCA(n_components=2, random_state=0).fit(latent_means)
    points, centres = pca.transform(latent_means), pca.transform(mixture_means)
    fig, ax = subplots(figsize=(8.5, 5), layout="constrained")
    cmap = matplotlib.colormaps["tab10" if 2**n_nodes <= 10 else "tab20"]
    for k in range(2**n_nodes):
        sel = outcome == k
        bits = [(k >> j) & 1 for j in range(n_nodes)]  # bit j of k = node j
        label = f"{outcome_label(bits, matching)} (n={int(sel.sum())})"
        ax.scatter(points[sel, 0], points[sel, 1], s=4, alpha=0.5, color=cmap(k % cmap.N), label=label)
        ax.scatter(centres[k, 0], centres[k, 1], marker="X", s=120, color=cmap(k % cmap.N), edgecolor="k")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title("Latent means (PCA) by most likely outcome\nX = mixture means", fontsize=10)
    ax.legend(fontsize=7, markerscale=3, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="outcome (test specimens)", title_fontsize=7)
    return fig


UNDETERMINED_LABEL = "undetermined by observational data"
DETERMINED_LABEL = "determined by observational data"


def dag_figure(
    edges: Sequence[Sequence],
    node_names: Sequence[str],
    title: str,
    ax=None,
    undetermined: Iterable[Sequence[str]] | None = None,
    node_labels: Mapping[str, str] | None = None,
) -> Figure:
    """Draw a DAG with edge strengths as labels; ``edges`` are ``(from, to, strength)`` name triples.

    ``node_labels``: text drawn in a node instead of its name (e.g. ``"hue\\n(N0, flipped)"``).

    ``undetermined``: unordered ``(a, b)`` name pairs whose direction observational data cannot
    decide (undirected in the CPDAG, e.g. ``equivalence_class_record(...)["undetermined_edges"]``).
    When given, those edges are drawn dashed without arrowhead, the others solid with an arrow,
    and a legend says which is which. ``None``: every edge solid, no legend.
    """
    own = ax is None
    if own:
        fig, ax = subplots(figsize=(4.5, 4))
    else:
        fig = ax.figure
    graph = nx.DiGraph()
    graph.add_nodes_from(node_names)
    for e in edges:
        graph.add_edge(e[0], e[1], weight=float(e[2]) if len(e) > 2 else 1.0)
    reversible = {frozenset(pair) for pair in undetermined or ()}
    dashed = [e for e in graph.edges if frozenset(e) in reversible]
    solid = [e for e in graph.edges if frozenset(e) not in reversible]
    pos = nx.circular_layout(graph)
    labels = {name: (node_labels or {}).get(name, name) for name in graph.nodes}
    multiline = any("\n" in t for t in labels.values())
    node_size = 2600 if multiline else 1500
    nx.draw_networkx_nodes(graph, pos, ax=ax, node_color="#dde6f5", node_size=node_size, edgecolors="k")
    nx.draw_networkx_labels(graph, pos, ax=ax, labels=labels, font_size=7 if multiline else 9)

    def width(e) -> float:
        return 0.8 + 1.2 * min(abs(graph.edges[e]["weight"]), 5.0) / 2.5

    nx.draw_networkx_edges(graph, pos, ax=ax, edgelist=solid, arrows=True, arrowsize=20, width=[width(e) for e in solid], node_size=node_size)
    if dashed:
        nx.draw_networkx_edges(
            graph, pos, ax=ax, edgelist=dashed, arrows=True, arrowstyle="-", style="dashed",
            edge_color="tab:gray", width=[width(e) for e in dashed], node_size=node_size,
        )
    if any(len(e) > 2 for e in edges):
        nx.draw_networkx_edge_labels(graph, pos, ax=ax, edge_labels={(e[0], e[1]): f"{float(e[2]):+.2f}" for e in edges}, font_size=8)
    if undetermined is not None:
        handles = [
            Line2D([], [], color="k", linestyle="-", marker=">", markevery=[1], label=DETERMINED_LABEL),
            Line2D([], [], color="tab:gray", linestyle="--", label=UNDETERMINED_LABEL),
        ]
        ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, -0.12), fontsize=7, frameon=False)
    ax.set_title(title)
    ax.axis("off")
    ax.margins(0.2)
    if own:
        fig.tight_layout()
    return fig


def curve_axis_labels(grid: np.ndarray | None) -> tuple[str, str]:
    """``(x label, y label)`` of a curve in physical units, from its grid: the project's two curve
    kinds are emission spectra over wavelengths in nm (circles, grid within 300..1100) and
    stress-strain curves over strain (lattice, grid within 0..1, stress in MPa). Any other grid gets
    neutral labels; pass ``curve_axes`` to the figure functions to name your own curves."""
    if grid is None or len(grid) == 0:
        return "curve grid point", "curve value"
    low, high = float(np.min(grid)), float(np.max(grid))
    if 300.0 <= low and high <= 1100.0:
        return "wavelength (nm)", "intensity (a.u.)"
    if 0.0 <= low and high <= 1.0:
        return "strain", "stress (MPa)"
    return "curve grid", "curve value"


def reconstruction_figure(
    originals: Mapping[str, np.ndarray],
    reconstructions: Mapping[str, np.ndarray],
    grid: np.ndarray | None,
    n: int = 8,
    curve_axes: tuple[str, str] | None = None,
    standardised: bool = True,
) -> Figure:
    """Originals vs reconstructions of every modality in ``originals`` (``{name: [N, ...]}``), in the
    registry's order (``core.modality_spec``): an ``image`` display gives two rows (intensities on the
    fixed scale [0, 1]), a ``profile`` one row of panels (one per specimen).

    The curve is drawn over ``grid``, in physical units or standardised (the model's scale) with
    ``standardised``; ``curve_axes`` = ``(x label, y label)`` in physical terms, default
    :func:`curve_axis_labels` of the grid. Other profiles are drawn over their value index, standardised.
    """
    shown = [(m, spec) for m, spec in MODALITY_SPECS.items() if m in originals]
    rows = sum(2 if spec.display == "image" else 1 for _, spec in shown)
    profiles = sum(spec.display != "image" for _, spec in shown)
    fig, axes = subplots(rows, n, figsize=(1.6 * n, 1.7 * rows + 0.5 * profiles), squeeze=False)
    r = 0
    for m, spec in shown:
        if spec.display == "image":
            _image_rows(axes[r : r + 2], originals[m], reconstructions[m], n)
            r += 2
            continue
        if m == CURVE:
            x_label, y_label = curve_axes or curve_axis_labels(grid)
            x = grid if grid is not None else np.arange(originals[m].shape[1])
            x_label = x_label if grid is not None else "grid point"
            y_label = f"{y_label.split(' (')[0]}\n(standardised)" if standardised else y_label
        else:
            x, x_label, y_label = np.arange(originals[m].shape[1]), f"{m} index", f"{m}\n(standardised)"
        for i in range(n):
            ax = axes[r, i]
            ax.plot(x, originals[m][i], color="k", linewidth=0.8, marker="." if m != CURVE else None, label="original")
            ax.plot(x, reconstructions[m][i], color="tab:orange", linewidth=0.8, marker="." if m != CURVE else None, label="reconstruction")
            ax.tick_params(labelsize=5)
            ax.set_xlabel(x_label, fontsize=6)
        axes[r, 0].set_ylabel(y_label, fontsize=6)
        axes[r, 0].legend(fontsize=5)
        r += 1
    fig.suptitle("Test specimens: originals and reconstructions" + (" (curves standardised)" if standardised else ""), fontsize=9)
    fig.tight_layout()
    return fig


def _image_rows(axes: np.ndarray, originals: np.ndarray, reconstructions: np.ndarray, n: int) -> None:
    """Two rows of ``n`` images ``[N, C, H, W]``: the originals over their reconstructions."""
    for i in range(n):
        for rr, source in ((0, originals), (1, reconstructions)):
            img = np.clip(np.transpose(source[i], (1, 2, 0)), 0, 1).squeeze()
            axes[rr, i].imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0.0, vmax=1.0)  # fixed scale
            axes[rr, i].axis("off")
    axes[0, 0].set_title("original", fontsize=7, loc="left")
    axes[1, 0].set_title("reconstruction", fontsize=7, loc="left")


def cross_modal_figure(
    report: Mapping[str, object],
    grid: np.ndarray,
    physical_truth: np.ndarray,
    physical_pred: np.ndarray,
    mean_curve: np.ndarray,
    specimen_ids: Sequence,
    n_plot: int = 6,
    curve_axes: tuple[str, str] | None = None,
) -> Figure:
    """Curves predicted from images against the true curves and the training mean curve, physical units.

    ``curve_axes`` = ``(x label, y label)``, default :func:`curve_axis_labels` of the grid.
    """
    fig, axes = subplots(1, n_plot, figsize=(2.4 * n_plot, 2.8), squeeze=False)
    if not report.get("available"):
        for ax in axes[0]:
            ax.axis("off")
        axes[0, 0].text(0, 0.5, "the model does not have both an image and a curve modality", fontsize=8)
        return fig
    x_label, y_label = curve_axes or curve_axis_labels(grid)
    for i, ax in enumerate(axes[0]):
        if i >= len(physical_truth):
            ax.axis("off")
            continue
        ax.plot(grid, physical_truth[i], color="k", linewidth=1, label="true")
        ax.plot(grid, physical_pred[i], color="tab:red", linewidth=1, label="from image")
        ax.plot(grid, mean_curve, color="0.6", linewidth=1, linestyle="--", label="train mean")
        ax.set_title(f"specimen {specimen_ids[i]}", fontsize=7)
        ax.set_xlabel(x_label, fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0, 0].set_ylabel(y_label, fontsize=7)
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(f"Cross-modal prediction (test RMSE {report['rmse']:.3g} vs mean-curve baseline {report['baseline_mean_curve_rmse']:.3g})", fontsize=9)
    fig.tight_layout()
    return fig


def do_row_labels(node: str, info: Mapping[str, Any] | None) -> tuple[str, str]:
    """Row labels of ``do(node = 0)`` and ``do(node = 1)`` in feature terms when the node is matched to a
    feature (``info``: its ``dag_metrics["matching"]`` entry): a flipped node's 1 is its feature's 0, so
    ``do(N0 = 0)`` of a flipped hue node reads ``do(hue = 1)``, with the node below."""
    if not info:
        return f"do({node} = 0)", f"do({node} = 1)"
    flipped = int(bool(info["flipped"]))
    return tuple(f"do({info['feature']} = {v ^ flipped})\n({node} = {v})" for v in (0, 1))


def do_grid_figure(samples: Sequence[Sequence[np.ndarray]], labels: Sequence[Sequence[str]], images: bool, grayscale: bool = True) -> Figure:
    """Decoded samples of the interventional prior: ``samples[j][v]`` is ``[n, C, H, W]`` images (or
    ``[n, L]`` curves when ``images`` is false) for ``do(N_j = v)``; ``labels[j][v]`` names that row
    (:func:`do_row_labels`). Images are drawn on the fixed scale [0, 1], never contrast-stretched per
    panel, so a brightness feature shows as what it is."""
    d = len(samples)
    n_samples = len(samples[0][0]) if d else 0
    fig, axes = subplots(2 * d, n_samples, figsize=(1.3 * n_samples, 1.35 * 2 * d), squeeze=False)
    for j in range(d):
        for v in (0, 1):
            decoded = samples[j][v]
            row = 2 * j + v
            for i in range(n_samples):
                ax = axes[row, i]
                if images:
                    ax.imshow(np.clip(np.transpose(decoded[i], (1, 2, 0)).squeeze(), 0, 1), cmap="gray" if grayscale else None,
                              vmin=0.0, vmax=1.0)
                    ax.set_xticks([])
                    ax.set_yticks([])
                else:
                    ax.plot(decoded[i], linewidth=0.8)
                    ax.tick_params(labelsize=4)
            axes[row, 0].set_ylabel(labels[j][v], fontsize=6)
    fig.suptitle("Samples from the interventional prior do(N_j = v)", fontsize=9)
    fig.tight_layout()
    return fig


def physics_curves_figure(
    grid: np.ndarray, curves: np.ndarray, outcome: np.ndarray, laws: np.ndarray, titles: Sequence[str], law_name: str
) -> Figure:
    """Each outcome's fitted law (``laws[k]``, red) over the curves assigned to it (``outcome == k``)."""
    k = laws.shape[0]
    cols = min(4, k)
    rows = int(np.ceil(k / cols))
    fig, axes = subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False, sharex=True)
    for index, ax in enumerate(axes.ravel()):
        if index >= k:
            ax.axis("off")
            continue
        members = curves[outcome == index]
        if len(members):
            ax.plot(grid, members[:40].T, color="0.6", linewidth=0.5, alpha=0.6)
        ax.plot(grid, laws[index], color="tab:red", linewidth=1.5)
        ax.set_title(f"{titles[index]} (n={len(members)})", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.suptitle(f"Physics expert ({law_name}) per outcome: law (red) over assigned training curves", fontsize=9)
    fig.tight_layout()
    return fig


def node_count_figure(selection: pd.DataFrame) -> Figure:
    """``n_nodes: auto``: each candidate's mean validation score (nats per specimen) against d, with the
    paired standard error of its step over the best smaller candidate; substantial steps filled, the
    chosen d in orange, the one-Gaussian reference (d = 0) hollow, candidates not scored named under the axis."""
    fig = Figure(figsize=(5.5, 3.6), layout="constrained")
    ax = fig.subplots()
    scored = selection[np.isfinite(selection["score"].to_numpy(dtype=float))]
    for row in scored.itertuples():
        chosen = bool(row.chosen)
        error = [row.step_se] if np.isfinite(row.step_se) else None
        ax.errorbar([row.n_nodes], [row.score], yerr=error, fmt="o", capsize=4, color="tab:orange" if chosen else "tab:blue",
                    mfc=None if bool(row.substantial) or chosen else "none", label="chosen" if chosen else None)
    ax.plot(scored["n_nodes"], scored["score"], color="0.7", lw=0.8, zorder=0)
    skipped = selection[~np.isfinite(selection["score"].to_numpy(dtype=float))]
    label = "d (binary feature nodes)"
    ax.set_xlabel(label + ("; not scored: " + ", ".join(str(d) for d in skipped["n_nodes"]) if len(skipped) else ""))
    ax.set_xticks(selection["n_nodes"].tolist())
    ax.set_ylabel("validation score\n(nats per specimen)")
    ax.set_title("n_nodes: auto (filled: a substantial step)")
    if selection["chosen"].any():
        ax.legend(loc="lower right")
    return fig
