"""Kedro dataset for PyTorch checkpoints: plain dicts of tensors and JSON-like config, never pickled modules."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import torch
from kedro.io import AbstractVersionedDataset, DatasetError, Version

from causal_pima.datasets.atomic import atomic_write


class TorchCheckpointDataset(AbstractVersionedDataset[dict[str, Any], dict[str, Any]]):
    """A checkpoint dict (``state_dict`` tensors plus a plain ``config`` dict) in ``torch.save`` format.

    Loading uses ``weights_only=True``, so only tensors and plain Python containers are accepted:
    a live ``nn.Module`` cannot be stored by accident. Saves are atomic; with ``versioned: true`` in
    the catalog every save goes to a new timestamped folder and earlier fits are kept.
    """

    def __init__(
        self,
        filepath: str,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(filepath=PurePosixPath(filepath), version=version)
        self.metadata = metadata

    def load(self) -> dict[str, Any]:
        path = Path(self._get_load_path())
        if not path.exists():
            raise DatasetError(f"checkpoint not found: {path}")
        return torch.load(path, map_location="cpu", weights_only=True)

    def save(self, data: dict[str, Any]) -> None:
        if isinstance(data, torch.nn.Module):
            raise DatasetError("save a checkpoint dict (state_dict + config), not a live nn.Module")
        atomic_write(self._get_save_path(), lambda tmp: torch.save(data, tmp))

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).exists()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}
