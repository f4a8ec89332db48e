"""Structure search on the DAG alone, everything else frozen (docs/model.md, "Structure search").

The DAG-dependent part of the ELBO is ``sum_k S0_k log pi_k``: the log-likelihood of a logistic
Bayesian network on the soft outcome counts ``S0 [K]``. Gradient descent never reorders the node scores,
and without sparsity every order fits (almost) equally well, so the orders are searched explicitly:

1. for each candidate order, fit the edge weights ``W`` and biases ``b`` on the training counts with an
   L1 penalty (only order-forward edges are free);
2. score it by the mean validation prior term ``logsumexp_k(log pi_k - KL_bk)`` with the validation
   KLs fixed;
3. pick the best score, and among the candidates within a tolerance of it, the fewest edges;
4. refit the chosen edge set without the penalty, so the conditional tables are unbiased (the penalty
   biased ``P(hue | parents)`` by up to 0.15 in the prototype).

Nothing here looks at ground truth. The fit is convex for a fixed order (one weighted logistic
regression per node on its predecessors), so it uses accelerated proximal gradient (FISTA) with a
step from a curvature bound: deterministic, and L1 weights end exactly at 0.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from causal_pima.core.dag import (
    interaction_subsets,
    mixture_log_weights,
    outcome_node_logits,
    parent_effects,
    table_coefficients,
)
from causal_pima.core.elbo import prior_term
from causal_pima.core.outcomes import joint_outcomes
from causal_pima.core.table_search import (
    edge_confidence,
    family_log_likelihood,
    log_weights_from_tables,
    search_tables,
)

# Stop the proximal-gradient loop early once no parameter moves by more than this in one step.
CONVERGED_CHANGE = 1e-10


def forward_edge_mask(order: Sequence[int], edge_mask: np.ndarray | None = None) -> np.ndarray:
    """Boolean ``[d, d]``: ``True`` where edge ``i -> j`` is allowed (``i`` before ``j`` in ``order``).

    Args:
        order: a permutation of ``0..d-1`` (topological order, sources first).
        edge_mask: optional boolean ``[d, d]``; allowed edges are further restricted to it.
    """
    order = [int(node) for node in order]
    d = len(order)
    if sorted(order) != list(range(d)):
        raise ValueError(f"order must be a permutation of 0..{d - 1}, got {order}")
    position = np.empty(d, dtype=np.int64)
    position[order] = np.arange(d)
    allowed = position[:, None] < position[None, :]
    if edge_mask is not None:
        edge_mask = np.asarray(edge_mask, dtype=bool)
        if edge_mask.shape != (d, d):
            raise ValueError(f"edge_mask must be [{d}, {d}], got {edge_mask.shape}")
        allowed &= edge_mask
    return allowed


def _curvature_bound(frequencies: Tensor, d: int) -> float:
    """Upper bound ``L`` on the Hessian of the mean negative log-likelihood (a Lipschitz constant).

    Node ``j``'s term is a logistic regression on the design ``x_k = [1, n_k]``; its Hessian is at most
    ``0.25 * sum_k f_k x_k x_k^T`` restricted to the free columns, so the largest eigenvalue of the full
    ``[d+1, d+1]`` matrix bounds every node's block.
    """
    design = torch.cat(
        [
            torch.ones(2**d, 1, dtype=torch.float64),
            torch.as_tensor(joint_outcomes(d), dtype=torch.float64),
        ],
        dim=1,
    )  # [K, d+1]
    second_moment = design.T @ (frequencies[:, None] * design)
    return 0.25 * float(torch.linalg.eigvalsh(second_moment).max())


def _mean_log_likelihood(
    weights: Tensor, biases: Tensor, frequencies: Tensor, mask: Tensor
) -> Tensor:
    """``sum_k f_k log pi_k(W * mask, b)`` (0-dim) with ``f`` the count frequencies ``[K]``."""
    return (frequencies * mixture_log_weights(weights * mask, biases)).sum()


def _order_counts(counts: np.ndarray | Tensor, order: Sequence[int]) -> tuple[Tensor, int]:
    """``counts`` as float64 CPU ``[2**d]`` with ``d = len(order)``, and ``d``.

    Raises:
        ValueError: another shape, a negative count or no mass.
    """
    counts = torch.as_tensor(counts).detach().to(dtype=torch.float64, device="cpu")
    n_outcomes = counts.shape[0]
    d = int(round(math.log2(n_outcomes))) if n_outcomes > 0 else -1
    if counts.ndim != 1 or 2**d != n_outcomes or d != len(order):
        raise ValueError(
            f"counts must be [2**d] with d = len(order) = {len(order)}, got {tuple(counts.shape)}"
        )
    if (counts < 0).any() or counts.sum() <= 0:
        raise ValueError("counts must be non-negative with a positive sum")
    return counts, d


def fit_logistic_network(
    counts: np.ndarray | Tensor,
    order: Sequence[int],
    l1_weight: float = 0.0,
    edge_mask: np.ndarray | None = None,
    steps: int = 500,
    lr: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit a logistic Bayesian network with a fixed node order to soft outcome counts.

    Maximises ``(1/N) sum_k counts_k log pi_k(W, b) - l1_weight * sum_ij |W_ij|`` with ``N = sum_k
    counts_k``, where only the edges ``i -> j`` with ``i`` before ``j`` in ``order`` (and inside
    ``edge_mask``, if given) are free; all other entries of ``W`` are exactly 0. Biases are not
    penalised. FISTA (accelerated proximal gradient, with restart when the objective rises) in torch
    float64: the L1 proximal step is soft-thresholding, so weights reach exactly 0. Deterministic.

    Args:
        counts: ``[K = 2**d]`` non-negative soft outcome counts (``S0``), bit ``j`` of ``k`` = node ``j``.
        order: topological order, a permutation of ``0..d-1``.
        l1_weight: ``lambda`` in nats per specimen per unit of ``|W|``.
        edge_mask: optional boolean ``[d, d]`` restricting the free edges further.
        steps: maximum proximal-gradient iterations (stops earlier once converged).
        lr: step size; ``None`` (default) uses ``1 / L`` with ``L`` a bound on the curvature (always
            stable). Larger steps may diverge.

    Returns:
        ``(W [d, d], b [d])`` float64 numpy; ``W`` is the adjacency (zero outside the free edges).
    """
    counts, d = _order_counts(counts, order)
    if l1_weight < 0:
        raise ValueError(f"l1_weight must be >= 0, got {l1_weight}")
    frequencies = counts / counts.sum()
    mask = torch.as_tensor(forward_edge_mask(order, edge_mask), dtype=torch.float64)
    step = 1.0 / _curvature_bound(frequencies, d) if lr is None else float(lr)

    def objective(weights: Tensor, biases: Tensor) -> Tensor:
        """Penalised mean negative log-likelihood (0-dim), the quantity minimised."""
        return (
            -_mean_log_likelihood(weights, biases, frequencies, mask)
            + l1_weight * weights.abs().sum()
        )

    def proximal_step(weights: Tensor, biases: Tensor) -> tuple[Tensor, Tensor]:
        """One gradient step on the smooth part, then soft-thresholding of the weights."""
        weights = weights.detach().requires_grad_(True)
        biases = biases.detach().requires_grad_(True)
        loss = -_mean_log_likelihood(weights, biases, frequencies, mask)
        grad_weights, grad_biases = torch.autograd.grad(loss, (weights, biases))
        moved = weights - step * grad_weights
        shrunk = torch.sign(moved) * torch.clamp(moved.abs() - step * l1_weight, min=0.0)
        return (shrunk * mask).detach(), (biases - step * grad_biases).detach()

    with torch.enable_grad():  # callers may run under torch.no_grad()
        weights = torch.zeros(d, d, dtype=torch.float64)
        biases = torch.zeros(d, dtype=torch.float64)
        # FISTA: extrapolate from the last two iterates; restart momentum when the objective rises.
        lookahead_weights, lookahead_biases, momentum = weights, biases, 1.0
        current = float(objective(weights, biases))
        for _ in range(steps):
            new_weights, new_biases = proximal_step(lookahead_weights, lookahead_biases)
            new_value = float(objective(new_weights, new_biases))
            if new_value > current:  # adaptive restart: plain proximal step from the last iterate
                momentum = 1.0
                new_weights, new_biases = proximal_step(weights, biases)
                new_value = float(objective(new_weights, new_biases))
            next_momentum = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * momentum**2))
            beta = (momentum - 1.0) / next_momentum
            lookahead_weights = new_weights + beta * (new_weights - weights)
            lookahead_biases = new_biases + beta * (new_biases - biases)
            change = max(
                float((new_weights - weights).abs().max()), float((new_biases - biases).abs().max())
            )
            weights, biases, momentum, current = new_weights, new_biases, next_momentum, new_value
            if change < CONVERGED_CHANGE:
                break
    return weights.numpy(), biases.numpy()


