"""Overview figures of raw data sets: circles (images, spectra) and lattice (images, stress-strain curves)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from causal_pima.data.lattice import LATTICE_FEATURES
from causal_pima.data.specimens import force_displacement_to_stress_strain, image_to_unit_float
from causal_pima.plots.canvas import subplots
from causal_pima.plots.scalar_panel import scalar_panel

# Words for the 0 / 1 values of each feature (figure labels only).
FEATURE_VALUE_NAMES = {
    "family": ("bending", "stretching"),
    "thickness": ("thin", "thick"),
    "defect": ("intact", "defect"),
}
_FAMILY_COLOURS = ("tab:blue", "tab:orange")


# ---------------------------------------------------------------------------------------- circles


def _feature_label(row: pd.Series) -> str:
    return "\n".join(f"{name}={int(value)}" for name, value in row.items())


def circles_sample_images_figure(raw_specimens: Mapping[str, np.ndarray], features: pd.DataFrame, params: Mapping[str, Any]) -> Figure:
    """A grid of the first ``params.n_figure_images`` images, each annotated with its true features."""
    n_images = int(params.get("n_figure_images", 16))
    images = raw_specimens["images"][:n_images]
    labels = features.drop(columns="specimen_id").iloc[:n_images]
    cols = int(np.ceil(np.sqrt(len(images))))
    rows = int(np.ceil(len(images) / cols))
    fig, axes = subplots(rows, cols, figsize=(1.9 * cols, 2.3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, (_, row) in zip(axes.ravel(), images, labels.iterrows(), strict=False):
        ax.imshow(np.transpose(image, (1, 2, 0)).squeeze(), cmap="gray" if image.shape[0] == 1 else None)
        ax.set_title(_feature_label(row), fontsize=7)
    fig.suptitle("Sample specimens with their true features")
    fig.tight_layout()
    return fig


_HUE_CLASSES = ((0, "tab:red", "hue = 0 (red)"), (1, "tab:blue", "hue = 1 (blue)"))


def spectra_figure(raw_specimens: Mapping[str, np.ndarray], features: pd.DataFrame, n_curves: int = 200) -> Figure:
    """Spectra of the first ``n_curves`` specimens, coloured by hue (red / blue); with the scalar
    modality (``raw_specimens["scalars"] [N, S]``, circles ``render.scalars``) a second panel shows
    every specimen's first two scalars (or the one against the specimen index), coloured alike."""
    curves = raw_specimens["curves"][:n_curves]
    grid = raw_specimens["grid"]
    hue = features["hue"].to_numpy() if "hue" in features else np.zeros(len(raw_specimens["curves"]))
    scalars = raw_specimens.get("scalars")
    fig, axes = subplots(1, 1 if scalars is None else 2, figsize=(6 if scalars is None else 11, 3.5), squeeze=False)
    ax = axes[0, 0]
    for value, colour, name in _HUE_CLASSES:
        selected = curves[hue[:n_curves] == value]
        if len(selected):
            ax.plot(grid, selected.T, color=colour, alpha=0.15, linewidth=0.8)
            ax.plot([], [], color=colour, label=f"{name}, n = {len(selected)}")
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel("intensity")
    ax.set_title("Emission spectra coloured by hue")
    ax.legend(loc="upper right", fontsize=8)
    if scalars is not None:
        scalar_panel(axes[0, 1], scalars, [(hue == value, colour, name) for value, colour, name in _HUE_CLASSES])
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------- lattice


