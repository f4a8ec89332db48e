"""MLflow metric names grouped by '/' (issue 23, item 7), logged into a real sqlite store."""

from __future__ import annotations

import mlflow
import pytest
from kedro.io import DatasetError

from causal_pima.datasets import GroupedMetricsDataset
from causal_pima.datasets.grouped_metrics_dataset import grouped_metric_name, metric_name_part


@pytest.mark.parametrize(
    ("prefix", "key", "name"),
    [
        ("circles", "fit.val_elbo", "circles/fit/val_elbo"),
        ("circles", "fit.edge_1_0", "circles/fit/edge/N1_to_N0"),
        ("lattice", "pretraining.edge_12_3", "lattice/pretraining/edge/N12_to_N3"),
        ("benchmark", "collider.causal_pima.cpdag_shd", "benchmark/collider/causal_pima/cpdag_shd"),
        (None, "eval.node_accuracy", "eval/node_accuracy"),
        ("mydata", "eval.edge.defect (visible)_to_family", "mydata/eval/edge/defect _visible__to_family"),
        ("circles", "fit.edge_count", "circles/fit/edge_count"),  # not an edge column
    ],
)
def test_names_are_grouped_by_slashes_and_edges_by_nodes(prefix, key, name):
    assert grouped_metric_name(prefix, key) == name


def test_a_feature_name_is_one_group_level():
    assert metric_name_part("strut.thickness/mm") == "strut_thickness_mm"
    assert metric_name_part("hue") == "hue"


def test_the_dataset_logs_every_step_under_the_grouped_name_and_reads_them_back(tmp_path):
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        # an explicit experiment of this store: an earlier test of the worker may have left another store's
        # experiment id active in MLflow's fluent state
        experiment = mlflow.create_experiment("grouped_metrics", artifact_location=str(tmp_path / "artifacts"))
        with mlflow.start_run(experiment_id=experiment) as run:
            dataset = GroupedMetricsDataset(prefix="circles")
            dataset.save({"fit.val_elbo": [{"step": 1, "value": -5.0}, {"step": 2, "value": -4.5}],
                          "fit.edge_1_0": {"step": 0, "value": 2.5}})
            client = mlflow.MlflowClient()
            assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "circles/fit/val_elbo")] == [(1, -5.0), (2, -4.5)]
            assert set(client.get_run(run.info.run_id).data.metrics) == {"circles/fit/val_elbo", "circles/fit/edge/N1_to_N0"}
            assert set(GroupedMetricsDataset(prefix="circles", run_id=run.info.run_id).load()) == {
                "circles/fit/val_elbo", "circles/fit/edge/N1_to_N0"}
            with pytest.raises(DatasetError, match="metric 'fit.bad': expected"):
                dataset.save({"fit.bad": 3.0})
    finally:
        mlflow.set_tracking_uri(previous)
