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
from collections.abc import Mapping
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Pipeline, node

from causal_pima.benchmark_shape import file_benchmark_shape
from causal_pima.core.node_count import candidate_node_counts
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
from causal_pima.session_parameters import run_parameters


def fit_candidates(parameters: Mapping[str, Any], dataset: str) -> tuple[int, ...]:
    """The node counts a data set's fit tries (``causal_pima[_<dataset>].prior.n_nodes: auto``), ``()``
    for one fit (:func:`causal_pima.core.node_count.candidate_node_counts`)."""
    return candidate_node_counts(parameters.get(stage_parameters("causal_pima", dataset)["params:causal_pima"].removeprefix("params:")))


def dataset_pipeline(dataset: str, physics: bool = False, candidates: tuple[int, ...] = ()) -> Pipeline:
    """processing -> pretraining -> causalPIMA fit -> evaluation for one data set (namespaces ``<stage>.<dataset>``);
    ``candidates``: the fit's node counts with ``n_nodes: auto`` (:func:`fit_candidates`)."""
    return (
        data_processing.create_pipeline(dataset=dataset)
        + pretraining.create_pipeline(dataset=dataset)
        + causal_pima_fit.create_pipeline(dataset=dataset, physics=physics, candidates=candidates)
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


def folder_pipelines(arguments: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Pipeline]:
    """``{folder: create_pipeline(**arguments[folder])}`` for every package folder of ``causal_pima.pipelines``
    (``arguments``: what a folder's pipeline is built from, for the parameter-dependent ones).

    Like ``find_pipelines(raise_errors=True)`` without a filter: a folder whose import fails or that
    has no ``create_pipeline()`` returning a ``Pipeline`` is an error naming the folder.
    """
    arguments = arguments or {}
    found: dict[str, Pipeline] = {}
    for folder in pipeline_folders():
        module_name = f"{PIPELINES_PACKAGE}.{folder}"
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise ImportError(f"An error occurred while importing the '{module_name}' module.") from exc
        create = getattr(module, "create_pipeline", None)
        pipeline = create(**arguments.get(folder, {})) if callable(create) else None
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

    The parameter-dependent nodes are decided here, once, and passed in (no module keeps them): the
    benchmark's rows from the shape of the session's parameter files
    (:func:`causal_pima.benchmark_shape.file_benchmark_shape`, which its hook computes again to refuse a
    run whose ``--params`` change it), and each fit's candidate node counts from the session's run
    parameters (:func:`fit_candidates`, ``--params`` applied).
    """
    parameters = run_parameters()
    pipelines = folder_pipelines({"benchmark": {"benchmark": file_benchmark_shape()},
                                  "causal_pima": {"candidates": fit_candidates(parameters, "circles")}})
    pipelines["__default__"] = circles.create_pipeline() + dataset_pipeline("circles", candidates=fit_candidates(parameters, "circles"))
    for dataset in project_manifest_datasets():
        name = dataset.name
        path = dataset_pipeline(name, physics=dataset.physics, candidates=fit_candidates(parameters, name))
        pipelines[f"{name}_ingestion"] = ingestion_pipeline(name)
        pipelines[name] = pipelines[f"{name}_ingestion"] + n_nodes_check_pipeline(name) + path
    return pipelines
