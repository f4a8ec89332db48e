"""Kedro dataset for named numpy arrays stored as one ``.npy`` file each in a folder, memory-mapped on load."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError

from causal_pima.datasets.atomic import _UMASK
from causal_pima.datasets.raw_set import RawSet, remember_written, sha256_file

_COMPLETE = "arrays.txt"  # written last: the names of the arrays, one per line
# a schema entry's dtype -> the numpy dtype kinds it admits (numpy's dtype.kind letters)
_KINDS = {"float": "f", "int": "iu", "str": "U", "number": "fiu"}


def _bad_name(name: str) -> bool:
    """A name that is not one plain file name inside the folder (a path, hidden, or the index)."""
    return (not name or "/" in name or "\\" in name or name.startswith(".") or os.path.isabs(name)
            or name == _COMPLETE.removesuffix(".txt"))


def check_arrays(arrays: Mapping[str, np.ndarray], schema: Mapping[str, Mapping[str, Any]], where: str) -> None:
    """``arrays`` against ``schema`` (``{name: {dtype: float | int | str | number, ndim: n, rows: true}}``):
    each listed array that is present has that dtype kind and number of dimensions, and the arrays
    with ``rows: true`` have the same first dimension (one row per specimen). Raises
    :class:`DatasetError` naming ``where``, the array and what was found."""
    rows: dict[str, int] = {}
    for name, rule in schema.items():
        if name not in arrays:
            continue
        value = arrays[name]
        kind = str(rule.get("dtype", "number"))
        if value.dtype.kind not in _KINDS[kind]:
            raise DatasetError(f"{where}: array '{name}' has dtype {value.dtype}, expected {kind} (the model input's "
                               "schema in the catalog); rewrite it with the data_processing pipeline")
        if "ndim" in rule and value.ndim != int(rule["ndim"]):
            raise DatasetError(f"{where}: array '{name}' has shape {value.shape} ({value.ndim} dimensions), "
                               f"expected {int(rule['ndim'])} dimensions")
        if rule.get("rows"):
            rows[name] = int(value.shape[0]) if value.ndim else -1
    if len(set(rows.values())) > 1:
        raise DatasetError(f"{where}: the arrays of one row per specimen disagree in length: {rows}")


class ArrayFolderDataset(AbstractDataset):
    """A dict of named arrays as ``<folder>/<name>.npy`` files (the model-input sets).

    Loading memory-maps every array (``np.load(mmap_mode="r")``) unless ``mmap: false``: nothing is
    read until used, and training reads one batch of rows at a time (docs/scaling.md), so a set
    larger than memory trains from disk. Arrays are read-only when memory-mapped.

    Saving writes a new folder beside the target and swaps it in with renames, so a reader sees the
    old set, no set, or the complete new one; ``arrays.txt`` (the array names) is written last and
    a folder without it is refused on load, as is an empty one or one that lists a name that is not a
    plain file name inside the folder. Object arrays are refused (``.npy`` cannot store them without
    pickle). A full disk while saving is a clear error and leaves the previous folder as it was.
    ``schema`` (``{name: {dtype: float | int | str | number, ndim: n, rows: true}}``) is checked on
    load and save (:func:`check_arrays`). Local file system only.

    ``members`` makes the folder one member of a unit of outputs that are only valid together (the
    model input: ``split.csv``, ``curve_scaler.json`` and the ``train``, ``val``, ``test`` folders),
    kept by the ``checksums.json`` of the folder's parent (:mod:`causal_pima.datasets.raw_set`, the
    protocol of the raw sets): each file's sha256 and the run that wrote it are recorded, and a load
    refuses a unit that a killed run left part-new and part-old, or a file changed since, naming the
    files. The folder's name is its member name.

    Example catalog entry::

        "{dataset}.{split}_set":
          type: causal_pima.datasets.ArrayFolderDataset
          filepath: data/05_model_input/{dataset}/{split}
    """

    def __init__(self, filepath: str, mmap: bool = True, schema: Mapping[str, Mapping[str, Any]] | None = None,
                 metadata: dict[str, Any] | None = None, members: list[str] | None = None,
                 rewrite_with: str | None = None) -> None:
        self._filepath = PurePosixPath(filepath)
        self._member = self._filepath.name
        self._unit = (RawSet(Path(filepath).parent, [*members, *([] if self._member in members else [self._member])],
                             rewrite_with=rewrite_with) if members else None)
        self._mmap = mmap
        self._schema = dict(schema or {})
        unknown = {str(rule.get("dtype")) for rule in self._schema.values()} - set(_KINDS) - {"None"}
        if unknown:
            raise DatasetError(f"ArrayFolderDataset {filepath}: schema dtype(s) {sorted(unknown)} unknown; use {sorted(_KINDS)}")
        self.metadata = metadata

    def load(self) -> dict[str, np.ndarray]:
        folder = Path(self._filepath)
        index = folder / _COMPLETE
        if not folder.is_dir():
            raise DatasetError(f"array folder not found: {folder}")
        if not index.is_file():
            raise DatasetError(f"the array folder {folder} is incomplete (no {_COMPLETE}): it was not written to the end; "
                               "run the pipeline that writes it again")
        if self._unit is not None:
            self._unit.verify(self._member)
        names = [line for line in index.read_text().splitlines() if line]
        if not names:
            raise DatasetError(f"the array folder {folder} lists no arrays ({index.name} is empty); run the pipeline that writes it again")
        for name in names:
            if _bad_name(name):
                raise DatasetError(f"{index} lists {name!r}, which is not a file name inside {folder} (a path, or hidden): "
                                   "refused; the folder was not written by this project")
        arrays = {}
        for name in names:
            path = folder / f"{name}.npy"
            if not path.is_file():
                raise DatasetError(f"the array folder {folder} lists '{name}' but {path.name} is missing")
            arrays[name] = np.load(path, mmap_mode="r" if self._mmap else None, allow_pickle=False)
        check_arrays(arrays, self._schema, str(folder))
        return arrays

    def save(self, data: dict[str, np.ndarray]) -> None:
        target = Path(self._filepath)
        arrays = {name: np.asarray(value) for name, value in dict(data).items()}
        for name, value in arrays.items():
            if value.dtype == object:
                raise DatasetError(f"array '{name}' has dtype object, which .npy cannot store without pickle")
            if _bad_name(name):
                raise DatasetError(f"array name {name!r} cannot be a file name in {target}")
        check_arrays(arrays, self._schema, str(target))
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in [*target.parent.glob(f".{target.name}.*.tmp"), *target.parent.glob(f".{target.name}.*.old")]:
            shutil.rmtree(stale, ignore_errors=True)  # left by an interrupted save
        if self._unit is not None:
            self._unit.begin_write(self._member)  # from here on no other run accepts the unit until it is whole
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
        try:
            os.chmod(staging, 0o777 & ~_UMASK)
            for name, value in arrays.items():
                np.save(staging / f"{name}.npy", value, allow_pickle=False)
            (staging / _COMPLETE).write_text("".join(f"{name}\n" for name in arrays))
            digests = {path.name: sha256_file(path) for path in staging.iterdir()} if self._unit is not None else {}
            retired = None
            if target.exists():
                retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
                os.rmdir(retired)
                os.replace(target, retired)
            os.replace(staging, target)
            if retired is not None:
                shutil.rmtree(retired, ignore_errors=True)
            if self._unit is not None:
                for name, digest in digests.items():
                    remember_written(target / name, digest)
                self._unit.finish_write(self._member, {f"{self._member}/{name}": digest for name, digest in digests.items()})
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                unit = (f"; the outputs it belongs with in {target.parent} are marked incomplete (checksums.json) and "
                        "refused until they are written again together" if self._unit is not None else "")
                raise DatasetError(f"the disk is full: writing the array folder {target} stopped ({exc}); nothing was "
                                   f"replaced, the previous {target.name} is as it was{unit}. Free space and run again") from exc
            raise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def _exists(self) -> bool:
        return (Path(self._filepath) / _COMPLETE).is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "mmap": self._mmap, "schema": self._schema,
                "members": self._unit.members if self._unit is not None else None}
