"""Bridge between model-input sets (dicts of numpy arrays from the catalog) and model tensors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

import numpy as np

from causal_pima.core.batching import specimen_tensors
from causal_pima.core.curve_scale import to_physical
from causal_pima.core.modality_spec import CURVE, IMAGE, MODALITY_SPECS, modality_spec
from causal_pima.core.model_config import ModelConfig, PriorConfig

__all__ = ["baseline_curve", "curve_asinh_scale", "model_config_from_data", "physical_curves", "specimen_tensors"]  # specimen_tensors lives in core.batching

def model_config_from_data(train_set: Mapping[str, np.ndarray], model_params: Mapping[str, Any]) -> ModelConfig:
    """A :class:`ModelConfig` whose input shapes come from the data and the rest from parameters.

    ``model_params.modalities`` selects the modalities (``[image, curve]`` by default; ``[image]``
    for the image-only ablation); each one's shape comes from the array its spec names. The prior's
    settings are not model parameters (their one place is ``causal_pima.prior``): the config holds
    :class:`PriorConfig`'s defaults, which a fit replaces
    (:func:`causal_pima.core.readout.model_from_pretrained`); a prior key here is a ``ValueError``.
    """
    for name in model_params.get("modalities", ()):
        modality_spec(name)  # an unknown name is refused, naming the known ones
    params = dict(model_params)
    prior_keys = sorted(set(params) & {f.name for f in fields(PriorConfig)})
    if prior_keys:
        raise ValueError(f"model parameter(s) {prior_keys} are prior settings, whose one place is causal_pima.prior "
                         f"(e.g. causal_pima.prior.{prior_keys[0]}); move them there")
    modalities = tuple(params.pop("modalities", (IMAGE, CURVE)))
    shapes = {}  # each modality's network fields from its array's per-specimen shape (None: not used)
    for name, spec in MODALITY_SPECS.items():
        if name in modalities and spec.array_key not in train_set:
            raise ValueError(f"model.modalities names {name!r} but the model input has no '{spec.array_key}' array "
                             f"(arrays: {sorted(train_set)}); leave {name!r} out of model.modalities or give the data set that modality")
        shapes.update(spec.config_fields(tuple(train_set[spec.array_key].shape[1:]) if name in modalities else None))
    if params.get("curve_decoder") == "physics" and params.get("physics_modality", CURVE) in modalities:
        # the physics expert predicts physical curves and compares them after the same standardisation
        params.update(
            curve_grid=[float(v) for v in train_set["grid"]],
            curve_mean=[float(v) for v in train_set["curve_mean"]],
            curve_std=[float(v) for v in train_set["curve_std"]],
            curve_asinh_scale=curve_asinh_scale(train_set),
        )
    return ModelConfig.from_dict(
        {**params, **shapes, "modality_names": list(modalities)}
    )


def curve_asinh_scale(data_set: Mapping[str, np.ndarray]) -> float:
    """The set's curve asinh scale (0: linear; sets written before the transform existed have none)."""
    return float(data_set["curve_asinh_scale"]) if "curve_asinh_scale" in data_set else 0.0


def physical_curves(data_set: Mapping[str, np.ndarray], curves: np.ndarray | None = None) -> np.ndarray:
    """Curves ``[N, L]`` of a model-input set (or ``curves`` on its scale) in physical units, float64."""
    values = np.asarray(data_set["curves"] if curves is None else curves, dtype=np.float64)
    mean = np.asarray(data_set["curve_mean"], dtype=np.float64)
    std = np.asarray(data_set["curve_std"], dtype=np.float64)
    return to_physical(values, mean, std, curve_asinh_scale(data_set))


def baseline_curve(data_set: Mapping[str, np.ndarray]) -> np.ndarray:
    """The training mean curve ``[L]`` in physical units: the mean on the model's curve scale (0 there)
    mapped back, so the plain mean on the linear scale and a geometric-mean-like curve on the asinh scale."""
    return physical_curves(data_set, np.zeros((1, np.shape(data_set["curves"])[1])))[0]
