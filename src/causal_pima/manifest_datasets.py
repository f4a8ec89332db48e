"""The manifest data sets of a project: found in its catalog, not listed in code (issue 23, item 5).

A data set read from a specimen manifest (the lattice stand-in, your own specimens) is declared by a
catalog entry ``<name>.raw_manifest`` of type :class:`~causal_pima.datasets.specimen_manifest.SpecimenManifestDataset`
(README "Your own data set"). Every such entry of the session's catalog files (its conf source and
``--env``, :func:`causal_pima.session_parameters.file_catalog`) gives the pipelines ``<name>_ingestion``
and ``<name>`` (``pipeline_registry``), which ``kedro registry list`` and ``causal-pima --help`` show.

Whether the fit uses the physics curve expert is the data set's parameter ``model_<name>.curve_decoder``
(``physics`` | ``neural``, :mod:`causal_pima.pipelines.parameters`): with ``physics`` its pipeline also
writes the expert's parameter table and figure. A data set whose ``model_<name>`` group is missing
counts as ``neural`` here; its run then stops naming the missing parameter groups.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kedro.io.core import DatasetError, parse_dataset_definition

from causal_pima.pipelines import pipeline_folders
from causal_pima.pipelines.parameters import DEFAULT_DATASET, stage_parameters
from causal_pima.session_parameters import file_catalog, run_parameters

ENTRY_SUFFIX = ".raw_manifest"
MANIFEST_TYPE = "causal_pima.datasets.specimen_manifest.SpecimenManifestDataset"
# a name that is a namespace, a folder under data/0*/ and a parameter-group suffix
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# pipeline folders whose name a manifest data set may take: the lattice folder is the ingestion of its own data set
_FOLDERS_OF_THEIR_DATA_SET = {"lattice"}


class ManifestCatalogError(ValueError):
    """A ``<name>.raw_manifest`` catalog entry that cannot become a data set's pipelines."""


@dataclass(frozen=True)
class ManifestDataset:
    """One manifest data set of the catalog.

    Attributes:
        name: the data set (namespaces ``<stage>.<name>``, outputs under ``data/0*/<name>/``).
        path: the manifest folder, as the catalog entry gives it (``data/01_raw/<name>``).
        curve_decoder: ``model_<name>.curve_decoder`` (``physics`` | ``neural``; ``neural`` when unset).
    """

    name: str
    path: str
    curve_decoder: str

    @property
    def physics(self) -> bool:
        """Whether the fit has the physics curve expert (its table and figure are then written)."""
        return self.curve_decoder == "physics"


def manifest_datasets(catalog: Mapping[str, Any], parameters: Mapping[str, Any], where: str = "the catalog") -> list[ManifestDataset]:
    """Every ``<name>.raw_manifest`` entry of ``catalog`` whose type is the SpecimenManifestDataset (or a
    subclass), sorted by name; ``parameters`` give each data set's curve decoder; ``where`` names the files
    in messages.

    Raises:
        ManifestCatalogError: naming the entry, when its name cannot be a data set (not letters, digits
            and underscores starting with a letter; ``circles`` or a pipeline folder's name) or its type
            cannot be imported.
    """
    found = []
    for entry, config in catalog.items():
        if not entry.endswith(ENTRY_SUFFIX) or "{" in entry or not _is_manifest_type(entry, config, where):
            continue
        name = entry.removesuffix(ENTRY_SUFFIX)
        _check_name(entry, name, where)
        model = parameters.get(stage_parameters("model", name)["params:model"].removeprefix("params:")) or {}
        found.append(ManifestDataset(name, str(config.get("path", "")), str(model.get("curve_decoder") or "neural")))
    return sorted(found, key=lambda d: d.name)


def _is_manifest_type(entry: str, config: Any, where: str) -> bool:
    if not isinstance(config, Mapping) or "type" not in config:
        return False
    if config["type"] == MANIFEST_TYPE:
        return True
    from causal_pima.datasets.specimen_manifest import (
        SpecimenManifestDataset,  # only for another spelling: it imports torch
    )

    try:
        dataset_class, _ = parse_dataset_definition(dict(config))
    except DatasetError as error:
        raise ManifestCatalogError(f"catalog entry '{entry}' ({where}): its type {config['type']!r} cannot be loaded: {error}") from error
    return issubclass(dataset_class, SpecimenManifestDataset)


def _check_name(entry: str, name: str, where: str) -> None:
    taken = (set(pipeline_folders()) - _FOLDERS_OF_THEIR_DATA_SET) | {DEFAULT_DATASET}
    if not _NAME.match(name):
        raise ManifestCatalogError(
            f"catalog entry '{entry}' ({where}): the data set name {name!r} must be letters, digits and underscores, "
            "starting with a letter (it names the pipelines, the parameter groups <stage>_<name> and data/0*/<name>/)"
        )
    if name in taken:
        raise ManifestCatalogError(
            f"catalog entry '{entry}' ({where}): the data set name {name!r} is taken by a pipeline of the project "
            f"({', '.join(sorted(taken))}); rename the entry (and its parameter groups)"
        )


def project_manifest_datasets() -> list[ManifestDataset]:
    """The manifest data sets of the running session's catalog files (else the project's ``conf`` and
    ``$KEDRO_ENV``), with the run's parameters (``--params`` applied): what the registry builds."""
    catalog, where = file_catalog()
    return manifest_datasets(catalog, run_parameters(), where)
