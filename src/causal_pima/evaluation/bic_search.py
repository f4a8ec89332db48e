"""Exact BIC structure learning for a few binary nodes (two-stage baseline, README "Benchmark").

The two-stage baseline clusters plain-VAE latents into ``2**d`` joint outcomes and then learns a DAG
over the ``d`` binary node values with a discrete Bayesian-network score. For ``d <= 5`` the
BIC-optimal DAG is found exactly by dynamic programming over subsets (Silander & Myllymaki, 2006):

1. local scores: :func:`family_bic` of every node with every parent set (optionally capped in size);
2. best parent set of every node within every candidate set of predecessors;
3. best DAG of every node subset ``S`` = best DAG of ``S - {s}`` plus node ``s`` (a sink) with its best
   parents within ``S - {s}``, maximised over ``s``.

BIC is score equivalent, so the optimum is at least a whole Markov equivalence class. Ties (within a
relative tolerance of :data:`TIE_RTOL`) are kept through the recursion and broken deterministically
at the end: fewer edges first, then the lexicographically smallest sorted edge list ``[(i, j), ...]``
(so among equivalent graphs edges preferably run from lower to higher node index).

Conventions (project-wide): ``adjacency[i, j] = 1`` iff ``i -> j``; a node's table
``P(N_j = 1 | parents)`` is indexed by ``c = sum_p value(parents[p]) * 2**p`` over its parent list.

Plain numpy; no file I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

# Largest number of nodes the exhaustive search accepts.
MAX_NODES = 5
# Two scores within TIE_RTOL * (1 + |score|) of each other count as tied (equivalent DAGs give the
# same BIC up to floating-point rounding).
TIE_RTOL = 1e-9


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


def _mask_nodes(mask: int, d: int) -> list[int]:
    return [i for i in range(d) if mask >> i & 1]


def _tied(score: float, best: float) -> bool:
    return score >= best - TIE_RTOL * (1.0 + abs(best))


def _graph_key(parent_masks: tuple[int, ...]) -> tuple[int, list[tuple[int, int]]]:
    """Tie-break key: (number of edges, sorted edge list)."""
    d = len(parent_masks)
    edges = sorted((i, j) for j in range(d) for i in _mask_nodes(parent_masks[j], d))
    return len(edges), edges


def exhaustive_bic_search(
    data: np.ndarray, max_parents: int | None = None
) -> tuple[np.ndarray, float]:
    """Exact BIC-optimal DAG over the ``d <= 5`` binary columns of ``data``.

    Dynamic programming over node subsets (module docstring); every DAG is reachable, so the result
    is the maximum of the total BIC ``sum_j family_bic(data, j, parents_j)`` over all DAGs whose
    nodes have at most ``max_parents`` parents. Among tied optima (in practice the Markov equivalence
    class of the optimum): fewest edges, then the lexicographically smallest sorted edge list.

    Args:
        data: ``[N, d]`` binary node values, ``1 <= d <= 5``.
        max_parents: cap on the in-degree (``None``: ``d - 1``, no cap).

    Returns:
        ``(adjacency, bic)``: int64 ``[d, d]`` with ``adjacency[i, j] = 1`` iff ``i -> j``, and the
        total BIC of that DAG.

    Raises:
        ValueError: for ``d`` outside ``1..5`` (named in the message), non-binary data or a negative
            ``max_parents``.
    """
    data = _binary_data(data)
    d = data.shape[1]
    if not 1 <= d <= MAX_NODES:
        raise ValueError(f"exhaustive BIC search supports 1 <= d <= {MAX_NODES} nodes, got d = {d}")
    if max_parents is None:
        max_parents = d - 1
    if isinstance(max_parents, bool) or int(max_parents) != max_parents or max_parents < 0:
        raise ValueError(f"max_parents must be a non-negative integer or None, got {max_parents!r}")
    max_parents = int(max_parents)

    full = (1 << d) - 1
    # 1. local scores local[j][mask] for parent sets within the cap (None: not allowed)
    local: list[dict[int, float]] = []
    for j in range(d):
        others = [i for i in range(d) if i != j]
        scores: dict[int, float] = {}
        for size in range(min(max_parents, d - 1) + 1):
            for subset in combinations(others, size):
                scores[sum(1 << i for i in subset)] = _family_bic(data, j, list(subset))
        local.append(scores)

    # 2. near-best parent sets of node j within each candidate set (a mask not containing j)
    best_parents: list[dict[int, tuple[float, list[int]]]] = []
    for j in range(d):
        table: dict[int, tuple[float, list[int]]] = {}
        for candidates in range(full + 1):
            if candidates >> j & 1:
                continue
            options = [(s, m) for m, s in local[j].items() if m & ~candidates == 0]
            top = max(s for s, _ in options)
            table[candidates] = (top, sorted(m for s, m in options if _tied(s, top)))
        best_parents.append(table)

    # 3. near-best DAGs of every node subset: {parent masks (tuple over all d nodes): score}
    best_graphs: dict[int, dict[tuple[int, ...], float]] = {0: {(0,) * d: 0.0}}
    for subset in range(1, full + 1):
        candidates: dict[tuple[int, ...], float] = {}
        for sink in _mask_nodes(subset, d):
            rest = subset & ~(1 << sink)
            parent_score, parent_masks = best_parents[sink][rest]
            for graph, graph_score in best_graphs[rest].items():
                for mask in parent_masks:
                    new_graph = graph[:sink] + (mask,) + graph[sink + 1 :]
                    score = graph_score + local[sink][mask]
                    if score > candidates.get(new_graph, -np.inf):
                        candidates[new_graph] = score
        top = max(candidates.values())
        best_graphs[subset] = {g: s for g, s in candidates.items() if _tied(s, top)}

    finalists = best_graphs[full]
    chosen = min(finalists, key=_graph_key)
    adjacency = np.zeros((d, d), dtype=np.int64)
    for j in range(d):
        for i in _mask_nodes(chosen[j], d):
            adjacency[i, j] = 1
    total = float(sum(local[j][chosen[j]] for j in range(d)))
    return adjacency, total


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
