"""Specimens not measured in a modality (issue 21): an EMPTY image or curve path cell in the manifest keeps
the specimen with a NaN row for that modality (fused from its others), a path naming a missing file stays an
error, a specimen with no modality at all is rejected, and processing's statistics use the measured rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causal_pima.data.processing import (
    SpecimenValidationError,
    build_model_input,
    fit_curve_scaler,
    validate_specimens,
)
from causal_pima.data.specimens import SpecimenError, ingest_specimens, raw_specimen_set
from causal_pima.datasets.specimen_manifest import SpecimenManifestDataset

IDS = ["S0", "S1", "S2", "S3", "S4"]
PARAMS = {"image_size": 8, "n_grid_points": 11, "max_strain": 0.5, "min_points": 8, "label_columns": ["family"]}
GRID = np.linspace(0.0, 0.5, 11)


def _write(folder: Path, **cells) -> SpecimenManifestDataset:
    """Five specimens (stress = (1 + n) strain); ``cells`` = ``{"image": {id: text}, "curve": {...}}`` rewrites
    those path cells of the manifest (the files stay on disk)."""
    rng = np.random.default_rng(0)
    dataset = SpecimenManifestDataset(path=str(folder))
    dataset.save({
        "manifest": pd.DataFrame({"specimen_id": IDS, "family": [0, 1, 0, 1, 1], "density": [1.0, 2.0, 3.0, None, 5.0]}),
        "images": {i: rng.integers(0, 256, size=(10, 12), dtype=np.uint8) for i in IDS},
        "curves": {i: pd.DataFrame({"strain": np.linspace(0, 0.5, 20), "stress": (1.0 + n) * np.linspace(0, 0.5, 20)})
                   for n, i in enumerate(IDS)},
    })
    manifest = pd.read_csv(folder / "specimens.csv", dtype=str, keep_default_na=False)
    for column, rows in cells.items():
        for specimen_id, text in rows.items():
            manifest.loc[manifest["specimen_id"] == specimen_id, column] = text
    manifest.to_csv(folder / "specimens.csv", index=False)
    return dataset


def test_empty_image_and_curve_cells_keep_the_specimens_with_nan_rows(tmp_path, caplog):
    complete = raw_specimen_set(_write(tmp_path / "all").load(), PARAMS)[0]
    caplog.set_level("INFO")
    raw, labels, rejected = raw_specimen_set(_write(tmp_path / "gaps", image={"S1": ""}, curve={"S2": "  "}).load(), PARAMS)
    assert rejected.empty and raw["specimen_id"].tolist() == labels["specimen_id"].tolist() == IDS
    assert raw["images"].shape == (5, 1, 8, 8) and raw["curves"].shape == (5, 11)
    assert np.isnan(raw["images"][1]).all() and np.isnan(raw["curves"][2]).all()
    # every measured row is what the complete manifest gives
    np.testing.assert_array_equal(raw["images"][[0, 2, 3, 4]], complete["images"][[0, 2, 3, 4]])
    np.testing.assert_array_equal(raw["curves"][[0, 1, 3, 4]], complete["curves"][[0, 1, 3, 4]])
    np.testing.assert_allclose(raw["curves"][1], 2.0 * GRID, atol=1e-6)
    assert "specimens not measured (empty path cells; kept, fused from their other modalities): 1 without image, " \
           "1 without curve" in caplog.text

    # processing: the report counts them; the curve scale uses the measured training curves only
    report = validate_specimens(raw, labels, {})
    assert report["not_measured"] == {"image": 1, "curve": 1} and "not_measured" not in validate_specimens(complete, labels, {})
    split = pd.DataFrame({"specimen_index": np.arange(5), "split": ["train", "train", "train", "val", "test"]})
    scaler = fit_curve_scaler(raw, split, {"curve_transform": "linear"})
    assert scaler["n_train"] == 2  # S0 and S1; S2 has no curve
    np.testing.assert_allclose(scaler["mean"], 1.5 * GRID, atol=1e-6)  # the mean of 1 x and 2 x strain
    train, _, _ = build_model_input(raw, labels, split, scaler, report)
    assert np.isnan(train["images"][1]).all() and np.isnan(train["curves"][2]).all()
    assert np.isfinite(train["curves"][[0, 1]]).all() and np.isfinite(train["images"][[0, 2]]).all()


def test_a_path_naming_a_missing_file_is_still_rejected_naming_the_specimen_and_file(tmp_path):
    dataset = _write(tmp_path, image={"S1": ""}, curve={"S3": "curves/S3_typo.csv"})
    with pytest.raises(SpecimenError, match=r"^specimen 'S3', file .*curves/S3_typo.csv: curve: missing file"):
        ingest_specimens(dataset.load(), PARAMS)
    specimens, _, rejected = ingest_specimens(dataset.load(), {**PARAMS, "on_error": "skip"})
    assert specimens["specimen_id"].tolist() == ["S0", "S1", "S2", "S4"] and np.isnan(specimens["images"][1]).all()
    assert rejected["specimen_id"].tolist() == ["S3"] and rejected["file"].tolist() == [str(tmp_path / "curves/S3_typo.csv")]


def test_a_specimen_with_no_modality_is_rejected_naming_it(tmp_path):
    dataset = _write(tmp_path, image={"S3": "", "S4": ""}, curve={"S3": "", "S4": ""})
    with pytest.raises(SpecimenError, match=r"^specimen 'S3', file .*specimens.csv: no modality measured: the image and "
                                            r"curve path cells are empty$"):
        ingest_specimens(dataset.load(), PARAMS)
    specimens, _, rejected = ingest_specimens(dataset.load(), {**PARAMS, "on_error": "skip"})
    assert specimens["specimen_id"].tolist() == ["S0", "S1", "S2"] and rejected["specimen_id"].tolist() == ["S3", "S4"]
    # with a scalar column group, S4 (density 5) is measured that way and kept; S3 (no density) is not
    grouped = {**PARAMS, "on_error": "skip", "column_groups": {"scalar": ["density"]}}
    specimens, _, rejected = ingest_specimens(dataset.load(), grouped)
    assert specimens["specimen_id"].tolist() == ["S0", "S1", "S2", "S4"] and rejected["specimen_id"].tolist() == ["S3"]
    assert rejected["reason"].tolist() == ["no modality measured: the image and curve path cells are empty and no values "
                                           "in the column groups ['scalar']"]
    assert np.isnan(specimens["images"][3]).all() and np.isnan(specimens["curves"][3]).all()
    assert specimens["scalars"][3].tolist() == [5.0]
    # processing refuses a set holding such a specimen (one not from ingestion)
    raw = raw_specimen_set(dataset.load(), {**PARAMS, "on_error": "skip"})[0]
    raw["images"][0], raw["curves"][0] = np.nan, np.nan
    with pytest.raises(SpecimenValidationError, match=r"^specimen 0: no modality measured"):
        validate_specimens(raw, None, {})
