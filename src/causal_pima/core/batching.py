"""Batches of a data set held as named arrays ``{name: [N, ...]}`` (the one batching helper of core).

The arrays may be torch tensors, numpy arrays or memory-mapped ``.npy`` files (``np.load(...,
mmap_mode="r")``): :func:`as_batches` reads the rows of one batch at a time through a
``torch.utils.data`` DataLoader (:class:`SpecimenRows`), so a data set larger than memory trains
with only a few batches in RAM beyond the memory map (docs/scaling.md).

:func:`specimen_data` picks a model-input set's modality arrays without reading memory-mapped ones;
:func:`specimen_tensors` reads them into float32 tensors.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from causal_pima.core.modality_spec import modality_spec

Batch = dict[str, Tensor]
Rows = Mapping[str, Any]  # {name: [N, ...]} torch tensors, numpy arrays or np.memmap


def n_rows(data: Rows) -> int:
    """Number of specimens ``N`` of named arrays ``{name: [N, ...]}`` (all must agree)."""
    lengths = {name: len(values) for name, values in data.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"the arrays of a data set must have the same number of rows, got {lengths}")
    return next(iter(lengths.values()))


def _take(values: Any, index: Tensor) -> Tensor:
    """Rows ``index`` of a tensor, or of a numpy / memory-mapped array as a float32 tensor."""
    if isinstance(values, Tensor):
        return values[index]
    return torch.from_numpy(np.ascontiguousarray(values[index.numpy()], dtype=np.float32))


def _first(batch: list[Batch]) -> Batch:
    # the sampler yields whole batches, so the fetcher hands over one already-batched dict
    return batch if isinstance(batch, dict) else batch[0]


class SpecimenRows(Dataset):
    """A map-style ``torch.utils.data.Dataset`` over named arrays ``{name: [N, ...]}``.

    ``__getitems__`` reads a whole batch with one fancy index per array (one read per batch from a
    memory map). Memory-mapped arrays stay memory maps when the dataset is pickled (DataLoader
    workers, spawned training processes): the pickle carries the file name and layout, not the data.
    """

    def __init__(self, data: Rows) -> None:
        self.data = dict(data)
        self._n = n_rows(self.data)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i: int) -> Batch:
        return self.__getitems__([i])

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        index = torch.as_tensor(indices, dtype=torch.long)
        return {name: _take(values, index) for name, values in self.data.items()}

    def __reduce__(self):
        return (SpecimenRows, (by_reference(self.data),))


class _MemmapFile:
    """A memory-mapped array by reference (file, dtype, shape, offset): reopened, not copied, on unpickling."""

    def __init__(self, values: np.memmap) -> None:
        self.filename, self.dtype, self.shape = str(values.filename), values.dtype, values.shape
        self.offset, self.order = int(values.offset), "F" if values.flags.f_contiguous and not values.flags.c_contiguous else "C"

    def __reduce__(self):
        return (np.memmap, (self.filename, self.dtype, "r", self.offset, self.shape, self.order))


def _picklable(values: Any) -> Any:
    # a memmap that maps a whole .npy file (not a slice of one) travels as its file reference
    if isinstance(values, np.memmap) and values.filename is not None and isinstance(values.base, mmap.mmap):
        return _MemmapFile(values)
    return values


def by_reference(data: Rows) -> dict[str, Any]:
    """``data`` to pickle for another process: memory-mapped arrays travel as their file reference
    (reopened there), everything else as it is."""
    return {name: _picklable(values) for name, values in data.items()}


def batch_indices(n: int, batch_size: int, generator: torch.Generator | None = None) -> list[Tensor]:
    """Index sets ``[B]`` of the batches: a permutation drawn from ``generator`` (consecutive rows
    without one) split into batches of ``batch_size`` (the last one smaller)."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(order.split(batch_size))


