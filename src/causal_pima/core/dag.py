"""Acyclic-by-construction DAG over ``d`` binary feature nodes (DESIGN.md section 3, "DAG").

Node scores ``s`` order the nodes; an edge ``i -> j`` can only exist when ``s_j > s_i`` strictly, so the
adjacency ``A_ij = W_ij * relu(tanh((s_j - s_i) / tau))`` is acyclic for every parameter value and every
temperature ``tau > 0``. Conditionals are logistic, ``P(N_j = 1 | n) = sigmoid(b_j + (n A)_j)``, and the
mixture weights over all ``K = 2**d`` joint outcomes are their Markov factorisation, computed in log space.
Outcome ``k`` has node ``j`` equal to bit ``j`` of ``k`` (see :func:`causal_pima.core.outcomes.joint_outcomes`).
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


def _node_log_probabilities(adj: Tensor, biases: Tensor, outcomes: Tensor) -> Tensor:
    """``[K, d]`` log Bernoulli(n_kj; sigmoid(l_kj)) = n_kj * l_kj - softplus(l_kj), stable for any l.

    (softplus rather than logsigmoid: the same value, but logsigmoid's CPU kernel is far slower on
    these tiny tensors when other threads compete for the cores.)
    """
    logits = node_logits(adj, biases, outcomes)
    return outcomes * logits - F.softplus(logits)


def mixture_log_weights(adj: Tensor, biases: Tensor) -> Tensor:
    """Log mixture weights over all joint outcomes (Markov factorisation of the DAG).

    Args:
        adj: ``[d, d]`` acyclic adjacency.
        biases: ``[d]``.

    Returns:
        ``[K = 2**d]`` ``log pi_k = sum_j log Bernoulli(n_kj; sigmoid(b_j + (n_k A)_j))``; ``exp`` sums to 1
        because ``A`` is acyclic.
    """
    outcomes = _outcomes_like(biases)
    return _node_log_probabilities(adj, biases, outcomes).sum(dim=-1)


def interventional_log_weights(adj: Tensor, biases: Tensor, node: int, value: int) -> Tensor:
    """Log weights of the joint outcomes under ``do(N_node = value)``.

    The incoming edges of ``node`` are cut and its conditional replaced by a point mass at ``value``
    (log probability 0 for outcomes with that value, ``-inf`` otherwise); every other node keeps its
    conditional, so the children of ``node`` still see the forced value.

    Args:
        adj: ``[d, d]`` adjacency.
        biases: ``[d]``.
        node: index of the intervened node, ``0 <= node < d``.
        value: 0 or 1.

    Returns:
        ``[K]`` log weights; ``exp`` sums to 1 and is exactly 0 where ``n_k,node != value``.
    """
    d = biases.shape[0]
    if not 0 <= node < d:
        raise ValueError(f"node must be in [0, {d}), got {node}")
    if value not in (0, 1):
        raise ValueError(f"value must be 0 or 1, got {value}")
    outcomes = _outcomes_like(biases)
    node_log_probs = _node_log_probabilities(adj, biases, outcomes)  # [K, d]
    forced = torch.where(
        outcomes[:, node] == value,
        torch.zeros((), dtype=biases.dtype, device=biases.device),
        torch.full((), -torch.inf, dtype=biases.dtype, device=biases.device),
    )
    is_node = torch.arange(d, device=biases.device) == node  # [d]
    node_log_probs = torch.where(is_node, forced.unsqueeze(-1), node_log_probs)
    return node_log_probs.sum(dim=-1)


def edges_above_threshold(adj: Tensor, threshold: float) -> list[tuple[int, int, float]]:
    """Edges ``(i, j, A_ij)`` with ``|A_ij| >= threshold``, in row-major order.

    Entries that are exactly 0 (the diagonal, backward pairs) are never edges, even for ``threshold <= 0``.
    """
    values = adj.detach().cpu().to(torch.float64).numpy()
    rows, cols = np.nonzero((np.abs(values) >= threshold) & (values != 0.0))
    return [(int(i), int(j), float(values[i, j])) for i, j in zip(rows, cols, strict=True)]


def conditional_probability_tables(
    adj: Tensor, biases: Tensor, threshold: float
) -> dict[int, tuple[list[int], np.ndarray]]:
    """Read out the conditional probability tables of the thresholded DAG.

    Edges with ``|A_ij| < threshold`` are dropped (treated as 0).

    Returns:
        ``{j: (parents, table)}`` for every node ``j``: ``parents`` sorted ascending, ``table`` float64
        ``[2**len(parents)]`` with ``table[c] = P(N_j = 1 | parents)`` where
        ``c = sum_p value(parents[p]) * 2**p``.
    """
    values = adj.detach().cpu().to(torch.float64).numpy()
    bias_values = biases.detach().cpu().to(torch.float64).numpy()
    kept = (np.abs(values) >= threshold) & (values != 0.0)
    tables: dict[int, tuple[list[int], np.ndarray]] = {}
    for j in range(values.shape[0]):
        parents = [int(i) for i in np.flatnonzero(kept[:, j])]
        configurations = joint_outcomes(len(parents)).astype(np.float64)  # bit p = parents[p]
        logits = bias_values[j] + configurations @ values[parents, j]
        tables[j] = (parents, 1.0 / (1.0 + np.exp(-logits)))
    return tables


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


class CausalDAG(nn.Module):
    """Learnable DAG over ``n_nodes`` binary nodes with logistic conditionals.

    Parameters: ``node_scores [d]``, ``edge_weights [d, d]`` and ``biases [d]`` (weights and biases start
    at 0, i.e. independent fair coins). Buffer: ``temperature`` (0-dim).
    """

    def __init__(
        self,
        n_nodes: int,
        temperature: float = 1.0,
        score_init_std: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if n_nodes < 1:
            raise ValueError(f"n_nodes must be >= 1, got {n_nodes}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        scores = torch.randn(n_nodes, generator=generator) * score_init_std
        self.node_scores = nn.Parameter(scores)
        self.edge_weights = nn.Parameter(torch.zeros(n_nodes, n_nodes))
        self.biases = nn.Parameter(torch.zeros(n_nodes))
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    @property
    def n_nodes(self) -> int:
        return self.node_scores.shape[0]

    def adjacency(self) -> Tensor:
        """``[d, d]`` current adjacency ``A``."""
        return adjacency(self.node_scores, self.edge_weights, self.temperature)

    def log_weights(self) -> Tensor:
        """``[K = 2**d]`` log mixture weights ``log pi``."""
        return mixture_log_weights(self.adjacency(), self.biases)

    def anneal(self, factor: float, minimum: float) -> float:
        """Geometric annealing ``tau <- max(minimum, tau * factor)``; returns the new temperature."""
        if not factor > 0 or not minimum > 0:
            raise ValueError(f"factor and minimum must be > 0, got {factor} and {minimum}")
        new_temperature = max(minimum, float(self.temperature) * factor)
        self.temperature.fill_(new_temperature)
        return new_temperature

    @torch.no_grad()
    def set_structure(
        self, order: Sequence[int], weights: Tensor | np.ndarray, biases: Tensor | np.ndarray
    ) -> None:
        """Set the node order (scores ``0, 1, ..``) and copy in edge weights ``[d, d]`` and biases ``[d]``."""
        d = self.n_nodes
        if len(order) != d:
            raise ValueError(f"order must have {d} entries, got {len(order)}")
        weights, biases = torch.as_tensor(weights), torch.as_tensor(biases)
        if weights.shape != (d, d) or biases.shape != (d,):
            raise ValueError(
                f"weights must be [{d}, {d}] and biases [{d}], got {tuple(weights.shape)} and {tuple(biases.shape)}"
            )
        self.node_scores.copy_(order_to_scores(order))
        self.edge_weights.copy_(weights)
        self.biases.copy_(biases)

    def l1(self) -> Tensor:
        """0-dim ``sum_ij |A_ij|`` (the sparsity penalty before its weight)."""
        return self.adjacency().abs().sum()
