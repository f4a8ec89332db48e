"""Exact structure search for table conditionals on soft outcome counts (docs/model.md, "Structure search").

With table conditionals the DAG-dependent part of the ELBO, ``sum_k S0_k log pi_k``, is the
log-likelihood of a discrete Bayesian network on the soft outcome counts ``S0 [K]``. For a fixed
parent set it is maximised in closed form (each conditional table is a ratio of counts), so the
penalised score

    score(G) = sum_j [ loglik_j(parents_j) - complexity * 2**|parents_j| ]

(``complexity = log(N) / 2`` nats per free table entry: BIC) decomposes over the nodes. The best DAG
is then found exactly by dynamic programming over node subsets (Silander and Myllymaki 2006): for
every node the best parent set inside each candidate set, then the best sink of each subset. Cost:
``d * 2**(d-1)`` family fits of ``O(2**d)`` each plus ``O(d * 2**d)`` for the subset recursion, so
``d = 10`` takes well under a second. Markov-equivalent DAGs have equal scores (BIC is score
equivalent), so the search returns one member of the best equivalence class; which one is fixed
(the lowest sink index wins ties) but carries no information.

Nothing here sees labels or a true graph.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.special import xlogy

# Relative tolerance below which two scores count as equal (floating-point noise between equivalent DAGs).
SCORE_TIE = 1e-9
# Conditional probabilities are kept this far inside (0, 1) so that every logit is finite.
PROBABILITY_CLIP = 1e-6


def _check_counts(counts: np.ndarray) -> tuple[np.ndarray, int]:
    counts = np.asarray(counts, dtype=np.float64)
    d = int(round(math.log2(counts.size))) if counts.size > 0 else -1
    if counts.ndim != 1 or d < 1 or 2**d != counts.size:
        raise ValueError(f"counts must be [2**d] with d >= 1, got shape {counts.shape}")
    if (counts < 0).any() or counts.sum() <= 0:
        raise ValueError("counts must be non-negative with a positive sum")
    return counts, d


def _node_axis(node: int, d: int) -> int:
    """Axis of node ``node`` in ``counts.reshape([2] * d)`` (outcome ``k`` has node ``j`` at bit ``j``)."""
    return d - 1 - node


def family_counts(counts: np.ndarray, child: int, parents: list[int]) -> np.ndarray:
    """Soft counts ``[2**len(parents), 2]``: row ``c`` (``c = sum_p value(parents[p]) * 2**p``), column = child value."""
    counts, d = _check_counts(counts)
    cube = counts.reshape([2] * d)
    keep = [child, *parents]
    drop = tuple(_node_axis(n, d) for n in range(d) if n not in keep)
    marginal = cube.sum(axis=drop) if drop else cube
    # remaining axes are in decreasing node order; put them as (parents[-1], ..., parents[0], child)
    remaining = sorted(keep, reverse=True)
    wanted = [*reversed(parents), child]
    marginal = np.transpose(marginal, [remaining.index(n) for n in wanted])
    return marginal.reshape(2 ** len(parents), 2)


def family_log_likelihood(counts: np.ndarray, child: int, parents: list[int]) -> tuple[float, np.ndarray]:
    """Maximised log-likelihood (nats, summed over specimens) of one family, and its table ``P(child = 1 | c)``.

    A parent configuration with no mass gets probability 0.5 (it does not affect the likelihood).
    """
    table = family_counts(counts, child, parents)  # [C, 2]
    totals = table.sum(axis=1)
    log_likelihood = float(xlogy(table, table).sum() - xlogy(totals, totals).sum())
    p_one = np.where(totals > 0, table[:, 1] / np.where(totals > 0, totals, 1.0), 0.5)
    return log_likelihood, np.clip(p_one, PROBABILITY_CLIP, 1.0 - PROBABILITY_CLIP)


def _mask_nodes(mask: int, d: int) -> list[int]:
    return [i for i in range(d) if (mask >> i) & 1]


@dataclass
class TableSearchResult:
    """Best DAG with table conditionals on the counts.

    Attributes:
        order: a topological order of the chosen DAG (sources first).
        parents: ``{j: sorted parents}``.
        tables: ``{j: float64 [2**|parents_j|]}`` maximum-likelihood ``P(N_j = 1 | parents)``.
        score: penalised log-likelihood (nats, summed over specimens).
        log_likelihood: its unpenalised part.
        n_parameters: free table entries, ``sum_j 2**|parents_j|``.
        order_scores: ``{order: best score among DAGs consistent with it}`` for every order when all
            ``d!`` were scored (``max_orders``), else empty.
        order_parents: ``{order: {j: parents}}``, the best DAG for each scored order.
    """

    order: list[int]
    parents: dict[int, list[int]]
    tables: dict[int, np.ndarray]
    score: float
    log_likelihood: float
    n_parameters: int
    order_scores: dict[tuple[int, ...], float]
    order_parents: dict[tuple[int, ...], dict[int, list[int]]]

    @property
    def edges(self) -> list[tuple[int, int]]:
        return sorted((i, j) for j, ps in self.parents.items() for i in ps)


def _local_scores(
    counts: np.ndarray, d: int, complexity: float
) -> tuple[np.ndarray, dict[tuple[int, int], tuple[float, np.ndarray]]]:
    """Penalised score ``local [d, 2**d]`` of every family (``-inf`` where the parent mask holds the
    child) and its fit ``{(child, parent mask): (log-likelihood, table)}``."""
    n_masks = 2**d
    local = np.full((d, n_masks), -np.inf)
    fitted: dict[tuple[int, int], tuple[float, np.ndarray]] = {}
    for j in range(d):
        for mask in range(n_masks):
            if (mask >> j) & 1:
                continue
            parents = _mask_nodes(mask, d)
            log_likelihood, table = family_log_likelihood(counts, j, parents)
            fitted[(j, mask)] = (log_likelihood, table)
            local[j, mask] = log_likelihood - complexity * 2 ** len(parents)
    return local, fitted


def _best_parent_sets(local: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """``best_in [d, 2**d]``: the best score of node ``j`` with parents inside candidate set ``C`` (``C``
    without ``j``), and ``best_set`` the parent mask reaching it (a subset wins only when strictly better
    by more than :data:`SCORE_TIE`)."""
    n_masks = 2**d
    best_in = np.full((d, n_masks), -np.inf)
    best_set = np.zeros((d, n_masks), dtype=np.int64)
    for j in range(d):
        for mask in range(n_masks):
            if (mask >> j) & 1:
                continue
            value, chosen = local[j, mask], mask
            for i in _mask_nodes(mask, d):
                sub = mask & ~(1 << i)
                if best_in[j, sub] > value + SCORE_TIE * abs(value):
                    value, chosen = best_in[j, sub], int(best_set[j, sub])
            best_in[j, mask], best_set[j, mask] = value, chosen
    return best_in, best_set


def _best_order(best_in: np.ndarray, d: int) -> tuple[list[int], float]:
    """The best DAG's topological order and score: ``best[V]``, the best score of a DAG over the node
    set ``V``, is the best over its last node (sink) ``j`` of ``best[V - j] + best_in[j, V - j]``; the
    lowest sink index wins ties."""
    n_masks = 2**d
    best = np.full(n_masks, -np.inf)
    best[0] = 0.0
    sink = np.zeros(n_masks, dtype=np.int64)
    for mask in range(1, n_masks):
        for j in _mask_nodes(mask, d):
            rest = mask & ~(1 << j)
            value = best[rest] + best_in[j, rest]
            if value > best[mask] + SCORE_TIE * abs(value):
                best[mask], sink[mask] = value, j
    order: list[int] = []
    mask = n_masks - 1
    while mask:
        order.append(int(sink[mask]))
        mask &= ~(1 << int(sink[mask]))
    order.reverse()
    return order, float(best[n_masks - 1])


def _parents_along(order: tuple[int, ...] | list[int], best_set: np.ndarray, d: int) -> dict[int, list[int]]:
    """The best DAG consistent with a node order: each node's best parents among its predecessors."""
    before, out = 0, {}
    for j in order:
        out[j] = _mask_nodes(int(best_set[j, before]), d)
        before |= 1 << j
    return out


