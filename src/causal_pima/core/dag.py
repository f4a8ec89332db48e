"""Acyclic-by-construction DAG over ``d`` binary feature nodes (docs/model.md, "Conditionals").

Node scores ``s`` order the nodes; an edge ``i -> j`` can only exist when ``s_j > s_i`` strictly, so the
adjacency ``A_ij = W_ij * relu(tanh((s_j - s_i) / tau))`` is acyclic for every parameter value and every
temperature ``tau > 0``. Conditionals are logistic, ``P(N_j = 1 | n) = sigmoid(b_j + (n A)_j)``, and the
mixture weights over all ``K = 2**d`` joint outcomes are their Markov factorisation, computed in log space.
Outcome ``k`` has node ``j`` equal to bit ``j`` of ``k`` (see :func:`causal_pima.core.outcomes.joint_outcomes`).

Two forms of conditional (``CausalDAG(conditionals=...)``, docs/model.md "Conditionals"):

* ``"logistic"``: additive in the parents on the logit scale, ``b_j + sum_i A_ij n_i``. A child that
  depends on an interaction of its parents (an XOR-like table) cannot be expressed.
* ``"table"``: the logit is a full multilinear polynomial in the parents,
  ``b_j + sum_i A_ij n_i + sum_{|S| >= 2} W_Sj g_Sj prod_{i in S} n_i``, with the gate
  ``g_Sj = prod_{i in S} chi_tau(s_j - s_i)``. Every table over the parents is one such polynomial
  (its Moebius transform), so any conditional probability table is represented exactly; a term
  whose subset holds ``j`` itself or a node not before ``j`` has gate 0, so acyclicity still holds
  by construction and ``sum_k pi_k = 1`` exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from causal_pima.core.outcomes import joint_outcomes


def graph_gradient(scores: Tensor) -> Tensor:
    """Graph gradient of node scores.

    Args:
        scores: ``[d]`` node scores ``s``.

    Returns:
        ``[d, d]`` with ``G[i, j] = s[j] - s[i]`` (positive when ``j`` comes after ``i``).
    """
    return scores.unsqueeze(0) - scores.unsqueeze(1)


def edge_indicator(x: Tensor, temperature: float | Tensor) -> Tensor:
    """Soft edge indicator ``chi_tau(x) = relu(tanh(x / tau))``; exactly 0 wherever ``x <= 0``.

    Args:
        x: any shape.
        temperature: ``tau > 0`` (float or 0-dim tensor); as ``tau -> 0`` this tends to the step ``[x > 0]``.

    Returns:
        same shape as ``x``, values in ``[0, 1)``.
    """
    return torch.relu(torch.tanh(x / temperature))


def adjacency(scores: Tensor, weights: Tensor, temperature: float | Tensor) -> Tensor:
    """Weighted adjacency ``A = W * chi_tau(grad s)`` with an exactly-zero diagonal.

    Args:
        scores: ``[d]`` node scores.
        weights: ``[d, d]`` edge weights ``W`` (logit units).
        temperature: ``tau > 0``.

    Returns:
        ``[d, d]`` adjacency, ``A[i, j]`` = strength of edge ``i -> j``; acyclic support.
    """
    weighted = weights * edge_indicator(graph_gradient(scores), temperature)
    diagonal = torch.eye(scores.shape[0], dtype=torch.bool, device=scores.device)
    return torch.where(
        diagonal, torch.zeros((), dtype=weighted.dtype, device=weighted.device), weighted
    )


def _outcomes_like(reference: Tensor) -> Tensor:
    """All joint outcomes ``[2**d, d]`` as a float tensor with ``reference``'s dtype/device (``d`` = rows)."""
    d = reference.shape[0]
    return torch.as_tensor(joint_outcomes(d), dtype=reference.dtype, device=reference.device)


def node_logits(adj: Tensor, biases: Tensor, outcomes: Tensor) -> Tensor:
    """Logits of ``P(N_j = 1 | parents)`` for given joint outcomes.

    Args:
        adj: ``[d, d]`` adjacency.
        biases: ``[d]``.
        outcomes: ``[K, d]`` float 0/1 node values.

    Returns:
        ``[K, d]`` with entry ``[k, j] = b_j + sum_i n_ki A_ij``.
    """
    return biases + outcomes @ adj


