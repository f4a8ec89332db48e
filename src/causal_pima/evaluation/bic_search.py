"""Exact BIC structure learning on hard binary node values (two-stage baseline, README "Benchmark").

The two-stage baseline clusters plain-VAE latents into ``2**d`` joint outcomes and then learns a DAG
over the ``d`` binary node values with a discrete Bayesian-network score. The search is causalPIMA's
own exact one (:func:`causal_pima.core.table_search.search_tables`, dynamic programming over node
subsets, Silander & Myllymaki 2006) on the outcome counts of the rows, with the BIC penalty
``log(N) / 2`` per free table entry: so both methods are compared through the same search, with the
same tie-break (BIC is score equivalent; among equally scored DAGs, in practice the members of one
Markov equivalence class, the lowest node index is placed last in the order where it ties, see
``core/table_search.py``).

Conventions (project-wide): ``adjacency[i, j] = 1`` iff ``i -> j``; a node's table
``P(N_j = 1 | parents)`` is indexed by ``c = sum_p value(parents[p]) * 2**p`` over its parent list.

Plain numpy; no file I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from causal_pima.core.table_search import search_tables


def _binary_data(data: np.ndarray) -> np.ndarray:
    data = np.asarray(data)
    if data.ndim != 2:
        raise ValueError(f"data must be 2-D [N, d], got shape {data.shape}")
    if data.shape[0] == 0:
        raise ValueError("data must have at least one row")
    if not np.isin(data, (0, 1)).all():
        raise ValueError("data must be binary (0/1)")
    return data.astype(np.int64)


def _check_parents(child: int, parents: Sequence[int], d: int) -> list[int]:
    if not 0 <= child < d:
        raise ValueError(f"child {child} out of range for d = {d} nodes")
    parents = [int(p) for p in parents]
    for p in parents:
        if not 0 <= p < d:
            raise ValueError(f"parent {p} of node {child} out of range for d = {d} nodes")
    if child in parents:
        raise ValueError(f"node {child} cannot be its own parent")
    if len(set(parents)) != len(parents):
        raise ValueError(f"duplicate parents {parents} for node {child}")
    return parents


def _configurations(data: np.ndarray, parents: Sequence[int]) -> np.ndarray:
    """Parent configuration ``c = sum_p data[:, parents[p]] * 2**p`` of every row (int64 ``[N]``)."""
    config = np.zeros(data.shape[0], dtype=np.int64)
    for p, parent in enumerate(parents):
        config += data[:, parent] << p
    return config


def _family_counts(data: np.ndarray, child: int, parents: Sequence[int]) -> np.ndarray:
    """``counts[c, v]`` = rows with parent configuration ``c`` and child value ``v`` (``[2**p, 2]``)."""
    n_configs = 2 ** len(parents)
    cell = _configurations(data, parents) * 2 + data[:, child]
    return np.bincount(cell, minlength=2 * n_configs).reshape(n_configs, 2)


def _family_bic(data: np.ndarray, child: int, parents: Sequence[int]) -> float:
    counts = _family_counts(data, child, parents).astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    positive = counts > 0  # 0 * log 0 = 0
    log_likelihood = float(
        (
            counts[positive]
            * np.log(counts[positive] / np.broadcast_to(totals, counts.shape)[positive])
        ).sum()
    )
    return log_likelihood - 0.5 * np.log(data.shape[0]) * 2 ** len(parents)


def family_bic(data: np.ndarray, child: int, parents: Sequence[int]) -> float:
    """BIC of one node's conditional probability table.

    ``sum_{c, v} n_cv log(n_cv / n_c) - 0.5 * log(N) * 2**len(parents)``: the maximised
    log-likelihood of the MLE table (``0 * log 0 = 0``) minus half ``log N`` per free parameter (one
    per parent configuration). The order of ``parents`` does not change the value.

    Args:
        data: ``[N, d]`` binary node values.
        child: node index.
        parents: parent node indices (distinct, not ``child``).
    """
    data = _binary_data(data)
    parents = _check_parents(int(child), parents, data.shape[1])
    return _family_bic(data, int(child), parents)


def outcome_counts(data: np.ndarray) -> np.ndarray:
    """float64 ``[2**d]``: how many rows of the binary ``data [N, d]`` have each joint outcome
    ``k = sum_j data[:, j] * 2**j`` (bit ``j`` of ``k`` = node ``j``, as in ``core.outcomes``)."""
    data = _binary_data(data)
    index = (data << np.arange(data.shape[1])).sum(axis=1)
    return np.bincount(index, minlength=2 ** data.shape[1]).astype(np.float64)


def exhaustive_bic_search(data: np.ndarray) -> tuple[np.ndarray, float]:
    """Exact BIC-optimal DAG over the ``d`` binary columns of ``data``.

    :func:`causal_pima.core.table_search.search_tables` on :func:`outcome_counts` with the BIC penalty
    (``complexity = log(N) / 2``): the maximum of the total BIC ``sum_j family_bic(data, j, parents_j)``
    over all DAGs, exactly. Among tied optima (in practice the Markov equivalence class of the optimum)
    the table search's tie-break decides (module docstring).

    Args:
        data: ``[N, d]`` binary node values, ``d >= 1``.

    Returns:
        ``(adjacency, bic)``: int64 ``[d, d]`` with ``adjacency[i, j] = 1`` iff ``i -> j``, and the
        total BIC of that DAG.

    Raises:
        ValueError: data that are not a non-empty binary ``[N, d]`` array.
    """
    data = _binary_data(data)
    n, d = data.shape
    if d < 1:
        raise ValueError(f"data must have at least one column (node), got shape {data.shape}")
    found = search_tables(outcome_counts(data), complexity=0.5 * np.log(n), max_orders=0)
    adjacency = np.zeros((d, d), dtype=np.int64)
    for j, parents in found.parents.items():
        adjacency[parents, j] = 1
    return adjacency, float(found.score)


def _check_dag(adjacency: np.ndarray, d: int) -> np.ndarray:
    adjacency = np.asarray(adjacency)
    if adjacency.shape != (d, d):
        raise ValueError(
            f"adjacency must have shape ({d}, {d}) for d = {d} data columns, got {adjacency.shape}"
        )
    adjacency = (adjacency != 0).astype(np.int64)
    if np.diag(adjacency).any():
        raise ValueError("adjacency has a self-loop")
    # acyclic iff repeatedly removing nodes without parents empties the graph
    remaining = list(range(d))
    while remaining:
        roots = [j for j in remaining if not adjacency[remaining, j].any()]
        if not roots:
            raise ValueError(f"adjacency has a cycle among nodes {remaining}")
        remaining = [j for j in remaining if j not in roots]
    return adjacency


def mle_tables(
    data: np.ndarray, adjacency: np.ndarray, pseudo_count: float = 0.5
) -> dict[int, tuple[list[int], np.ndarray]]:
    """Smoothed maximum-likelihood conditional probability tables of a DAG.

    ``P(N_j = 1 | c) = (n_c1 + a) / (n_c + 2 a)`` with ``a = pseudo_count`` (additive smoothing; a
    configuration never seen gets ``0.5``, also when ``a = 0``).

    Args:
        data: ``[N, d]`` binary node values.
        adjacency: ``[d, d]`` DAG, nonzero ``[i, j]`` means ``i -> j``.
        pseudo_count: ``a >= 0``.

    Returns:
        ``{j: (parents, p_one)}`` for every node: parents sorted ascending, ``p_one`` float64
        ``[2**len(parents)]`` indexed by ``c = sum_p value(parents[p]) * 2**p``.
    """
    data = _binary_data(data)
    d = data.shape[1]
    adjacency = _check_dag(adjacency, d)
    pseudo_count = float(pseudo_count)
    if not np.isfinite(pseudo_count) or pseudo_count < 0:
        raise ValueError(f"pseudo_count must be finite and >= 0, got {pseudo_count}")
    tables: dict[int, tuple[list[int], np.ndarray]] = {}
    for j in range(d):
        parents = [int(i) for i in np.flatnonzero(adjacency[:, j])]
        counts = _family_counts(data, j, parents).astype(np.float64)
        ones = counts[:, 1] + pseudo_count
        totals = counts.sum(axis=1) + 2.0 * pseudo_count
        p_one = np.divide(ones, totals, out=np.full_like(ones, 0.5), where=totals > 0)
        tables[j] = (parents, p_one)
    return tables
