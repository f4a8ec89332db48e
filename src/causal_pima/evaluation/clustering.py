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


# Accuracy credited to a true feature that no learned node is matched to (``d < m``): chance level
# for a binary feature, so a missed feature pulls the mean down instead of vanishing from it.
UNMATCHED_FEATURE_ACCURACY = 0.5


def node_accuracy(
    node_values: np.ndarray,
    true_features: np.ndarray,
    matching: NodeMatching,
    feature_names: Sequence[str] | None = None,
) -> dict[str, float]:
    """Per-feature accuracy of the matched node (flip applied), and their mean over *all* features.

    Recomputed from ``node_values`` so that a matching fitted on one split can be scored on
    another. ``node_values`` are binarised like in :func:`match_nodes` (``>= 0.5`` -> 1).

    Convention for a true feature without a matched node (``d < m``): it scores
    :data:`UNMATCHED_FEATURE_ACCURACY` (0.5, chance) and enters the mean like any other feature.
    E.g. three perfect nodes for four true features give ``(1 + 1 + 1 + 0.5) / 4 = 0.875``.
    Learned nodes without a feature (``d > m``) are not scored.

    Args:
        node_values: ``[N, d]`` binary node values or probabilities ``q(N_j = 1 | x)``.
        true_features: ``[N, m]`` binary true features; ``m`` must equal ``matching.n_features``.
        matching: from :func:`match_nodes`.
        feature_names: ``m`` names (default ``str(index)``).

    Returns:
        one key per true feature, in feature-index order, and ``"mean"``, the mean over all ``m``.
    """
    x = binarize(node_values, "node_values")
    t = _check_binary(true_features, "true_features")
    if x.shape[0] != t.shape[0]:
        raise ValueError(f"row counts differ: node_values {x.shape[0]}, true_features {t.shape[0]}")
    if t.shape[1] != matching.n_features:
        raise ValueError(
            f"true_features has {t.shape[1]} columns for a matching over {matching.n_features} features"
        )
    if feature_names is not None and len(feature_names) != t.shape[1]:
        raise ValueError(f"{len(feature_names)} feature names for {t.shape[1]} features")
    if feature_names is not None and "mean" in feature_names:
        raise ValueError("a feature may not be called 'mean'")
    node_of = matching.feature_to_node
    out: dict[str, float] = {}
    for f in range(t.shape[1]):
        key = feature_names[f] if feature_names is not None else str(f)
        if f in node_of:
            node = x[:, node_of[f]] ^ int(matching.flipped[node_of[f]])
            out[key] = float((node == t[:, f]).mean())
        else:
            out[key] = UNMATCHED_FEATURE_ACCURACY
    out["mean"] = float(np.mean(list(out.values()))) if out else float("nan")
    return out
