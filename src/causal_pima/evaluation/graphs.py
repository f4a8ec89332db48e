"""Graph comparison metrics: SHD, CPDAG (Markov equivalence class), edge precision / recall / F1.

Also what observational data cannot decide: the Markov equivalence class of a DAG
(:func:`equivalence_class_record`) and the split of the SHD into orientation choices within the true
class and real errors (:func:`shd_decomposition`).

Adjacency convention: ``A`` is a binary ``[d, d]`` array with ``A[i, j] = 1`` for an edge
``i -> j``. A partially directed graph (a CPDAG) marks an undirected edge ``i - j`` by
``A[i, j] = A[j, i] = 1``.
"""

from __future__ import annotations

import numpy as np

# the Markov equivalence class lives in core (the learned-DAG record uses it); re-exported here
from causal_pima.core.equivalence import (  # noqa: F401
    MAX_CLASS_SIZE_NODES,
    _apply_meek_rules,
    _as_adjacency,
    _as_dag,
    _v_structures,
    cpdag,
    equivalence_class_record,
    equivalence_class_size,
)


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
