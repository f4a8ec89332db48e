"""Known-answer tests for SHD, CPDAG, CPDAG SHD and edge precision / recall / F1."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from causal_pima.evaluation.graphs import (
    cpdag,
    cpdag_shd,
    edge_scores,
    equivalence_class_record,
    equivalence_class_size,
    shd,
    shd_decomposition,
)


def adj(d: int, *edges: tuple[int, int]) -> np.ndarray:
    a = np.zeros((d, d), dtype=np.int64)
    for i, j in edges:
        a[i, j] = 1
    return a


CHAIN = adj(3, (0, 1), (1, 2))  # 0 -> 1 -> 2
REV_CHAIN = adj(3, (1, 0), (2, 1))  # 0 <- 1 <- 2
COLLIDER = adj(3, (0, 2), (1, 2))  # 0 -> 2 <- 1
CHAIN_021 = adj(3, (0, 2), (2, 1))  # 0 -> 2 -> 1
FULL = adj(3, (0, 1), (0, 2), (1, 2))
EMPTY = adj(3)


def undirected(d: int, *edges: tuple[int, int]) -> np.ndarray:
    a = adj(d, *edges)
    return a | a.T


# ---------------------------------------------------------------- SHD


def test_shd_identical_is_zero():
    assert shd(CHAIN, CHAIN) == 0


def test_shd_markov_equivalent_chains():
    # both edges reversed, each reversal counts 1
    assert shd(CHAIN, REV_CHAIN) == 2
    assert cpdag_shd(CHAIN, REV_CHAIN) == 0


def test_shd_collider_vs_chain():
    # pair (1, 2) reversed: 1 -> 2 vs 2 -> 1; pair (0, 2) identical
    assert shd(COLLIDER, CHAIN_021) == 1
    # CPDAG(collider) = 0 -> 2 <- 1; CPDAG(chain) = 0 - 2 - 1: both pairs differ
    assert cpdag_shd(COLLIDER, CHAIN_021) == 2


def test_shd_empty_vs_full():
    assert shd(EMPTY, FULL) == 3
    assert shd(FULL, EMPTY) == 3
    assert cpdag_shd(EMPTY, FULL) == 3


def test_shd_counts_extra_missing_reversed():
    true = adj(4, (0, 1), (1, 2), (2, 3))
    pred = adj(4, (0, 1), (2, 1), (0, 3))  # 1<-2 reversed, 2->3 missing, 0->3 extra
    assert shd(true, pred) == 3


def test_shd_is_symmetric():
    assert shd(COLLIDER, CHAIN) == shd(CHAIN, COLLIDER)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((2, 3)), np.array([[0, 2], [0, 0]]), np.array([[1, 0], [0, 0]])],
    ids=["not-square", "not-binary", "self-loop"],
)
def test_shd_rejects_bad_input(bad):
    with pytest.raises(ValueError):
        shd(bad, bad)


def test_shd_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="shapes differ"):
        shd(adj(2), adj(3))


# ---------------------------------------------------------------- CPDAG


def test_cpdag_collider_keeps_both_edges_directed():
    np.testing.assert_array_equal(cpdag(COLLIDER), COLLIDER)


def test_cpdag_chain_is_fully_undirected():
    np.testing.assert_array_equal(cpdag(CHAIN), undirected(3, (0, 1), (1, 2)))
    np.testing.assert_array_equal(cpdag(REV_CHAIN), undirected(3, (0, 1), (1, 2)))


def test_cpdag_full_dag_is_fully_undirected():
    np.testing.assert_array_equal(cpdag(FULL), undirected(3, (0, 1), (0, 2), (1, 2)))


def test_cpdag_meek_r1_and_r2():
    # x=0 -> b=2 <- a=1 is a v-structure; R1 orients 2 -> 3 (0, 3 non-adjacent);
    # R2 then orients 1 -> 3 via 1 -> 2 -> 3. Every edge is compelled.
    dag = adj(4, (0, 2), (1, 2), (2, 3), (1, 3))
    np.testing.assert_array_equal(cpdag(dag), dag)


def test_cpdag_meek_r3():
    # a=0 adjacent to c=1, d=2 and b=3; c -> b <- d is a v-structure. a - c and a - d stay
    # undirected; R3 orients a -> b (the only rule that fires).
    dag = adj(4, (0, 1), (0, 2), (0, 3), (1, 3), (2, 3))
    expected = undirected(4, (0, 1), (0, 2)) + adj(4, (1, 3), (2, 3), (0, 3))
    np.testing.assert_array_equal(cpdag(dag), expected)


def test_cpdag_meek_r1_chain_below_collider():
    # 0 -> 2 <- 1, 2 -> 3: R1 orients 2 -> 3; Markov-equivalent only to itself
    dag = adj(4, (0, 2), (1, 2), (2, 3))
    np.testing.assert_array_equal(cpdag(dag), dag)
    assert cpdag_shd(dag, adj(4, (0, 2), (1, 2), (3, 2))) == 1


def test_cpdag_rejects_cycle():
    with pytest.raises(ValueError, match="not a DAG"):
        cpdag(adj(3, (0, 1), (1, 2), (2, 0)))


def _all_dags(d: int):
    pairs = list(itertools.combinations(range(d), 2))
    for marks in itertools.product((0, 1, 2), repeat=len(pairs)):
        a = np.zeros((d, d), dtype=np.int64)
        for (i, j), m in zip(pairs, marks, strict=True):
            if m == 1:
                a[i, j] = 1
            elif m == 2:
                a[j, i] = 1
        if nx.is_directed_acyclic_graph(nx.from_numpy_array(a, create_using=nx.DiGraph)):
            yield a


def _class_key(a: np.ndarray):
    skel = a | a.T
    v = {
        (min(i, j), max(i, j), k)
        for k in range(len(a))
        for i in range(len(a))
        for j in range(len(a))
        if i != j and a[i, k] and a[j, k] and not skel[i, j]
    }
    return skel.tobytes(), frozenset(v)


def test_cpdag_matches_brute_force_equivalence_classes_on_4_nodes():
    # Verma-Pearl: same skeleton + same v-structures <=> Markov equivalent. The CPDAG directs an
    # edge exactly when every member of the class directs it the same way.
    classes: dict = {}
    for a in _all_dags(4):
        classes.setdefault(_class_key(a), []).append(a)
    assert sum(len(c) for c in classes.values()) == 543  # number of labelled DAGs on 4 nodes
    assert len(classes) == 185  # number of Markov equivalence classes on 4 nodes
    for members in classes.values():
        stacked = np.stack(members)
        skel = members[0] | members[0].T
        always = stacked.all(axis=0)  # i -> j in every member
        expected = np.where(always | always.T, always, skel)
        for a in members:
            np.testing.assert_array_equal(cpdag(a), expected)


# ---------------------------------------------------------------- equivalence class record

NAMES = ["a", "b", "c"]
FORK = adj(3, (1, 0), (1, 2))  # a <- b -> c


@pytest.mark.parametrize(
    ("dag", "determined", "undetermined", "size"),
    [
        (CHAIN, [], [["a", "b"], ["b", "c"]], 3),
        (COLLIDER, [["a", "c"], ["b", "c"]], [], 1),
        (FORK, [], [["a", "b"], ["b", "c"]], 3),
        (FULL, [], [["a", "b"], ["a", "c"], ["b", "c"]], 6),
        (EMPTY, [], [], 1),
        (adj(3, (0, 1)), [], [["a", "b"]], 2),
    ],
    ids=["chain", "collider", "fork", "complete", "empty", "one-edge"],
)
def test_equivalence_class_record(dag, determined, undetermined, size):
    assert equivalence_class_record(dag, NAMES) == {
        "determined_edges": determined,
        "undetermined_edges": undetermined,
        "n_dags_in_class": size,
    }


def test_equivalence_class_record_mixed_graph():
    # a -> c <- b is a v-structure; Meek R1 then compels c -> d and d -> e. Only the separate
    # edge g -> f is free (class: g -> f or f -> g).
    names = ["a", "b", "c", "d", "e", "f", "g"]
    dag = adj(7, (0, 2), (1, 2), (2, 3), (3, 4), (6, 5))
    record = equivalence_class_record(dag, names)
    assert record == {
        "determined_edges": [["a", "c"], ["b", "c"], ["c", "d"], ["d", "e"]],
        "undetermined_edges": [["f", "g"]],  # listed in node order, whatever the DAG's direction
        "n_dags_in_class": 2,
    }


def test_equivalence_class_size_matches_brute_force_on_4_nodes():
    classes: dict = {}
    for a in _all_dags(4):
        classes.setdefault(_class_key(a), []).append(a)
    for members in classes.values():
        assert equivalence_class_size(members[0]) == len(members)


def test_equivalence_class_size_of_complete_graphs_is_d_factorial():
    assert equivalence_class_size(np.triu(np.ones((5, 5), dtype=np.int64), 1)) == 120


def test_equivalence_class_record_rejects_bad_input():
    with pytest.raises(ValueError, match="2 node names for a 3-node graph"):
        equivalence_class_record(CHAIN, ["a", "b"])
    with pytest.raises(ValueError, match="not a DAG"):
        equivalence_class_record(adj(3, (0, 1), (1, 2), (2, 0)), NAMES)


# ---------------------------------------------------------------- SHD within the class vs real


def test_shd_decomposition_within_the_true_class():
    # the reversed chain is Markov equivalent: its whole SHD is orientation the data cannot decide
    assert shd_decomposition(CHAIN, REV_CHAIN) == {"shd_within_class": 2, "shd_real": 0}
    assert shd_decomposition(CHAIN, FORK) == {"shd_within_class": 1, "shd_real": 0}


def test_shd_decomposition_outside_the_true_class():
    # collider vs chain 0 -> 2 -> 1: one reversed edge, but a different class
    assert shd_decomposition(COLLIDER, CHAIN_021) == {"shd_within_class": 0, "shd_real": 1}
    # reversed chain plus an extra edge: outside the class, so all 3 count as real
    assert shd_decomposition(adj(4, (0, 1), (1, 2)), adj(4, (1, 0), (2, 1), (2, 3))) == {
        "shd_within_class": 0,
        "shd_real": 3,
    }
    assert shd_decomposition(CHAIN, CHAIN) == {"shd_within_class": 0, "shd_real": 0}


# ---------------------------------------------------------------- edge scores


def test_edge_scores_small_case():
    true = adj(3, (0, 1), (1, 2))
    pred = adj(3, (0, 1), (2, 1), (0, 2))
    s = edge_scores(true, pred)
    # directed: TP = {0->1}, 3 predicted, 2 true
    assert s["directed_precision"] == pytest.approx(1 / 3)
    assert s["directed_recall"] == pytest.approx(1 / 2)
    assert s["directed_f1"] == pytest.approx(0.4)
    # skeleton: TP = {01, 12}, 3 predicted, 2 true
    assert s["skeleton_precision"] == pytest.approx(2 / 3)
    assert s["skeleton_recall"] == pytest.approx(1.0)
    assert s["skeleton_f1"] == pytest.approx(0.8)
    assert shd(true, pred) == 2


def test_edge_scores_perfect_and_empty_conventions():
    assert set(edge_scores(CHAIN, CHAIN).values()) == {1.0}
    assert set(edge_scores(EMPTY, EMPTY).values()) == {1.0}
    assert set(edge_scores(CHAIN, EMPTY).values()) == {0.0}  # nothing predicted, something true
    assert set(edge_scores(EMPTY, CHAIN).values()) == {0.0}  # something predicted, nothing true


def test_edge_scores_reversed_graph():
    s = edge_scores(CHAIN, REV_CHAIN)
    assert s["directed_precision"] == s["directed_recall"] == s["directed_f1"] == 0.0
    assert s["skeleton_precision"] == s["skeleton_recall"] == s["skeleton_f1"] == 1.0
