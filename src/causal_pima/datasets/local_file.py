"""Base class of the project's single-file, versionable, local datasets."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import AbstractVersionedDataset, DatasetError, Version


class LocalFileDataset(AbstractVersionedDataset):
    """One local file (optionally versioned by Kedro); subclasses implement ``load`` and ``save``
    and write through :func:`causal_pima.datasets.atomic.atomic_write`."""

    def __init__(self, filepath: str, version: Version | None = None, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(filepath=PurePosixPath(filepath), version=version)
        self.metadata = metadata

    def _exists(self) -> bool:
        try:
            return Path(self._get_load_path()).exists()
        except DatasetError:
            return False

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}
