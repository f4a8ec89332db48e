"""The end of a run says its answer: headline metrics, where the reports are, the MLflow run and model.

After a successful ``kedro run``, :class:`RunSummaryHook` logs, for every ``{dataset}.dag_metrics``
the run wrote, the learned edges and the headline metrics (those present: a data set without a true
graph has no SHD), the node count chosen with ``n_nodes: auto``, the report's path and its warnings (the fit-quality warnings of the metrics report),
then the MLflow run id with the command that shows it and, for every ``{dataset}.fitted_model`` the
run wrote, the model URI that ``mlflow.pyfunc.load_model`` takes. :func:`summary_lines` is the text,
a pure function of the reports.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

METRICS_SUFFIX = ".dag_metrics"
MODEL_SUFFIX = ".fitted_model"
# (key in dag_metrics.json, label, format)
HEADLINE = (("cpdag_shd", "CPDAG SHD", "{:g}"), ("shd", "SHD", "{:g}"), ("node_accuracy", "node accuracy", "{:.3f}"),
            ("ari", "ARI", "{:.3f}"), ("interventional_tv", "interventional TV", "{:.3f}"), ("test_elbo", "test ELBO", "{:.1f}"))


def _edges(edges: Sequence[Sequence[Any]] | None) -> str:
    """``[[parent, child(, weight)], ...]`` as ``parent -> child, ...``."""
    if edges is None:
        return "?"
    return ", ".join(f"{edge[0]} -> {edge[1]}" for edge in edges) or "none"


def summary_lines(reports: Mapping[str, Mapping[str, Any]], paths: Mapping[str, str | None],
                  run_id: str | None, models: Sequence[str] = (), tracking_uri: str | None = None) -> list[str]:
    """The summary's lines.

    ``reports``: data set name -> its ``dag_metrics.json`` content; ``paths``: data set name -> the
    report's file; ``run_id``: the MLflow run (None: not tracked) in the store ``tracking_uri``;
    ``models``: data sets whose fitted model was logged in that run.
    """
    lines = []
    for name, report in reports.items():
        values = [f"{label} {fmt.format(report[key])}" for key, label, fmt in HEADLINE
                  if isinstance(report.get(key), (int, float)) and not isinstance(report.get(key), bool)]
        lines.append(f"{name}: learned edges {_edges(report.get('learned_edges'))}"
                     + (f"; true edges {_edges(report['true_edges'])}" if report.get("true_edges") is not None else ""))
        if values:
            lines.append(f"{name}: " + ", ".join(values))
        node_count = report.get("node_count")
        if isinstance(node_count, Mapping):  # n_nodes: auto
            truth = node_count.get("true_features")
            verdict = "" if truth is None else (" = the number of true features" if node_count.get("chosen_is_true")
                                                else f"; the data have {truth} true features")
            lines.append(f"{name}: n_nodes: auto chose d = {node_count.get('chosen')}{verdict} (table node_count_selection)")
        if paths.get(name):
            lines.append(f"{name}: report {paths[name]}")
        warnings = list(report.get("warnings") or [])
        lines.append(f"{name}: {len(warnings)} warning(s):" if warnings else f"{name}: no warnings about the fit")
        lines += [f"  - {w}" for w in warnings]
    if run_id:
        where = f" in {tracking_uri}" if tracking_uri else ""
        lines.append(f"MLflow run {run_id}{where} (make mlflow-ui, then http://127.0.0.1:5000)")
        lines += [f"MLflow model: mlflow.pyfunc.load_model('runs:/{run_id}/causal_pima_{name}')" for name in models]
    return lines


def _report_path(catalog, name: str) -> str | None:
    dataset = catalog.get(name) if hasattr(catalog, "get") else None
    inner = getattr(dataset, "_dataset", dataset)  # MlflowArtifactDataset wraps the JSON dataset
    path = getattr(inner, "_filepath", None) or getattr(dataset, "_filepath", None)
    return str(path) if path is not None else None


class RunSummaryHook:
    """Logs :func:`summary_lines` when a pipeline run ends without error."""

    def __init__(self) -> None:
        self._run_id: str | None = None
        self._tracking_uri: str | None = None

    @hook_impl(trylast=True)  # after kedro-mlflow's before_pipeline_run, which starts the run
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        import mlflow

        active = mlflow.active_run()
        self._run_id = active.info.run_id if active is not None else None
        self._tracking_uri = mlflow.get_tracking_uri() if active is not None else None

    @hook_impl(tryfirst=True)  # before kedro-mlflow's after_pipeline_run ends the MLflow run
    def after_pipeline_run(self, run_params: dict[str, Any], run_result: Any, pipeline, catalog) -> None:
        outputs = sorted(pipeline.all_outputs())
        reports, paths = {}, {}
        for name in (o for o in outputs if o.endswith(METRICS_SUFFIX) and "." not in o[: -len(METRICS_SUFFIX)]):
            data_set = name[: -len(METRICS_SUFFIX)]
            try:
                reports[data_set] = catalog.load(name)
            except Exception as exc:  # noqa: BLE001 - the run has succeeded; say why there is no summary
                logger.warning("no summary for %s: its report could not be read back (%s)", data_set, exc)
                continue
            paths[data_set] = _report_path(catalog, name)
        models = [o[: -len(MODEL_SUFFIX)] for o in outputs if o.endswith(MODEL_SUFFIX) and "." not in o[: -len(MODEL_SUFFIX)]]
        try:
            lines = summary_lines(reports, paths, self._run_id, models if self._run_id else (), self._tracking_uri)
        except Exception as exc:  # noqa: BLE001 - the run has succeeded and its outputs are written
            logger.warning("no run summary: a report did not have the expected form (%s)", exc)
            return
        if lines:
            logger.info("run summary\n%s", "\n".join(lines))
