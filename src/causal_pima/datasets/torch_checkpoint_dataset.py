"""Kedro dataset for PyTorch checkpoints: plain dicts of tensors and JSON-like config, never pickled modules."""

from __future__ import annotations

import errno
import os
import pickle
import shutil
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


# torch.save reports a short write (a full device) as a RuntimeError from its zip writer, e.g.
# "[enforce fail at inline_container.cc:672] . unexpected pos 123 vs 456" or
# "PytorchStreamWriter failed writing file data/0: file write failed"
_TORCH_WRITE_FAILURES = ("inline_container", "unexpected pos", "PytorchStreamWriter", "file write failed")


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def write_error(path: Path, exc: BaseException) -> DatasetError | None:
    """A :class:`DatasetError` naming ``path`` for a failed write, or ``None`` if ``exc`` is no write error.

    ``OSError`` with errno ENOSPC / EDQUOT and torch's zip-writer errors (its way of reporting a full
    device) say that the device is (probably) full and how much space is left on it.
    """
    free = _free_bytes(path.parent if path.parent.exists() else Path(os.sep))
    space = f"{free / 2**20:.1f} MiB free now on the device holding {path.parent}" if free is not None else "free space unknown"
    remedy = "free some space (or point this catalog entry's filepath at another device) and run again"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return DatasetError(
            f"could not write {path}: the device is full (errno {errno.errorcode.get(exc.errno, exc.errno)}: "
            f"{exc.strerror or exc}); {space}. Nothing was replaced: {remedy}."
        )
    if isinstance(exc, RuntimeError) and any(marker in str(exc) for marker in _TORCH_WRITE_FAILURES):
        return DatasetError(
            f"could not write {path}: torch.save stopped part-way ({str(exc).strip()[:200]}), which is how it reports "
            f"a full device: the device may be full (errno ENOSPC); {space}. Nothing was replaced: {remedy}."
        )
    if isinstance(exc, OSError):
        return DatasetError(f"could not write {path}: {exc}")
    return None


def safe_torch_load(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU, with a message that says what happened when
    the file is not a checkpoint (issue 24, item 7): torch's own advice for a refused file is to load
    it with ``weights_only=False``, which runs whatever code a pickle payload holds, and must never
    be followed for a file this project did not write.

    Raises:
        DatasetError: naming the file and what to do.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # random bytes, or objects other than tensors and plain data
        detail = str(exc).partition("WeightsUnpickler error:")[2].strip().split("\n\n")[0].strip() or type(exc).__name__
        raise DatasetError(
            f"{path} is not a checkpoint this project wrote, or it is damaged: the safe (weights-only) loader refused "
            f"it ({detail}). It was not loaded. It holds random bytes or objects other than tensors and plain data, "
            "which a pickle can make run code; do not load it with weights_only=False. Write it again with the "
            "pipeline that makes it"
        ) from None
    except (RuntimeError, EOFError) as exc:  # a truncated or foreign file: torch's zip reader fails
        raise DatasetError(
            f"could not read the checkpoint {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__} "
            "(a truncated file, or not a torch checkpoint); move it aside and write it again"
        ) from exc


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
        return safe_torch_load(path)

    def save(self, data: dict[str, Any]) -> None:
        bad = _first_module(data)
        if bad is not None:
            raise DatasetError(f"checkpoint holds a live nn.Module at '{bad}': save its state_dict and config instead")
        path = Path(self._get_save_path())
        try:
            atomic_write(path, lambda tmp: torch.save(data, tmp))
        except (OSError, RuntimeError) as exc:
            error = write_error(path, exc)
            if error is None:
                raise
            raise error from exc


class CheckpointLocation(LocalFileDataset):
    """The location of a checkpoint file that a node reads and writes itself (e.g. after every epoch).

    ``load()`` returns a :class:`TorchCheckpointDataset` for the file (which need not exist yet), so the
    path comes from the catalog (relative paths resolve against the project root, never the working
    directory). Nothing is saved through this entry.
    """

    def load(self) -> TorchCheckpointDataset:
        return TorchCheckpointDataset(filepath=str(self._get_load_path()))

    def save(self, data: Any) -> None:
        raise DatasetError(f"{self._filepath} is a checkpoint location: the node writes the checkpoint itself")