def lattice_sample_images_figure(raw_manifest: Mapping[str, Any], params: Mapping[str, Any] | None = None) -> Figure:
    """A grid of ``params.n_figure_images`` (default 16) readable specimen images.

    Specimens are taken round-robin over the joint feature outcomes (in manifest order within each),
    so rare outcomes such as defective thick struts appear too; each image is titled with its id and
    its true features in words.
    """
    n_images = int((params or {}).get("n_figure_images", 16))
    manifest = raw_manifest["manifest"]
    features = [c for c in LATTICE_FEATURES if c in manifest.columns]
    by_outcome: dict[tuple[int, ...], list[pd.Series]] = {}
    for _, record in manifest.iterrows():
        outcome = tuple(int(record[f]) for f in features)
        by_outcome.setdefault(outcome, []).append(record)
    # images are read (lazily, by the dataset) only for the specimens shown
    queues = [iter(by_outcome[key]) for key in sorted(by_outcome)]
    shown: list[tuple[pd.Series, np.ndarray]] = []
    while len(shown) < n_images and queues:
        for queue in list(queues):
            if len(shown) == n_images:
                break
            for record in queue:
                image = raw_manifest["images"].get(str(record["specimen_id"]))
                if image is not None and not isinstance(image, str):  # unreadable: ingestion reports it
                    shown.append((record, image_to_unit_float(image)))
                    break
            else:
                queues.remove(queue)
    shown.sort(key=lambda item: tuple(int(item[0][f]) for f in features))
    cols = max(1, int(np.ceil(np.sqrt(len(shown)))))
    rows = max(1, int(np.ceil(len(shown) / cols)))
    fig, axes = subplots(rows, cols, figsize=(2.0 * cols, 2.5 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (record, image) in zip(axes.ravel(), shown, strict=False):
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0.0, vmax=1.0)
        words = [FEATURE_VALUE_NAMES[f][int(record[f])] for f in features]
        ax.set_title(f"{record['specimen_id']}\n" + ", ".join(words), fontsize=7)
    fig.suptitle("Synthetic lattice specimens (family, strut thickness, print defect)")
    fig.tight_layout()
    return fig


def stress_strain_figure(raw_manifest: Mapping[str, Any], params: Mapping[str, Any] | None = None) -> Figure:
    """Raw stress-strain curves of the first ``params.n_figure_curves`` (default 300) specimens.

    Coloured by family; solid lines are intact specimens, dashed ones defective. Left panel linear
    stress (densification dominates), right panel log stress (elastic slope and plateau visible).
    Force/displacement curves are converted with the manifest's gauge length and area.
    """
    n_curves = int((params or {}).get("n_figure_curves", 300))
    manifest = raw_manifest["manifest"]
    fig, (linear, logarithmic) = subplots(1, 2, figsize=(11, 4.2))
    counts = {0: 0, 1: 0}
    for _, record in manifest.head(n_curves).iterrows():
        curve = raw_manifest["curves"].get(str(record["specimen_id"]))
        if curve is None or isinstance(curve, str):
            continue
        strain, stress = _stress_strain(curve, record)
        family = int(record["family"]) if "family" in record.index else 0
        defect = int(record["defect"]) if "defect" in record.index else 0
        style = {"color": _FAMILY_COLOURS[family], "alpha": 0.25, "linewidth": 0.7, "linestyle": "--" if defect else "-"}
        linear.plot(strain, stress, **style)
        positive = stress > 0
        logarithmic.plot(strain[positive], stress[positive], **style)
        counts[family] += 1
    for family, colour in enumerate(_FAMILY_COLOURS):
        label = f"{FEATURE_VALUE_NAMES['family'][family]}-dominated, n = {counts[family]}"
        linear.plot([], [], color=colour, label=label)
    linear.plot([], [], color="gray", linestyle="--", label="defective (dashed)")
    for ax, title in ((linear, "stress-strain tests"), (logarithmic, "same, log stress")):
        ax.set_xlabel("strain")
        ax.set_ylabel("stress (MPa)")
        ax.set_title(title)
    logarithmic.set_yscale("log")
    linear.legend(loc="upper left", fontsize=8)
    fig.suptitle("Synthetic lattice stress-strain curves coloured by family")
    fig.tight_layout()
    return fig


def _stress_strain(curve: pd.DataFrame, record: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Strain and stress of a raw curve table (``strain, stress`` or ``displacement, force``)."""
    if {"strain", "stress"} <= set(curve.columns):
        return curve["strain"].to_numpy(dtype=np.float64), curve["stress"].to_numpy(dtype=np.float64)
    return force_displacement_to_stress_strain(
        curve["force"].to_numpy(dtype=np.float64),
        curve["displacement"].to_numpy(dtype=np.float64),
        float(record["gauge_length"]),
        float(record["cross_section_area"]),
    )
