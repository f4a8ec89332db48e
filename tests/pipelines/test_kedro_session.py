"""End-to-end Kedro session runs on tiny data (kept to a few: each costs seconds).

The project's conf/, src/ and pyproject.toml are copied to a temporary project folder (Kedro
resolves the catalog's relative paths against the project root) whose conf/local/mlflow.yml points
MLflow at a temporary sqlite store: the tests never touch the working tree's data or MLflow store.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# runtime parameters as `kedro run --params` would pass them (nested dicts, merged into parameters)
TINY = {
    "circles": {"n_specimens": 400},
    "pretraining": {"epochs": 3, "min_steps": 0},
    "causal_pima": {"epochs": 2, "min_steps": 0, "structure": {"steps": 100}},
}


def _run(project: Path, pipeline: str | None = None, extra: dict | None = None) -> None:
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params={**TINY, **(extra or {})}) as session:
        session.run(pipeline_names=[pipeline] if pipeline else None)


@pytest.mark.slow
def test_default_run_writes_metrics_figures_and_an_mlflow_run(project):
    import mlflow

    _run(project)
    metrics = json.loads((project / "data/08_reporting/circles/dag_metrics.json").read_text())
    required = {
        "shd", "cpdag_shd", "directed_f1", "skeleton_f1", "node_accuracy", "node_accuracy_per_feature", "ari",
        "nmi", "interventional_tv", "test_elbo", "reconstruction_error", "learned_edges", "true_edges",
    }
    assert required <= set(metrics)
    assert 0.5 <= metrics["node_accuracy"] <= 1.0 and 0.0 <= metrics["interventional_tv"] <= 1.0
    assert set(metrics["reconstruction_error"]) == {"image", "curve"}
    assert metrics["true_edges"] == [["radius", "hue"], ["shift", "hue"]]
    for figure in ("sample_images", "spectra", "pretraining_losses", "training", "latent", "learned_dag",
                   "reconstruction", "dag_comparison", "node_marginals", "do_grid"):
        assert (project / f"data/08_reporting/circles/{figure}.png").stat().st_size > 1000, figure
    # every JSON the run wrote is strict JSON (no NaN / Infinity: issue 23, item 4)
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    written = sorted((project / "data").rglob("*.json"))
    assert {"dag_metrics.json", "learned_dag.json", "true_dag.json"} <= {p.name for p in written}
    for path in written:
        json.loads(path.read_text(), parse_constant=refuse)
    # the fitted model is versioned: one timestamped folder per fit
    versions = list((project / "data/06_models/circles/fitted_model.pt").iterdir())
    assert len(versions) == 1 and (versions[0] / "fitted_model.pt").exists()

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name == "causal_pima"]
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["causal_pima.epochs"] == "2"
    history = client.get_metric_history(run.info.run_id, "circles/fit/val_elbo")
    assert [m.step for m in history] == [1, 2]
    assert "circles/eval/node_accuracy" in run.data.metrics  # grouped by '/' (issue 23, item 7)
    assert not [name for name in run.data.metrics if "." in name.split("/")[0]]  # no flat dotted names
    assert "circles/fit/edge/N1_to_N0" in run.data.metrics  # the fit's edge weights, by node
    learned = json.loads((project / "data/08_reporting/circles/dag_metrics.json").read_text())["learned_edges"]
    for source, target, strength in learned:  # the evaluation's, in feature terms
        assert run.data.metrics[f"circles/eval/edge/{source}_to_{target}"] == pytest.approx(strength)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"figures", "dag", "model", "metrics"} <= artifacts
    model_files = [a.path for a in client.list_artifacts(run.info.run_id, "model/circles")]
    assert "model/circles/fitted_model.pt" in model_files
    # ... and an MLflow model that pyfunc loads and that predicts in feature names (README "Reload the model"),
    # registered with the headline metrics, and the model-input sets as the run's input datasets
    import numpy as np

    from causal_pima.core.model import CausalPIMA
    from causal_pima.mlflow_model import specimen_frame

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    try:
        loaded = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/causal_pima_circles")
        version = client.get_model_version("causal_pima_circles", "1")
        (logged,) = mlflow.search_logged_models(filter_string=f"source_run_id = '{run.info.run_id}'", output_format="list")
        model_metrics = {m.key: (m.value, m.dataset_name) for m in logged.metrics}
        inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
    finally:
        mlflow.set_tracking_uri(previous)
    model = loaded.get_raw_model()
    assert isinstance(model, CausalPIMA)
    curves = np.random.default_rng(0).normal(size=(3, model.config.curve_length))
    prediction = loaded.predict(specimen_frame(curves=curves))
    matching = metrics["matching"]
    names = [matching[f"N{j}"]["feature"] if f"N{j}" in matching else f"N{j}" for j in range(model.config.n_nodes)]
    assert sorted(names) == ["hue", "radius", "shift"]  # 3 nodes for 3 features: each named by its feature
    p = prediction[[f"p_{n}" for n in names]].to_numpy()
    assert p.shape == (3, 3) and ((p >= 0) & (p <= 1)).all()
    assert set(prediction[[f"outcome_{n}" for n in names]].to_numpy().ravel()) <= {0, 1}
    assert version.run_id == run.info.run_id and version.tags["circles/eval/shd"] == f"{metrics['shd']:g}"
    assert model_metrics["circles/eval/node_accuracy"] == (pytest.approx(metrics["node_accuracy"]), "circles.test_set")
    contexts = {i.dataset.name: {t.key: t.value for t in i.tags}["mlflow.data.context"] for i in inputs}
    assert contexts == {"circles.train_set": "training", "circles.val_set": "validation", "circles.test_set": "testing"}
    assert {json.loads(i.dataset.source)["uri"] for i in inputs} == {str((project / f"data/05_model_input/circles/{s}").resolve())
                                                                     for s in ("train", "val", "test")}


@pytest.mark.slow
def test_n_nodes_auto_fans_out_chooses_and_reports_the_node_count(project):
    """``kedro run --params causal_pima.prior.n_nodes=auto`` on tiny data: one fit node per candidate,
    the selection table and figure, the choice in the report and the MLflow run's name (the summary's
    line: tests/test_run_summary.py)."""
    import mlflow
    import pandas as pd

    _run(project, extra={"causal_pima": {**TINY["causal_pima"], "prior": {"n_nodes": "auto"}, "node_count": {"d_min": 1, "d_max": 3}}})
    table = pd.read_csv(project / "data/07_model_output/circles/node_count_selection.csv")
    assert list(table["n_nodes"]) == [0, 1, 2, 3] and int(table["chosen"].sum()) == 1
    assert table["score"].notna().all()  # every candidate was fitted and scored (d = 0 is the reference)
    chosen = int(table.loc[table["chosen"], "n_nodes"].iloc[0])
    assert (project / "data/08_reporting/circles/node_count.png").stat().st_size > 1000
    learned = json.loads((project / "data/07_model_output/circles/learned_dag.json").read_text())
    assert learned["node_count"]["chosen"] == chosen == len(learned["node_names"])
    metrics = json.loads((project / "data/08_reporting/circles/dag_metrics.json").read_text())
    assert metrics["node_count"]["chosen"] == chosen and metrics["node_count"]["true_features"] == 3
    assert metrics["n_nodes_right"] == float(chosen == 3)
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name == "causal_pima"]
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == f"circles/collider seed=0 d={chosen} (__default__)"
    assert run.data.tags["n_nodes.circles"] == str(chosen)
    assert run.data.metrics["circles/node_count/chosen"] == chosen
    assert "node_count/circles/node_count_selection.csv" in {a.path for a in client.list_artifacts(run.info.run_id, "node_count/circles")}
