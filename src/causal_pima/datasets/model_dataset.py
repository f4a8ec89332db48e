"""Kedro dataset for a fitted :class:`~causal_pima.core.model.CausalPIMA`: nodes receive the model.

The file is the plain checkpoint of :class:`TorchCheckpointDataset` (tensors and a JSON-like config,
``weights_only`` loading, atomic saves, versioning): ``save`` takes a model (or its checkpoint dict)
and writes ``model.checkpoint()``; ``load`` returns ``CausalPIMA.from_checkpoint(...)``, a fresh
model on every load, so no node sees another node's changes to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kedro.io import DatasetError

from causal_pima.core.model import CausalPIMA
from causal_pima.datasets.torch_checkpoint_dataset import TorchCheckpointDataset


class CausalPIMADataset(TorchCheckpointDataset):
    """A fitted causalPIMA model stored as its checkpoint (``model.checkpoint()``)."""

    def load(self) -> CausalPIMA:  # type: ignore[override]
        checkpoint = super().load()
        try:
            return CausalPIMA.from_checkpoint(checkpoint)
        except (KeyError, ValueError, RuntimeError) as exc:
            raise DatasetError(f"{self._get_load_path()} is not a fitted causalPIMA checkpoint: {exc}") from exc

    def save(self, data: CausalPIMA | Mapping[str, Any]) -> None:  # type: ignore[override]
        super().save(data.checkpoint() if isinstance(data, CausalPIMA) else dict(data))
