"""The run's model-input sets as MLflow input datasets (``mlflow.log_input``).

A model-input set (the catalog's ``{dataset}.{split}_set``, ``data/05_model_input/<dataset>/<split>/``)
becomes an ``mlflow.data`` numpy dataset named like its catalog entry, with its folder as the source:
features ``images [N, C, H, W]`` and ``curves [N, L]`` (those present), targets ``labels [N, m]``
when the set has labels. MLflow records its digest (a hash of the arrays' first rows and shapes),
its schema (tensor shapes) and its number of rows, under the run's "Datasets used", with the context
of its split (:data:`SPLIT_CONTEXTS`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

SPLIT_CONTEXTS = {"train": "training", "val": "validation", "test": "testing"}
SET_NAME = re.compile(r"^(?P<dataset>[A-Za-z0-9_]+)\.(?P<split>train|val|test)_set$")
FEATURE_ARRAYS = ("images", "curves")


def model_input_dataset(arrays: Mapping[str, np.ndarray], name: str, source: str | Path):
    """An ``mlflow.data`` numpy dataset of one model-input set: features ``images``/``curves``, targets ``labels``."""
    import mlflow

    features = {key: np.asarray(arrays[key]) for key in FEATURE_ARRAYS if key in arrays}
    if not features:
        raise ValueError(f"the model-input set {name} ({source}) has none of the arrays {list(FEATURE_ARRAYS)}")
    labels = arrays.get("labels")
    targets = np.asarray(labels) if labels is not None and np.size(labels) else None
    with warnings.catch_warnings():  # MLflow registers two local-file sources for a path and says it picked one
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple ways")
        return mlflow.data.from_numpy(features, source=str(source), targets=targets, name=name)


def log_model_input_sets(sets: Mapping[str, tuple[Mapping[str, np.ndarray], str | Path]]) -> dict[str, object]:
    """Log each ``{catalog name: (arrays, folder)}`` set as an input of the active run; returns the datasets by name.

    The catalog name must be ``<dataset>.<split>_set`` (:data:`SET_NAME`); its split gives the context.
    """
    import mlflow

    logged = {}
    for name, (arrays, folder) in sets.items():
        match = SET_NAME.match(name)
        if match is None:
            raise ValueError(f"{name!r} is not a model-input set name <dataset>.<train|val|test>_set")
        dataset = model_input_dataset(arrays, name, Path(folder).resolve())
        mlflow.log_input(dataset, context=SPLIT_CONTEXTS[match["split"]])
        logged[name] = dataset
    return logged
