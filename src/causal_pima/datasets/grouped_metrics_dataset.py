"""MLflow metrics named in ``/``-separated groups (issue 23, item 7).

kedro-mlflow's ``MlflowMetricsHistoryDataset`` names a metric ``<prefix>.<key>``; the MLflow UI groups
metric panels by ``/`` only, so ``circles.fit.val_elbo`` and 60 others sat in one flat panel. This
dataset logs the same values as ``circles/fit/val_elbo``: the prefix and every ``.`` of the key become
``/``, and a DAG weight column ``edge_<i>_<j>`` becomes ``edge/N<i>_to_N<j>`` (node ``i`` to node ``j``).
The nodes keep writing their metrics as before (``{"fit.val_elbo": [{"step": e, "value": v}, ...]}``).
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

from kedro.io import DatasetError
from kedro_mlflow.io.metrics import MlflowMetricsHistoryDataset

_EDGE = re.compile(r"^edge_(\d+)_(\d+)$")
_NOT_ALLOWED = re.compile(r"[^\w\-. :/]")  # MLflow metric names: alphanumerics, _ - . space : /


def grouped_metric_name(prefix: str | None, key: str) -> str:
    """``("circles", "fit.val_elbo")`` -> ``circles/fit/val_elbo``; ``fit.edge_1_0`` -> ``fit/edge/N1_to_N0``;
    characters MLflow does not accept in a name become ``_``."""
    parts = ([prefix] if prefix else []) + key.split(".")
    parts = [_EDGE.sub(r"edge/N\1_to_N\2", part) for part in parts]
    return _NOT_ALLOWED.sub("_", "/".join(parts))


def metric_name_part(name: str) -> str:
    """A free-form name (a feature of your data) as one group level: no ``.`` or ``/`` inside, only characters
    MLflow accepts."""
    return _NOT_ALLOWED.sub("_", str(name).replace(".", "_").replace("/", "_"))


class GroupedMetricsDataset(MlflowMetricsHistoryDataset):
    """``MlflowMetricsHistoryDataset`` whose metric names are ``/``-grouped (:func:`grouped_metric_name`).

    Example catalog entry::

        "{dataset}.training_metrics":
          type: causal_pima.datasets.GroupedMetricsDataset
          prefix: "{dataset}"
    """

    def _build_args_list_from_metric_item(self, key: str, value: Any) -> Generator[tuple[str, float, int], None, None]:
        name = grouped_metric_name(self._prefix, key)
        if isinstance(value, dict):
            return (item for item in [(name, value["value"], value["step"])])
        if isinstance(value, list) and value:
            return ((name, item["value"], item["step"]) for item in value)
        raise DatasetError(f"metric {key!r}: expected {{'step', 'value'}} or a non-empty list of them, got {type(value).__name__}")

    def _is_dataset_metric(self, key: str) -> bool:
        return not self._prefix or key.startswith(f"{self._prefix}/")
