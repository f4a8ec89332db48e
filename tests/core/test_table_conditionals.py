"""Table conditionals: any table over the parents, acyclic by construction, exact search on counts."""

from __future__ import annotations

import itertools
import math

import networkx as nx
import numpy as np
import pytest
import torch

from causal_pima.core.dag import (
    CausalDAG,
    interaction_subsets,
    parent_effects,
    table_coefficients,
    tables_from_logits,
)
from causal_pima.core.outcomes import joint_outcomes
from causal_pima.core.structure import search_table_structure, tables_to_coefficients
from causal_pima.core.table_search import (
    edge_confidence,
    family_counts,
    log_weights_from_tables,
    search_tables,
)
from causal_pima.evaluation.graphs import cpdag

XOR_TABLE = np.array([0.82, 0.19, 0.16, 0.84])  # P(child = 1 | c), c = parent0 + 2 * parent1


def exact_counts(parents: dict[int, list[int]], tables: dict[int, np.ndarray], n: float) -> np.ndarray:
    """Expected outcome counts ``[2**d]`` of a discrete network (no sampling noise)."""
    return n * np.exp(log_weights_from_tables(parents, tables, len(tables)))


def installed_dag(parents, tables, order, temperature=0.3) -> CausalDAG:
    d = len(tables)
    weights, biases, interactions = tables_to_coefficients(parents, tables, d)
    dag = CausalDAG(d, temperature=temperature, conditionals="table").double()
    dag.set_structure(order, weights, biases, interactions)
    return dag


def test_interaction_subsets_are_every_subset_of_two_or_more_nodes():
    subsets = interaction_subsets(4)
    assert subsets.shape == (2**4 - 4 - 1, 4)
    assert (subsets.sum(1) >= 2).all()
    assert len({tuple(row) for row in subsets}) == len(subsets)


@pytest.mark.parametrize("n_parents", [0, 1, 2, 3])
def test_moebius_coefficients_reproduce_any_table_exactly(n_parents):
    rng = np.random.default_rng(n_parents)
    parents = sorted(rng.choice(np.arange(1, 5), n_parents, replace=False).tolist())
    table = rng.uniform(0.02, 0.98, 2**n_parents)
    coefficients = table_coefficients(parents, table)
    for c in range(2**n_parents):
        on = sum(1 << parents[p] for p in range(n_parents) if (c >> p) & 1)
        logit = sum(v for mask, v in coefficients.items() if mask & on == mask)
        assert 1.0 / (1.0 + math.exp(-logit)) == pytest.approx(table[c], abs=1e-12)


@pytest.mark.parametrize("temperature", [1.0, 0.3, 0.05])
def test_table_dag_reproduces_every_table_and_sums_to_one(temperature):
    # node 2 is an XOR-like child of 0 and 1; node 3 depends on all three (random 8-entry table)
    rng = np.random.default_rng(1)
    parents = {0: [], 1: [0], 2: [0, 1], 3: [0, 1, 2]}
    tables = {0: np.array([0.3]), 1: np.array([0.4, 0.7]), 2: XOR_TABLE, 3: rng.uniform(0.05, 0.95, 8)}
    dag = installed_dag(parents, tables, order=[0, 1, 2, 3], temperature=temperature)
    log_pi = dag.log_weights().detach()
    assert float(log_pi.exp().sum()) == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(log_pi.detach().numpy(), log_weights_from_tables(parents, tables, 4), atol=1e-10)
    read = tables_from_logits(dag.outcome_logits(), threshold=1e-6)
    for j in range(4):
        assert read[j][0] == parents[j]
        np.testing.assert_allclose(read[j][1], tables[j], atol=1e-10)


def test_table_dag_is_acyclic_for_random_parameters_and_scores():
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        dag = CausalDAG(5, temperature=0.5, score_init_std=1.0, generator=generator, conditionals="table").double()
        with torch.no_grad():
            dag.edge_weights.normal_(generator=generator)
            dag.biases.normal_(generator=generator)
            dag.interaction_weights.normal_(0.0, 3.0, generator=generator)
        effects = parent_effects(dag.outcome_logits()).detach().numpy()
        graph = nx.DiGraph([(i, j) for i, j in zip(*np.nonzero(np.abs(effects) > 1e-12), strict=True)])
        assert nx.is_directed_acyclic_graph(graph)
        assert float(dag.log_weights().detach().exp().sum()) == pytest.approx(1.0, abs=1e-10)
        # every effect runs from a lower to a strictly higher score
        scores = dag.node_scores.detach().numpy()
        for i, j in graph.edges:
            assert scores[j] > scores[i]


def test_parent_effects_see_a_parent_acting_only_through_an_interaction():
    # P(child) changes only when both parents are 1: each parent's main effect is 0
    parents = {0: [], 1: [], 2: [0, 1]}
    tables = {0: np.array([0.5]), 1: np.array([0.5]), 2: np.array([0.5, 0.5, 0.5, 0.9])}
    dag = installed_dag(parents, tables, order=[0, 1, 2])
    effects = dag.parent_effects().detach().numpy()
    assert effects[0, 2] == pytest.approx(math.log(9.0), abs=1e-9)
    assert effects[1, 2] == pytest.approx(math.log(9.0), abs=1e-9)
    assert abs(dag.adjacency()[0, 2].item()) < 1e-12  # invisible to a logistic (first-order) read-out


def test_family_counts_match_brute_force():
    rng = np.random.default_rng(3)
    counts = rng.random(16)
    for child in range(4):
        others = [i for i in range(4) if i != child]
        for size in range(4):
            for parents in itertools.permutations(others, size):
                expected = np.zeros((2**size, 2))
                for k in range(16):
                    c = sum(((k >> p) & 1) << q for q, p in enumerate(parents))
                    expected[c, (k >> child) & 1] += counts[k]
                np.testing.assert_allclose(family_counts(counts, child, list(parents)), expected)


