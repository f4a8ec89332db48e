"""Project pipelines: one folder per pipeline under ``pipelines/``, plus the composite pipelines.

Kedro 1.x's ``find_pipelines`` loads lazily: ``kedro run --pipelines NAME`` makes it import only the
folder ``causal_pima.pipelines.NAME`` (the CLI's filter overrides its ``pipelines_to_find``
argument), and with ``raise_errors=True`` a requested name without a folder is an ``ImportError``.
That broke ``kedro run --pipelines lattice_ingestion`` (a composite name, no folder) while
``kedro registry list`` (which loads everything) showed it. The registry below therefore discovers
the folders itself and always returns every name, so every name that ``kedro registry list``
shows resolves in ``kedro run --pipelines NAME`` too (``tests/test_registry.py``). Importing every
folder costs little: the composites already need all but two of them.

The manifest data sets (``lattice``, your own) are not listed here: every ``<name>.raw_manifest`` entry
of the session's catalog (:mod:`causal_pima.manifest_datasets`) gets ``<name>_ingestion`` and ``<name>``,
with the physics expert's table and figure when ``model_<name>.curve_decoder`` is ``physics``.
"""

from __future__ import annotations

import importlib
from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from causal_pima.manifest_datasets import project_manifest_datasets
from causal_pima.pipelines import (
    PIPELINES_PACKAGE,
    circles,
    data_processing,
    evaluation,
    lattice,
    pipeline_folders,
    pretraining,
    stage_pipeline,
)
from causal_pima.pipelines import causal_pima as causal_pima_fit
from causal_pima.pipelines.lattice import nodes as lattice_nodes
from causal_pima.pipelines.parameters import stage_parameters


def dataset_pipeline(dataset: str, physics: bool = False) -> Pipeline:
    """processing -> pretraining -> causalPIMA fit -> evaluation for one data set (namespaces ``<stage>.<dataset>``)."""
    return (
        data_processing.create_pipeline(dataset=dataset)
        + pretraining.create_pipeline(dataset=dataset)
        + causal_pima_fit.create_pipeline(dataset=dataset, physics=physics)
        + evaluation.create_pipeline(dataset=dataset)
    )


def ingestion_pipeline(dataset: str) -> Pipeline:
    """The ``lattice`` folder's ingestion of the manifest ``<dataset>.raw_manifest`` (nodes
    ``ingestion.<dataset>.ingest``, reading the shared ``params:lattice_ingestion``, and
    ``ingestion.<dataset>.plot_overview``, the figure ``<dataset>.overview``)."""
    return lattice.create_pipeline(dataset=dataset)


def n_nodes_check_pipeline(dataset: str) -> Pipeline:
    """``ingestion.<dataset>.check_n_nodes``: right after ingestion, before any training, stops when
    ``causal_pima_<dataset>.prior.n_nodes`` is null and the manifest has no label columns."""
    key = stage_parameters("causal_pima", dataset)["params:causal_pima"]
    check = update_wrapper(partial(lattice_nodes.check_n_nodes, params_name=key.removeprefix("params:")), lattice_nodes.check_n_nodes)
    return stage_pipeline(
        [node(check, ["features", "params:causal_pima"], None, name="check_n_nodes")],
        dataset, "ingestion", {"params:causal_pima": key},
    )


def folder_pipelines() -> dict[str, Pipeline]:
    """``{folder: create_pipeline()}`` for every package folder of ``causal_pima.pipelines``.

    Like ``find_pipelines(raise_errors=True)`` without a filter: a folder whose import fails or that
    has no ``create_pipeline()`` returning a ``Pipeline`` is an error naming the folder.
    """
    found: dict[str, Pipeline] = {}
    for folder in pipeline_folders():
        module_name = f"{PIPELINES_PACKAGE}.{folder}"
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise ImportError(f"An error occurred while importing the '{module_name}' module.") from exc
        create = getattr(module, "create_pipeline", None)
        pipeline = create() if callable(create) else None
        if not isinstance(pipeline, Pipeline):
            raise ImportError(f"'{module_name}' has no create_pipeline() returning a kedro Pipeline")
        found[folder] = pipeline
    return found


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Every folder of ``causal_pima.pipelines`` with a ``create_pipeline()`` is registered under its
    name (built for the default ``circles`` data set). ``__default__`` is the end-to-end circles
    job. Every manifest data set of the catalog (``lattice.raw_manifest``, ``<name>.raw_manifest``:
    :func:`causal_pima.manifest_datasets.project_manifest_datasets`) gets ``<name>``, its path
    (ingestion, processing, pretraining, fitting with the physics curve expert if its
    ``model_<name>.curve_decoder`` is ``physics``, evaluation), and ``<name>_ingestion``, its first stage alone.
    """
    pipelines = folder_pipelines()
    pipelines["__default__"] = circles.create_pipeline() + dataset_pipeline("circles")
    for dataset in project_manifest_datasets():
        name = dataset.name
        pipelines[f"{name}_ingestion"] = ingestion_pipeline(name)
        pipelines[name] = pipelines[f"{name}_ingestion"] + n_nodes_check_pipeline(name) + dataset_pipeline(name, physics=dataset.physics)
    return pipelines
