"""Markov equivalence of DAGs: the CPDAG (essential graph), the size of a class and its JSON record.

What observational data cannot decide about a DAG (docs/model.md "Markov equivalence"). Used by
:func:`causal_pima.core.readout.learned_dag_record` and by the graph metrics of
:mod:`causal_pima.evaluation.graphs` (which re-exports these names).

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

__all__ = ["MAX_CLASS_SIZE_NODES", "cpdag", "equivalence_class_record", "equivalence_class_size"]


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
