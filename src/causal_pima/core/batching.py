"""Batches of a data set held as a dict of tensors ``{name: [N, ...]}`` (the one batching helper of core),
and those tensors from a model-input set of numpy arrays (:func:`specimen_tensors`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from causal_pima.core.model import CURVE, IMAGE

Batch = dict[str, Tensor]


def as_batches(data: Mapping[str, Tensor], batch_size: int, generator: torch.Generator | None = None) -> list[Batch]:
    """Split a dataset dict ``{name: [N, ...]}`` into batches, shuffled when a generator is given.

    Without a generator the batches are consecutive rows ``[0, batch_size), [batch_size, 2 batch_size), ..``.
    """
    n = len(next(iter(data.values())))
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return [{k: v[idx] for k, v in data.items()} for idx in order.split(batch_size)]


# the array of a model-input set that holds each modality
_ARRAY_KEY = {IMAGE: "images", CURVE: "curves"}


def specimen_tensors(specimen_set: Mapping[str, np.ndarray], modalities: Sequence[str]) -> dict[str, Tensor]:
    """``{"image": [N, C, H, W], "curve": [N, L]}`` float32 tensors for the requested modalities."""
    out = {}
    for m in modalities:
        if m not in _ARRAY_KEY:
            raise ValueError(f"unknown modality '{m}'; known: {sorted(_ARRAY_KEY)}")
        out[m] = torch.from_numpy(np.ascontiguousarray(specimen_set[_ARRAY_KEY[m]], dtype=np.float32))
    return out