def _every_order(
    best_in: np.ndarray, best_set: np.ndarray, d: int
) -> tuple[dict[tuple[int, ...], float], dict[tuple[int, ...], dict[int, list[int]]]]:
    """Every node order's best score and best DAG (``d!`` orders, lexicographic)."""
    order_scores: dict[tuple[int, ...], float] = {}
    order_parents: dict[tuple[int, ...], dict[int, list[int]]] = {}
    for candidate in itertools.permutations(range(d)):
        before, value = 0, 0.0
        for j in candidate:
            value += best_in[j, before]
            before |= 1 << j
        order_scores[candidate] = float(value)
        order_parents[candidate] = _parents_along(candidate, best_set, d)
    return order_scores, order_parents


def search_tables(counts: np.ndarray, complexity: float | None = None, max_orders: int = 120) -> TableSearchResult:
    """Exact best DAG (table conditionals) for the penalised likelihood of soft outcome counts.

    Args:
        counts: ``[K = 2**d]`` non-negative soft counts (``S0``); bit ``j`` of ``k`` = node ``j``.
        complexity: penalty in nats per free table entry; ``None`` = BIC, ``log(sum(counts)) / 2``.
        max_orders: when ``d! <= max_orders`` the best DAG of every node order is also recorded
            (for the edge confidences); the optimum itself is exact for any ``d``.

    Returns:
        :class:`TableSearchResult`.
    """
    counts, d = _check_counts(counts)
    if complexity is None:
        complexity = 0.5 * math.log(max(counts.sum(), 2.0))
    if complexity < 0:
        raise ValueError(f"complexity must be >= 0, got {complexity}")
    local, fitted = _local_scores(counts, d, complexity)
    best_in, best_set = _best_parent_sets(local, d)
    order, score = _best_order(best_in, d)
    parents = _parents_along(order, best_set, d)
    order_scores, order_parents = _every_order(best_in, best_set, d) if math.factorial(d) <= max_orders else ({}, {})
    tables, log_likelihood, n_parameters = {}, 0.0, 0
    for j, ps in parents.items():
        ll, table = fitted[(j, sum(1 << i for i in ps))]
        tables[j] = table
        log_likelihood += ll
        n_parameters += 2 ** len(ps)
    return TableSearchResult(
        order=order,
        parents={j: parents[j] for j in range(d)},
        tables={j: tables[j] for j in range(d)},
        score=score,
        log_likelihood=log_likelihood,
        n_parameters=n_parameters,
        order_scores=order_scores,
        order_parents=order_parents,
    )