def candidate_orders(d: int, max_orders: int, seed: int) -> list[tuple[int, ...]]:
    """Node orders to try: all ``d!`` (lexicographic) when ``d! <= max_orders``, else a seeded sample.

    Returns:
        list of distinct permutations of ``0..d-1``; the sample has ``max_orders`` of them and depends
        only on ``(d, max_orders, seed)``.
    """
    if d < 1 or max_orders < 1:
        raise ValueError(f"need d >= 1 and max_orders >= 1, got d={d}, max_orders={max_orders}")
    if math.factorial(d) <= max_orders:
        return list(itertools.permutations(range(d)))
    rng = np.random.default_rng(seed)
    seen: set[tuple[int, ...]] = set()
    orders: list[tuple[int, ...]] = []
    while len(orders) < max_orders:
        order = tuple(int(node) for node in rng.permutation(d))
        if order not in seen:
            seen.add(order)
            orders.append(order)
    return orders


@dataclass
class StructureSearchResult:
    """Outcome of :func:`search_structure`; everything needed to log it.

    Attributes:
        order: chosen topological order (node ``order[p]`` gets score ``p``).
        weights: float64 ``[d, d]`` adjacency refit without penalty on the chosen edges (0 elsewhere);
            for table conditionals the first-order coefficients of the tables.
        biases: float64 ``[d]`` refit biases.
        edges: ``(i, j, strength)`` for every chosen edge ``i -> j``: the weight (logistic) or the
            strongest change of the child's logit when the parent flips (tables).
        val_score: mean validation prior term of the refit model (nats per specimen).
        candidates: one row per candidate order: ``order`` (tuple), ``val_score``, ``n_edges``,
            ``chosen`` (bool); for tables also ``score`` (penalised training log-likelihood per
            specimen of the order's best DAG).
        interactions: float64 ``[M, d]`` interaction coefficients (table conditionals), else ``None``.
        edge_confidence: float64 ``[d, d]`` share of the order-averaged score on DAGs holding each
            directed edge (table conditionals with every order scored), else ``None``.
        conditionals: ``"logistic"`` or ``"table"``.
    """

    order: list[int]
    weights: np.ndarray
    biases: np.ndarray
    edges: list[tuple[int, int, float]]
    val_score: float
    candidates: pd.DataFrame
    interactions: np.ndarray | None = None
    edge_confidence: np.ndarray | None = None
    conditionals: str = "logistic"

    def describe(self) -> str:
        """One log line: ``edges N1 -> N0 (3.03), N2 -> N0 (-2.85); order N2, N1, N0`` (strengths to 2 decimals)."""
        edges = ", ".join(f"N{i} -> N{j} ({strength:.2f})" for i, j, strength in self.edges) or "none"
        return f"edges {edges}; order {', '.join(f'N{k}' for k in self.order)}"


