"""Known-answer tests for node matching and mapping a learned graph onto the true features."""

from __future__ import annotations

import numpy as np
import pytest

from causal_pima.core.outcomes import joint_outcomes
from causal_pima.evaluation.matching import (
    UNMATCHED_FEATURE_P_ONE,
    NodeMatching,
    agreement_matrix,
    map_learned_graph,
    match_nodes,
    signed_edges,
)


def balanced_features(m: int = 3, repeats: int = 25) -> np.ndarray:
    """Every joint outcome of m features, ``repeats`` times: any two columns agree on exactly 1/2."""
    return np.tile(joint_outcomes(m), (repeats, 1))  # [2**m * repeats, m]


def test_match_nodes_recovers_permutation_flips_and_exact_accuracies():
    t = balanced_features()  # N = 200
    nodes = np.stack([1 - t[:, 2], t[:, 0], 1 - t[:, 1]], axis=1)
    nodes[:10, 1] ^= 1  # 10 errors on node 1 -> accuracy 190 / 200
    nodes[:4, 0] ^= 1  # 4 errors on node 0 -> accuracy 196 / 200
    result = match_nodes(nodes, t)
    assert result.node_to_feature == {0: 2, 1: 0, 2: 1}
    assert result.flipped == {0: True, 1: False, 2: True}
    assert result.accuracy == pytest.approx({0: 0.98, 1: 0.95, 2: 1.0})
    assert result.unmatched_nodes == []
    assert result.unmatched_features == []
    assert result.feature_to_node == {2: 0, 0: 1, 1: 2}


def test_match_nodes_thresholds_probabilities():
    t = balanced_features()
    probs = np.stack([0.9 * t[:, 1] + 0.05, 0.2 * t[:, 0] + 0.4], axis=1)  # node 1: 0.4 / 0.6
    result = match_nodes(probs, t[:, :2])
    assert result.node_to_feature == {0: 1, 1: 0}
    # node 1 = 0.4 when feature 0 = 0 -> thresholded to 0, 0.6 -> 1: not flipped
    assert result.flipped == {0: False, 1: False}
    assert result.accuracy == pytest.approx({0: 1.0, 1: 1.0})


def test_match_nodes_fewer_nodes_than_features():
    t = balanced_features()
    nodes = np.stack([t[:, 2], 1 - t[:, 0]], axis=1)
    result = match_nodes(nodes, t)
    assert result.node_to_feature == {0: 2, 1: 0}
    assert result.flipped == {0: False, 1: True}
    assert result.unmatched_nodes == []
    assert result.unmatched_features == [1]
    assert result.n_features == 3


def test_match_nodes_more_nodes_than_features():
    t = balanced_features()
    noise = t[:, 0] ^ t[:, 1]  # agrees with each single feature exactly half of the time
    nodes = np.stack([noise, 1 - t[:, 1], t[:, 0]], axis=1)
    result = match_nodes(nodes, t[:, :2])
    assert result.node_to_feature == {1: 1, 2: 0}
    assert result.flipped == {1: True, 2: False}
    assert result.unmatched_nodes == [0]
    assert result.unmatched_features == []


def test_agreement_matrix_exact():
    nodes = np.array([[1, 0], [1, 1], [0, 1], [0, 1]])
    feats = np.array([[1], [1], [0], [1]])
    np.testing.assert_allclose(agreement_matrix(nodes, feats), [[0.75], [0.5]])


def test_match_nodes_rejects_bad_input():
    with pytest.raises(ValueError, match="row counts"):
        match_nodes(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="binary"):
        match_nodes(np.zeros((3, 2)), np.full((3, 2), 2))
    with pytest.raises(ValueError):
        match_nodes(np.full((3, 2), 1.5), np.zeros((3, 2)))


def test_map_learned_graph_flipped_parent_and_child():
    # learned: node 0 -> node 1, P(N0=1) = 0.3, P(N1=1 | N0=0) = 0.2, P(N1=1 | N0=1) = 0.9
    # node 0 = NOT feature "b" (index 1), node 1 = NOT feature "a" (index 0)
    matching = NodeMatching({0: 1, 1: 0}, {0: True, 1: True}, {0: 1.0, 1: 1.0})
    scm = map_learned_graph(
        {0: [], 1: [0]}, {0: np.array([0.3]), 1: np.array([0.2, 0.9])}, matching, ["a", "b"]
    )
    assert scm.features == ("a", "b")
    assert scm.parents == {"a": ("b",), "b": ()}
    # P(b=1) = P(N0=0) = 0.7
    np.testing.assert_allclose(scm.tables["b"], [0.7])
    # P(a=1 | b=0) = P(N1=0 | N0=1) = 0.1 ; P(a=1 | b=1) = P(N1=0 | N0=0) = 0.8
    np.testing.assert_allclose(scm.tables["a"], [0.1, 0.8])


