"""Tests for the acyclic DAG parametrisation (docs/model.md "Conditionals")."""

from __future__ import annotations

import math
from itertools import product

import networkx as nx
import numpy as np
import pytest
import torch

from causal_pima.core.dag import (
    CausalDAG,
    adjacency,
    conditional_probability_tables,
    edge_indicator,
    edges_above_threshold,
    graph_gradient,
    interventional_log_weights,
    mixture_log_weights,
    node_logits,
    order_to_scores,
)
from causal_pima.core.outcomes import joint_outcomes


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


# Known 3-node graph: 0 -> 1 (1.5), 0 -> 2 (-2.0), 1 -> 2 (0.7).
KNOWN_ADJ = torch.tensor([[0.0, 1.5, -2.0], [0.0, 0.0, 0.7], [0.0, 0.0, 0.0]], dtype=torch.float64)
KNOWN_BIASES = torch.tensor([0.3, -0.4, 1.1], dtype=torch.float64)


def _known_conditionals(n0: int, n1: int) -> tuple[float, float, float]:
    """P(N_j = 1 | parents) for the known graph, written out by hand."""
    return (
        _sigmoid(0.3),
        _sigmoid(-0.4 + 1.5 * n0),
        _sigmoid(1.1 - 2.0 * n0 + 0.7 * n1),
    )


def _bernoulli(p: float, n: int) -> float:
    return p if n == 1 else 1.0 - p


def test_graph_gradient():
    scores = torch.tensor([0.5, -1.0, 2.0])
    expected = torch.tensor([[0.0, -1.5, 1.5], [1.5, 0.0, 3.0], [-1.5, -3.0, 0.0]])
    torch.testing.assert_close(graph_gradient(scores), expected)


@pytest.mark.parametrize("temperature", [10.0, 1.0, 0.1, 1e-3, torch.tensor(0.5)])
def test_edge_indicator_exactly_zero_for_non_positive(temperature):
    x = torch.tensor([-math.inf, -1e6, -3.0, -1e-30, -0.0, 0.0], dtype=torch.float64)
    assert (edge_indicator(x, temperature) == 0).all()
    positive = torch.tensor([1e-3, 0.5, 2.0, 100.0], dtype=torch.float64)
    torch.testing.assert_close(
        edge_indicator(positive, temperature), torch.tanh(positive / temperature)
    )


@pytest.mark.parametrize("temperature", [10.0, 1.0, 0.1, 1e-3])
def test_random_parameters_give_acyclic_normalised_weights(temperature):
    generator = torch.Generator().manual_seed(1234)
    for d in range(1, 11):
        scores = torch.randn(d, generator=generator, dtype=torch.float64)
        if d > 3:
            scores[1] = scores[2]  # a tie: neither direction may carry an edge
        weights = 3.0 * torch.randn(d, d, generator=generator, dtype=torch.float64)
        biases = torch.randn(d, generator=generator, dtype=torch.float64)
        adj = adjacency(scores, weights, temperature)
        assert (torch.diagonal(adj) == 0).all()
        support = (adj != 0).numpy().astype(int)
        graph = nx.from_numpy_array(support, create_using=nx.DiGraph)
        assert nx.is_directed_acyclic_graph(graph)
        if d > 3:
            assert adj[1, 2] == 0 and adj[2, 1] == 0

        log_pi = mixture_log_weights(adj, biases)
        assert log_pi.shape == (2**d,) and log_pi.dtype == torch.float64
        assert abs(torch.exp(log_pi).sum().item() - 1.0) <= 1e-9

        log_pi32 = mixture_log_weights(adj.float(), biases.float())
        assert log_pi32.dtype == torch.float32
        assert abs(torch.exp(log_pi32).sum().item() - 1.0) <= 1e-5