def _validation_score(weights: np.ndarray, biases: np.ndarray, val_kl: Tensor) -> float:
    """Mean over validation specimens of ``logsumexp_k(log pi_k - KL_bk)`` (nats per specimen)."""
    log_pi = mixture_log_weights(torch.as_tensor(weights), torch.as_tensor(biases))
    return _log_pi_score(log_pi, val_kl)


def _log_pi_score(log_pi: np.ndarray | Tensor, val_kl: Tensor) -> float:
    """Mean validation prior term for given log weights ``[K]``."""
    return float(prior_term(torch.as_tensor(log_pi, dtype=torch.float64), val_kl).mean())


def tables_to_coefficients(
    parents: dict[int, list[int]], tables: dict[int, np.ndarray], n_nodes: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Multilinear logit coefficients of table conditionals (see ``core.dag``).

    Returns:
        ``(weights [d, d], biases [d], interactions [M, d])`` float64, ``M`` rows in the order of
        :func:`causal_pima.core.dag.interaction_subsets`.
    """
    subsets = interaction_subsets(n_nodes)
    row_of = {int(sum(1 << i for i in np.flatnonzero(row))): r for r, row in enumerate(subsets)}
    weights = np.zeros((n_nodes, n_nodes))
    biases = np.zeros(n_nodes)
    interactions = np.zeros((len(subsets), n_nodes))
    for j in range(n_nodes):
        for mask, value in table_coefficients(parents.get(j, []), tables[j]).items():
            members = [i for i in range(n_nodes) if (mask >> i) & 1]
            if not members:
                biases[j] = value
            elif len(members) == 1:
                weights[members[0], j] = value
            else:
                interactions[row_of[mask], j] = value
    return weights, biases, interactions


def search_table_structure(
    train_counts: np.ndarray | Tensor,
    val_kl: Tensor,
    n_nodes: int,
    complexity: float | None = None,
    max_orders: int = 120,
) -> StructureSearchResult:
    """Exact penalised-likelihood search with table conditionals (:mod:`causal_pima.core.table_search`).

    The DAG with the best BIC-like score on the training soft counts wins (sparsity counts table
    entries); its tables are the unpenalised maximum-likelihood ones. The validation prior term of
    the chosen DAG and of every order's best DAG is reported, not used for the choice.
    """
    counts = torch.as_tensor(train_counts).detach().to(dtype=torch.float64, device="cpu").numpy()
    found = search_tables(counts, complexity=complexity, max_orders=max_orders)
    weights, biases, interactions = tables_to_coefficients(found.parents, found.tables, n_nodes)
    logits = outcome_node_logits(
        torch.as_tensor(weights), torch.as_tensor(biases), torch.as_tensor(interactions),
        torch.as_tensor(interaction_subsets(n_nodes)),
    )
    effects = parent_effects(logits).numpy()
    edges = [(i, j, float(effects[i, j])) for i, j in found.edges]
    n_total = float(counts.sum())
    rows = []
    for order, score in found.order_scores.items():
        parents = found.order_parents[order]
        rows.append({
            "order": order,
            "score": score / n_total,
            "val_score": _log_pi_score(log_weights_from_tables(parents, _ml_tables(counts, parents), n_nodes), val_kl),
            "n_edges": sum(len(ps) for ps in parents.values()),
            "chosen": list(order) == found.order,
        })
    if not rows:
        rows.append({"order": tuple(found.order), "score": found.score / n_total, "val_score": None,
                     "n_edges": len(edges), "chosen": True})
    return StructureSearchResult(
        order=found.order,
        weights=weights,
        biases=biases,
        edges=edges,
        val_score=_log_pi_score(log_weights_from_tables(found.parents, found.tables, n_nodes), val_kl),
        candidates=pd.DataFrame(rows),
        interactions=interactions,
        edge_confidence=edge_confidence(found, n_nodes),
        conditionals="table",
    )


def _ml_tables(counts: np.ndarray, parents: dict[int, list[int]]) -> dict[int, np.ndarray]:
    """Maximum-likelihood table of every family ``{j: [2**|parents_j|]}``."""
    return {j: family_log_likelihood(counts, j, ps)[1] for j, ps in parents.items()}


def search_structure(
    train_counts: np.ndarray | Tensor,
    val_kl: np.ndarray | Tensor,
    n_nodes: int,
    l1_weight: float = 0.02,
    edge_threshold: float = 0.5,
    max_orders: int = 120,
    tie_tolerance: float = 1e-3,
    seed: int = 0,
    steps: int = 500,
) -> StructureSearchResult:
    """Search node orders for the logistic Bayesian network that best predicts held-out specimens.

    Args:
        train_counts: ``[K = 2**n_nodes]`` soft outcome counts ``S0`` of the training specimens.
        val_kl: ``[Bv, K]`` KL of each validation specimen's posterior to each component (fixed).
        n_nodes: ``d``.
        l1_weight: L1 penalty on the weights during the search (nats per specimen per unit ``|W|``).
        edge_threshold: ``|W_ij| >= edge_threshold`` counts as an edge (logit units).
        max_orders: try all ``d!`` orders if that many or fewer, else a sample of this many.
        tie_tolerance: candidates within this many nats per specimen of the best score count as tied;
            the one with the fewest edges wins (then the higher score, then the earlier candidate).
        seed: seed of the order sample.
        steps: maximum proximal-gradient iterations per fit.

    Returns:
        :class:`StructureSearchResult` with the refit (unpenalised) weights on the chosen edge set.
    """
    val_kl = torch.as_tensor(val_kl).detach().to(dtype=torch.float64, device="cpu")
    if val_kl.ndim != 2 or val_kl.shape[1] != 2**n_nodes:
        raise ValueError(f"val_kl must be [Bv, {2**n_nodes}], got {tuple(val_kl.shape)}")

    rows = []
    fits = []
    for order in candidate_orders(n_nodes, max_orders, seed):
        weights, biases = fit_logistic_network(
            train_counts, order, l1_weight=l1_weight, steps=steps
        )
        fits.append((weights, biases))
        rows.append(
            {
                "order": order,
                "val_score": _validation_score(weights, biases, val_kl),
                "n_edges": int((np.abs(weights) >= edge_threshold).sum()),
            }
        )
    candidates = pd.DataFrame(rows)

    # Fewest edges among the near-best, then the best score, then the earliest candidate.
    best_score = candidates["val_score"].max()
    tied = candidates[candidates["val_score"] >= best_score - tie_tolerance]
    chosen = tied.sort_values(
        ["n_edges", "val_score"], ascending=[True, False], kind="stable"
    ).index[0]
    candidates["chosen"] = candidates.index == chosen

    order = list(candidates.at[chosen, "order"])
    chosen_edges = np.abs(fits[chosen][0]) >= edge_threshold
    weights, biases = fit_logistic_network(
        train_counts, order, l1_weight=0.0, edge_mask=chosen_edges, steps=steps
    )
    edges = [
        (int(i), int(j), float(weights[i, j]))
        for i, j in zip(*np.nonzero(chosen_edges), strict=True)
    ]
    return StructureSearchResult(
        order=order,
        weights=weights,
        biases=biases,
        edges=edges,
        val_score=_validation_score(weights, biases, val_kl),
        candidates=candidates,
    )