def test_map_learned_graph_mixed_flips_and_unmatched_parent():
    # node 2 has parents [3, 0, 1], config c = n3 + 2 n0 + 4 n1. Node 3 is unmatched;
    # node 0 -> f0 (kept), node 1 -> f1 (flipped), node 2 -> f2 (kept).
    t = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    parents = {0: [], 1: [], 2: [3, 0, 1], 3: []}
    tables = {0: [0.5], 1: [0.25], 2: t, 3: [0.9]}
    matching = NodeMatching(
        {0: 0, 1: 1, 2: 2},
        {0: False, 1: True, 2: False},
        {0: 1.0, 1: 1.0, 2: 1.0},
        unmatched_nodes=[3],
    )
    scm = map_learned_graph(parents, tables, matching, ["f0", "f1", "f2"])
    assert scm.features == ("f0", "f1", "f2")
    assert scm.parents["f2"] == ("f0", "f1")
    np.testing.assert_allclose(scm.tables["f1"], [0.75])
    # new config c' = f0 + 2 f1, n0 = f0, n1 = 1 - f1, averaged over n3 in {0, 1}:
    # c'=0: n0=0,n1=1 -> t[4],t[5]; c'=1: n0=1,n1=1 -> t[6],t[7];
    # c'=2: n0=0,n1=0 -> t[0],t[1]; c'=3: n0=1,n1=0 -> t[2],t[3]
    np.testing.assert_allclose(scm.tables["f2"], [0.55, 0.75, 0.15, 0.35])


def test_map_learned_graph_makes_unmatched_features_fair_coins():
    # two learned nodes (N0 -> N1) for three features; feature "b" (index 1) has no node
    matching = NodeMatching(
        {0: 2, 1: 0}, {0: False, 1: True}, {0: 1.0, 1: 1.0}, unmatched_features=[1]
    )
    scm = map_learned_graph({0: [], 1: [0]}, {0: [0.3], 1: [0.2, 0.9]}, matching, ["a", "b", "c"])
    assert scm.features == ("a", "b", "c")
    assert scm.parents == {"a": ("c",), "b": (), "c": ()}
    assert UNMATCHED_FEATURE_P_ONE == 0.5
    np.testing.assert_array_equal(scm.tables["b"], [0.5])
    np.testing.assert_allclose(scm.tables["c"], [0.3])
    np.testing.assert_allclose(scm.tables["a"], [0.8, 0.1])  # child flipped
    # b is independent of the rest and a fair coin
    joint = scm.joint().reshape(2, 2, 2)  # axes (c, b, a): bit 0 = a is the last axis
    np.testing.assert_allclose(joint.sum(axis=(0, 2)), [0.5, 0.5])
    np.testing.assert_allclose(
        joint, np.broadcast_to(joint.sum(axis=1, keepdims=True) / 2, joint.shape)
    )


def test_map_learned_graph_needs_a_name_for_every_feature():
    matching = NodeMatching({0: 0}, {0: False}, {0: 1.0}, unmatched_features=[1])
    with pytest.raises(ValueError, match="3 feature names for a matching over 2 features"):
        map_learned_graph({0: []}, {0: [0.5]}, matching, ["a", "b", "c"])


def test_map_learned_graph_rejects_wrong_table_size():
    matching = NodeMatching({0: 0, 1: 1}, {0: False, 1: False}, {0: 1.0, 1: 1.0})
    with pytest.raises(ValueError, match="entries"):
        map_learned_graph({0: [], 1: [0]}, {0: [0.5], 1: [0.5]}, matching, ["a", "b"])


def test_signed_edges_flip_sign_when_one_endpoint_flipped():
    w = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 5.0], [0.0, 0.0, 0.0]])
    # node 0 -> f1 (flipped), node 1 -> f0, node 2 -> f2 (flipped); one unmatched feature f3
    matching = NodeMatching(
        {0: 1, 1: 0, 2: 2},
        {0: True, 1: False, 2: True},
        {0: 1.0, 1: 1.0, 2: 1.0},
        unmatched_features=[3],
    )
    out = signed_edges(w, matching)
    expected = np.zeros((4, 4))
    expected[1, 0] = -2.0  # node 0 -> node 1: parent flipped only
    expected[1, 2] = 3.0  # node 0 -> node 2: both flipped
    expected[0, 2] = -5.0  # node 1 -> node 2: child flipped only
    np.testing.assert_array_equal(out, expected)