def as_batches(
    data: Rows,
    batch_size: int,
    generator: torch.Generator | None = None,
    *,
    device: torch.device | str | None = None,
    shard: tuple[int, int] | None = None,
    workers: int = 0,
) -> Iterator[Batch]:
    """The batches of ``data`` (``{name: [B, ...]}`` float32 tensors on ``device``), read one at a time.

    Without a generator the batches are consecutive rows ``[0, batch_size), [batch_size, 2 batch_size), ..``;
    with one, a shuffled permutation drawn from it (:func:`batch_indices`). See :func:`read_batches`
    for ``device``, ``shard`` and ``workers``.
    """
    return read_batches(data, batch_indices(n_rows(data), batch_size, generator), device=device, shard=shard, workers=workers)


def shardable(indices: Sequence[Tensor], shard: tuple[int, int] | None) -> list[Tensor]:
    """The batches every process steps on: all of them, or under a shard those with at least one row
    per process (so that all processes take the same number of steps)."""
    return list(indices) if shard is None else [idx for idx in indices if len(idx) >= shard[1]]


def shard_of(index: Tensor, shard: tuple[int, int] | None) -> Tensor:
    """The rows ``rank, rank + world, ..`` of one batch's index set (all of it without a shard)."""
    if shard is None:
        return index
    rank, size = shard
    return index[rank::size]


def read_batches(
    data: Rows,
    indices: Sequence[Tensor],
    *,
    device: torch.device | str | None = None,
    shard: tuple[int, int] | None = None,
    workers: int = 0,
) -> Iterator[Batch]:
    """The batches with the given index sets ``[B]``, read one at a time through a DataLoader.

    ``shard=(rank, world)``: each process reads the rows ``rank, rank + world, ..`` of every batch
    (data-parallel training, docs/scaling.md); a batch with fewer rows than processes is skipped on
    every process (so that all take the same number of steps). ``workers``: DataLoader worker
    processes (0 = read in this process). On CUDA the batches are read into pinned memory and
    copied asynchronously.
    """
    if shard is not None:
        indices = [shard_of(idx, shard) for idx in shardable(indices, shard)]
    device = torch.device(device) if device is not None else torch.device("cpu")
    loader = DataLoader(
        SpecimenRows(data),
        batch_sampler=[idx.tolist() for idx in indices],
        collate_fn=_first,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        # the loader draws a base seed for its workers: from its own generator, so that the global
        # random stream (latent samples, modality dropout) is the same as without a loader
        generator=torch.Generator().manual_seed(0),
    )
    for batch in loader:
        if device.type != "cpu":
            batch = {name: values.to(device, non_blocking=True) for name, values in batch.items()}
        yield batch


def specimen_data(specimen_set: Mapping[str, np.ndarray], modalities: Sequence[str]) -> dict[str, Any]:
    """``{"image": [N, C, H, W], "curve": [N, L]}`` for the requested modalities, ready for :func:`as_batches`
    (each from the array its spec names, ``core.modality_spec``).

    In-memory arrays become float32 tensors (as :func:`specimen_tensors`); memory-mapped ones
    (``np.memmap``, a model-input set read from disk) are left on disk and read a batch at a time.
    """
    out: dict[str, Any] = {}
    for m in modalities:
        values = specimen_set[modality_spec(m).array_key]
        out[m] = values if isinstance(values, np.memmap) else _float32_tensor(values)
    return out


def _float32_tensor(values: Any) -> Tensor:
    """A float32 tensor in memory: a view of a writable float32 array, else a copy (a read-only or
    memory-mapped array is read into memory, never shared with the tensor)."""
    array = np.ascontiguousarray(values, dtype=np.float32)
    if not array.flags.writeable or isinstance(values, np.memmap):
        array = np.array(array, copy=True)
    return torch.from_numpy(array)


def specimen_tensors(specimen_set: Mapping[str, np.ndarray], modalities: Sequence[str]) -> dict[str, Tensor]:
    """``{"image": [N, C, H, W], "curve": [N, L]}`` float32 tensors in memory for the requested modalities."""
    out = {}
    for m in modalities:
        out[m] = _float32_tensor(specimen_set[modality_spec(m).array_key])
    return out


def as_numpy(values: Any) -> np.ndarray:
    """A tensor (any device) or array as a numpy array (memory maps stay memory maps)."""
    return values.detach().cpu().numpy() if isinstance(values, Tensor) else values
