"""Your own data, end to end (issue 11 item 8): graph-only ground truth, its validation before training,
the physics nodes with a neural model and the ``n_nodes`` requirement (hand-made inputs, no training)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from causal_pima.core.outcomes import joint_outcomes, outcome_index
from causal_pima.data.scm import BinarySCM, true_dag_record, validated_true_dag
from causal_pima.evaluation.report import discovery_metrics, truth_for_evaluation
from causal_pima.pipeline_registry import register_pipelines
from causal_pima.pipelines.causal_pima.nodes import physics_parameters, plot_physics_curves
from causal_pima.pipelines.evaluation.nodes import plot_dag_comparison, validate_true_dag
from causal_pima.pipelines.lattice.nodes import check_n_nodes

COLLIDER = {"features": ["a", "b", "c"], "edges": [["a", "c"], ["b", "c"]]}  # a -> c <- b, graph only
LABELS = np.tile(joint_outcomes(3), (4, 1))  # columns a, b, c; every joint outcome 4 times


def _learned_chain_a_to_c() -> dict:
    """Learned DAG over N0..N2 (N0 = a, N1 = b, N2 = c exactly) with the one edge N0 -> N2."""
    adjacency = np.zeros((3, 3))
    adjacency[0, 2] = 1.0
    return {
        "node_names": ["N0", "N1", "N2"],
        "adjacency": adjacency.tolist(),
        "conditional_probability_tables": {
            "N0": {"parents": [], "p_one": [0.5]},
            "N1": {"parents": [], "p_one": [0.5]},
            "N2": {"parents": ["N0"], "p_one": [0.2, 0.8]},
        },
    }


def _discovery(true_dag: dict, labels_for) -> dict:
    true_scm, source = truth_for_evaluation(true_dag, labels_for, "true_dag")
    return discovery_metrics(LABELS.astype(float), outcome_index(LABELS), _learned_chain_a_to_c(), LABELS, true_scm, source)


def test_graph_only_truth_gives_graph_and_cluster_metrics_with_tv_estimated_from_labels():
    report = _discovery(COLLIDER, lambda features: LABELS)
    # truth a -> c <- b, learned a -> c: one missing edge; both CPDAG edges of the v-structure differ
    assert report["shd"] == 1 and report["cpdag_shd"] == 2
    assert report["directed_precision"] == 1.0 and report["directed_recall"] == 0.5
    assert report["node_accuracy"] == 1.0 and report["ari"] == 1.0
    assert report["interventional_tv_source"] == "estimated_from_labels"
    assert isinstance(report["interventional_tv"], float) and report["interventional_tv"] > 0.0
    assert report["true_edges"] == [["a", "c"], ["b", "c"]]


def test_graph_only_truth_without_labels_marks_the_interventional_tv_unavailable():
    report = _discovery(COLLIDER, None)
    assert report["shd"] == 1 and report["cpdag_shd"] == 2 and report["directed_recall"] == 0.5
    assert report["interventional_tv_source"] == "unavailable"
    assert report["interventional_tv"] is None and report["interventional_tv_per_intervention"] == {}


def test_a_truth_with_tables_takes_the_same_path_as_before():
    scm = BinarySCM({"a": [], "b": [], "c": ["a", "b"]}, {"a": [0.5], "b": [0.5], "c": [0.1, 0.6, 0.6, 0.9]})
    true_scm, source = truth_for_evaluation(true_dag_record(scm, "collider"), lambda features: LABELS)
    assert source == "tables" and true_scm.to_config() == scm.to_config()
    report = _discovery(true_dag_record(scm, "collider"), None)
    reference = discovery_metrics(LABELS.astype(float), outcome_index(LABELS), _learned_chain_a_to_c(), LABELS, scm)
    assert report == reference and report["interventional_tv_source"] == "tables"


def test_the_comparison_figure_draws_a_graph_only_truth():
    report = _discovery(COLLIDER, lambda features: LABELS)
    assert isinstance(plot_dag_comparison(report, COLLIDER), Figure)


@pytest.mark.parametrize(
    ("record", "problem"),
    [
        ({"features": ["a", "b"], "edges": [["a", "z"]]}, r"edge a -> z names unknown feature\(s\) \['z'\]"),
        ({"features": ["a", "b"], "edges": [["a", "b"], ["b", "a"]]}, "the graph has a cycle: a -> b -> a"),
        ({"features": ["a", "b"], "edges": [["a", "b", "c"]]}, r"malformed edge #0 \['a', 'b', 'c'\]: expected \[parent, child\]"),
        ({"features": ["a", "b"], "edges": ["a->b"]}, "malformed edge #0 'a->b'"),
        ({"edges": [["a", "b"]]}, "no 'features' list"),
        ([["a", "b"]], "expected a mapping"),
    ],
)
def test_a_malformed_truth_file_is_refused_naming_the_file_and_the_problem(record, problem):
    with pytest.raises(ValueError, match=r"ground-truth DAG 'mydata.true_dag' \(the file .*data/01_raw/mydata/true_dag.json\): " + problem):
        validate_true_dag(record, dataset="mydata")


def test_a_valid_truth_file_passes_and_tables_must_agree_with_the_edges():
    validate_true_dag(COLLIDER, dataset="mydata")
    scm = BinarySCM({"a": [], "b": ["a"]}, {"a": [0.5], "b": [0.2, 0.7]})
    assert validated_true_dag(true_dag_record(scm, "x"), "f")[2] is not None
    with pytest.raises(ValueError, match="'edges' .* differ from the parents in 'scm'"):
        validated_true_dag({**true_dag_record(scm, "x"), "edges": []}, "f")


def test_the_truth_file_is_checked_before_any_training():
    for name, dataset in (("lattice", "lattice"), ("__default__", "circles")):
        order = [n.name for n in register_pipelines()[name].nodes]
        check = order.index(f"evaluation.{dataset}.validate_true_dag")
        assert check < order.index(f"pretraining.{dataset}.pretrain_model")
        assert check < min(i for i, n in enumerate(order) if n.startswith("data_processing."))


def test_physics_nodes_with_a_neural_model_do_not_raise():
    neural = SimpleNamespace(physics=None)  # what curve_decoder: neural gives
    table = physics_parameters(neural)
    assert table.empty and list(table.columns) == ["outcome", "note"]
    figure = plot_physics_curves(neural, {}, pd.DataFrame())
    assert any("no physics expert (curve_decoder: neural)" in t.get_text() for t in figure.texts)


def test_n_nodes_is_required_before_training_when_there_are_no_label_columns():
    unlabelled = pd.DataFrame({"specimen_id": ["s0", "s1"]})
    with pytest.raises(ValueError, match=r"causal_pima_mydata.prior.n_nodes is null and the data set has no label columns.*"
                       r"--params causal_pima_mydata.prior.n_nodes=3"):
        check_n_nodes(unlabelled, {"prior": {"n_nodes": None}}, "causal_pima_mydata")
    check_n_nodes(unlabelled, {"prior": {"n_nodes": 2}}, "causal_pima_mydata")
    check_n_nodes(pd.DataFrame({"specimen_id": ["s0"], "x": [1]}), {"prior": {}}, "causal_pima_mydata")
    order = [n.name for n in register_pipelines()["lattice"].nodes]
    assert order.index("ingestion.lattice.check_n_nodes") < order.index("pretraining.lattice.pretrain_model")