def test_search_recovers_an_xor_child_that_a_logistic_network_cannot_see():
    # parents with unequal marginals (0.3, 0.65): the v-structure is identifiable
    parents = {0: [], 1: [], 2: [0, 1]}
    tables = {0: np.array([0.3]), 1: np.array([0.65]), 2: XOR_TABLE}
    counts = exact_counts(parents, tables, 4800.0)
    found = search_tables(counts)
    assert found.parents == parents
    for j in range(3):
        np.testing.assert_allclose(found.tables[j], tables[j], atol=1e-9)
    assert found.n_parameters == 1 + 1 + 4


def test_search_prefers_the_sparse_graph_and_ties_equivalent_ones():
    # chain 0 -> 1 -> 2: the three members of its equivalence class score the same
    parents = {0: [], 1: [0], 2: [1]}
    tables = {0: np.array([0.5]), 1: np.array([0.15, 0.85]), 2: np.array([0.15, 0.85])}
    found = search_tables(exact_counts(parents, tables, 4800.0))
    skeleton = {frozenset(e) for e in found.edges}
    assert skeleton == {frozenset((0, 1)), frozenset((1, 2))}
    assert found.n_parameters == 5
    confidence = edge_confidence(found, 3)
    # each adjacent pair is present with confidence 1 (either direction); the missing edge never
    np.testing.assert_allclose(confidence[0, 1] + confidence[1, 0], 1.0, atol=1e-9)
    np.testing.assert_allclose(confidence[1, 2] + confidence[2, 1], 1.0, atol=1e-9)
    # orders that put 1 last need the extra edge 0 - 2: weight exp(-(BIC gap)), here about 5e-5
    assert confidence[0, 2] + confidence[2, 0] < 1e-3


def test_search_matches_exhaustive_enumeration_on_random_counts():
    rng = np.random.default_rng(5)
    for d in (2, 3, 4, 5):
        counts = rng.gamma(0.5, 50.0, 2**d)
        found = search_tables(counts)
        best = -np.inf
        # every DAG: each order with every parent subset of its predecessors
        for order in itertools.permutations(range(d)):
            per_node = []
            for position, j in enumerate(order):
                before = order[:position]
                per_node.append(max(
                    _family_score(counts, j, list(ps))
                    for r in range(len(before) + 1)
                    for ps in itertools.combinations(sorted(before), r)
                ))
            best = max(best, sum(per_node))
        assert found.score == pytest.approx(best, rel=1e-12)


def _family_score(counts, child, parents):
    from causal_pima.core.table_search import family_log_likelihood

    return family_log_likelihood(counts, child, parents)[0] - 0.5 * math.log(counts.sum()) * 2 ** len(parents)


def test_search_table_structure_installs_into_the_model_and_scores_validation():
    parents = {0: [], 1: [], 2: [0, 1]}
    tables = {0: np.array([0.3]), 1: np.array([0.65]), 2: XOR_TABLE}
    counts = exact_counts(parents, tables, 4800.0)
    # validation specimens sitting exactly on their outcome's component (KL 0 there, 50 elsewhere)
    outcomes = np.repeat(np.arange(8), 10)
    val_kl = torch.full((80, 8), 50.0, dtype=torch.float64)
    val_kl[torch.arange(80), torch.as_tensor(outcomes)] = 0.0
    result = search_table_structure(counts, val_kl, 3)
    assert sorted((i, j) for i, j, _ in result.edges) == [(0, 2), (1, 2)]
    dag = CausalDAG(3, conditionals="table").double()
    dag.set_structure(result.order, result.weights, result.biases, result.interactions)
    log_pi = log_weights_from_tables(parents, tables, 3)
    np.testing.assert_allclose(dag.log_weights().detach().numpy(), log_pi, atol=1e-9)
    assert result.val_score == pytest.approx(float(np.mean(log_pi[outcomes])), abs=1e-9)
    assert result.candidates["chosen"].sum() == 1
    assert len(result.candidates) == 6  # every order of 3 nodes


def test_logistic_and_table_agree_when_the_table_is_additive():
    weights = np.zeros((3, 3))
    weights[0, 2], weights[1, 2] = 1.5, -0.7
    biases = np.array([0.2, -0.3, 0.1])
    logistic = CausalDAG(3, temperature=0.3).double()
    logistic.set_structure([0, 1, 2], weights, biases)
    table = CausalDAG(3, temperature=0.3, conditionals="table").double()
    table.set_structure([0, 1, 2], weights, biases)
    torch.testing.assert_close(logistic.log_weights(), table.log_weights())
    outcomes = torch.as_tensor(joint_outcomes(3), dtype=torch.float64)
    assert outcomes.shape == (8, 3)


def test_search_returns_the_true_equivalence_class_of_a_five_node_graph():
    # radius -> hue <- shift, hue -> lift -> glow (the circles configuration "five") from exact counts
    parents = {0: [], 1: [], 2: [0, 1], 3: [2], 4: [3]}
    tables = {0: np.array([0.5]), 1: np.array([0.5]), 2: np.array([0.05, 0.5, 0.5, 0.95]),
              3: np.array([0.15, 0.85]), 4: np.array([0.15, 0.85])}
    found = search_tables(exact_counts(parents, tables, 4800.0))
    truth, learned = np.zeros((5, 5), int), np.zeros((5, 5), int)
    for j, ps in parents.items():
        truth[ps, j] = 1
    for j, ps in found.parents.items():
        learned[ps, j] = 1
    np.testing.assert_array_equal(cpdag(learned), cpdag(truth))
