"""Clustering and per-node scores of the learned discrete representation against the truth."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from causal_pima.evaluation.matching import NodeMatching, _check_binary, binarize


def clustering_scores(pred_outcome: np.ndarray, true_outcome: np.ndarray) -> dict[str, float]:
    """ARI and NMI of predicted labels (e.g. argmax outcome) against the true joint outcome.

    Both are invariant to relabelling the clusters. NMI uses sklearn's default (arithmetic mean
    normalisation).

    Returns:
        ``{"ari": float, "nmi": float}``.
    """
    pred = np.asarray(pred_outcome).reshape(-1)
    true = np.asarray(true_outcome).reshape(-1)
    if pred.shape != true.shape:
        raise ValueError(f"lengths differ: pred {pred.shape[0]}, true {true.shape[0]}")
    if pred.size == 0:
        raise ValueError("need at least one specimen")
    return {
        "ari": float(adjusted_rand_score(true, pred)),
        "nmi": float(normalized_mutual_info_score(true, pred)),
    }


def node_accuracy(
    node_values: np.ndarray,
    true_features: np.ndarray,
    matching: NodeMatching,
    feature_names: Sequence[str] | None = None,
) -> dict[str, float]:
    """Per-feature accuracy of the matched node (flip applied), and their mean.

    Recomputed from ``node_values`` so that a matching fitted on one split can be scored on
    another. ``node_values`` are binarised like in :func:`match_nodes` (``>= 0.5`` -> 1).

    Returns:
        one key per *matched* feature (its name from ``feature_names``, else ``str(index)``) and
        ``"mean"``, the mean over matched features. Unmatched features (``d < m``) get no key and
        do not enter the mean (NaN mean when nothing is matched).
    """
    x = binarize(node_values, "node_values")
    t = _check_binary(true_features, "true_features")
    if x.shape[0] != t.shape[0]:
        raise ValueError(f"row counts differ: node_values {x.shape[0]}, true_features {t.shape[0]}")
    if feature_names is not None and "mean" in feature_names:
        raise ValueError("a feature may not be called 'mean'")
    out: dict[str, float] = {}
    for j, f in sorted(matching.node_to_feature.items(), key=lambda jf: jf[1]):
        node = x[:, j] ^ int(matching.flipped[j])
        key = feature_names[f] if feature_names is not None else str(f)
        out[key] = float((node == t[:, f]).mean())
    out["mean"] = float(np.mean(list(out.values()))) if out else float("nan")
    return out
