"""The end-of-run summary (causal_pima.run_summary): the text from hand-made reports, and the hook
reading the reports a pipeline wrote from its catalog."""

from __future__ import annotations

import logging

from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node

from causal_pima.run_summary import RunSummaryHook, summary_lines

REPORT = {
    "learned_edges": [["radius", "hue", 2.85], ["shift", "hue", 3.03]],
    "true_edges": [["radius", "hue"], ["shift", "hue"]],
    "cpdag_shd": 0, "shd": 1, "node_accuracy": 0.99966, "ari": 1.0, "interventional_tv": 0.0104, "test_elbo": 5488.06,
    "warnings": ["3 of 32 outcomes hold fewer than 5 training specimens"],
}


def test_summary_lines_known_answer():
    lines = summary_lines({"circles": REPORT}, {"circles": "data/08_reporting/circles/dag_metrics.json"},
                          "abc123", models=["circles"], tracking_uri="sqlite:///mlflow.db")
    assert lines == [
        "circles: learned edges radius -> hue, shift -> hue; true edges radius -> hue, shift -> hue",
        "circles: CPDAG SHD 0, SHD 1, node accuracy 1.000, ARI 1.000, interventional TV 0.010, test ELBO 5488.1",
        "circles: report data/08_reporting/circles/dag_metrics.json",
        "circles: 1 warning(s):",
        "  - 3 of 32 outcomes hold fewer than 5 training specimens",
        "MLflow run abc123 in sqlite:///mlflow.db (make mlflow-ui, then http://127.0.0.1:5000)",
        "MLflow model: mlflow.pyfunc.load_model('runs:/abc123/causal_pima_circles')",
    ]


def test_a_report_without_a_truth_and_an_untracked_run():
    own = {"learned_edges": [], "warnings": []}  # no true graph: no SHD, no accuracy
    assert summary_lines({"mydata": own}, {}, None, models=["mydata"]) == [
        "mydata: learned edges none", "mydata: no warnings about the fit"]
    assert summary_lines({}, {}, None) == []


def test_the_chosen_node_count_is_said_with_or_without_a_truth():
    chose = {"chosen": 3, "true_features": 3, "chosen_is_true": True}
    lines = summary_lines({"circles": {**REPORT, "node_count": chose}}, {}, None)
    assert lines[2] == "circles: n_nodes: auto chose d = 3 = the number of true features (table node_count_selection)"
    wrong = {"chosen": 2, "true_features": 3, "chosen_is_true": False}
    assert summary_lines({"circles": {**REPORT, "node_count": wrong}}, {}, None)[2] == (
        "circles: n_nodes: auto chose d = 2; the data have 3 true features (table node_count_selection)")
    own = {"learned_edges": [], "warnings": [], "node_count": {"chosen": 4, "true_features": None}}
    assert summary_lines({"mydata": own}, {}, None)[1] == "mydata: n_nodes: auto chose d = 4 (table node_count_selection)"


def test_the_hook_reads_the_reports_the_pipeline_wrote(caplog):
    pipeline = Pipeline([node(lambda: REPORT, None, "circles.dag_metrics", name="evaluate"),
                         node(lambda: 1, None, "circles.fitted_model", name="fit"),
                         node(lambda: {}, None, "benchmark.collider.seed_0.dag_metrics", name="row")])
    catalog = DataCatalog({"circles.dag_metrics": MemoryDataset(REPORT), "circles.fitted_model": MemoryDataset(1)})
    hook = RunSummaryHook()
    hook._run_id, hook._tracking_uri = "r1", "sqlite:///x.db"
    with caplog.at_level(logging.INFO, logger="causal_pima.run_summary"):
        hook.after_pipeline_run(run_params={}, run_result=None, pipeline=pipeline, catalog=catalog)
    (record,) = [r for r in caplog.records if r.name == "causal_pima.run_summary"]
    text = record.getMessage()
    # namespaced reports (the benchmark's) are not summarised; the model URI names the run
    assert "circles: CPDAG SHD 0" in text and "benchmark" not in text
    assert "runs:/r1/causal_pima_circles" in text and "MLflow run r1 in sqlite:///x.db" in text