def test_node_logits_and_weights_match_brute_force_product():
    outcomes = torch.as_tensor(joint_outcomes(3), dtype=torch.float64)
    logits = node_logits(KNOWN_ADJ, KNOWN_BIASES, outcomes)
    log_pi = mixture_log_weights(KNOWN_ADJ, KNOWN_BIASES)
    for k in range(8):
        n0, n1, n2 = (k >> 0) & 1, (k >> 1) & 1, (k >> 2) & 1
        expected_logits = [0.3, -0.4 + 1.5 * n0, 1.1 - 2.0 * n0 + 0.7 * n1]
        np.testing.assert_allclose(logits[k].numpy(), expected_logits, rtol=0, atol=1e-15)
        p0, p1, p2 = _known_conditionals(n0, n1)
        expected = _bernoulli(p0, n0) * _bernoulli(p1, n1) * _bernoulli(p2, n2)
        assert math.exp(log_pi[k].item()) == pytest.approx(expected, rel=1e-12)
    # one value written out: k = 7 (all ones) -> sigmoid(0.3) sigmoid(1.1) sigmoid(-0.2)
    assert math.exp(log_pi[7].item()) == pytest.approx(
        0.574442516811659 * 0.750260105595859 * 0.450166002687522, rel=1e-12
    )


def test_mixture_log_weights_stable_for_huge_logits():
    adj = torch.tensor([[0.0, 800.0], [0.0, 0.0]], dtype=torch.float64)
    biases = torch.tensor([0.0, -400.0], dtype=torch.float64)
    log_pi = mixture_log_weights(adj, biases)
    assert torch.isfinite(log_pi).all()  # log(sigmoid(-400)) would underflow to -inf
    assert log_pi[2].item() == pytest.approx(math.log(0.5) - 400.0, rel=1e-12)


def test_interventional_weights_match_hand_computation():
    # do(N_1 = 1): P(n0, n1, n2) = P(n0) * [n1 == 1] * P(n2 | n0, n1 = 1); the edge 0 -> 1 is cut.
    log_w = interventional_log_weights(KNOWN_ADJ, KNOWN_BIASES, node=1, value=1)
    weights = torch.exp(log_w)
    p0 = 0.574442516811659  # sigmoid(0.3)
    p2_given = {0: 0.858148935099512, 1: 0.450166002687522}  # sigmoid(1.8), sigmoid(-0.2)
    for k in range(8):
        n0, n1, n2 = (k >> 0) & 1, (k >> 1) & 1, (k >> 2) & 1
        if n1 == 0:
            assert weights[k].item() == 0.0 and log_w[k].item() == -math.inf
        else:
            expected = _bernoulli(p0, n0) * _bernoulli(p2_given[n0], n2)
            assert weights[k].item() == pytest.approx(expected, rel=1e-12)
    assert weights.sum().item() == pytest.approx(1.0, abs=1e-12)
    # intervening on N_1 leaves N_0 at its marginal, unlike conditioning on N_1 = 1
    p0_under_do = weights[[1, 3, 5, 7]].sum().item()
    assert p0_under_do == pytest.approx(p0, abs=1e-12)


def test_interventional_on_root_and_sink():
    observational = torch.exp(mixture_log_weights(KNOWN_ADJ, KNOWN_BIASES))
    outcomes = joint_outcomes(3)
    # do(N_2 = 0) on the sink: the parents keep their observational joint.
    weights = torch.exp(interventional_log_weights(KNOWN_ADJ, KNOWN_BIASES, node=2, value=0))
    assert (weights[outcomes[:, 2] == 1] == 0).all()
    for n0, n1 in product((0, 1), repeat=2):
        marginal = observational[n0 + 2 * n1] + observational[n0 + 2 * n1 + 4]
        assert weights[n0 + 2 * n1].item() == pytest.approx(marginal.item(), rel=1e-12)
    # do(N_0 = 1) on the root equals conditioning on N_0 = 1.
    weights = torch.exp(interventional_log_weights(KNOWN_ADJ, KNOWN_BIASES, node=0, value=1))
    conditioned = torch.where(torch.as_tensor(outcomes[:, 0] == 1), observational, 0.0)
    torch.testing.assert_close(weights, conditioned / conditioned.sum(), rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError):
        interventional_log_weights(KNOWN_ADJ, KNOWN_BIASES, node=3, value=1)
    with pytest.raises(ValueError):
        interventional_log_weights(KNOWN_ADJ, KNOWN_BIASES, node=0, value=2)


def test_edges_above_threshold():
    assert edges_above_threshold(KNOWN_ADJ, 1.0) == [(0, 1, 1.5), (0, 2, -2.0)]
    assert edges_above_threshold(KNOWN_ADJ, 0.7) == [(0, 1, 1.5), (0, 2, -2.0), (1, 2, 0.7)]
    assert edges_above_threshold(KNOWN_ADJ, 5.0) == []
    # exact zeros (diagonal, backward pairs) are never edges
    assert len(edges_above_threshold(KNOWN_ADJ, 0.0)) == 3


