"""Nodes of the ``lattice_synthetic`` pipeline: pure functions of parameters and datasets.

The raw stand-in is the dict that ``causal_pima.datasets.SpecimenManifestDataset`` saves and loads:
``{"manifest": DataFrame, "images": {id: [H, W]}, "curves": {id: DataFrame}}`` (loading adds
``"folder"`` / ``"manifest_file"``, images come back as stored, e.g. uint8 for PNG, and an unreadable
file comes back as a message string). The plotting nodes accept both forms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from causal_pima.data.lattice import LATTICE_FEATURES, generate_lattice_raw  # noqa: E402
from causal_pima.data.scm import BinarySCM  # noqa: E402
from causal_pima.data.specimens import (  # noqa: E402
    force_displacement_to_stress_strain,
    image_to_unit_float,
)
from causal_pima.pipelines.circles.nodes import true_dag_record  # noqa: E402

# Words for the 0 / 1 values of each feature (figure labels only).
FEATURE_VALUE_NAMES = {
    "family": ("bending", "stretching"),
    "thickness": ("thin", "thick"),
    "defect": ("intact", "defect"),
}
_FAMILY_COLOURS = ("tab:blue", "tab:orange")


def generate_raw(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Generate the raw lattice stand-in and its ground-truth DAG record.

    Args:
        params: ``n_specimens``, ``seed``, ``dag`` (``BinarySCM.from_config`` format over
            ``family, thickness, defect``), optional ``configuration`` (a name for the DAG, default
            ``"custom"``), ``config`` (``LatticeConfig`` keyword arguments), ``curve_format``
            (``stress_strain`` | ``force_displacement``), ``gauge_length``, ``cross_section_area``.

    Returns:
        ``(raw_manifest, true_dag)``: the tables for ``SpecimenManifestDataset.save`` and the JSON
        record ``{configuration, features, edges, scm}`` (same layout as the circles true DAG).
    """
    scm = BinarySCM.from_config(params["dag"])
    raw = generate_lattice_raw(
        n_specimens=int(params["n_specimens"]),
        seed=int(params["seed"]),
        dag=params["dag"],
        config=dict(params.get("config") or {}),
        curve_format=params.get("curve_format", "stress_strain"),
        gauge_length=float(params.get("gauge_length", 20.0)),
        cross_section_area=float(params.get("cross_section_area", 400.0)),
    )
    return raw, true_dag_record(scm, str(params.get("configuration", "custom")))


# ---------------------------------------------------------------------------------------- figures


def plot_sample_images(raw_manifest: Mapping[str, Any], params: Mapping[str, Any] | None = None) -> Figure:
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
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, 2.5 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (record, image) in zip(axes.ravel(), shown, strict=False):
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0.0, vmax=1.0)
        words = [FEATURE_VALUE_NAMES[f][int(record[f])] for f in features]
        ax.set_title(f"{record['specimen_id']}\n" + ", ".join(words), fontsize=7)
    fig.suptitle("Synthetic lattice specimens (family, strut thickness, print defect)")
    fig.tight_layout()
    return fig


def plot_stress_strain(raw_manifest: Mapping[str, Any], params: Mapping[str, Any] | None = None) -> Figure:
    """Raw stress-strain curves of the first ``params.n_figure_curves`` (default 300) specimens.

    Coloured by family; solid lines are intact specimens, dashed ones defective. Left panel linear
    stress (densification dominates), right panel log stress (elastic slope and plateau visible).
    Force/displacement curves are converted with the manifest's gauge length and area.
    """
    n_curves = int((params or {}).get("n_figure_curves", 300))
    manifest = raw_manifest["manifest"]
    fig, (linear, logarithmic) = plt.subplots(1, 2, figsize=(11, 4.2))
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