def edge_confidence(result: TableSearchResult, n_nodes: int) -> np.ndarray | None:
    """Share of the order-averaged score weight on DAGs holding each directed edge ``[d, d]``.

    Every node order gets weight ``exp(score - best)`` (its best DAG's penalised likelihood), and an
    edge's confidence is the weight of the orders whose DAG holds it. Arrows that the data cannot
    orient (inside a Markov equivalence class) split their weight between the two directions; the
    skeleton confidence of a pair is the sum of both. ``None`` when the orders were not all scored.
    """
    if not result.order_scores:
        return None
    scores = np.array(list(result.order_scores.values()))
    weights = np.exp(scores - scores.max())
    weights /= weights.sum()
    confidence = np.zeros((n_nodes, n_nodes))
    for weight, parents in zip(weights, result.order_parents.values(), strict=True):
        for j, ps in parents.items():
            for i in ps:
                confidence[i, j] += weight
    return confidence


def log_weights_from_tables(parents: dict[int, list[int]], tables: dict[int, np.ndarray], n_nodes: int) -> np.ndarray:
    """``[K]`` ``log pi_k = sum_j log P(n_kj | parents)`` of a discrete Bayesian network (float64)."""
    index = np.arange(2**n_nodes)
    log_pi = np.zeros(2**n_nodes)
    for j in range(n_nodes):
        ps = parents.get(j, [])
        configuration = sum(((index >> p) & 1) << position for position, p in enumerate(ps)) if ps else np.zeros_like(index)
        p_one = np.asarray(tables[j], dtype=np.float64)[configuration]
        value = (index >> j) & 1
        log_pi += np.where(value == 1, np.log(p_one), np.log1p(-p_one))
    return log_pi
