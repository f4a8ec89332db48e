"""Nodes of the ``circles`` pipeline: pure functions of parameters and datasets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from causal_pima.core.outcomes import joint_outcomes  # noqa: E402
from causal_pima.data.circles import CirclesRenderConfig, render_circles  # noqa: E402
from causal_pima.data.scm import BinarySCM  # noqa: E402

# independent random streams derived from the one seed parameter
_FEATURE_STREAM, _RENDER_STREAM = 0, 1


def build_scm(params: Mapping[str, Any]) -> BinarySCM:
    """The structural causal model of the selected configuration (``params.configuration``)."""
    name = params["configuration"]
    configurations = params["configurations"]
    if name not in configurations:
        raise ValueError(
            f"circles.configuration '{name}' is not defined; choose one of {sorted(configurations)}"
        )
    return BinarySCM.from_config(configurations[name])


def true_dag_record(scm: BinarySCM, configuration: str) -> dict[str, Any]:
    """JSON record of a ground-truth DAG: features, edge list and conditional probability tables."""
    return {
        "configuration": configuration,
        "features": list(scm.features),
        "edges": [list(edge) for edge in scm.edges()],
        "scm": scm.to_config(),
    }


def generate_features(params: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Sample the ground-truth binary features of ``params.n_specimens`` specimens.

    Returns the feature table (``specimen_id`` plus one 0/1 column per feature) and the true DAG.
    """
    scm = build_scm(params)
    rng = np.random.default_rng([int(params["seed"]), _FEATURE_STREAM])
    features = scm.sample(int(params["n_specimens"]), rng)
    features.insert(0, "specimen_id", np.arange(len(features)))
    return features, true_dag_record(scm, params["configuration"])


def exact_distributions(true_dag: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The exact observational joint and every single-node interventional distribution.

    Returns ``joint`` (one row per outcome: feature columns + ``probability``) and
    ``interventional`` (rows for every ``do(feature = value)``: ``intervened``, ``value``, the
    feature columns and ``probability``).
    """
    scm = BinarySCM.from_config(true_dag["scm"])
    outcomes = pd.DataFrame(joint_outcomes(len(scm.features)), columns=list(scm.features))
    joint = outcomes.assign(probability=scm.joint())
    blocks = []
    for feature in scm.features:
        for value in (0, 1):
            block = outcomes.assign(probability=scm.interventional(feature, value))
            block.insert(0, "value", value)
            block.insert(0, "intervened", feature)
            blocks.append(block)
    return joint, pd.concat(blocks, ignore_index=True)


def render_specimens(features: pd.DataFrame, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Render the raw specimen set: images ``[N, 3, H, W]``, spectra ``[N, L]`` and their grid ``[L]``."""
    rng = np.random.default_rng([int(params["seed"]), _RENDER_STREAM])
    images, spectra, wavelengths = render_circles(
        features.drop(columns="specimen_id"), rng, CirclesRenderConfig(**params.get("render", {}))
    )
    return {"images": images, "curves": spectra, "grid": wavelengths}


def _feature_label(row: pd.Series) -> str:
    return "\n".join(f"{name}={int(value)}" for name, value in row.items())


def plot_sample_images(raw_specimens: Mapping[str, np.ndarray], features: pd.DataFrame, params: Mapping[str, Any]) -> Figure:
    """A grid of the first ``params.n_figure_images`` images, each annotated with its true features."""
    n_images = int(params.get("n_figure_images", 16))
    images = raw_specimens["images"][:n_images]
    labels = features.drop(columns="specimen_id").iloc[:n_images]
    cols = int(np.ceil(np.sqrt(len(images))))
    rows = int(np.ceil(len(images) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 2.3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, (_, row) in zip(axes.ravel(), images, labels.iterrows(), strict=False):
        ax.imshow(np.transpose(image, (1, 2, 0)).squeeze(), cmap="gray" if image.shape[0] == 1 else None)
        ax.set_title(_feature_label(row), fontsize=7)
    fig.suptitle("Sample specimens with their true features")
    fig.tight_layout()
    return fig


def plot_spectra(raw_specimens: Mapping[str, np.ndarray], features: pd.DataFrame, n_curves: int = 200) -> Figure:
    """Spectra of the first ``n_curves`` specimens, coloured by hue (red / blue)."""
    curves = raw_specimens["curves"][:n_curves]
    grid = raw_specimens["grid"]
    hue = features["hue"].to_numpy()[:n_curves] if "hue" in features else np.zeros(len(curves))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for value, colour, name in ((0, "tab:red", "hue = 0 (red)"), (1, "tab:blue", "hue = 1 (blue)")):
        selected = curves[hue == value]
        if len(selected):
            ax.plot(grid, selected.T, color=colour, alpha=0.15, linewidth=0.8)
            ax.plot([], [], color=colour, label=f"{name}, n = {len(selected)}")
    ax.set_xlabel("wavelength (nm)")
    ax.set_ylabel("intensity")
    ax.set_title("Emission spectra coloured by hue")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig
