"""Project hooks: log saved model checkpoints to the active MLflow run.

A versioned dataset cannot be wrapped in kedro-mlflow's ``MlflowArtifactDataset`` when it comes
from a dataset factory (the wrapper gives the inner dataset its own save version, which Kedro
rejects), so the checkpoint file that the catalog has just written is logged here instead.

A fitted model (``{dataset}.fitted_model``) is also logged as an MLflow model named
``causal_pima_<dataset>`` (pyfunc, :mod:`causal_pima.mlflow_model`): ``mlflow.pyfunc.load_model(
"runs:/<run id>/causal_pima_<dataset>")``. kedro-mlflow's ``MlflowModelTrackingDataset`` does not fit
here: it would replace the versioned local checkpoint that the later nodes load, and its load returns
the pyfunc wrapper rather than the ``CausalPIMA`` the nodes need.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)

MODEL_SUFFIXES = (".fitted_model", ".pretrained_model")


class ModelArtifactHook:
    """After a model dataset is saved, log its file under ``model/<dataset>/`` in the MLflow run."""

    def __init__(self) -> None:
        self._catalog = None

    @hook_impl
    def after_catalog_created(self, catalog, **kwargs: Any) -> None:
        self._catalog = catalog

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node) -> None:
        if self._catalog is None or not dataset_name.endswith(MODEL_SUFFIXES):
            return
        try:
            import mlflow
        except ImportError:  # pragma: no cover - mlflow is a declared dependency
            return
        if mlflow.active_run() is None:
            return
        dataset = self._catalog.get(dataset_name)
        path = Path(str(dataset._get_load_path() if hasattr(dataset, "_get_load_path") else dataset._filepath))
        if not path.exists():
            logger.warning("model dataset %s was saved but %s does not exist; not logged to MLflow", dataset_name, path)
            return
        data_set = dataset_name.split(".")[0]
        mlflow.log_artifact(str(path), artifact_path=f"model/{data_set}")
        if dataset_name.endswith(".fitted_model"):
            from causal_pima.mlflow_model import log_fitted_model

            try:
                log_fitted_model(path, name=f"causal_pima_{data_set}")
            except Exception as exc:  # the local checkpoint is saved: a failed MLflow model must not end the run
                logger.warning("could not log %s as an MLflow model (%s); the checkpoint is under model/%s", dataset_name, exc, data_set)
                return
            logger.info("logged the fitted model as an MLflow model: mlflow.pyfunc.load_model(%r)",
                        f"runs:/{mlflow.active_run().info.run_id}/causal_pima_{data_set}")
