"""Project pipelines: one folder per pipeline under ``pipelines/``, discovered by ``find_pipelines``."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Every folder of ``causal_pima.pipelines`` with a ``create_pipeline()`` is registered under its
    name (built for the default ``circles`` data set). ``__default__`` is the end-to-end circles job.
    """
    pipelines = find_pipelines(raise_errors=True)
    default_chain = [
        name
        for name in ("circles", "data_processing", "pretraining", "causal_pima", "evaluation")
        if name in pipelines
    ]
    pipelines["__default__"] = sum((pipelines[name] for name in default_chain), Pipeline([]))
    return pipelines