def interaction_subsets(n_nodes: int) -> np.ndarray:
    """Every subset of the nodes with at least two members, as boolean membership rows.

    Returns:
        bool ``[M, d]`` with ``M = 2**d - d - 1``; row ``m`` is the subset of the ``m``-th bitmask
        (in increasing order) with two or more bits set.
    """
    masks = [m for m in range(2**n_nodes) if bin(m).count("1") >= 2]
    return np.array([[(m >> i) & 1 for i in range(n_nodes)] for m in masks], dtype=bool).reshape(
        len(masks), n_nodes
    )


def interaction_gates(scores: Tensor, subsets: Tensor, temperature: float | Tensor) -> Tensor:
    """Gate of every interaction term: ``g_Sj = prod_{i in S} chi_tau(s_j - s_i)``.

    Args:
        scores: ``[d]`` node scores.
        subsets: bool ``[M, d]`` membership rows (:func:`interaction_subsets`).
        temperature: ``tau > 0``.

    Returns:
        ``[M, d]``; exactly 0 when ``S`` holds ``j`` or a node whose score is not below ``s_j``.
    """
    chi = edge_indicator(graph_gradient(scores), temperature)  # [d(i), d(j)]
    one = torch.ones((), dtype=chi.dtype, device=chi.device)
    return torch.where(subsets[:, :, None], chi[None, :, :], one).prod(dim=1)


def interaction_monomials(outcomes: Tensor, subsets: Tensor) -> Tensor:
    """``[K, M]`` with entry ``[k, S] = prod_{i in S} n_ki`` (1 when every node of ``S`` is 1 in ``n_k``)."""
    members = subsets.to(outcomes.dtype)  # [M, d]
    return (outcomes @ members.T == members.sum(dim=1)).to(outcomes.dtype)


def outcome_node_logits(
    adj: Tensor, biases: Tensor, interactions: Tensor | None = None, subsets: Tensor | None = None
) -> Tensor:
    """Logits of ``P(N_j = 1 | parents)`` at every joint outcome, ``[K = 2**d, d]``.

    Args:
        adj: ``[d, d]`` adjacency (first-order terms).
        biases: ``[d]``.
        interactions: optional ``[M, d]`` gated interaction coefficients ``W_Sj g_Sj``.
        subsets: bool ``[M, d]``, required with ``interactions``.
    """
    outcomes = _outcomes_like(biases)
    logits = node_logits(adj, biases, outcomes)
    if interactions is not None:
        logits = logits + interaction_monomials(outcomes, subsets) @ interactions
    return logits


def _node_log_probabilities(logits: Tensor) -> Tensor:
    """``[K, d]`` log Bernoulli(n_kj; sigmoid(l_kj)) = n_kj * l_kj - softplus(l_kj), stable for any l.

    (softplus rather than logsigmoid: the same value, but logsigmoid's CPU kernel is far slower on
    these tiny tensors when other threads compete for the cores.)
    """
    outcomes = _outcomes_like(logits.T)
    return outcomes * logits - F.softplus(logits)


def log_weights_from_logits(logits: Tensor) -> Tensor:
    """``[K]`` ``log pi_k = sum_j log Bernoulli(n_kj; sigmoid(l_kj))`` from outcome logits ``[K, d]``.

    Sums to 1 (in ``exp``) whenever ``l_kj`` depends only on nodes before ``j`` in some order.
    """
    return _node_log_probabilities(logits).sum(dim=-1)


def mixture_log_weights(adj: Tensor, biases: Tensor) -> Tensor:
    """Log mixture weights over all joint outcomes (Markov factorisation of the DAG).

    Args:
        adj: ``[d, d]`` acyclic adjacency.
        biases: ``[d]``.

    Returns:
        ``[K = 2**d]`` ``log pi_k = sum_j log Bernoulli(n_kj; sigmoid(b_j + (n_k A)_j))``; ``exp`` sums to 1
        because ``A`` is acyclic.
    """
    return log_weights_from_logits(outcome_node_logits(adj, biases))


