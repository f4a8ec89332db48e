"""Enumeration of the joint outcomes of ``d`` binary feature nodes.

Convention used everywhere in the project (docs/model.md, first paragraph): outcome index ``k`` in
``0..2**d - 1`` encodes node values by its bits, bit ``j`` of ``k`` is the value of node ``j``.
"""

from __future__ import annotations

import numpy as np


def joint_outcomes(d: int) -> np.ndarray:
    """All joint outcomes of ``d`` binary nodes.

    Returns:
        int64 array ``[2**d, d]`` whose row ``k`` holds the bits of ``k`` (column ``j`` = bit ``j``).
    """
    if d < 0:
        raise ValueError(f"number of nodes d must be >= 0, got {d}")
    k = np.arange(2**d, dtype=np.int64)[:, None]
    return (k >> np.arange(d, dtype=np.int64)[None, :]) & 1


def outcome_index(values: np.ndarray) -> np.ndarray:
    """Outcome index of each row of binary node values.

    Args:
        values: ``[N, d]`` array of 0/1.

    Returns:
        int64 ``[N]`` with ``sum_j values[:, j] * 2**j``.
    """
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D [N, d], got shape {values.shape}")
    if values.size and not np.isin(values, (0, 1)).all():
        raise ValueError("values must be binary (0/1)")
    return (values.astype(np.int64) << np.arange(values.shape[1], dtype=np.int64)).sum(axis=1)


def node_name(j: int) -> str:
    """Name of node ``j`` of the learned DAG in reports and tables: ``"N0"``, ``"N1"``, .."""
    return f"N{j}"


def node_names(n_nodes: int) -> list[str]:
    """``[node_name(0), .., node_name(n_nodes - 1)]``."""
    return [node_name(j) for j in range(n_nodes)]
