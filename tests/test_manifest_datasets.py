"""Manifest data sets found from the catalog's ``<name>.raw_manifest`` entries (issue 23, item 5)."""

from __future__ import annotations

import shutil

import pytest

from causal_pima.manifest_datasets import (
    MANIFEST_TYPE,
    ManifestCatalogError,
    ManifestDataset,
    manifest_datasets,
)
from causal_pima.session_parameters import file_catalog, file_parameters
from tests.conftest import ROOT

MINE = {"type": MANIFEST_TYPE, "path": "data/01_raw/mine", "manifest": "specimens.csv"}


def test_only_raw_manifest_entries_of_the_manifest_type_are_data_sets_with_the_curve_decoder_of_their_model_group():
    catalog = {
        "mine.raw_manifest": MINE,
        "yours.raw_manifest": {**MINE, "type": "causal_pima.datasets.specimen_manifest.SpecimenManifestDataset", "path": "elsewhere"},
        "{dataset}.raw_manifest": MINE,                                  # a factory pattern, not a data set
        "table.raw_manifest": {"type": "pandas.CSVDataset", "filepath": "x.csv"},  # another type
        "mine.features": {"type": "pandas.CSVDataset", "filepath": "f.csv"},
    }
    parameters = {"model_mine": {"curve_decoder": "physics"}, "model_yours": {"curve_decoder": "neural"}}
    found = manifest_datasets(catalog, parameters)
    assert found == [ManifestDataset("mine", "data/01_raw/mine", "physics"), ManifestDataset("yours", "elsewhere", "neural")]
    assert [d.physics for d in found] == [True, False]
    assert manifest_datasets({"mine.raw_manifest": MINE}, {}) == [ManifestDataset("mine", "data/01_raw/mine", "neural")]  # no model_mine


@pytest.mark.parametrize(("entry", "problem"), [
    ("my-data.raw_manifest", r"the data set name 'my-data' must be letters, digits and underscores"),
    ("circles.raw_manifest", r"the data set name 'circles' is taken by a pipeline of the project"),
    ("evaluation.raw_manifest", r"the data set name 'evaluation' is taken"),
])
def test_an_entry_whose_name_cannot_be_a_data_set_is_refused_naming_it(entry, problem):
    with pytest.raises(ManifestCatalogError, match=rf"catalog entry '{entry}' \(conf/x\): {problem}"):
        manifest_datasets({entry: MINE}, {}, "conf/x")


def test_an_entry_whose_type_cannot_be_loaded_is_refused_naming_it():
    with pytest.raises(ManifestCatalogError, match=r"catalog entry 'mine.raw_manifest' \(the catalog\): its type 'nowhere.Missing' cannot be loaded"):
        manifest_datasets({"mine.raw_manifest": {**MINE, "type": "nowhere.Missing"}}, {})


def test_the_project_declares_the_lattice_with_the_physics_expert_and_an_environment_can_add_a_data_set(tmp_path):
    conf = ROOT / "conf"
    found = manifest_datasets(file_catalog(conf, "base")[0], file_parameters(conf, "base")[0])
    assert found == [ManifestDataset("lattice", "data/01_raw/lattice", "physics")]
    # a data set in one environment only: a copy of conf/base with conf/mine/catalog.yml
    shutil.copytree(conf / "base", tmp_path / "base")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "catalog.yml").write_text("mine.raw_manifest:\n  type: " + MANIFEST_TYPE + "\n  path: data/01_raw/mine\n")
    names = {env: [d.name for d in manifest_datasets(*_catalog_and_parameters(tmp_path, env))] for env in ("base", "mine")}
    assert names == {"base": ["lattice"], "mine": ["lattice", "mine"]}


def _catalog_and_parameters(conf, env):
    catalog, where = file_catalog(conf, env)
    return catalog, file_parameters(conf, env)[0], where
