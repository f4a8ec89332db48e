"""A run that needs an artifact no earlier run wrote stops first, naming the run that writes it (issue 23, item 8)."""

from __future__ import annotations

import pytest
from kedro.pipeline import Pipeline, node

from causal_pima.run_inputs import MissingInputsError, missing_input_problems


def _identity(x):
    return x


def test_each_missing_input_names_the_smallest_pipeline_that_writes_it():
    small = Pipeline([node(_identity, "a", "model", name="fit")])
    large = Pipeline([node(_identity, "raw", "a", name="prepare"), node(_identity, "a", "model", name="fit")])
    producers = {"everything": large, "fit_only": small}
    assert missing_input_problems({"model", "raw", "location"}, lambda name: False, producers) == [
        "model is not there yet: it is written by `kedro run --pipelines fit_only`; run that first (or the whole job, `kedro run`)"
    ]  # raw and location: no pipeline writes them, left to their own checks
    assert missing_input_problems({"model"}, lambda name: True, producers) == []


def test_the_evaluation_pipeline_in_a_fresh_project_stops_before_any_node(project):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        with pytest.raises(MissingInputsError) as caught:
            session.run(pipeline_names=["evaluation"])
    message = str(caught.value)
    assert "circles.fitted_model is not there yet: it is written by `kedro run --pipelines causal_pima`" in message
    assert "circles.test_set is not there yet: it is written by `kedro run --pipelines data_processing`" in message
    assert not (project / "data" / "08_reporting" / "circles").exists()
    if (project / "mlflow.db").exists():  # no MLflow run was opened (and left FAILED) either
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
        assert [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])] == []
