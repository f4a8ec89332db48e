"""Graph comparison metrics: SHD, CPDAG (Markov equivalence class), edge precision / recall / F1.

Also what observational data cannot decide: the Markov equivalence class of a DAG
(:func:`equivalence_class_record`) and the split of the SHD into orientation choices within the true
class and real errors (:func:`shd_decomposition`).

Adjacency convention: ``A`` is a binary ``[d, d]`` array with ``A[i, j] = 1`` for an edge
``i -> j``. A partially directed graph (a CPDAG) marks an undirected edge ``i - j`` by
``A[i, j] = A[j, i] = 1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import permutations
from typing import Any

import networkx as nx
import numpy as np


def _as_adjacency(adj: np.ndarray, name: str = "adj") -> np.ndarray:
    a = np.asarray(adj)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"{name} must be square [d, d], got shape {a.shape}")
    if a.size and not np.isin(a, (0, 1)).all():
        raise ValueError(f"{name} must be binary (0/1)")
    a = a.astype(np.int64)
    if np.diag(a).any():
        raise ValueError(f"{name} has self-loops (non-zero diagonal)")
    return a


def _as_dag(adj: np.ndarray, name: str = "adj") -> np.ndarray:
    a = _as_adjacency(adj, name)
    if not nx.is_directed_acyclic_graph(nx.from_numpy_array(a, create_using=nx.DiGraph)):
        raise ValueError(f"{name} is not a DAG")
    return a


def _pair_shapes(true_adj: np.ndarray, pred_adj: np.ndarray) -> None:
    if true_adj.shape != pred_adj.shape:
        raise ValueError(f"shapes differ: true {true_adj.shape}, pred {pred_adj.shape}")


def _mark_mismatches(a: np.ndarray, b: np.ndarray) -> int:
    """Number of unordered pairs ``i < j`` whose edge mark differs.

    The mark of a pair is ``(A[i, j], A[j, i])``: absent, ``i -> j``, ``j -> i`` or undirected.
    """
    iu = np.triu_indices(a.shape[0], k=1)
    differs = (a[iu] != b[iu]) | (a.T[iu] != b.T[iu])
    return int(differs.sum())


def shd(true_adj: np.ndarray, pred_adj: np.ndarray) -> int:
    """Structural Hamming distance between two directed graphs.

    Convention: extra + missing + reversed edges, a reversed edge counting **1** (not 2). Computed
    as the number of unordered node pairs whose edge mark (absent / ``i -> j`` / ``j -> i``)
    differs. Inputs are binary adjacency matrices without self-loops (typically DAGs).
    """
    a = _as_adjacency(true_adj, "true_adj")
    b = _as_adjacency(pred_adj, "pred_adj")
    _pair_shapes(a, b)
    return _mark_mismatches(a, b)


def _v_structures(dag: np.ndarray) -> list[tuple[int, int, int]]:
    """All v-structures ``a -> c <- b`` (``a < b``, ``a`` and ``b`` non-adjacent)."""
    skel = dag | dag.T
    out = []
    for c in range(dag.shape[0]):
        pa = np.flatnonzero(dag[:, c])
        for x in range(len(pa)):
            for y in range(x + 1, len(pa)):
                a, b = int(pa[x]), int(pa[y])
                if not skel[a, b]:
                    out.append((a, b, c))
    return out


def _apply_meek_rules(g: np.ndarray) -> np.ndarray:
    """Orient undirected edges of a pattern by Meek rules R1-R3 until nothing changes.

    ``g[i, j] = 1, g[j, i] = 0`` is ``i -> j``; ``g[i, j] = g[j, i] = 1`` is ``i - j``. R4 is not
    needed when the pattern comes from a DAG without background knowledge (Meek 1995).
    """
    g = g.copy()
    d = g.shape[0]

    def directed(i: int, j: int) -> bool:
        return bool(g[i, j] and not g[j, i])

    def undirected(i: int, j: int) -> bool:
        return bool(g[i, j] and g[j, i])

    def adjacent(i: int, j: int) -> bool:
        return bool(g[i, j] or g[j, i])

    changed = True
    while changed:
        changed = False
        for b in range(d):
            for c in range(d):
                if b == c or not undirected(b, c):
                    continue
                others = [a for a in range(d) if a not in (b, c)]
                # R1: a -> b - c, a and c non-adjacent  =>  b -> c
                r1 = any(directed(a, b) and not adjacent(a, c) for a in others)
                # R2: b -> a -> c and b - c  =>  b -> c
                r2 = any(directed(b, a) and directed(a, c) for a in others)
                # R3: b - x -> c, b - y -> c, x and y non-adjacent, b - c  =>  b -> c
                mids = [a for a in others if undirected(b, a) and directed(a, c)]
                r3 = any(not adjacent(x, y) for k, x in enumerate(mids) for y in mids[k + 1 :])
                if r1 or r2 or r3:
                    g[c, b] = 0
                    changed = True
    return g


def cpdag(adj: np.ndarray) -> np.ndarray:
    """CPDAG (essential graph) of a DAG: the representation of its Markov equivalence class.

    Skeleton plus compelled edges: edges of v-structures are directed, then Meek rules R1-R3 are
    applied to a fixed point. Every other edge is undirected, returned with both ``[i, j]`` and
    ``[j, i]`` set to 1. Directed edges of the result are directed the same way in every DAG of
    the class; undirected edges take both directions within the class.
    """
    dag = _as_dag(adj)
    g = dag | dag.T
    for a, b, c in _v_structures(dag):
        g[c, a] = 0
        g[c, b] = 0
    return _apply_meek_rules(g)


def cpdag_shd(true_adj: np.ndarray, pred_adj: np.ndarray) -> int:
    """SHD between the CPDAGs of two DAGs.

    For each unordered pair, 1 if the edge mark differs (absent / undirected / ``i -> j`` /
    ``j -> i``). 0 exactly when the two DAGs are Markov equivalent.
    """
    a = _as_dag(true_adj, "true_adj")
    b = _as_dag(pred_adj, "pred_adj")
    _pair_shapes(a, b)
    return _mark_mismatches(cpdag(a), cpdag(b))


def shd_decomposition(true_adj: np.ndarray, pred_adj: np.ndarray) -> dict[str, int]:
    """Split the SHD into orientation choices the data cannot decide and real errors.

    ``shd_within_class`` = SHD when the learned DAG is Markov equivalent to the true one
    (CPDAG SHD 0: every difference is an orientation that observational data cannot decide), else 0.
    ``shd_real`` = SHD - ``shd_within_class``: the SHD of a learned DAG outside the true class
    (all of it, including any reversals it also has). Exactly one of the two is non-zero unless the
    SHD is 0.

    Returns:
        ``{"shd_within_class": int, "shd_real": int}``.
    """
    total = shd(true_adj, pred_adj)
    within = total if cpdag_shd(true_adj, pred_adj) == 0 else 0
    return {"shd_within_class": int(within), "shd_real": int(total - within)}


# Largest number of nodes for which :func:`equivalence_class_size` enumerates (d! orderings).
MAX_CLASS_SIZE_NODES = 7


def equivalence_class_size(adj: np.ndarray) -> int:
    """Number of DAGs in the Markov equivalence class of a DAG (``d <= MAX_CLASS_SIZE_NODES``).

    By enumeration: every DAG with the same skeleton orients it along one of its topological
    orders, so orienting the skeleton along each of the ``d!`` node orders reaches every candidate;
    the distinct ones with the same v-structures (hence the same CPDAG) are counted
    (Verma & Pearl 1990). Chain: 3; collider: 1; complete graph on ``d`` nodes: ``d!``; empty: 1.
    """
    dag = _as_dag(adj)
    d = dag.shape[0]
    if d > MAX_CLASS_SIZE_NODES:
        raise ValueError(
            f"class size enumeration supports d <= {MAX_CLASS_SIZE_NODES} nodes, got d = {d}"
        )
    skeleton = dag | dag.T
    target = set(_v_structures(dag))
    seen: set[bytes] = set()
    members = 0
    for order in permutations(range(d)):
        rank = np.empty(d, dtype=np.int64)
        rank[list(order)] = np.arange(d)
        oriented = skeleton * (rank[:, None] < rank[None, :])
        key = oriented.tobytes()
        if key in seen:
            continue
        seen.add(key)
        members += set(_v_structures(oriented)) == target
    return members


def equivalence_class_record(adjacency: np.ndarray, node_names: Sequence[str]) -> dict[str, Any]:
    """What observational data decides about a DAG: its CPDAG, in node names (JSON-ready).

    Returns:
        ``determined_edges``: ``[from, to]`` for each edge directed in the CPDAG (the same direction
        in every DAG of the Markov equivalence class), in adjacency order;
        ``undetermined_edges``: ``[a, b]`` (``a`` before ``b`` in ``node_names``) for each edge
        undirected in the CPDAG (both directions occur in the class);
        ``n_dags_in_class``: :func:`equivalence_class_size`, or ``None`` above
        ``MAX_CLASS_SIZE_NODES`` nodes.
    """
    dag = _as_dag(adjacency, "adjacency")
    names = list(node_names)
    if len(names) != dag.shape[0]:
        raise ValueError(f"{len(names)} node names for a {dag.shape[0]}-node graph")
    pattern = cpdag(dag)
    edges = [(int(i), int(j)) for i, j in zip(*np.nonzero(pattern), strict=True)]
    small = dag.shape[0] <= MAX_CLASS_SIZE_NODES
    return {
        "determined_edges": [[names[i], names[j]] for i, j in edges if not pattern[j, i]],
        "undetermined_edges": [[names[i], names[j]] for i, j in edges if pattern[j, i] and i < j],
        "n_dags_in_class": equivalence_class_size(dag) if small else None,
    }


def _prf(tp: int, n_pred: int, n_true: int) -> tuple[float, float, float]:
    """Precision, recall, F1 with explicit empty-set conventions.

    precision = tp / n_pred, or (when nothing is predicted) 1.0 if nothing is true either, else 0.0.
    recall = tp / n_true, or (when nothing is true) 1.0 if nothing is predicted either, else 0.0.
    f1 = 2 P R / (P + R), 0.0 when P + R = 0. So all three are 1.0 for an exact match (including
    empty vs empty) and 0.0 when exactly one side is empty.
    """
    precision = tp / n_pred if n_pred else float(n_true == 0)
    recall = tp / n_true if n_true else float(n_pred == 0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return float(precision), float(recall), float(f1)


def edge_scores(true_adj: np.ndarray, pred_adj: np.ndarray) -> dict[str, float]:
    """Directed and skeleton precision / recall / F1.

    Directed: a predicted edge ``i -> j`` is a true positive iff the true graph has ``i -> j``
    (a reversed edge is one false positive and one false negative). Skeleton: unordered pairs,
    direction ignored. Empty-set conventions as in :func:`_prf` (1.0 when both are empty,
    0.0 when exactly one is).

    Returns:
        keys ``directed_precision``, ``directed_recall``, ``directed_f1``,
        ``skeleton_precision``, ``skeleton_recall``, ``skeleton_f1``.
    """
    a = _as_adjacency(true_adj, "true_adj")
    b = _as_adjacency(pred_adj, "pred_adj")
    _pair_shapes(a, b)
    dp, dr, df = _prf(int((a & b).sum()), int(b.sum()), int(a.sum()))
    iu = np.triu_indices(a.shape[0], k=1)
    sa = (a | a.T)[iu]
    sb = (b | b.T)[iu]
    sp, sr, sf = _prf(int((sa & sb).sum()), int(sb.sum()), int(sa.sum()))
    return {
        "directed_precision": dp,
        "directed_recall": dr,
        "directed_f1": df,
        "skeleton_precision": sp,
        "skeleton_recall": sr,
        "skeleton_f1": sf,
    }
