"""Tests for core.structure: logistic-network fits on outcome counts and the order search."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from causal_pima.core.dag import mixture_log_weights
from causal_pima.core.outcomes import joint_outcomes
from causal_pima.core.structure import (
    candidate_orders,
    fit_logistic_network,
    forward_edge_mask,
    search_structure,
)


def network(
    edges: dict[tuple[int, int], float], biases: list[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Adjacency ``[d, d]`` and biases ``[d]`` of a logistic Bayesian network."""
    weights = np.zeros((len(biases), len(biases)))
    for (i, j), weight in edges.items():
        weights[i, j] = weight
    return weights, np.asarray(biases, dtype=np.float64)


GRAPHS = {
    "collider": network({(0, 2): 2.5, (1, 2): -2.0}, [0.3, -0.4, -0.5]),
    "chain": network({(0, 1): 2.5, (1, 2): -2.5}, [0.2, -1.0, 1.0]),
    "fork": network({(0, 1): 2.5, (0, 2): -2.0}, [-0.3, -1.0, 0.8]),
    # v-structure 0 -> 2 <- 1 plus 2 -> 3: its Markov equivalence class is this one DAG
    "four_nodes": network({(0, 2): 2.5, (1, 2): 2.0, (2, 3): -2.5}, [0.2, -0.3, -2.0, 1.0]),
}


def outcome_probabilities(weights: np.ndarray, biases: np.ndarray) -> np.ndarray:
    """``pi [2**d]`` of the network (bit j of k = node j), in plain numpy as an independent reference."""
    bits = joint_outcomes(biases.size).astype(np.float64)  # [K, d]
    p_one = 1.0 / (1.0 + np.exp(-(biases + bits @ weights)))  # [K, d]
    return np.where(bits == 1.0, p_one, 1.0 - p_one).prod(axis=1)


