"""Known-answer tests for the exact BIC structure search (two-stage baseline): causalPIMA's table search
(core.table_search) on the outcome counts of hard node values, with the BIC penalty."""

from __future__ import annotations

from itertools import product

import networkx as nx
import numpy as np
import pytest

from causal_pima.core.table_search import search_tables
from causal_pima.data.scm import BinarySCM
from causal_pima.evaluation import cpdag_shd
from causal_pima.evaluation.bic_search import (
    exhaustive_bic_search,
    family_bic,
    mle_tables,
    outcome_counts,
)

# 0 -> 2 <- 1, strong table
COLLIDER = BinarySCM(
    {"N0": [], "N1": [], "N2": ["N0", "N1"]},
    {"N0": [0.5], "N1": [0.4], "N2": [0.1, 0.6, 0.7, 0.95]},
)
CHAIN = BinarySCM(
    {"N0": [], "N1": ["N0"], "N2": ["N1"]},
    {"N0": [0.5], "N1": [0.2, 0.8], "N2": [0.25, 0.85]},
)
FORK = BinarySCM(
    {"N0": [], "N1": ["N0"], "N2": ["N0"]},
    {"N0": [0.4], "N1": [0.2, 0.8], "N2": [0.85, 0.25]},
)
# diamond 0 -> 1 -> 3 <- 2 <- 0: CPDAG keeps 1 -> 3 <- 2 directed, 0 - 1 and 0 - 2 undirected
DIAMOND = BinarySCM(
    {"N0": [], "N1": ["N0"], "N2": ["N0"], "N3": ["N1", "N2"]},
    {"N0": [0.5], "N1": [0.2, 0.8], "N2": [0.3, 0.85], "N3": [0.1, 0.5, 0.6, 0.9]},
)
# five nodes: 0 -> 1 -> 2 <- 3, 2 -> 4 (the v-structure compels every edge)
FIVE = BinarySCM(
    {"N0": [], "N1": ["N0"], "N2": ["N1", "N3"], "N3": [], "N4": ["N2"]},
    {"N0": [0.5], "N1": [0.2, 0.8], "N2": [0.1, 0.6, 0.7, 0.95], "N3": [0.4], "N4": [0.25, 0.8]},
)


def sample(scm: BinarySCM, n: int = 20000, seed: int = 0) -> np.ndarray:
    return scm.sample(n, np.random.default_rng(seed)).to_numpy()


def total_bic(data: np.ndarray, adjacency: np.ndarray) -> float:
    return sum(
        family_bic(data, j, list(np.flatnonzero(adjacency[:, j]))) for j in range(data.shape[1])
    )


# ------------------------------------------------------------------ family_bic


def tiny_table() -> np.ndarray:
    # (x0, x1): (0, 0) x3, (0, 1) x1, (1, 1) x4  -> N = 8
    return np.array([[0, 0]] * 3 + [[0, 1]] + [[1, 1]] * 4)


def test_family_bic_hand_computed():
    data = tiny_table()
    # node 1 given node 0: config 0 has n(x1=0) = 3, n(x1=1) = 1; config 1 has 0 and 4 (0 log 0 = 0)
    # loglik = 3 log(3/4) + 1 log(1/4) + 4 log(4/4) = -2.2493406; penalty 0.5 * log 8 * 2 = 2.0794415
    assert family_bic(data, 1, [0]) == pytest.approx(-4.3287821201550685, abs=1e-12)
    # node 1 alone: 5 ones, 3 zeros: 5 log(5/8) + 3 log(3/8) - 0.5 log 8
    assert family_bic(data, 1, []) == pytest.approx(-6.332226676103775, abs=1e-12)
    # a constant column: loglik 0, penalty only
    assert family_bic(np.zeros((8, 1), dtype=int), 0, []) == pytest.approx(-0.5 * np.log(8))


def test_family_bic_parent_order_irrelevant_and_validation():
    data = sample(COLLIDER, n=500)
    assert family_bic(data, 2, [0, 1]) == pytest.approx(family_bic(data, 2, [1, 0]), abs=1e-9)
    with pytest.raises(ValueError, match="own parent"):
        family_bic(data, 2, [2])
    with pytest.raises(ValueError, match="out of range"):
        family_bic(data, 3, [])
    with pytest.raises(ValueError, match="binary"):
        family_bic(data * 2, 0, [])


# ------------------------------------------------------------------ exhaustive search


@pytest.mark.parametrize(
    "scm",
    [COLLIDER, CHAIN, FORK, DIAMOND, FIVE],
    ids=["collider", "chain", "fork", "diamond", "five"],
)
def test_exhaustive_search_recovers_markov_equivalence_class(scm):
    data = sample(scm)
    adjacency, bic = exhaustive_bic_search(data)
    assert cpdag_shd(scm.adjacency(), adjacency) == 0
    assert bic == pytest.approx(total_bic(data, adjacency), abs=1e-9)
    # deterministic
    again, bic_again = exhaustive_bic_search(data)
    np.testing.assert_array_equal(adjacency, again)
    assert bic_again == bic


def test_collider_is_exact_and_equivalent_graphs_prefer_high_to_low_edges():
    adjacency, _ = exhaustive_bic_search(sample(COLLIDER))
    np.testing.assert_array_equal(adjacency, COLLIDER.adjacency())  # a collider's class is one DAG
    # chain class {0->1->2, 0<-1<-2, 0<-1->2}: the table search builds the order from its last node
    # back and the lowest node index takes the last place among ties, so 2 -> 1 -> 0
    adjacency, _ = exhaustive_bic_search(sample(CHAIN))
    np.testing.assert_array_equal(adjacency, CHAIN.adjacency().T)


