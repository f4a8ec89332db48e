"""Raw specimen set -> model input (any data set: circles, lattice, ...); the ``data_processing`` nodes.

A raw specimen set is a dict ``{"images": [N, C, H, W], "curves": [N, L], "grid": [L]}``, optionally
the array of each tabular modality (``core.modality_spec``: ``{array_key: [N, S]}``, a row with a NaN
for a specimen that misses it), plus an optional label table (``specimen_id`` and one 0/1 column per known feature; labels are carried
along for evaluation only and never used for training or model selection).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from causal_pima.core.curve_scale import (
    AUTO_SPAN_RATIO,
    auto_asinh_scale,
    auto_transform,
    size_span,
    to_model_scale,
    transform,
)
from causal_pima.core.modality_spec import tabular_specs

logger = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
DEFAULT_SPLIT: Mapping[str, float] = MappingProxyType({"train": 0.8, "val": 0.1, "test": 0.1})


@dataclass(frozen=True)
class ProcessingConfig:
    """The ``data_processing`` parameters and their defaults (the parameter schema takes them from here):
    the split's ``seed`` and fractions, the pixel range every image must lie in, and the curve scale
    (``curve_scaling``, ``curve_std_floor``, ``curve_transform``, ``curve_asinh_scale``: docs/model.md
    "Curve scale")."""

    seed: int = 0
    split: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SPLIT))
    image_range: tuple[float, float] = (0.0, 1.0)
    curve_scaling: str = "global"
    curve_std_floor: float = 1e-6
    curve_transform: str = "auto"
    curve_asinh_scale: float | None = None


class SpecimenValidationError(ValueError):
    """A raw specimen set violates the model-input contract."""


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _check_same_specimens(raw_specimens: Mapping[str, np.ndarray], labels: pd.DataFrame | None) -> None:
    """The specimens and their features name the same specimens in the same order (both carry ``specimen_id``).

    Counts alone do not show a pair from two runs: a manifest re-ingested in another order gives as
    many rows, each image beside another specimen's features (issue 24, item 2).
    """
    if labels is None or "specimen_id" not in labels.columns or "specimen_id" not in raw_specimens:
        return
    ids = np.asarray(raw_specimens["specimen_id"]).astype(str)
    feature_ids = labels["specimen_id"].astype(str).to_numpy()
    differ = np.flatnonzero(ids != feature_ids)
    if differ.size:
        row = int(differ[0])
        raise SpecimenValidationError(
            f"the specimens (specimens.npz) and their features (features.csv) do not belong together: row {row} is "
            f"specimen {str(ids[row])!r} in specimens.npz but {str(feature_ids[row])!r} in features.csv ({differ.size} of {len(ids)} "
            "rows differ). They come from different runs; write both again with the ingestion pipeline "
            "(kedro run --pipelines <dataset>_ingestion)"
        )


def validate_specimens(
    raw_specimens: Mapping[str, np.ndarray], labels: pd.DataFrame, params: Mapping[str, Any]
) -> dict[str, Any]:
    """Check shapes, finiteness and value ranges; raise naming the specimen index and the problem.

    Returns a small report (counts and shapes) that downstream nodes take as input, so nothing is
    built from a set that was not validated.
    """
    for key in ("images", "curves", "grid"):
        if key not in raw_specimens:
            raise SpecimenValidationError(f"raw specimen set has no '{key}' array (keys: {sorted(raw_specimens)})")
    images, curves, grid = (np.asarray(raw_specimens[k]) for k in ("images", "curves", "grid"))
    if images.ndim != 4:
        raise SpecimenValidationError(f"images must be [N, C, H, W], got shape {images.shape}")
    if curves.ndim != 2:
        raise SpecimenValidationError(f"curves must be [N, L], got shape {curves.shape}")
    if grid.ndim != 1 or grid.shape[0] != curves.shape[1]:
        raise SpecimenValidationError(f"grid must be [L] with L = {curves.shape[1]} (curve length), got shape {grid.shape}")
    if not (np.isfinite(grid).all() and (np.diff(grid) > 0).all()):
        raise SpecimenValidationError("grid must be finite and strictly increasing")
    n = images.shape[0]
    if n == 0:
        raise SpecimenValidationError("the raw specimen set is empty (0 specimens)")
    if curves.shape[0] != n:
        raise SpecimenValidationError(f"{n} images but {curves.shape[0]} curves: every specimen needs a row in both (a NaN row where it was not measured)")
    if labels is not None and len(labels) and len(labels) != n:
        raise SpecimenValidationError(f"{n} specimens but {len(labels)} label rows")
    _check_same_specimens(raw_specimens, labels)
    low, high = params.get("image_range", ProcessingConfig.image_range)
    per_specimen_image = images.reshape(n, -1)
    not_measured = _not_measured(per_specimen_image, curves, raw_specimens)
    checks = [
        (~np.isfinite(per_specimen_image).all(axis=1) & ~not_measured["image"], "image has NaN or inf values"),
        (~np.isfinite(curves).all(axis=1) & ~not_measured["curve"], "curve has NaN or inf values"),
        ((per_specimen_image < low) | (per_specimen_image > high)).any(axis=1),
    ]
    checks[2] = (checks[2], f"image values outside [{low}, {high}]")
    for bad, problem in checks:
        if bad.any():
            index = _first_bad(bad)
            raise SpecimenValidationError(f"specimen {index}: {problem} ({int(bad.sum())} specimens affected)")
    tabular = _check_tabular(raw_specimens, n)
    label_columns = [c for c in (labels.columns if labels is not None else []) if c != "specimen_id"]
    for column in label_columns:
        values = labels[column].to_numpy()
        bad = ~np.isin(values, (0, 1))
        if bad.any():
            value = values[_first_bad(bad)]
            value = value.item() if hasattr(value, "item") else value
            raise SpecimenValidationError(f"specimen {_first_bad(bad)}: label '{column}' is {value!r}, expected 0 or 1")
    report = {
        "n_specimens": int(n),
        "image_shape": list(images.shape[1:]),
        "curve_length": int(curves.shape[1]),
        "label_columns": label_columns,
    }
    if tabular:  # only sets with a tabular modality carry the key (the others' report is as it was)
        report["tabular"] = tabular
    if any(v.any() for v in not_measured.values()):  # only sets with unmeasured specimens carry the key
        report["not_measured"] = {m: int(v.sum()) for m, v in not_measured.items()}
    return report


def _not_measured(images: np.ndarray, curves: np.ndarray, raw_specimens: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{"image": bool [N], "curve": bool [N]}``: the specimens whose image ``[N, C*H*W]`` / curve ``[N, L]``
    is a NaN row (not measured: an empty path cell in the manifest). A specimen with no modality at all
    (no image, no curve and no tabular values) is refused, naming it."""
    missing = {"image": np.isnan(images).all(axis=1), "curve": np.isnan(curves).all(axis=1)}
    none = missing["image"] & missing["curve"]
    for spec in tabular_specs().values():
        if spec.array_key in raw_specimens:
            none &= np.isnan(np.asarray(raw_specimens[spec.array_key], dtype=np.float64)).any(axis=1)
    if none.any():
        raise SpecimenValidationError(f"specimen {_first_bad(none)}: no modality measured (its image and curve are missing, "
                                      f"and any tabular values) ({int(none.sum())} specimens affected)")
    return missing


