"""Kedro dataset for named numpy arrays stored as one ``.npy`` file each in a folder, memory-mapped on load."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError

from causal_pima.datasets.atomic import _UMASK

_COMPLETE = "arrays.txt"  # written last: the names of the arrays, one per line


class ArrayFolderDataset(AbstractDataset):
    """A dict of named arrays as ``<folder>/<name>.npy`` files (the model-input sets).

    Loading memory-maps every array (``np.load(mmap_mode="r")``) unless ``mmap: false``: nothing is
    read until used, and training reads one batch of rows at a time (docs/scaling.md), so a set
    larger than memory trains from disk. Arrays are read-only when memory-mapped.

    Saving writes a new folder beside the target and swaps it in with renames, so a reader sees the
    old set, no set, or the complete new one; ``arrays.txt`` (the array names) is written last and
    a folder without it is refused on load. Object arrays are refused (``.npy`` cannot store them
    without pickle). Local file system only.

    Example catalog entry::

        "{dataset}.{split}_set":
          type: causal_pima.datasets.ArrayFolderDataset
          filepath: data/05_model_input/{dataset}/{split}
    """

    def __init__(self, filepath: str, mmap: bool = True, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self._mmap = mmap
        self.metadata = metadata

    def load(self) -> dict[str, np.ndarray]:
        folder = Path(self._filepath)
        index = folder / _COMPLETE
        if not folder.is_dir():
            raise DatasetError(f"array folder not found: {folder}")
        if not index.is_file():
            raise DatasetError(f"the array folder {folder} is incomplete (no {_COMPLETE}): it was not written to the end; "
                               "run the pipeline that writes it again")
        names = [line for line in index.read_text().splitlines() if line]
        arrays = {}
        for name in names:
            path = folder / f"{name}.npy"
            if not path.is_file():
                raise DatasetError(f"the array folder {folder} lists '{name}' but {path.name} is missing")
            arrays[name] = np.load(path, mmap_mode="r" if self._mmap else None, allow_pickle=False)
        return arrays

    def save(self, data: dict[str, np.ndarray]) -> None:
        target = Path(self._filepath)
        arrays = {name: np.asarray(value) for name, value in dict(data).items()}
        for name, value in arrays.items():
            if value.dtype == object:
                raise DatasetError(f"array '{name}' has dtype object, which .npy cannot store without pickle")
            if not name or "/" in name or name.startswith(".") or name == _COMPLETE.removesuffix(".txt"):
                raise DatasetError(f"array name {name!r} cannot be a file name in {target}")
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in [*target.parent.glob(f".{target.name}.*.tmp"), *target.parent.glob(f".{target.name}.*.old")]:
            shutil.rmtree(stale, ignore_errors=True)  # left by an interrupted save
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        try:
            os.chmod(staging, 0o777 & ~_UMASK)
            for name, value in arrays.items():
                np.save(staging / f"{name}.npy", value, allow_pickle=False)
            (staging / _COMPLETE).write_text("".join(f"{name}\n" for name in arrays))
            retired = None
            if target.exists():
                retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
                os.rmdir(retired)
                os.replace(target, retired)
            os.replace(staging, target)
            if retired is not None:
                shutil.rmtree(retired, ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _exists(self) -> bool:
        return (Path(self._filepath) / _COMPLETE).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "mmap": self._mmap}