def interventional_log_weights(
    adj: Tensor, biases: Tensor, node: int, value: int, logits: Tensor | None = None
) -> Tensor:
    """Log weights of the joint outcomes under ``do(N_node = value)``.

    The incoming edges of ``node`` are cut and its conditional replaced by a point mass at ``value``
    (log probability 0 for outcomes with that value, ``-inf`` otherwise); every other node keeps its
    conditional, so the children of ``node`` still see the forced value.

    Args:
        adj: ``[d, d]`` adjacency.
        biases: ``[d]``.
        node: index of the intervened node, ``0 <= node < d``.
        value: 0 or 1.
        logits: optional ``[K, d]`` outcome logits (e.g. with interaction terms); replaces
            ``adj`` and ``biases`` when given.

    Returns:
        ``[K]`` log weights; ``exp`` sums to 1 and is exactly 0 where ``n_k,node != value``.
    """
    d = biases.shape[0]
    if not 0 <= node < d:
        raise ValueError(f"node must be in [0, {d}), got {node}")
    if value not in (0, 1):
        raise ValueError(f"value must be 0 or 1, got {value}")
    outcomes = _outcomes_like(biases)
    if logits is None:
        logits = node_logits(adj, biases, outcomes)
    node_log_probs = _node_log_probabilities(logits)  # [K, d]
    forced = torch.where(
        outcomes[:, node] == value,
        torch.zeros((), dtype=biases.dtype, device=biases.device),
        torch.full((), -torch.inf, dtype=biases.dtype, device=biases.device),
    )
    is_node = torch.arange(d, device=biases.device) == node  # [d]
    node_log_probs = torch.where(is_node, forced.unsqueeze(-1), node_log_probs)
    return node_log_probs.sum(dim=-1)


def parent_effects(logits: Tensor) -> Tensor:
    """Signed strongest effect of each node on each other node's logit.

    Entry ``[i, j]`` is the change of ``logit P(N_j = 1 | n)`` when ``n_i`` goes from 0 to 1, taken at
    the configuration of the other nodes where its magnitude is largest (signed). For logistic
    conditionals this is exactly ``A_ij``; for tables it also sees a parent that acts only through an
    interaction. The diagonal is 0.

    Args:
        logits: ``[K = 2**d, d]`` outcome logits (:func:`outcome_node_logits`).

    Returns:
        ``[d, d]``.
    """
    n_outcomes, d = logits.shape
    index = torch.arange(n_outcomes, device=logits.device)
    effects = torch.zeros(d, d, dtype=logits.dtype, device=logits.device)
    for i in range(d):
        off = index[(index >> i) & 1 == 0]
        change = logits[off | (1 << i)] - logits[off]  # [K/2, d]
        strongest = change.abs().argmax(dim=0)  # [d]
        effects[i] = change.gather(0, strongest[None, :])[0]
    effects.fill_diagonal_(0.0)
    return effects


def edges_above_threshold(adj: Tensor, threshold: float) -> list[tuple[int, int, float]]:
    """Edges ``(i, j, A_ij)`` with ``|A_ij| >= threshold``, in row-major order.

    ``adj`` may be an adjacency or :func:`parent_effects`. Entries that are exactly 0 (the diagonal,
    backward pairs) are never edges, even for ``threshold <= 0``.
    """
    values = adj.detach().cpu().to(torch.float64).numpy()
    rows, cols = np.nonzero((np.abs(values) >= threshold) & (values != 0.0))
    return [(int(i), int(j), float(values[i, j])) for i, j in zip(rows, cols, strict=True)]


def tables_from_logits(logits: Tensor, threshold: float) -> dict[int, tuple[list[int], np.ndarray]]:
    """Conditional probability tables of the thresholded DAG from outcome logits ``[K, d]``.

    Node ``i`` is a parent of ``j`` when ``|parent_effects[i, j]| >= threshold``; weaker influences are
    dropped (the table is read where every non-parent is 0).

    Returns:
        ``{j: (parents, table)}`` for every node ``j``: ``parents`` sorted ascending, ``table`` float64
        ``[2**len(parents)]`` with ``table[c] = P(N_j = 1 | parents)`` where
        ``c = sum_p value(parents[p]) * 2**p``.
    """
    logits = logits.detach().cpu().to(torch.float64)
    effects = parent_effects(logits).numpy()
    kept = (np.abs(effects) >= threshold) & (effects != 0.0)
    values = logits.numpy()
    tables: dict[int, tuple[list[int], np.ndarray]] = {}
    for j in range(values.shape[1]):
        parents = [int(i) for i in np.flatnonzero(kept[:, j])]
        configurations = joint_outcomes(len(parents)).astype(np.int64)  # bit p = parents[p]
        outcome = configurations @ (2 ** np.asarray(parents, dtype=np.int64)).reshape(-1)
        tables[j] = (parents, 1.0 / (1.0 + np.exp(-values[outcome, j])))
    return tables