def _check_tabular(raw_specimens: Mapping[str, np.ndarray], n: int) -> dict[str, dict[str, int]]:
    """The tabular modalities' arrays ``[N, S]`` present in the set: ``{array_key: {"columns": S,
    "missing": specimens with a NaN}}``; an inf, or a shape other than ``[N, S]``, is refused naming the
    specimen."""
    found = {}
    for spec in tabular_specs().values():
        if spec.array_key not in raw_specimens:
            continue
        values = np.asarray(raw_specimens[spec.array_key], dtype=np.float64)
        if values.ndim != 2 or values.shape[0] != n:
            raise SpecimenValidationError(f"{spec.array_key} must be [N, S] with N = {n} specimens, got shape {values.shape}")
        bad = np.isinf(values).any(axis=1)
        if bad.any():
            raise SpecimenValidationError(f"specimen {_first_bad(bad)}: {spec.array_key} has inf values ({int(bad.sum())} specimens affected)")
        found[spec.array_key] = {"columns": int(values.shape[1]), "missing": int(np.isnan(values).any(axis=1).sum())}
    return found


def standardise_tabular(values: np.ndarray, train_index: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(standardised [N, S] float32, mean [S], std [S])`` of a tabular modality's values: each column
    by the mean and standard deviation of the training split's specimens that have it (rows with a NaN
    are missing: left out of the statistics and kept as NaN rows).

    Raises:
        SpecimenValidationError: a column with fewer than two training values, or a constant one.
    """
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values).any(axis=1)
    values = np.where(missing[:, None], np.nan, values)  # a row with a NaN is missing as a whole
    train = values[train_index][~missing[train_index]]
    if len(train) < 2:
        raise SpecimenValidationError(
            f"{name}: {len(train)} training specimens have these values; at least 2 are needed to standardise them"
        )
    mean, std = train.mean(axis=0), train.std(axis=0)
    constant = np.flatnonzero(~(std > 0))
    if constant.size:
        raise SpecimenValidationError(f"{name}: column {int(constant[0])} is constant on the training split (std 0); leave it out")
    return ((values - mean) / std).astype(np.float32), mean, std


def split_specimens(report: Mapping[str, Any], params: Mapping[str, Any]) -> pd.DataFrame:
    """Assign every specimen to train / val / test with a fixed seed (default 80/10/10).

    Raises:
        SpecimenValidationError: when a split would be empty (too few specimens for the fractions).
    """
    fractions = params.get("split", DEFAULT_SPLIT)
    if set(fractions) != set(SPLITS):
        raise ValueError(f"data_processing.split needs exactly the keys {SPLITS}, got {sorted(fractions)}")
    weights = np.array([float(fractions[s]) for s in SPLITS])
    if (weights < 0).any() or not np.isclose(weights.sum(), 1.0):
        raise ValueError(f"data_processing.split fractions must be >= 0 and sum to 1, got {dict(fractions)}")
    n = int(report["n_specimens"])
    # largest-remainder rounding: sizes differ from weights * n by less than 1 and sum to n
    shares = weights * n
    counts = np.floor(shares + 1e-9).astype(int)
    remainder = shares - counts
    for i in np.argsort(-remainder, kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    # a split with a positive fraction that rounding left empty takes one specimen from the largest
    for i in np.flatnonzero((counts == 0) & (weights > 0)):
        largest = int(np.argmax(counts))
        if counts[largest] > 1:
            counts[largest] -= 1
            counts[i] += 1
    empty = [name for name, count in zip(SPLITS, counts, strict=True) if count == 0]
    if empty:
        sizes = ", ".join(f"{count} {name}" for name, count in zip(SPLITS, counts, strict=True))
        raise SpecimenValidationError(
            f"too few specimens for the split: {n} specimen(s) with split fractions {dict(fractions)} give "
            f"{sizes}, so the {' and '.join(empty)} split(s) would be empty; every split needs at least "
            "one specimen. Use more specimens or change the split parameter (data_processing.split; "
            "data_processing_<dataset>.split for another data set, e.g. data_processing_lattice.split)"
        )
    order = np.random.default_rng(int(params.get("seed", ProcessingConfig.seed))).permutation(n)
    split = np.empty(n, dtype=object)
    for name, chunk in zip(SPLITS, np.split(order, np.cumsum(counts)[:-1]), strict=True):
        split[chunk] = name
    return pd.DataFrame({"specimen_index": np.arange(n), "split": split.astype(str)})


def fit_curve_scaler(raw_specimens: Mapping[str, np.ndarray], split: pd.DataFrame, params: Mapping[str, Any]) -> dict[str, Any]:
    """Curve transform and standardisation statistics from the training split only.

    ``curve_transform: asinh`` first maps every stress ``s`` to ``asinh(s / c)`` (log-like above
    ``c``; docs/model.md "Curve scale"), with ``c = curve_asinh_scale`` or, when that is null, a tenth
    of the training curves' median RMS (``core.curve_scale.auto_asinh_scale``); ``linear`` keeps the
    stresses; ``auto`` takes ``asinh`` when the training curves' sizes span a decade
    (``core.curve_scale.auto_transform``: 95th / 5th percentile of the per-curve RMS >= 10), else
    ``linear``. The mean is per grid point. ``curve_scaling: global`` (default) divides by
    one pooled standard deviation, so grid points where the curves carry only measurement noise stay
    small; ``pointwise`` divides every grid point by its own standard deviation (which blows that
    noise up to unit variance). Returns ``{"mean": [L], "std": [L], "asinh_scale", "n_train",
    "scaling", "transform", "transform_requested", "size_span"}`` (``asinh_scale`` 0 for linear;
    ``transform`` is the one used, ``size_span`` the ratio ``auto`` compares).
    """
    train_index = split.loc[split["split"] == "train", "specimen_index"].to_numpy()
    train = np.asarray(raw_specimens["curves"], dtype=np.float64)[train_index]
    measured = ~np.isnan(train).all(axis=1)  # a NaN row: a specimen without a curve, left out of the statistics
    if not measured.all():
        train = train[measured]
    if len(train) < 2:
        raise ValueError(f"the training split has {len(train)} specimens with a curve; at least 2 are needed to standardise curves")
    scaling = params.get("curve_scaling", ProcessingConfig.curve_scaling)
    if scaling not in ("global", "pointwise"):
        raise ValueError(f"data_processing.curve_scaling must be 'global' or 'pointwise', got {scaling!r}")
    requested = params.get("curve_transform", ProcessingConfig.curve_transform)
    if requested not in ("linear", "asinh", "auto"):
        raise ValueError(f"data_processing.curve_transform must be 'linear', 'asinh' or 'auto', got {requested!r}")
    span = size_span(train)
    kind = auto_transform(train) if requested == "auto" else requested
    if kind == "linear":
        asinh_scale = 0.0
    elif kind == "asinh":
        given = params.get("curve_asinh_scale")
        asinh_scale = auto_asinh_scale(train) if given is None else float(given)
        if not asinh_scale > 0:
            raise ValueError(f"data_processing.curve_asinh_scale must be > 0 (or null for automatic), got {given!r}")
    logger.info(
        "curve scale: %s%s (training curve sizes span %.1fx, 95th / 5th percentile of the per-curve RMS%s)",
        kind, f" with c = {asinh_scale:.4g}" if kind == "asinh" else "", span,
        f"; curve_transform: auto takes asinh from {AUTO_SPAN_RATIO:g}x" if requested == "auto" else "",
    )
    train = transform(train, asinh_scale)
    mean = train.mean(axis=0)
    if scaling == "global":
        std = np.full(train.shape[1], np.sqrt(((train - mean) ** 2).mean()))
    else:
        std = train.std(axis=0)
    floor = float(params.get("curve_std_floor", ProcessingConfig.curve_std_floor))
    return {
        "mean": mean.tolist(),
        "std": np.maximum(std, floor).tolist(),
        "asinh_scale": asinh_scale,
        "n_train": len(train),
        "scaling": scaling,
        "transform": kind,
        "transform_requested": requested,
        "size_span": span,
    }


def build_model_input(
    raw_specimens: Mapping[str, np.ndarray],
    labels: pd.DataFrame,
    split: pd.DataFrame,
    curve_scaler: Mapping[str, Any],
    report: Mapping[str, Any],
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The three model-input sets ``{images, curves (on the model scale), grid, curve_mean, curve_std,
    curve_asinh_scale, index, specimen_id, labels, label_names}``, and for each tabular modality the raw
    set has (the validation report's ``tabular``) its standardised values ``<key> [N, S]`` (NaN rows:
    missing) with ``<key>_mean``, ``<key>_std`` ``[S]`` (:func:`standardise_tabular`)."""
    images = np.asarray(raw_specimens["images"], dtype=np.float32)
    mean = np.asarray(curve_scaler["mean"])
    std = np.asarray(curve_scaler["std"])
    asinh_scale = float(curve_scaler.get("asinh_scale", 0.0))
    curves = to_model_scale(np.asarray(raw_specimens["curves"], dtype=np.float64), mean, std, asinh_scale).astype(np.float32)
    ids = labels["specimen_id"].astype(str).to_numpy() if labels is not None and "specimen_id" in labels else np.arange(len(images)).astype(str)
    for name, values in (("images", images), ("curves", curves)):  # a degenerate transform, caught where it is written
        rows = values.reshape(len(values), -1)
        bad = ~np.isfinite(rows).all(axis=1) & ~np.isnan(rows).all(axis=1)  # a NaN row: not measured
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"the model input's {name} are not finite for {int(bad.sum())} of {len(values)} specimens (first: "
                f"specimen {ids[first]!r}): nothing was written. "
                + ("The curve transform overflowed: check data_processing.curve_asinh_scale (c = "
                   f"{asinh_scale:g}) against the curves' size." if name == "curves" else "Check the raw images.")
            )
    train_index = split.loc[split["split"] == "train", "specimen_index"].to_numpy()
    tabular = {}  # each tabular modality's standardised values, mean and std (only those the set has)
    for key in report.get("tabular", {}):
        tabular[key] = standardise_tabular(raw_specimens[key], train_index, key)
    label_names = list(report["label_columns"])
    label_values = labels[label_names].to_numpy(dtype=np.int8) if label_names else np.zeros((len(images), 0), np.int8)
    sets = []
    for name in ("train", "val", "test"):
        index = split.loc[split["split"] == name, "specimen_index"].to_numpy()
        sets.append(
            {
                "images": images[index],
                "curves": curves[index],
                "grid": np.asarray(raw_specimens["grid"], dtype=np.float32),
                "curve_mean": mean.astype(np.float32),
                "curve_std": std.astype(np.float32),
                "curve_asinh_scale": np.float64(asinh_scale),
                "index": index.astype(np.int64),
                "specimen_id": ids[index].astype(str),
                "labels": label_values[index],
                "label_names": np.asarray(label_names, dtype=str),
            }
        )
        for key, (values, mean_of, std_of) in tabular.items():
            sets[-1].update({key: values[index], f"{key}_mean": mean_of.astype(np.float32), f"{key}_std": std_of.astype(np.float32)})
    return sets[0], sets[1], sets[2]
