"""Tests for the binary structural causal model (causal_pima.data.scm)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from causal_pima.data.scm import BinarySCM

COLLIDER = {
    "radius": {"parents": [], "p_one": [0.5]},
    "shift": {"parents": [], "p_one": [0.5]},
    "hue": {"parents": ["radius", "shift"], "p_one": [0.05, 0.5, 0.5, 0.95]},
}
CHAIN = {
    "a": {"p_one": [0.3]},
    "b": {"parents": ["a"], "p_one": [0.2, 0.9]},
    "c": {"parents": ["b"], "p_one": [0.1, 0.7]},
}
# 4 nodes, listed out of topological order on purpose (d has parents c and a; c has b and a).
FOUR_NODES = {
    "d": {"parents": ["c", "a"], "p_one": [0.1, 0.6, 0.3, 0.85]},
    "a": {"p_one": [0.35]},
    "c": {"parents": ["b", "a"], "p_one": [0.2, 0.7, 0.45, 0.9]},
    "b": {"parents": ["a"], "p_one": [0.25, 0.8]},
}


@pytest.mark.parametrize("config", [COLLIDER, CHAIN, FOUR_NODES], ids=["collider", "chain", "four"])
def test_sampled_frequencies_match_every_conditional(config):
    scm = BinarySCM.from_config(config)
    samples = scm.sample(20_000, np.random.default_rng(7))
    n_checked = 0
    for feature in scm.features:
        parents = list(scm.parents[feature])
        configuration = sum(samples[p].to_numpy().astype(int) << i for i, p in enumerate(parents))
        configuration = np.broadcast_to(configuration, len(samples))
        for c, p_one in enumerate(config[feature]["p_one"]):
            selected = samples[feature].to_numpy()[configuration == c]
            assert len(selected) > 500, (feature, c)
            standard_error = np.sqrt(p_one * (1 - p_one) / len(selected))
            assert abs(selected.mean() - p_one) <= 4 * standard_error, (feature, c)
            n_checked += 1
    assert n_checked == sum(len(entry["p_one"]) for entry in config.values())


def test_sample_format():
    scm = BinarySCM.from_config(FOUR_NODES)
    samples = scm.sample(50, np.random.default_rng(0))
    assert list(samples.columns) == ["d", "a", "c", "b"]
    assert samples.shape == (50, 4)
    assert all(dtype == np.int8 for dtype in samples.dtypes)
    assert set(np.unique(samples.to_numpy())) <= {0, 1}
    assert scm.sample(0, np.random.default_rng(0)).shape == (0, 4)


def test_same_seed_same_samples_different_seed_different():
    scm = BinarySCM.from_config(COLLIDER)
    first = scm.sample(1000, np.random.default_rng(123))
    again = scm.sample(1000, np.random.default_rng(123))
    other = scm.sample(1000, np.random.default_rng(124))
    assert first.equals(again)
    assert not first.equals(other)
    assert (first.to_numpy() != other.to_numpy()).mean() > 0.2


def _brute_force_joint(config: dict, features: list[str]) -> np.ndarray:
    """P(outcome k) by explicit loops: bit j of k is features[j]."""
    joint = np.zeros(2 ** len(features))
    for bits in itertools.product([0, 1], repeat=len(features)):
        value = dict(zip(features, bits, strict=True))
        probability = 1.0
        for feature in features:
            parents = config[feature].get("parents", [])
            c = 0
            for i, parent in enumerate(parents):
                c += value[parent] * 2**i
            p_one = config[feature]["p_one"][c]
            probability *= p_one if value[feature] == 1 else 1.0 - p_one
        k = 0
        for j, bit in enumerate(bits):
            k += bit * 2**j
        joint[k] = probability
    return joint


def test_joint_matches_brute_force_and_sums_to_one():
    scm = BinarySCM.from_config(FOUR_NODES)
    joint = scm.joint()
    assert joint.shape == (16,)
    assert joint.dtype == np.float64
    assert joint.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(
        joint, _brute_force_joint(FOUR_NODES, list(scm.features)), atol=1e-15
    )
    # one entry by hand: d=1, a=0, c=1, b=0 -> k = 1 + 4 = 5;
    # P(a=0) P(b=0|a=0) P(c=1|b=0,a=0) P(d=1|c=1,a=0) = 0.65 * 0.75 * 0.2 * 0.6
    assert joint[5] == pytest.approx(0.65 * 0.75 * 0.2 * 0.6)


def test_joint_of_collider_by_hand():
    joint = BinarySCM.from_config(COLLIDER).joint()
    # k = radius + 2 shift + 4 hue
    expected = 0.25 * np.array([0.95, 0.5, 0.5, 0.05, 0.05, 0.5, 0.5, 0.95])
    np.testing.assert_allclose(joint, expected, atol=1e-15)


def test_interventional_chain_by_hand():
    scm = BinarySCM.from_config(CHAIN)
    # do(b = 1): P(a, b=1, c) = P(a) P(c | b=1); k = a + 2 b + 4 c
    expected = np.zeros(8)
    expected[2] = 0.7 * 0.3  # a=0, b=1, c=0
    expected[3] = 0.3 * 0.3  # a=1, b=1, c=0
    expected[6] = 0.7 * 0.7  # a=0, b=1, c=1
    expected[7] = 0.3 * 0.7  # a=1, b=1, c=1
    interventional = scm.interventional("b", 1)
    np.testing.assert_allclose(interventional, [0, 0, 0.21, 0.09, 0, 0, 0.49, 0.21], atol=1e-15)
    np.testing.assert_allclose(interventional, expected, atol=1e-15)
    # Intervening is not conditioning: P(a=1 | b=1) = 0.27 / 0.41, but P(a=1 | do(b=1)) = 0.3.
    joint = scm.joint()
    b_one = (np.arange(8) & 2) > 0
    a_one = (np.arange(8) & 1) > 0
    assert joint[a_one & b_one].sum() / joint[b_one].sum() == pytest.approx(0.27 / 0.41)
    assert interventional[a_one].sum() == pytest.approx(0.3)
    # do on the root propagates: P(c=1 | do(a=1)) = 0.9 * 0.7 + 0.1 * 0.1 = 0.64
    c_one = (np.arange(8) & 4) > 0
    assert scm.interventional("a", 1)[c_one].sum() == pytest.approx(0.64)


def test_interventional_collider_by_hand():
    # do(radius = 1): P(radius=1, shift, hue) = P(shift) P(hue | radius=1, shift)
    interventional = BinarySCM.from_config(COLLIDER).interventional("radius", 1)
    np.testing.assert_allclose(interventional, [0, 0.25, 0, 0.025, 0, 0.25, 0, 0.475], atol=1e-15)


def test_do_returns_mutilated_model():
    scm = BinarySCM.from_config(COLLIDER)
    mutilated = scm.do("hue", 0)
    assert mutilated.parents["hue"] == ()
    assert mutilated.tables["hue"].tolist() == [0.0]
    assert mutilated.edges() == []
    assert scm.edges() == [("radius", "hue"), ("shift", "hue")]  # original untouched
    assert (mutilated.sample(200, np.random.default_rng(0))["hue"] == 0).all()
    with pytest.raises(ValueError, match="0 or 1"):
        scm.do("hue", 2)
    with pytest.raises(ValueError, match="unknown feature 'size'"):
        scm.do("size", 1)


def test_graph_views():
    scm = BinarySCM.from_config(FOUR_NODES)
    assert scm.features == ("d", "a", "c", "b")
    order = scm.topological_order()
    assert order == ["a", "b", "c", "d"]
    assert scm.edges() == [("c", "d"), ("a", "d"), ("b", "c"), ("a", "c"), ("a", "b")]
    expected = np.zeros((4, 4), dtype=int)
    index = {"d": 0, "a": 1, "c": 2, "b": 3}
    for parent, child in scm.edges():
        expected[index[parent], index[child]] = 1
    np.testing.assert_array_equal(scm.adjacency(), expected)
    assert scm.adjacency().sum() == 5


def test_config_round_trip():
    scm = BinarySCM.from_config(FOUR_NODES)
    config = scm.to_config()
    assert config["d"] == {"parents": ["c", "a"], "p_one": [0.1, 0.6, 0.3, 0.85]}
    assert config["a"] == {"parents": [], "p_one": [0.35]}
    assert all(type(p) is float for entry in config.values() for p in entry["p_one"])
    again = BinarySCM.from_config(config)
    assert again.to_config() == config
    assert again.features == scm.features
    np.testing.assert_array_equal(again.joint(), scm.joint())


@pytest.mark.parametrize(
    ("parents", "tables", "match"),
    [
        (
            {"a": ["c"], "b": ["a"], "c": ["b"]},
            {"a": [0.5, 0.5], "b": [0.5, 0.5], "c": [0.5, 0.5]},
            r"cycle through features a -> b -> c -> a",
        ),
        ({"a": [], "b": ["z"]}, {"a": [0.5], "b": [0.5, 0.5]}, r"feature 'b': unknown parent 'z'"),
        (
            {"a": [], "b": ["a"]},
            {"a": [0.5], "b": [0.1, 0.2, 0.3]},
            r"feature 'b'.*wrong size: expected 2\*\*1 = 2 .*got 3",
        ),
        (
            {"a": [], "b": ["a"]},
            {"a": [0.5], "b": [0.1, 1.2]},
            r"feature 'b': probability 1.2 outside \[0, 1\]",
        ),
        ({"a": [], "b": ["a"]}, {"a": [np.nan], "b": [0.1, 0.2]}, r"feature 'a'.*finite"),
        ({"a": ["a"]}, {"a": [0.5, 0.5]}, r"feature 'a': self-loop"),
        (
            {"a": [], "b": ["a", "a"]},
            {"a": [0.5], "b": [0.5] * 4},
            r"feature 'b': duplicate parents",
        ),
        (
            {"a": [], "b": ["a"]},
            {"a": [0.5]},
            r"feature 'b': conditional probability table is missing",
        ),
        ({"a": []}, {"a": [0.5], "q": [0.5]}, r"unknown feature\(s\) \['q'\]"),
    ],
    ids=[
        "cycle",
        "missing-parent",
        "wrong-size",
        "p-1.2",
        "nan",
        "self-loop",
        "dup",
        "no-table",
        "extra",
    ],
)
def test_invalid_models_raise(parents, tables, match):
    with pytest.raises(ValueError, match=match):
        BinarySCM(parents, tables)


def test_from_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match=r"feature 'a': unknown config key\(s\) \['p'\]"):
        BinarySCM.from_config({"a": {"p": [0.5]}})