def conditional_probability_tables(
    adj: Tensor, biases: Tensor, threshold: float
) -> dict[int, tuple[list[int], np.ndarray]]:
    """Conditional probability tables of a logistic DAG; edges with ``|A_ij| < threshold`` are dropped.

    Returns:
        as :func:`tables_from_logits`.
    """
    adj = adj.detach().cpu().to(torch.float64)
    biases = biases.detach().cpu().to(torch.float64)
    return tables_from_logits(outcome_node_logits(adj, biases), threshold)


def table_coefficients(parents: Sequence[int], table: np.ndarray) -> dict[int, float]:
    """Moebius transform of a conditional table: the multilinear logit coefficient of every subset.

    ``logit P(N_j = 1 | parents = c) = sum_{S subset of on(c)} coef[S]``, where ``S`` is a bitmask over
    all nodes (inside ``parents``) and ``on(c)`` the parents that are 1 in ``c``.

    Args:
        parents: node indices; table: ``[2**len(parents)]`` probabilities strictly inside (0, 1),
            indexed as in :func:`tables_from_logits`.

    Returns:
        ``{bitmask: coefficient}`` for every subset of the parents (the empty set is the bias).
    """
    parents = [int(p) for p in parents]
    table = np.asarray(table, dtype=np.float64)
    if table.shape != (2 ** len(parents),):
        raise ValueError(f"table must have {2 ** len(parents)} entries, got {table.shape}")
    logits = np.log(table) - np.log1p(-table)
    coefficients = {}
    for local in range(2 ** len(parents)):
        subsets = [t for t in range(2 ** len(parents)) if t & local == t]
        value = sum((-1) ** (bin(local ^ t).count("1")) * logits[t] for t in subsets)
        mask = sum(1 << parents[p] for p in range(len(parents)) if (local >> p) & 1)
        coefficients[mask] = float(value)
    return coefficients


def order_to_scores(order: Sequence[int]) -> Tensor:
    """Node scores realising a topological order: node ``order[p]`` gets score ``float(p)``.

    Returns:
        ``[d]`` tensor (default float dtype).
    """
    order = [int(node) for node in order]
    if sorted(order) != list(range(len(order))):
        raise ValueError(f"order must be a permutation of 0..{len(order) - 1}, got {order}")
    scores = torch.empty(len(order))
    scores[torch.tensor(order, dtype=torch.long)] = torch.arange(len(order), dtype=scores.dtype)
    return scores


CONDITIONALS = ("logistic", "table")


