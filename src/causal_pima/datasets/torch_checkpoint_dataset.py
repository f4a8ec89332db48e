"""Kedro dataset for PyTorch checkpoints: plain dicts of tensors and JSON-like config, never pickled modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from kedro.io import DatasetError

from causal_pima.datasets.atomic import atomic_write
from causal_pima.datasets.local_file import LocalFileDataset


def _first_module(data: Any, path: str = "<root>") -> str | None:
    """Path of the first ``nn.Module`` inside nested dicts / lists, or ``None``."""
    if isinstance(data, torch.nn.Module):
        return path
    if isinstance(data, dict):
        items = data.items()
    elif isinstance(data, list | tuple):
        items = enumerate(data)
    else:
        return None
    for key, value in items:
        found = _first_module(value, f"{path}.{key}" if path != "<root>" else str(key))
        if found is not None:
            return found
    return None


class TorchCheckpointDataset(LocalFileDataset):
    """A checkpoint dict (``state_dict`` tensors plus a plain ``config`` dict) in ``torch.save`` format.

    Loading uses ``weights_only=True``, so only tensors and plain Python containers are accepted:
    a live ``nn.Module`` cannot be stored by accident. Saves are atomic; with ``versioned: true`` in
    the catalog every save goes to a new timestamped folder and earlier fits are kept.
    """

    def load(self) -> dict[str, Any]:
        path = Path(self._get_load_path())
        if not path.exists():
            raise DatasetError(f"checkpoint not found: {path}")
        return torch.load(path, map_location="cpu", weights_only=True)

    def save(self, data: dict[str, Any]) -> None:
        bad = _first_module(data)
        if bad is not None:
            raise DatasetError(f"checkpoint holds a live nn.Module at '{bad}': save its state_dict and config instead")
        atomic_write(self._get_save_path(), lambda tmp: torch.save(data, tmp))
