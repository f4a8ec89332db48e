"""The circles data set from parameters: features sampled from the configured SCM, their exact
distributions and the rendered specimens (the ``circles`` nodes; the renderer is
:mod:`causal_pima.data.circles`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from causal_pima.core.outcomes import joint_outcomes
from causal_pima.data.circles import CirclesRenderConfig, render_circles, render_scalars
from causal_pima.data.scm import BinarySCM, true_dag_record

# independent random streams derived from the one seed parameter
_FEATURE_STREAM, _RENDER_STREAM, _SCALAR_STREAM = 0, 1, 2


def build_scm(params: Mapping[str, Any]) -> BinarySCM:
    """The structural causal model of the selected configuration (``params.configuration``)."""
    name = params["configuration"]
    configurations = params["configurations"]
    if name not in configurations:
        raise ValueError(
            f"circles.configuration '{name}' is not defined; choose one of {sorted(configurations)}"
        )
    return BinarySCM.from_config(configurations[name])


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
    """Render the raw specimen set: images ``[N, 3, H, W]``, spectra ``[N, L]`` and their grid ``[L]``, and
    with ``render.scalars`` the scalar measurements ``scalars [N, 2]`` (their own random stream)."""
    rng = np.random.default_rng([int(params["seed"]), _RENDER_STREAM])
    config = CirclesRenderConfig(**params.get("render", {}))
    images, spectra, wavelengths = render_circles(features.drop(columns="specimen_id"), rng, config)
    specimens = {"images": images, "curves": spectra, "grid": wavelengths}
    if config.scalars:
        scalar_rng = np.random.default_rng([int(params["seed"]), _SCALAR_STREAM])
        specimens["scalars"] = render_scalars(features.drop(columns="specimen_id"), scalar_rng, config)
    return specimens
