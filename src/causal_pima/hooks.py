"""Project hooks: log model checkpoints, the fitted model as an MLflow model and the input sets to the MLflow run.

A versioned dataset cannot be wrapped in kedro-mlflow's ``MlflowArtifactDataset`` when it comes
from a dataset factory (the wrapper gives the inner dataset its own save version, which Kedro
rejects), so the checkpoint file that the catalog has just written is logged here instead
(``model/<dataset>/``).

When the run ends (``after_pipeline_run``, before kedro-mlflow closes the MLflow run):

- every model-input set the pipeline uses (``{dataset}.{train,val,test}_set``) is logged as an input
  dataset of the run (:mod:`causal_pima.mlflow_inputs`, contexts training / validation / testing);
- every fitted model the run wrote (``{dataset}.fitted_model``) is logged as the MLflow model
  ``causal_pima_<dataset>`` (:mod:`causal_pima.mlflow_model`) and registered under that name, with
  the evaluation's node-to-feature map and headline metrics when the run also wrote
  ``{dataset}.dag_metrics``, and 2 test specimens as its input example:
  ``mlflow.pyfunc.load_model("models:/causal_pima_<dataset>/<version>")`` or ``"runs:/<run id>/causal_pima_<dataset>"``.

It is logged at the end rather than when the checkpoint is saved because the feature names and the
metrics come from the evaluation, later in the run. kedro-mlflow's ``MlflowModelTrackingDataset``
does not fit here: it would replace the versioned local checkpoint that the later nodes load, and its
load returns the pyfunc wrapper rather than the ``CausalPIMA`` the nodes need.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from causal_pima.run_summary import HEADLINE

logger = logging.getLogger(__name__)

MODEL_SUFFIXES = (".fitted_model", ".pretrained_model")
FITTED_SUFFIX = ".fitted_model"
EXAMPLE_SPLITS = ("test", "val", "train")  # where the input example's specimens come from, first found


def _file_of(dataset) -> Path:
    """The file a (versioned) file dataset has saved: its latest version."""
    return Path(str(dataset._get_load_path() if hasattr(dataset, "_get_load_path") else dataset._filepath))


def headline_metrics(report: Mapping[str, Any], data_set: str) -> dict[str, float]:
    """The report's headline numbers (``run_summary.HEADLINE`` keys present and numeric) as ``<data_set>/eval/<key>``."""
    return {f"{data_set}/eval/{key}": float(report[key]) for key, _, _ in HEADLINE
            if isinstance(report.get(key), int | float) and not isinstance(report.get(key), bool)}


class ModelArtifactHook:
    """Checkpoint files when saved; at the end of the run the input sets and the fitted models."""

    def __init__(self) -> None:
        self._catalog = None

    @hook_impl
    def after_catalog_created(self, catalog, **kwargs: Any) -> None:
        self._catalog = catalog

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node) -> None:
        if self._catalog is None or not dataset_name.endswith(MODEL_SUFFIXES):
            return
        import mlflow

        if mlflow.active_run() is None:
            return
        path = _file_of(self._catalog.get(dataset_name))
        if not path.exists():
            logger.warning("model dataset %s was saved but %s does not exist; not logged to MLflow", dataset_name, path)
            return
        mlflow.log_artifact(str(path), artifact_path=f"model/{dataset_name.split('.')[0]}")

    @hook_impl(tryfirst=True)  # before kedro-mlflow's after_pipeline_run ends the MLflow run
    def after_pipeline_run(self, run_params: dict[str, Any], run_result: Any, pipeline, catalog) -> None:
        import mlflow

        if mlflow.active_run() is None:
            return
        from causal_pima.mlflow_inputs import SET_NAME, log_model_input_sets

        sets = {}
        for name in sorted(n for n in pipeline.datasets() if SET_NAME.match(n)):
            try:
                sets[name] = (catalog.load(name), _file_of(catalog.get(name)))
            except Exception as exc:  # noqa: BLE001 - the run has succeeded; say what is not logged
                logger.warning("the input set %s is not logged to MLflow: it could not be read back (%s)", name, exc)
        try:
            logged = log_model_input_sets(sets)
        except Exception as exc:  # noqa: BLE001
            logger.warning("the input sets are not logged to MLflow (%s)", exc)
            logged = {}
        outputs = pipeline.all_outputs()
        for name in sorted(o for o in outputs if o.endswith(FITTED_SUFFIX) and "." not in o[: -len(FITTED_SUFFIX)]):
            data_set = name[: -len(FITTED_SUFFIX)]
            try:
                self._log_fitted_model(catalog, data_set, sets, logged, f"{data_set}.dag_metrics" in outputs)
            except Exception as exc:  # noqa: BLE001 - the local checkpoint is saved: a failed MLflow model must not end the run
                logger.warning("could not log %s as an MLflow model (%s); the checkpoint is under model/%s", name, exc, data_set)

    @staticmethod
    def _log_fitted_model(catalog, data_set: str, sets: Mapping[str, Any], logged: Mapping[str, Any], evaluated: bool) -> None:
        from causal_pima.mlflow_model import log_fitted_model

        path = _file_of(catalog.get(f"{data_set}.fitted_model"))
        report = catalog.load(f"{data_set}.dag_metrics") if evaluated else {}
        split = next((s for s in EXAMPLE_SPLITS if f"{data_set}.{s}_set" in sets), "test")
        specimens = sets[f"{data_set}.{split}_set"][0] if f"{data_set}.{split}_set" in sets else catalog.load(f"{data_set}.test_set")
        name = f"causal_pima_{data_set}"
        info = log_fitted_model(
            path, name=name, specimens=specimens, node_features=report.get("matching"),
            metrics=headline_metrics(report, data_set), registered_model_name=name,
            metrics_dataset=logged.get(f"{data_set}.test_set"),
        )
        logger.info("logged the fitted model as the MLflow model %s, version %s: mlflow.pyfunc.load_model(%r)",
                    name, info.registered_model_version, f"models:/{name}/{info.registered_model_version}")
