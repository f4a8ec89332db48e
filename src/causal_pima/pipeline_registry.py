"""Project pipelines: one folder per pipeline under ``pipelines/``, discovered by ``find_pipelines``."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from causal_pima.pipelines import causal_pima as causal_pima_fit
from causal_pima.pipelines import circles, data_processing, evaluation, lattice, pretraining


def dataset_path(dataset: str, physics: bool = False) -> Pipeline:
    """processing -> pretraining -> causalPIMA fit -> evaluation for one data set (its namespace)."""
    return (
        data_processing.create_pipeline(dataset=dataset)
        + pretraining.create_pipeline(dataset=dataset)
        + causal_pima_fit.create_pipeline(dataset=dataset, physics=physics)
        + evaluation.create_pipeline(dataset=dataset)
    )


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Every folder of ``causal_pima.pipelines`` with a ``create_pipeline()`` is registered under its
    name (built for the default ``circles`` data set). ``__default__`` is the end-to-end circles
    job; ``lattice`` is the lattice path (ingestion, processing, pretraining with the physics curve
    expert, fitting, evaluation) and ``lattice_ingestion`` its first stage alone.
    """
    # find_pipelines may load only the pipelines a run asks for, so the composites are built from
    # the modules themselves rather than from its result
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = circles.create_pipeline() + dataset_path("circles")
    pipelines["lattice_ingestion"] = lattice.create_pipeline()
    pipelines["lattice"] = pipelines["lattice_ingestion"] + dataset_path("lattice", physics=True)
    return pipelines
