"""Known-answer tests for total variation and the interventional error."""

from __future__ import annotations

import numpy as np
import pytest

from causal_pima.core.outcomes import joint_outcomes
from causal_pima.data.scm import BinarySCM
from causal_pima.evaluation.interventions import interventional_tv, marginal, total_variation
from causal_pima.evaluation.matching import NodeMatching, map_learned_graph, match_nodes

# true: a -> b, P(a=1) = 0.5, P(b=1 | a=0) = 0.2, P(b=1 | a=1) = 0.8 (so P(b=1) = 0.5)
TRUE_2 = BinarySCM({"a": [], "b": ["a"]}, {"a": [0.5], "b": [0.2, 0.8]})

# true: a -> b, (a, b) -> c
TRUE_3 = BinarySCM(
    {"a": [], "b": ["a"], "c": ["a", "b"]},
    {"a": [0.3], "b": [0.2, 0.7], "c": [0.1, 0.6, 0.5, 0.95]},
)


def test_total_variation_exact():
    assert total_variation([0.5, 0.5], [1.0, 0.0]) == pytest.approx(0.5)
    assert total_variation([0.1, 0.2, 0.7], [0.1, 0.2, 0.7]) == 0.0
    assert total_variation([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shapes"):
        total_variation([1.0], [0.5, 0.5])


def test_marginal_reorders_and_sums():
    joint = np.array([0.1, 0.2, 0.3, 0.4])  # bit 0 = x, bit 1 = y
    np.testing.assert_allclose(marginal(joint, ["x", "y"], ["y"]), [0.3, 0.7])
    np.testing.assert_allclose(marginal(joint, ["x", "y"], ["x"]), [0.4, 0.6])
    np.testing.assert_allclose(marginal(joint, ["x", "y"], ["y", "x"]), [0.1, 0.3, 0.2, 0.4])
    np.testing.assert_allclose(marginal(joint, ["x", "y"], []), [1.0])


def test_interventional_tv_zero_for_the_truth():
    out = interventional_tv(TRUE_3, TRUE_3)
    assert out["mean"] == 0.0
    assert set(out["per_intervention"]) == {"a=0", "a=1", "b=0", "b=1", "c=0", "c=1"}


def test_interventional_tv_two_node_hand_computed():
    # learned: a, b independent, P(a=1) = 0.4, P(b=1) = 0.5
    learned = BinarySCM({"a": [], "b": []}, {"a": [0.4], "b": [0.5]})
    out = interventional_tv(learned, TRUE_2)
    # do(a=0): P_true(b=1) = 0.2 vs 0.5 -> 0.3 ; do(a=1): 0.8 vs 0.5 -> 0.3
    # do(b=v): P_true(a=1) = 0.5 (a is upstream) vs 0.4 -> 0.1
    assert out["per_intervention"] == pytest.approx(
        {"a=0": 0.3, "a=1": 0.3, "b=0": 0.1, "b=1": 0.1}
    )
    assert out["mean"] == pytest.approx(0.2)


def test_interventional_tv_reversed_edge_is_observationally_equal_but_not_interventionally():
    # b -> a with the same joint as TRUE_2
    # joint of TRUE_2: P(a,b) = (0,0) .4, (1,0) .1, (0,1) .1, (1,1) .4 -> P(a=1 | b) = [0.2, 0.8]
    learned = BinarySCM({"a": ["b"], "b": []}, {"a": [0.2, 0.8], "b": [0.5]})
    np.testing.assert_allclose(learned.joint(), TRUE_2.joint())
    out = interventional_tv(learned, TRUE_2)
    # do(a=v): learned P(b=1) = 0.5 vs true 0.2 / 0.8 -> 0.3 each
    # do(b=v): learned P(a=1) = 0.2 / 0.8 vs true 0.5 -> 0.3 each
    assert out["per_intervention"] == pytest.approx(
        {"a=0": 0.3, "a=1": 0.3, "b=0": 0.3, "b=1": 0.3}
    )
    assert out["mean"] == pytest.approx(0.3)


def test_interventional_tv_requires_every_true_feature():
    # a learned model without a true feature would hide that feature's errors
    with pytest.raises(ValueError, match=r"missing \['a'\]"):
        interventional_tv(BinarySCM({"b": []}, {"b": [0.5]}), TRUE_2)


def test_interventional_tv_rejects_unknown_learned_feature():
    learned = BinarySCM({"a": [], "b": [], "z": []}, {"a": [0.5], "b": [0.5], "z": [0.5]})
    with pytest.raises(ValueError, match=r"not in the true SCM \['z'\]"):
        interventional_tv(learned, TRUE_2)


def _relabelled_tables(true: BinarySCM, feature_of_node: list[int], flip: list[bool], rng):
    """Learned-node representation of ``true``: node j = feature feature_of_node[j] (xor flip[j]),
    parent lists in a shuffled order."""
    node_of_feature = {f: j for j, f in enumerate(feature_of_node)}
    parents, tables = {}, {}
    for j, f in enumerate(feature_of_node):
        name = true.features[f]
        true_parents = [true.features.index(p) for p in true.parents[name]]
        node_parents = [node_of_feature[p] for p in true_parents]
        rng.shuffle(node_parents)
        table = np.empty(2 ** len(node_parents))
        for c, values in enumerate(joint_outcomes(len(node_parents))):
            feat_val = {
                feature_of_node[p]: v ^ flip[p] for p, v in zip(node_parents, values, strict=True)
            }
            c_true = sum(feat_val[p] << i for i, p in enumerate(true_parents))
            p_one = true.tables[name][c_true]
            table[c] = 1.0 - p_one if flip[j] else p_one
        parents[j], tables[j] = node_parents, table
    return parents, tables


def test_interventional_tv_zero_under_relabelling_through_matching():
    rng = np.random.default_rng(0)
    feature_of_node = [2, 0, 1]
    flip = [True, False, True]
    parents, tables = _relabelled_tables(TRUE_3, feature_of_node, flip, rng)

    # matching found from data: node columns are permuted / flipped true features
    t = TRUE_3.sample(2000, rng).to_numpy()
    nodes = np.stack([t[:, f] ^ int(s) for f, s in zip(feature_of_node, flip, strict=True)], axis=1)
    matching = match_nodes(nodes, t)
    assert matching.node_to_feature == dict(enumerate(feature_of_node))
    assert matching.flipped == dict(enumerate(flip))

    learned = map_learned_graph(parents, tables, matching, TRUE_3.features)
    assert learned.features == TRUE_3.features
    np.testing.assert_allclose(learned.joint(), TRUE_3.joint(), atol=1e-12)
    out = interventional_tv(learned, TRUE_3)
    assert out["mean"] == pytest.approx(0.0, abs=1e-12)


def test_interventional_tv_after_mapping_with_unmatched_feature():
    # true: a -> b with P(a=1) = 0.9, P(b=1 | a) = [0.2, 0.8], so P(b=1) = 0.74.
    true = BinarySCM({"a": [], "b": ["a"]}, {"a": [0.9], "b": [0.2, 0.8]})
    # learned node 0 = b with its true marginal; feature a has no node and becomes a fair coin
    matching = NodeMatching({0: 1}, {0: False}, {0: 1.0}, unmatched_features=[0])
    learned = map_learned_graph({0: []}, {0: np.array([0.74])}, matching, true.features)
    assert learned.features == ("a", "b")
    out = interventional_tv(learned, true)
    # do(a=0): P(b=1) 0.2 vs 0.74 -> 0.54; do(a=1): 0.8 vs 0.74 -> 0.06
    # do(b=v): P(a=1) 0.9 (a is upstream) vs the fair coin 0.5 -> 0.4 each
    assert out["per_intervention"] == pytest.approx(
        {"a=0": 0.54, "a=1": 0.06, "b=0": 0.4, "b=1": 0.4}
    )
    assert out["mean"] == pytest.approx(0.35)
