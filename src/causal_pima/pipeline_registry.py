"""Project pipelines: one folder per pipeline under ``pipelines/``, plus the composite pipelines.

Kedro 1.x's ``find_pipelines`` loads lazily: ``kedro run --pipelines NAME`` makes it import only the
folder ``causal_pima.pipelines.NAME`` (the CLI's filter overrides its ``pipelines_to_find``
argument), and with ``raise_errors=True`` a requested name without a folder is an ``ImportError``.
That broke ``kedro run --pipelines lattice_ingestion`` (a composite name, no folder) while
``kedro registry list`` (which loads everything) showed it. The registry below therefore discovers
the folders itself and always returns every name, so every name that ``kedro registry list``
shows resolves in ``kedro run --pipelines NAME`` too (``tests/test_registry.py``). Importing every
folder costs little: the composites already need all but two of them.
"""

from __future__ import annotations

import importlib
import importlib.resources
from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from causal_pima.pipelines import causal_pima as causal_pima_fit
from causal_pima.pipelines import (
    circles,
    data_processing,
    evaluation,
    lattice,
    pretraining,
    stage_pipeline,
)
from causal_pima.pipelines.lattice import nodes as lattice_nodes
from causal_pima.pipelines.parameters import stage_parameters

PIPELINES_PACKAGE = "causal_pima.pipelines"

# Data sets read from a specimen manifest (the lattice format): name -> fitted with the physics curve
# expert (its table and figure; with curve_decoder: neural they are written empty / saying so). Each name gets the pipelines <name>_ingestion and <name> (ingestion, then dataset_pipeline). A new
# name also needs its parameters (<stage>_<name> groups, README "Your own data set") and the catalog
# entry <name>.raw_manifest (and <name>.true_dag for evaluation).
MANIFEST_DATASETS: dict[str, bool] = {"lattice": True}


def dataset_pipeline(dataset: str, physics: bool = False) -> Pipeline:
    """processing -> pretraining -> causalPIMA fit -> evaluation for one data set (namespaces ``<stage>.<dataset>``)."""
    return (
        data_processing.create_pipeline(dataset=dataset)
        + pretraining.create_pipeline(dataset=dataset)
        + causal_pima_fit.create_pipeline(dataset=dataset, physics=physics)
        + evaluation.create_pipeline(dataset=dataset)
    )


def ingestion_pipeline(dataset: str) -> Pipeline:
    """The ``lattice`` folder's ingestion of the manifest ``<dataset>.raw_manifest`` (node
    ``ingestion.<dataset>.ingest``, reading the shared ``params:lattice_ingestion``)."""
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
    package = importlib.resources.files(PIPELINES_PACKAGE)
    for entry in sorted(package.iterdir(), key=lambda e: e.name):
        if not entry.is_dir() or entry.name.startswith((".", "_")) or not entry.joinpath("__init__.py").is_file():
            continue
        module_name = f"{PIPELINES_PACKAGE}.{entry.name}"
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise ImportError(f"An error occurred while importing the '{module_name}' module.") from exc
        create = getattr(module, "create_pipeline", None)
        pipeline = create() if callable(create) else None
        if not isinstance(pipeline, Pipeline):
            raise ImportError(f"'{module_name}' has no create_pipeline() returning a kedro Pipeline")
        found[entry.name] = pipeline
    return found


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines.

    Every folder of ``causal_pima.pipelines`` with a ``create_pipeline()`` is registered under its
    name (built for the default ``circles`` data set). ``__default__`` is the end-to-end circles
    job; ``lattice`` is the lattice path (ingestion, processing, pretraining with the physics curve
    expert, fitting, evaluation) and ``lattice_ingestion`` its first stage alone; so is every other
    name of ``MANIFEST_DATASETS``.
    """
    pipelines = folder_pipelines()
    pipelines["__default__"] = circles.create_pipeline() + dataset_pipeline("circles")
    for dataset, physics in MANIFEST_DATASETS.items():
        pipelines[f"{dataset}_ingestion"] = ingestion_pipeline(dataset)
        pipelines[dataset] = pipelines[f"{dataset}_ingestion"] + n_nodes_check_pipeline(dataset) + dataset_pipeline(dataset, physics=physics)
    return pipelines