class CausalDAG(nn.Module):
    """Learnable DAG over ``n_nodes`` binary nodes with logistic or table conditionals.

    Parameters: ``node_scores [d]``, ``edge_weights [d, d]`` and ``biases [d]`` (weights and biases start
    at 0, i.e. independent fair coins); with ``conditionals="table"`` also ``interaction_weights
    [M, d]`` (one coefficient per subset of two or more nodes and child, see the module docstring).
    Buffer: ``temperature`` (0-dim).
    """

    def __init__(
        self,
        n_nodes: int,
        temperature: float = 1.0,
        score_init_std: float = 0.0,
        generator: torch.Generator | None = None,
        conditionals: str = "logistic",
    ) -> None:
        super().__init__()
        if n_nodes < 1:
            raise ValueError(f"n_nodes must be >= 1, got {n_nodes}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if conditionals not in CONDITIONALS:
            raise ValueError(f"conditionals must be one of {CONDITIONALS}, got {conditionals!r}")
        self.conditionals = conditionals
        scores = torch.randn(n_nodes, generator=generator) * score_init_std
        self.node_scores = nn.Parameter(scores)
        self.edge_weights = nn.Parameter(torch.zeros(n_nodes, n_nodes))
        self.biases = nn.Parameter(torch.zeros(n_nodes))
        self.register_buffer("temperature", torch.tensor(float(temperature)))
        self.interaction_weights: nn.Parameter | None = None
        if conditionals == "table":
            subsets = torch.as_tensor(interaction_subsets(n_nodes))
            self.register_buffer("interaction_subsets", subsets, persistent=False)
            self.interaction_weights = nn.Parameter(torch.zeros(subsets.shape[0], n_nodes))

    @property
    def n_nodes(self) -> int:
        return self.node_scores.shape[0]

    def adjacency(self) -> Tensor:
        """``[d, d]`` current first-order adjacency ``A``."""
        return adjacency(self.node_scores, self.edge_weights, self.temperature)

    def gated_interactions(self) -> Tensor | None:
        """``[M, d]`` interaction coefficients times their gates (``None`` for logistic conditionals)."""
        if self.interaction_weights is None:
            return None
        gates = interaction_gates(self.node_scores, self.interaction_subsets, self.temperature)
        return self.interaction_weights * gates

    def outcome_logits(self) -> Tensor:
        """``[K, d]`` logits of ``P(N_j = 1 | parents)`` at every joint outcome."""
        subsets = self.interaction_subsets if self.interaction_weights is not None else None
        return outcome_node_logits(self.adjacency(), self.biases, self.gated_interactions(), subsets)

    def log_weights(self) -> Tensor:
        """``[K = 2**d]`` log mixture weights ``log pi``."""
        if self.interaction_weights is None:
            return mixture_log_weights(self.adjacency(), self.biases)
        return log_weights_from_logits(self.outcome_logits())

    def interventional_log_weights(self, node: int, value: int) -> Tensor:
        """``[K]`` log weights under ``do(N_node = value)``."""
        return interventional_log_weights(
            self.adjacency(), self.biases, node, value, logits=self.outcome_logits()
        )

    def parent_effects(self) -> Tensor:
        """``[d, d]`` signed strongest effect of node ``i`` on node ``j``'s logit (:func:`parent_effects`)."""
        return parent_effects(self.outcome_logits())

    def anneal(self, factor: float, minimum: float) -> float:
        """Geometric annealing ``tau <- max(minimum, tau * factor)``; returns the new temperature."""
        if not factor > 0 or not minimum > 0:
            raise ValueError(f"factor and minimum must be > 0, got {factor} and {minimum}")
        new_temperature = max(minimum, float(self.temperature) * factor)
        self.temperature.fill_(new_temperature)
        return new_temperature

    @torch.no_grad()
    def set_structure(
        self,
        order: Sequence[int],
        weights: Tensor | np.ndarray,
        biases: Tensor | np.ndarray,
        interactions: Tensor | np.ndarray | None = None,
    ) -> None:
        """Install a structure so that the *effective* coefficients equal the given ones now.

        The node scores follow ``order`` (``0, 1, ..``); the first-order weights ``[d, d]`` (and the
        interaction coefficients ``[M, d]``, table conditionals only) are divided by their gates at the
        current temperature, so ``adjacency()`` equals ``weights`` and ``gated_interactions()`` equals
        ``interactions`` exactly, and training continues from the searched structure. Coefficients on
        pairs the order forbids must be 0.
        """
        d = self.n_nodes
        if len(order) != d:
            raise ValueError(f"order must have {d} entries, got {len(order)}")
        dtype, device = self.edge_weights.dtype, self.edge_weights.device
        weights = torch.as_tensor(weights, dtype=dtype, device=device)
        biases = torch.as_tensor(biases, dtype=dtype, device=device)
        if weights.shape != (d, d) or biases.shape != (d,):
            raise ValueError(
                f"weights must be [{d}, {d}] and biases [{d}], got {tuple(weights.shape)} and {tuple(biases.shape)}"
            )
        self.node_scores.copy_(order_to_scores(order))
        chi = edge_indicator(graph_gradient(self.node_scores), self.temperature)
        if bool(((chi == 0) & (weights != 0)).any()):
            raise ValueError("weights has an edge that the order forbids")
        self.edge_weights.copy_(torch.where(chi > 0, weights / chi.clamp_min(1e-12), 0.0))
        self.biases.copy_(biases)
        if self.interaction_weights is not None:
            gates = interaction_gates(self.node_scores, self.interaction_subsets, self.temperature)
            if interactions is None:
                interactions = torch.zeros_like(gates)
            interactions = torch.as_tensor(interactions, dtype=dtype, device=device)
            if interactions.shape != gates.shape:
                raise ValueError(f"interactions must be {list(gates.shape)}, got {list(interactions.shape)}")
            if bool(((gates == 0) & (interactions != 0)).any()):
                raise ValueError("interactions has a term that the order forbids")
            self.interaction_weights.copy_(torch.where(gates > 0, interactions / gates.clamp_min(1e-12), 0.0))
        elif interactions is not None and bool((torch.as_tensor(interactions) != 0).any()):
            raise ValueError("logistic conditionals cannot hold interaction terms")