def test_independent_nodes_give_empty_graph():
    data = (np.random.default_rng(1).random((20000, 4)) < [0.5, 0.3, 0.7, 0.5]).astype(int)
    adjacency, bic = exhaustive_bic_search(data)
    assert adjacency.sum() == 0
    assert bic == pytest.approx(sum(family_bic(data, j, []) for j in range(4)))


def test_outcome_counts_hand_computed():
    # rows (x0, x1): (0, 0) x3, (0, 1) x1, (1, 1) x4 -> outcomes k = x0 + 2 x1: 0 x3, 2 x1, 3 x4
    np.testing.assert_array_equal(outcome_counts(tiny_table()), [3.0, 0.0, 1.0, 4.0])


def test_search_is_the_table_search_on_outcome_counts_beyond_five_nodes():
    # six nodes (the old exhaustive search stopped at five): 0 -> 1 -> 2 <- 3, 2 -> 4, 5 alone
    six = BinarySCM(
        {"N0": [], "N1": ["N0"], "N2": ["N1", "N3"], "N3": [], "N4": ["N2"], "N5": []},
        {"N0": [0.5], "N1": [0.2, 0.8], "N2": [0.1, 0.6, 0.7, 0.95], "N3": [0.4], "N4": [0.25, 0.8], "N5": [0.3]},
    )
    data = sample(six)
    adjacency, bic = exhaustive_bic_search(data)
    assert cpdag_shd(six.adjacency(), adjacency) == 0
    assert adjacency[1, 2] == adjacency[3, 2] == adjacency[2, 4] == 1  # compelled by the v-structure
    found = search_tables(outcome_counts(data), complexity=0.5 * np.log(len(data)))
    assert found.parents == {j: sorted(np.flatnonzero(adjacency[:, j]).tolist()) for j in range(6)}
    assert bic == found.score == pytest.approx(total_bic(data, adjacency), abs=1e-8)


def test_search_rejects_non_binary_data():
    with pytest.raises(ValueError, match="binary"):
        exhaustive_bic_search(np.full((10, 2), 2))
    with pytest.raises(ValueError, match=r"2-D \[N, d\]"):
        exhaustive_bic_search(np.zeros(10, dtype=int))


def all_dags(d: int) -> list[np.ndarray]:
    pairs = [(i, j) for i in range(d) for j in range(d) if i != j]
    dags = []
    for bits in product((0, 1), repeat=len(pairs)):
        adjacency = np.zeros((d, d), dtype=int)
        for (i, j), bit in zip(pairs, bits, strict=True):
            adjacency[i, j] = bit
        if nx.is_directed_acyclic_graph(nx.from_numpy_array(adjacency, create_using=nx.DiGraph)):
            dags.append(adjacency)
    return dags


@pytest.mark.parametrize(
    ("scm", "n", "n_dags", "n_tied", "chosen"),
    [
        (COLLIDER, 300, 25, 1, [(0, 2), (1, 2)]),
        (CHAIN, 2000, 25, 3, [(1, 0), (2, 1)]),
        (FORK, 60, 25, 3, [(0, 1), (2, 0)]),
        (DIAMOND, 400, 543, 3, [(0, 1), (1, 3), (2, 0), (2, 3)]),
    ],
)
def test_search_agrees_with_brute_force_enumeration(scm, n, n_dags, n_tied, chosen):
    # small samples: optimum not always the truth; chain / fork / diamond optima are 3-way ties
    data = sample(scm, n=n, seed=3)
    dags = all_dags(len(scm.features))
    assert len(dags) == n_dags
    scores = np.array([total_bic(data, a) for a in dags])
    adjacency, bic = exhaustive_bic_search(data)
    assert bic == pytest.approx(scores.max(), abs=1e-9)
    tied = [a for a, s in zip(dags, scores, strict=True) if s >= scores.max() - 1e-6]
    assert len(tied) == n_tied and any((adjacency == a).all() for a in tied)
    # which tied optimum: the table search's tie-break (lowest node index last in the order where
    # sinks tie), e.g. the chain's class gives 2 -> 1 -> 0
    assert sorted((int(i), int(j)) for i, j in zip(*np.nonzero(adjacency), strict=True)) == chosen


# ------------------------------------------------------------------ tables


def test_mle_tables_close_to_truth_on_collider():
    data = sample(COLLIDER)
    tables = mle_tables(data, COLLIDER.adjacency())
    assert tables[0][0] == [] and tables[1][0] == [] and tables[2][0] == [0, 1]
    for j, feature in enumerate(COLLIDER.features):
        np.testing.assert_allclose(tables[j][1], COLLIDER.tables[feature], atol=0.02)


def test_mle_tables_hand_computed_smoothing():
    data = tiny_table()  # node 1 | node 0: config 0 -> 1 of 4 ones, config 1 -> 4 of 4 ones
    adjacency = np.array([[0, 1], [0, 0]])
    tables = mle_tables(data, adjacency, pseudo_count=0.5)
    assert tables[0][0] == []
    np.testing.assert_allclose(tables[0][1], [(4 + 0.5) / (8 + 1)])
    assert tables[1][0] == [0]
    np.testing.assert_allclose(tables[1][1], [(1 + 0.5) / (4 + 1), (4 + 0.5) / (4 + 1)])
    raw = mle_tables(data, adjacency, pseudo_count=0.0)
    np.testing.assert_allclose(raw[1][1], [0.25, 1.0])
    # unseen configuration with no smoothing -> 0.5
    unseen = mle_tables(np.array([[0, 0], [0, 1]]), adjacency, pseudo_count=0.0)
    np.testing.assert_allclose(unseen[1][1], [0.5, 0.5])
    with pytest.raises(ValueError, match="cycle"):
        mle_tables(data, np.array([[0, 1], [1, 0]]))