def test_conditional_probability_tables():
    tables = conditional_probability_tables(KNOWN_ADJ, KNOWN_BIASES, threshold=1.0)
    assert sorted(tables) == [0, 1, 2]
    parents, table = tables[0]
    assert parents == [] and table.dtype == np.float64
    np.testing.assert_allclose(table, [0.574442516811659], rtol=1e-12)  # sigmoid(0.3)
    parents, table = tables[1]
    assert parents == [0]
    np.testing.assert_allclose(table, [_sigmoid(-0.4), _sigmoid(1.1)], rtol=1e-12)
    parents, table = tables[2]  # the 0.7 edge 1 -> 2 is dropped at threshold 1
    assert parents == [0]
    np.testing.assert_allclose(table, [_sigmoid(1.1), _sigmoid(-0.9)], rtol=1e-12)

    parents, table = conditional_probability_tables(KNOWN_ADJ, KNOWN_BIASES, threshold=0.5)[2]
    assert parents == [0, 1]
    # index c = n0 + 2 n1
    np.testing.assert_allclose(
        table, [_sigmoid(1.1), _sigmoid(-0.9), _sigmoid(1.8), _sigmoid(-0.2)], rtol=1e-12
    )


def test_order_to_scores():
    torch.testing.assert_close(order_to_scores([2, 0, 1]), torch.tensor([1.0, 2.0, 0.0]))
    with pytest.raises(ValueError):
        order_to_scores([0, 0, 1])


def test_set_structure_makes_the_adjacency_equal_the_forward_weights_at_any_temperature():
    d = 4
    order = [2, 0, 3, 1]
    generator = torch.Generator().manual_seed(7)
    position = {node: p for p, node in enumerate(order)}
    forward = torch.tensor([[float(position[i] < position[j]) for j in range(d)] for i in range(d)])
    weights = torch.randn(d, d, generator=generator) * forward
    biases = np.array([0.1, -0.2, 0.3, 0.0])
    for temperature in (1e-3, 0.3, 1.0):
        dag = CausalDAG(d, temperature=temperature)
        dag.set_structure(order, weights, biases)
        # the weights are divided by the edge indicator, so A = W * chi equals the given weights now
        torch.testing.assert_close(dag.adjacency().detach(), weights, rtol=1e-6, atol=1e-7)
        torch.testing.assert_close(dag.biases.detach(), torch.as_tensor(biases, dtype=torch.float32))
        assert dag.log_weights().exp().sum().item() == pytest.approx(1.0, abs=1e-5)
    backward = weights.T.clone()
    with pytest.raises(ValueError, match="the order forbids"):
        CausalDAG(d).set_structure(order, backward, biases)


def test_causal_dag_module_defaults_gradients_and_dtype():
    dag = CausalDAG(
        3, temperature=0.5, score_init_std=1.0, generator=torch.Generator().manual_seed(3)
    )
    again = CausalDAG(
        3, temperature=0.5, score_init_std=1.0, generator=torch.Generator().manual_seed(3)
    )
    assert torch.equal(dag.node_scores, again.node_scores)
    assert dag.n_nodes == 3 and dag.temperature.shape == ()
    assert {name for name, _ in dag.named_parameters()} == {"node_scores", "edge_weights", "biases"}
    # zero weights and biases: independent fair coins
    torch.testing.assert_close(dag.log_weights(), torch.full((8,), -3 * math.log(2.0)))
    with torch.no_grad():
        dag.edge_weights.fill_(1.0)
    dag.log_weights()[5].backward()
    assert dag.edge_weights.grad.abs().sum() > 0 and dag.biases.grad.abs().sum() > 0
    dag64 = dag.double()
    assert dag64.log_weights().dtype == torch.float64 and dag64.temperature.dtype == torch.float64


def test_anneal_respects_minimum():
    dag = CausalDAG(2, temperature=1.0)
    values = [dag.anneal(0.5, 0.1) for _ in range(5)]
    assert values == pytest.approx([0.5, 0.25, 0.125, 0.1, 0.1])
    assert dag.temperature.item() == pytest.approx(0.1)
    with pytest.raises(ValueError):
        CausalDAG(2, temperature=0.0)
