"""The overview figure of an ingested manifest data set (``<dataset>.overview``, any name): sample images
per label outcome, the curves coloured by each label (issue 23, item 5) and the scalar values when the
set has them (issue 21)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from causal_pima.core.modality_spec import tabular_specs
from causal_pima.plots.scalar_panel import scalar_panel

_VALUE_COLOURS = ("tab:blue", "tab:orange")  # label value 0, 1


def manifest_overview_figure(
    raw_specimens: Mapping[str, np.ndarray],
    features: pd.DataFrame,
    dataset: str = "",
    images_per_outcome: int = 4,
    max_outcomes: int = 16,
    n_first: int = 16,
    max_curves: int = 300,
    max_curve_panels: int = 6,
) -> Figure:
    """Images and curves of an ingested data set, as ingestion left them, and its tabular values.

    Args:
        raw_specimens: the ingested set: ``images`` float [N, C, S, S] in [0, 1] (C = 1 or 3), ``curves``
            float [N, L], ``grid`` float [L] (strain); a NaN image / curve row: not measured (not drawn,
            counted in the title). Optionally a tabular modality's values (``scalars`` [N, S]).
        features: ``specimen_id`` and the manifest's 0/1 label columns, one row per specimen (same order).
        dataset: the data set's name, for the title.
        images_per_outcome: images shown per joint label outcome (one row each, the first specimens of it).
        max_outcomes: outcome rows at most (the most frequent; the title says how many there are).
        n_first: without label columns, the first ``n_first`` images.
        max_curves: curves drawn per panel (the first specimens).
        max_curve_panels: curve panels at most, one per label column (the first columns).

    Returns:
        A figure: on top the image grid (rows: outcomes, titled ``a=0 b=1 (n = 12)``), below one panel per
        label with every curve coloured by that label's value (one grey panel without labels) and, when the
        set has a tabular modality (``scalars``), one panel of its values coloured by the first label.
    """
    images, curves, grid = raw_specimens["images"], raw_specimens["curves"], raw_specimens["grid"]
    labels = [c for c in features.columns if c != "specimen_id"]
    if len(features) != len(images):
        raise ValueError(f"overview: {len(features)} feature rows for {len(images)} ingested specimens; they must be the same specimens")
    imaged = ~np.isnan(np.asarray(images).reshape(len(images), -1)).all(axis=1)
    if labels:
        rows, caption = _rows_by_outcome(features[labels], images_per_outcome, max_outcomes, imaged)
    else:
        first = np.flatnonzero(imaged)[:n_first].tolist()
        cols = max(1, int(np.ceil(np.sqrt(len(first)))))
        rows = [("", first[i:i + cols]) for i in range(0, len(first), cols)] or [("", [])]
        caption = f"the first {len(first)} specimens (no label columns)"
    panels = labels[:max_curve_panels] or [None]
    tables = [spec for spec in tabular_specs().values() if spec.array_key in raw_specimens]
    n_cols = max(1, max(len(row) for _, row in rows))
    fig = Figure(figsize=(max(1.6 * n_cols, 3.2 * (len(panels) + len(tables))), 1.7 * len(rows) + 3.2), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.7 * len(rows), 3.0])
    _image_rows(top, rows, images, features["specimen_id"], n_cols)
    top.suptitle(f"{dataset + ': ' if dataset else ''}{len(images)} specimens{_not_measured(imaged, curves)}; images of {caption}",
                 fontsize=9)
    axes = bottom.subplots(1, len(panels) + len(tables), squeeze=False)[0]
    shown = slice(0, min(max_curves, len(curves)))
    for ax, label in zip(axes, panels, strict=False):
        _curve_panel(ax, grid, curves[shown], None if label is None else (label, features[label].to_numpy()[shown]))
    for ax, spec in zip(axes[len(panels):], tables, strict=True):
        classes = ([(features[labels[0]].to_numpy() == value, colour, f"{labels[0]} = {value}") for value, colour in enumerate(_VALUE_COLOURS)]
                   if labels else [(np.ones(len(images), dtype=bool), "gray", "all")])
        scalar_panel(ax, raw_specimens[spec.array_key], classes, title=f"{spec.name} values")
    hidden = len(labels) - len(panels) if labels else 0
    bottom.suptitle(f"curves as ingested (first {len(curves[shown])})" + (f"; {hidden} more label columns not drawn" if hidden > 0 else ""),
                    fontsize=9)
    return fig


def _not_measured(imaged: np.ndarray, curves: np.ndarray) -> str:
    """``" (2 without image, 1 without curve)"`` for specimens not measured that way (NaN rows), else ``""``."""
    counts = {"image": int((~imaged).sum()), "curve": int(np.isnan(np.asarray(curves)).all(axis=1).sum())}
    parts = [f"{n} without {m}" for m, n in counts.items() if n]
    return f" ({', '.join(parts)})" if parts else ""


def _image_rows(top, rows: list[tuple[str, list[int]]], images: np.ndarray, ids: pd.Series, n_cols: int) -> None:
    """The image grid: one row of axes per ``(title, specimen positions)``, each image titled with its id."""
    axes = top.subplots(len(rows), n_cols, squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)
    for (title, members), row_axes in zip(rows, axes, strict=True):
        for ax, i in zip(row_axes, members, strict=False):
            image = np.transpose(images[i], (1, 2, 0)).squeeze(-1) if images[i].shape[0] == 1 else np.transpose(images[i], (1, 2, 0))
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0.0, vmax=1.0)
            ax.set_title(str(ids.iloc[i]), fontsize=6)
        if title:
            row_axes[0].set_ylabel(title, fontsize=7)


def _curve_panel(ax, grid: np.ndarray, curves: np.ndarray, label: tuple[str, np.ndarray] | None) -> None:
    """Every curve ``[n, L]`` in grey, or coloured by ``(label name, values [n])``; NaN rows (not measured)
    draw nothing and are not counted."""
    measured = ~np.isnan(np.asarray(curves)).all(axis=1)
    if label is None:
        ax.plot(grid, curves[measured].T, color="gray", alpha=0.3, linewidth=0.7)
        ax.set_title(f"{int(measured.sum())} curves", fontsize=8)
    else:
        name, values = label
        for value, colour in enumerate(_VALUE_COLOURS):
            selected = curves[measured & (values == value)]
            if len(selected):
                ax.plot(grid, selected.T, color=colour, alpha=0.3, linewidth=0.7)
            ax.plot([], [], color=colour, label=f"{name} = {value}, n = {len(selected)}")
        ax.legend(fontsize=7, loc="upper left")
        ax.set_title(f"coloured by {name}", fontsize=8)
    ax.set_xlabel("strain")
    ax.set_ylabel("stress")


def _rows_by_outcome(labels: pd.DataFrame, per_outcome: int, max_outcomes: int,
                     imaged: np.ndarray) -> tuple[list[tuple[str, list[int]]], str]:
    """``[(row title, specimen positions)]``: the first ``per_outcome`` specimens with an image (``imaged``
    bool [N]) of each joint outcome, the ``max_outcomes`` most frequent outcomes in label order, and the
    caption naming the outcomes shown."""
    outcomes = labels.astype(int).apply(tuple, axis=1).to_numpy()
    counts = pd.Series(outcomes).value_counts(sort=False)
    kept = sorted(counts.sort_values(ascending=False, kind="stable").index[:max_outcomes])
    rows = []
    for outcome in kept:
        members = np.flatnonzero([o == outcome for o in outcomes])
        title = " ".join(f"{name}={value}" for name, value in zip(labels.columns, outcome, strict=True))
        rows.append((f"{title}\n(n = {len(members)})", members[imaged[members]][:per_outcome].tolist()))
    caption = f"each label outcome ({len(kept)} of {len(counts)})" if len(kept) < len(counts) else f"each of the {len(counts)} label outcomes"
    return rows, caption
