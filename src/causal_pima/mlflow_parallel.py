"""Make kedro-mlflow's ``MlflowArtifactDataset`` picklable, so that ``kedro run --runner ParallelRunner`` works.

kedro-mlflow 2.0 builds each ``MlflowArtifactDataset`` as an instance of a class created inside
``MlflowArtifactDataset.__new__`` (a subclass of the wrapped dataset's class), which pickle cannot
name. ``ParallelRunner`` pickles every dataset of the catalog (its ``validate_catalog`` refuses the run
otherwise, and each task it sends to a worker process carries the catalog), and kedro-mlflow's
``after_catalog_created`` hook builds every explicit catalog entry, so a single ``MlflowArtifactDataset``
entry in ``catalog.yml`` made ``ParallelRunner`` fail for every pipeline of the project ("The following
datasets cannot be used with multiprocessing: ['benchmark.results', ...]"; kedro-mlflow issue #624).

:func:`install` (called by ``settings.py``) wraps ``MlflowArtifactDataset.__new__`` so that each such
instance pickles as "build ``MlflowArtifactDataset`` again from the same arguments, then restore its
attributes". An instance pickled during a run (``ParallelRunner`` pickles after kedro-mlflow started
it) carries that run's id, so a worker process logs the artifact into the session's run, also when
workers are spawned rather than forked. (With spawn, kedro-mlflow's own node hooks and metrics datasets
in the workers do not know the run and open new ones; with fork, the Linux default, they inherit it.)
"""

from __future__ import annotations

import functools
from typing import Any

_INIT = "_causal_pima_init_args"


def _rebuild(init_args: dict[str, Any], state: dict[str, Any]):
    from kedro_mlflow.io.artifacts import MlflowArtifactDataset

    install()
    dataset = MlflowArtifactDataset(**init_args)
    dataset.__dict__.update(state)
    return dataset


def _session_run_id() -> str | None:
    """The session's MLflow run: kedro-mlflow's hook keeps its id (``mlflow.active_run()`` is per thread,
    and ``ProcessPoolExecutor`` pickles the tasks in a thread of its own, where no run is active)."""
    try:
        from kedro_mlflow.framework.hooks.mlflow_hook import mlflow_hook
    except ImportError:  # pragma: no cover
        mlflow_hook = None
    run_id = getattr(mlflow_hook, "run_id", None)
    if run_id is None:
        import mlflow

        active = mlflow.active_run()
        run_id = active.info.run_id if active is not None else None
    return run_id


def _reduce(self):
    state = dict(self.__dict__)
    if getattr(self, "run_id", None) is None:
        state["run_id"] = _session_run_id()
    return _rebuild, (state.pop(_INIT), state)


def install() -> None:
    """Wrap ``MlflowArtifactDataset.__new__`` once (a no-op without kedro-mlflow)."""
    try:
        from kedro_mlflow.io.artifacts import MlflowArtifactDataset
    except ImportError:  # pragma: no cover - kedro-mlflow is a declared dependency
        return
    original = MlflowArtifactDataset.__dict__["__new__"]
    original = getattr(original, "__func__", original)
    if getattr(original, "_causal_pima_picklable", False):
        return

    @functools.wraps(original)
    def __new__(cls, dataset, run_id=None, artifact_path=None, credentials=None, metadata=None):
        instance = original(cls, dataset=dataset, run_id=run_id, artifact_path=artifact_path, credentials=credentials, metadata=metadata)
        setattr(instance, _INIT, {"dataset": dataset, "run_id": run_id, "artifact_path": artifact_path,
                                  "credentials": credentials, "metadata": metadata})
        type(instance).__reduce__ = _reduce
        return instance

    __new__._causal_pima_picklable = True
    MlflowArtifactDataset.__new__ = staticmethod(__new__)
