"""Known-answer tests for ARI / NMI and per-node accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from causal_pima.evaluation.clustering import (
    UNMATCHED_FEATURE_ACCURACY,
    clustering_scores,
    node_accuracy,
)
from causal_pima.evaluation.matching import NodeMatching


def test_clustering_scores_perfect_up_to_relabelling():
    true = np.array([0, 0, 1, 1, 2, 2, 3])
    perm = np.array([5, 2, 7, 0])  # arbitrary new label for each true label
    assert clustering_scores(perm[true], true) == pytest.approx({"ari": 1.0, "nmi": 1.0})


def test_clustering_scores_invariant_to_label_permutation():
    true = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    pred = np.array([0, 0, 1, 1, 1, 2, 2, 0])
    relabelled = np.array([2, 0, 1])[pred]
    assert clustering_scores(relabelled, true) == pytest.approx(clustering_scores(pred, true))


def test_clustering_scores_exact_small_case():
    # contingency [[2, 0], [1, 1]]: sum C(n_ij, 2) = 1, rows 1 + 1 = 2, cols 3 + 0 = 3, C(4, 2) = 6
    # expected = 2 * 3 / 6 = 1, max = (2 + 3) / 2 = 2.5 -> ARI = (1 - 1) / (2.5 - 1) = 0
    true = np.array([0, 0, 1, 1])
    pred = np.array([0, 0, 0, 1])
    assert clustering_scores(pred, true)["ari"] == pytest.approx(0.0)
    # true [0,0,1,1,1,1], pred [0,0,1,1,2,2]: contingency [[2, 0, 0], [0, 2, 2]]
    # sum C(n_ij,2) = 1 + 1 + 1 = 3, rows C(2,2)+C(4,2) = 7, cols 1+1+1 = 3, C(6,2) = 15
    # expected = 7 * 3 / 15 = 1.4, max = 5 -> ARI = 1.6 / 3.6 = 4/9
    s = clustering_scores(np.array([0, 0, 1, 1, 2, 2]), np.array([0, 0, 1, 1, 1, 1]))
    assert s["ari"] == pytest.approx(4 / 9)
    # H(true) = H(1/3, 2/3), H(pred) = log 3, I = H(true) (pred refines true): NMI = 2 I / (H_t + H_p)
    h_true = -(1 / 3 * np.log(1 / 3) + 2 / 3 * np.log(2 / 3))
    assert s["nmi"] == pytest.approx(2 * h_true / (h_true + np.log(3)))


def test_clustering_scores_rejects_length_mismatch():
    with pytest.raises(ValueError, match="lengths"):
        clustering_scores(np.zeros(3), np.zeros(4))


def test_node_accuracy_applies_flips_and_names():
    t = np.array([[0, 1], [1, 1], [0, 0], [1, 0]])
    # node 0 = NOT f1 (probabilities), node 1 ~ f0
    nodes = np.array([[0.1, 1.0], [0.2, 0.0], [0.9, 1.0], [0.8, 1.0]])
    matching = NodeMatching({0: 1, 1: 0}, {0: True, 1: False}, {0: 1.0, 1: 0.5})
    acc = node_accuracy(nodes, t, matching, ["hue", "size"])
    # node 0 binarised [0,0,1,1], flipped [1,1,0,0] == f1 -> 1.0
    # node 1 [1,0,1,1] vs f0 [0,1,0,1] -> 1/4
    assert acc == pytest.approx({"hue": 0.25, "size": 1.0, "mean": 0.625})
    assert list(acc) == ["hue", "size", "mean"]
    assert node_accuracy(nodes, t, matching) == pytest.approx({"0": 0.25, "1": 1.0, "mean": 0.625})


def test_node_accuracy_counts_unmatched_features_at_chance():
    # three perfect nodes for four true features: the fourth (glow) has no node
    rng = np.random.default_rng(0)
    t = rng.integers(0, 2, size=(40, 4))
    nodes = t[:, :3].astype(float)
    matching = NodeMatching(
        {0: 0, 1: 1, 2: 2},
        {0: False, 1: False, 2: False},
        {0: 1.0, 1: 1.0, 2: 1.0},
        unmatched_features=[3],
    )
    acc = node_accuracy(nodes, t, matching, ["radius", "shift", "hue", "glow"])
    assert UNMATCHED_FEATURE_ACCURACY == 0.5
    assert acc == {"radius": 1.0, "shift": 1.0, "hue": 1.0, "glow": 0.5, "mean": 0.875}
    assert list(acc) == ["radius", "shift", "hue", "glow", "mean"]


def test_node_accuracy_unmatched_features_with_a_flipped_node():
    t = np.array([[0, 1, 0], [1, 1, 1]])
    nodes = np.array([[1], [0]])  # NOT f0, perfect
    matching = NodeMatching({0: 0}, {0: True}, {0: 1.0}, unmatched_features=[1, 2])
    assert node_accuracy(nodes, t, matching) == {"0": 1.0, "1": 0.5, "2": 0.5, "mean": 2.0 / 3.0}


def test_node_accuracy_rejects_a_matching_for_other_features():
    matching = NodeMatching({0: 0}, {0: False}, {0: 1.0})  # one feature
    with pytest.raises(ValueError, match="2 columns for a matching over 1 features"):
        node_accuracy(np.zeros((3, 1)), np.zeros((3, 2), dtype=int), matching)
