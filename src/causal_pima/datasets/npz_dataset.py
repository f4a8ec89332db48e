"""Kedro dataset for named numpy arrays stored in one ``.npz`` file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import DatasetError, Version

from causal_pima.datasets.atomic import atomic_write
from causal_pima.datasets.local_file import LocalFileDataset


class NpzDataset(LocalFileDataset):
    """A dict of named numpy arrays saved as an uncompressed (or compressed) ``.npz`` archive.

    A bare array is accepted on save and stored under the key ``"array"``; loading always returns a
    dict. Saves are atomic (temporary file, then rename). Local file system only.

    Example catalog entry::

        circles.raw_specimens:
          type: causal_pima.datasets.NpzDataset
          filepath: data/01_raw/circles/specimens.npz
    """

    def __init__(
        self,
        filepath: str,
        compress: bool = False,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(filepath, version, metadata)
        self._compress = compress

    def load(self) -> dict[str, np.ndarray]:
        path = Path(self._get_load_path())
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {key: archive[key] for key in archive.files}
        except FileNotFoundError as exc:
            raise DatasetError(f"npz file not found: {path}") from exc

    def save(self, data: dict[str, np.ndarray] | np.ndarray) -> None:
        arrays = {"array": data} if isinstance(data, np.ndarray) else dict(data)
        for key, value in arrays.items():
            if not isinstance(value, np.ndarray):
                arrays[key] = np.asarray(value)
            if arrays[key].dtype == object:
                raise DatasetError(f"array '{key}' has dtype object, which npz cannot store safely")
        writer = np.savez_compressed if self._compress else np.savez

        def write(tmp: Path) -> None:
            with tmp.open("wb") as handle:
                writer(handle, **arrays)

        atomic_write(self._get_save_path(), write)

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "compress": self._compress}
