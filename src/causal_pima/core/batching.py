"""Batches of a data set held as a dict of tensors ``{name: [N, ...]}`` (the one batching helper of core)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

Batch = dict[str, Tensor]


def as_batches(data: Mapping[str, Tensor], batch_size: int, generator: torch.Generator | None = None) -> list[Batch]:
    """Split a dataset dict ``{name: [N, ...]}`` into batches, shuffled when a generator is given.

    Without a generator the batches are consecutive rows ``[0, batch_size), [batch_size, 2 batch_size), ..``.
    """
    n = len(next(iter(data.values())))
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return [{k: v[idx] for k, v in data.items()} for idx in order.split(batch_size)]
