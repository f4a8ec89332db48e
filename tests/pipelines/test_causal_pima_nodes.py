"""The causal_pima fit node and its library (core.readout): number of nodes, learned-DAG record, collapse handling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from causal_pima.core.model import CausalPIMA
from causal_pima.core.model_config import ModelConfig
from causal_pima.core.readout import learned_dag_record, resolve_n_nodes
from causal_pima.core.structure import search_table_structure
from causal_pima.pipelines.causal_pima.nodes import FitCollapsedError, fit_causal_pima

TINY = {"image_shape": (1, 8, 8), "curve_length": 8, "latent_dim": 3, "image_channels": (4,),
        "image_hidden_dim": 8, "curve_hidden_dims": (8,)}


def tiny_set(n: int, seed: int, labelled: bool = True) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {"images": rng.random((n, 1, 8, 8)).astype(np.float32), "curves": rng.normal(size=(n, 8)).astype(np.float32)}
    out["label_names"] = np.asarray(["a", "b"] if labelled else [], dtype=str)
    return out


def test_n_nodes_explicit_wins_null_counts_the_label_columns_and_unlabelled_data_must_set_it():
    assert resolve_n_nodes({"n_nodes": 4}, tiny_set(4, 0))["n_nodes"] == 4
    assert resolve_n_nodes({"n_nodes": None, "conditionals": "table"}, tiny_set(4, 0)) == {"n_nodes": 2, "conditionals": "table"}
    with pytest.raises(ValueError, match="causal_pima.prior.n_nodes is null"):
        resolve_n_nodes({}, tiny_set(4, 0, labelled=False))


def test_learned_dag_record_holds_tables_edges_and_the_equivalence_class():
    # a chain 0 -> 1 -> 2 installed from exact counts: its class has 3 DAGs, no arrow determined
    tables = {0: 0.5, 1: [0.2, 0.8], 2: [0.1, 0.9]}
    log_pi = np.zeros(8)
    for k in range(8):
        n = [(k >> j) & 1 for j in range(3)]
        p1 = tables[1][n[0]] if n[1] else 1 - tables[1][n[0]]
        p2 = tables[2][n[1]] if n[2] else 1 - tables[2][n[1]]
        log_pi[k] = np.log(0.5 * p1 * p2)
    counts = 6000 * np.exp(log_pi)
    val_kl = torch.zeros(5, 8, dtype=torch.float64)
    result = search_table_structure(counts, val_kl, 3)
    model = CausalPIMA(ModelConfig(**TINY, n_nodes=3, conditionals="table"))
    model.dag.set_structure(result.order, result.weights, result.biases, result.interactions)
    record = learned_dag_record(model, result, {}, edge_threshold=0.5)
    assert record["conditionals"] == "table"
    assert sorted(tuple(sorted((e["from"], e["to"]))) for e in record["edges"]) == [("N0", "N1"), ("N1", "N2")]
    assert record["equivalence_class"]["determined_edges"] == []
    assert sorted(map(tuple, record["equivalence_class"]["undetermined_edges"])) == [("N0", "N1"), ("N1", "N2")]
    assert record["equivalence_class"]["n_dags_in_class"] == 3
    confidence = np.asarray(record["structure_search"]["edge_confidence"])
    assert confidence[0, 1] + confidence[1, 0] == pytest.approx(1.0, abs=1e-9)
    # whichever member of the class was chosen, its tables give back the joint distribution exactly
    # (up to float32 storage of the coefficients), and each table's parents are its incoming edges
    np.testing.assert_allclose(model.dag.log_weights().detach().numpy(), log_pi, atol=1e-5)
    for name, table in record["conditional_probability_tables"].items():
        assert sorted(table["parents"]) == sorted(e["from"] for e in record["edges"] if e["to"] == name)


def test_a_collapsed_fit_stops_before_writing_or_is_flagged_with_warn():
    torch.manual_seed(0)
    pretrained = CausalPIMA(ModelConfig(**TINY, n_nodes=2)).checkpoint()  # untrained networks
    train, val = tiny_set(64, 1), tiny_set(32, 2)
    params = {"prior": {"n_nodes": None}, "epochs": 1, "batch_size": 32, "collapse_weight": 0.2, "seed": 0,
              "init": {"oversample": 1}, "structure": {}}
    # collapse_weight 0.2 is below 1/K = 0.25: every fit counts as collapsed, whatever it learned
    with pytest.raises(FitCollapsedError, match="mixture collapse.*curve_decoder: neural.*causal_pima.on_collapse: warn"):
        fit_causal_pima(pretrained, train, val, params)
    # another data set's fit names its own parameter group, in the collapse and the n_nodes messages
    with pytest.raises(FitCollapsedError, match=r"causal_pima_lattice\.prior\.n_nodes; causal_pima_lattice\.on_collapse"):
        fit_causal_pima(pretrained, train, val, params, params_name="causal_pima_lattice")
    with pytest.raises(ValueError, match=r"^causal_pima_lattice\.prior\.n_nodes is null"):
        fit_causal_pima(pretrained, tiny_set(64, 1, labelled=False), val, params, params_name="causal_pima_lattice")
    _, record, _, _ = fit_causal_pima(pretrained, train, val, {**params, "on_collapse": "warn"})
    assert record["diagnostics"]["collapsed"]
    assert record["diagnostics"]["warnings"][0].startswith("mixture collapse")