def sample_problem(
    pi: np.ndarray, seed: int, n_train: int = 5000, n_val: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    """Training counts ``[K]`` (multinomial) and one-hot-ish validation KLs ``[n_val, K]``.

    Each validation specimen has KL 0 to the component of its sampled outcome and 20 to the others,
    so its prior term is about ``log pi`` of its outcome.
    """
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(n_train, pi).astype(np.float64)
    val_outcome = rng.choice(pi.size, size=n_val, p=pi)
    val_kl = np.full((n_val, pi.size), 20.0)
    val_kl[np.arange(n_val), val_outcome] = 0.0
    return counts, val_kl


def skeleton_and_v_structures(adjacency: np.ndarray) -> tuple[set, set]:
    """Markov equivalence class signature (Verma-Pearl): undirected edges and v-structures."""
    present = np.abs(adjacency) > 0
    d = present.shape[0]
    skeleton = {frozenset((i, j)) for i in range(d) for j in range(d) if present[i, j]}
    v_structures = set()
    for child in range(d):
        parents = np.flatnonzero(present[:, child])
        for a_index, a in enumerate(parents):
            for b in parents[a_index + 1 :]:
                if not present[a, b] and not present[b, a]:
                    v_structures.add((frozenset((int(a), int(b))), child))
    return skeleton, v_structures


def true_conditional(
    pi: np.ndarray, node: int, parents: list[int], parent_values: np.ndarray
) -> float:
    """``P(N_node = 1 | parents = parent_values)`` computed from the joint ``pi``."""
    bits = joint_outcomes(int(math.log2(pi.size)))
    matches = (bits[:, parents] == parent_values).all(axis=1)
    return float(pi[matches & (bits[:, node] == 1)].sum() / pi[matches].sum())


@pytest.mark.parametrize("name", list(GRAPHS))
def test_search_recovers_markov_equivalence_class_and_tables(name: str) -> None:
    true_weights, true_biases = GRAPHS[name]
    pi = outcome_probabilities(true_weights, true_biases)
    counts, val_kl = sample_problem(pi, seed=0)
    d = true_biases.size

    result = search_structure(counts, val_kl, d, seed=0)

    assert skeleton_and_v_structures(result.weights) == skeleton_and_v_structures(true_weights)
    assert sorted((i, j) for i, j, _ in result.edges) == sorted(
        zip(*np.nonzero(result.weights), strict=True)
    )
    position = {node: p for p, node in enumerate(result.order)}
    assert all(position[i] < position[j] for i, j, _ in result.edges)

    # refit tables P(N_j = 1 | parents in the learned graph) against the true joint
    for j in range(d):
        parents = [int(i) for i in np.flatnonzero(result.weights[:, j])]
        for parent_values in joint_outcomes(len(parents)):
            fitted = 1.0 / (
                1.0 + math.exp(-(result.biases[j] + parent_values @ result.weights[parents, j]))
            )
            assert fitted == pytest.approx(
                true_conditional(pi, j, parents, parent_values), abs=0.05
            )

    # the candidates table: all d! orders, one chosen, chosen row carries the fewest edges among the near-best
    assert len(result.candidates) == math.factorial(d)
    assert result.candidates["chosen"].sum() == 1
    chosen = result.candidates[result.candidates["chosen"]].iloc[0]
    near_best = result.candidates[
        result.candidates["val_score"] >= result.candidates["val_score"].max() - 1e-3
    ]
    assert chosen["n_edges"] == near_best["n_edges"].min() == len(result.edges)
    # the unpenalised refit predicts validation specimens at least as well as the penalised fit
    assert result.val_score >= chosen["val_score"] - 1e-9


def test_search_is_deterministic_and_works_under_no_grad() -> None:
    true_weights, true_biases = GRAPHS["collider"]
    counts, val_kl = sample_problem(outcome_probabilities(true_weights, true_biases), seed=3)
    first = search_structure(counts, val_kl, 3)
    with torch.no_grad():
        second = search_structure(torch.as_tensor(counts), torch.as_tensor(val_kl), 3)
    assert first.order == second.order
    np.testing.assert_array_equal(first.weights, second.weights)
    assert first.val_score == second.val_score


def test_unpenalised_fit_on_true_order_reaches_exact_likelihood() -> None:
    """On exact outcome frequencies the true network is the MLE: mean log-likelihood = -H(pi)."""
    for name, (true_weights, true_biases) in GRAPHS.items():
        pi = outcome_probabilities(true_weights, true_biases)
        order = list(range(true_biases.size))  # every test graph is topologically sorted already
        weights, biases = fit_logistic_network(pi * 5000, order)
        fitted_log_likelihood = float(pi @ np.log(outcome_probabilities(weights, biases)))
        assert fitted_log_likelihood == pytest.approx(float(pi @ np.log(pi)), abs=1e-3), name
        np.testing.assert_allclose(weights, true_weights, atol=0.05)


def test_unpenalised_fit_matches_scipy_mle_on_sampled_counts() -> None:
    true_weights, true_biases = GRAPHS["collider"]
    counts, _ = sample_problem(outcome_probabilities(true_weights, true_biases), seed=1)
    frequencies = counts / counts.sum()
    order = [2, 0, 1]
    free = np.argwhere(forward_edge_mask(order))  # [(2, 0), (2, 1), (0, 1)]

    def negative_log_likelihood(parameters: np.ndarray) -> float:
        weights = np.zeros((3, 3))
        weights[free[:, 0], free[:, 1]] = parameters[: len(free)]
        return -float(frequencies @ np.log(outcome_probabilities(weights, parameters[len(free) :])))

    reference = minimize(negative_log_likelihood, np.zeros(len(free) + 3), method="BFGS")
    weights, biases = fit_logistic_network(counts, order)
    fitted = -float(frequencies @ np.log(outcome_probabilities(weights, biases)))
    assert fitted == pytest.approx(reference.fun, abs=1e-6)
    assert np.count_nonzero(weights) == 3


def test_fit_respects_order_mask_and_l1_gives_exact_zeros() -> None:
    true_weights, true_biases = GRAPHS["collider"]
    counts, _ = sample_problem(outcome_probabilities(true_weights, true_biases), seed=2)
    order = [0, 1, 2]
    weights, _ = fit_logistic_network(counts, order, l1_weight=0.02)
    assert np.all(weights[~forward_edge_mask(order)] == 0.0)
    assert weights[0, 1] == 0.0  # 0 and 1 are independent: the L1 prox zeroes the edge exactly
    assert abs(weights[0, 2]) > 1.0 and abs(weights[1, 2]) > 1.0

    mask = np.zeros((3, 3), dtype=bool)
    mask[0, 2] = True
    restricted, _ = fit_logistic_network(counts, order, edge_mask=mask)
    assert np.count_nonzero(restricted) == 1 and restricted[0, 2] != 0.0


def test_log_weights_agree_with_dag_module_and_numpy_reference() -> None:
    for true_weights, true_biases in GRAPHS.values():
        weights, biases = torch.as_tensor(true_weights), torch.as_tensor(true_biases)
        reference = np.log(outcome_probabilities(true_weights, true_biases))
        np.testing.assert_allclose(mixture_log_weights(weights, biases).numpy(), reference)
        np.testing.assert_allclose(mixture_log_weights(weights, biases).numpy(), reference)


def test_candidate_orders() -> None:
    assert candidate_orders(3, max_orders=120, seed=0) == [
        (0, 1, 2),
        (0, 2, 1),
        (1, 0, 2),
        (1, 2, 0),
        (2, 0, 1),
        (2, 1, 0),
    ]
    assert len(candidate_orders(4, max_orders=24, seed=0)) == 24
    sample = candidate_orders(6, max_orders=50, seed=7)
    assert len(sample) == len(set(sample)) == 50
    assert all(sorted(order) == list(range(6)) for order in sample)
    assert sample == candidate_orders(6, max_orders=50, seed=7)
    assert sample != candidate_orders(6, max_orders=50, seed=8)


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError, match="counts"):
        fit_logistic_network(np.ones(7), [0, 1, 2])
    with pytest.raises(ValueError, match="permutation"):
        fit_logistic_network(np.ones(8), [0, 0, 2])
    with pytest.raises(ValueError, match="val_kl"):
        search_structure(np.ones(8), np.zeros((5, 4)), 3)


def test_a_search_result_is_described_in_one_line_with_node_names_and_two_decimals() -> None:
    import pandas as pd

    from causal_pima.core.structure import StructureSearchResult

    result = StructureSearchResult(
        order=[2, 1, 0], weights=np.zeros((3, 3)), biases=np.zeros(3),
        edges=[(1, 0, 3.029849572035717), (2, 0, -2.85150894212007)], val_score=0.0, candidates=pd.DataFrame(),
    )
    assert result.describe() == "edges N1 -> N0 (3.03), N2 -> N0 (-2.85); order N2, N1, N0"
    result.edges = []
    assert result.describe() == "edges none; order N2, N1, N0"
