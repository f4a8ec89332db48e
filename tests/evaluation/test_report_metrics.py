"""evaluation.report: the report's warnings and the fit's ELBO gap reach the flat (MLflow) metrics."""

from __future__ import annotations

from causal_pima.evaluation.report import evaluation_report, scalar_metrics


def test_warnings_are_counted_and_the_elbo_gap_is_flattened():
    learned_dag = {"diagnostics": {"warnings": ["a", "b"], "elbo_gap": {"gap": 12.5, "effect": 0.75, "gap_se": 1.0}}}
    report = evaluation_report({"node_accuracy": 0.9, "warnings": ["n_nodes"]}, {"test_elbo": -3.0}, learned_dag)
    assert report["warnings"] == ["n_nodes", "a", "b"]
    flat = scalar_metrics(report)
    assert flat == {"node_accuracy": 0.9, "test_elbo": -3.0, "elbo_gap": 12.5, "elbo_gap_effect": 0.75, "n_warnings": 3.0}


def test_an_unmeasured_gap_and_a_report_without_warnings_add_nothing():
    learned_dag = {"diagnostics": {"warnings": [], "elbo_gap": {"gap": 0.0, "effect": None}}}
    flat = scalar_metrics(evaluation_report({"ari": 1.0}, {}, learned_dag))
    assert flat == {"ari": 1.0, "elbo_gap": 0.0, "n_warnings": 0.0}
    assert scalar_metrics({"ari": 1.0}) == {"ari": 1.0}  # no fit diagnostics, no warnings list: nothing invented
