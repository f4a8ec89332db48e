"""The scalar modality's data side: the circles generator's scalars, a manifest's scalar column group,
and their standardisation in processing (issue 21, item 1)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causal_pima.data.circles import SCALAR_NAMES, CirclesRenderConfig, render_scalars
from causal_pima.data.circles_set import render_specimens
from causal_pima.data.processing import (
    SpecimenValidationError,
    build_model_input,
    fit_curve_scaler,
    split_specimens,
    standardise_tabular,
    validate_specimens,
)
from causal_pima.data.specimens import (
    IngestionConfig,
    SpecimenError,
    ingest_specimens,
    raw_specimen_set,
)
from causal_pima.datasets.specimen_manifest import SpecimenManifestDataset

IDS = ["S0", "S1", "S2", "S3"]
PARAMS = {"image_size": 8, "n_grid_points": 11, "max_strain": 0.5, "min_points": 8}


def test_circles_scalars_have_the_specified_means_by_feature_and_their_own_random_stream():
    n = 8000
    rng = np.random.default_rng(0)
    features = pd.DataFrame({"radius": rng.integers(0, 2, n), "hue": rng.integers(0, 2, n), "shift": rng.integers(0, 2, n)})
    config = CirclesRenderConfig(scalars=True, scalar_noise=0.05, density_step=0.5, scalar_missing=0.25)
    scalars = render_scalars(features, np.random.default_rng(1), config)
    assert SCALAR_NAMES == ("mass", "density") and scalars.shape == (n, 2) and scalars.dtype == np.float32
    missing = np.isnan(scalars).any(axis=1)
    assert np.isnan(scalars[missing]).all() and missing.mean() == pytest.approx(0.25, abs=0.015)
    kept, values = features[~missing], scalars[~missing]
    # mass = 1 + radius, density = 1 + 0.5 hue, noise std 0.05 (standard error of each mean < 0.002)
    for column, feature, means in ((0, "radius", (1.0, 2.0)), (1, "hue", (1.0, 1.5))):
        for value, mean in zip((0, 1), means, strict=True):
            assert values[kept[feature].to_numpy() == value, column].mean() == pytest.approx(mean, abs=0.006)
    assert values[:, 0].std() == pytest.approx(np.sqrt(0.25 + 0.05**2), abs=0.01)  # radius split about half/half
    # shift does not act on the scalars
    assert abs(values[kept["shift"].to_numpy() == 1, 0].mean() - values[kept["shift"].to_numpy() == 0, 0].mean()) < 0.05

    params = {"seed": 3, "render": {"image_size": 8, "n_wavelengths": 16}}
    small = features.head(20).assign(specimen_id=np.arange(20))
    off = render_specimens(small, params)
    on = render_specimens(small, {**params, "render": {**params["render"], "scalars": True}})
    assert "scalars" not in off and on["scalars"].shape == (20, 2)
    assert np.array_equal(off["images"], on["images"]) and np.array_equal(off["curves"], on["curves"])


def _write_manifest(folder: Path, density: list, mass: list) -> SpecimenManifestDataset:
    rng = np.random.default_rng(0)
    data = {
        "manifest": pd.DataFrame({"specimen_id": IDS, "family": [0, 1, 0, 1], "density": density, "mass": mass}),
        "images": {i: rng.integers(0, 256, size=(10, 12), dtype=np.uint8) for i in IDS},
        "curves": {i: pd.DataFrame({"strain": np.linspace(0, 0.5, 20), "stress": (1.0 + n) * np.linspace(0, 0.5, 20)})
                   for n, i in enumerate(IDS)},
    }
    dataset = SpecimenManifestDataset(path=str(folder))
    dataset.save(data)
    return dataset


def test_a_manifest_scalar_column_group_is_ingested_with_empty_cells_as_missing(tmp_path):
    dataset = _write_manifest(tmp_path, [1.5, 2.5, None, 4.0], [10.0, 20.0, 30.0, 40.0])
    params = {**PARAMS, "column_groups": {"scalar": ["density", "mass"]}}
    raw, labels, rejected = raw_specimen_set(dataset.load(), params)
    assert rejected.empty and list(labels.columns) == ["specimen_id", "family"]  # the group's columns are no labels
    assert raw["scalars"].dtype == np.float32 and raw["scalars"].shape == (4, 2)
    np.testing.assert_array_equal(raw["scalars"][[0, 1, 3]], [[1.5, 10.0], [2.5, 20.0], [4.0, 40.0]])
    assert np.isnan(raw["scalars"][2, 0]) and raw["scalars"][2, 1] == 30.0  # S2 misses its density


def test_a_non_numeric_scalar_is_refused_naming_the_specimen_and_column(tmp_path):
    dataset = _write_manifest(tmp_path, [1.5, "heavy", 3.0, 4.0], [10.0, 20.0, 30.0, 40.0])
    params = {**PARAMS, "column_groups": {"scalar": ["density", "mass"]}}
    with pytest.raises(SpecimenError, match=r"specimen 'S1', file .*specimens.csv: column 'density' \(scalar values\) is "
                                            r"'heavy', expected a number \(empty: scalar missing\)"):
        ingest_specimens(dataset.load(), params)
    rejected = ingest_specimens(dataset.load(), {**params, "on_error": "skip"})[2]
    assert rejected["specimen_id"].tolist() == ["S1"]
    with pytest.raises(SpecimenError, match=r"column_groups.scalar names column\(s\) \['volume'\] not in the manifest"):
        ingest_specimens(dataset.load(), {**PARAMS, "column_groups": {"scalar": ["volume"]}})
    with pytest.raises(ValueError, match=r"column_groups names 'image', not a tabular modality \(those: \['scalar'\]\)"):
        IngestionConfig(column_groups={"image": ["density"]})


def test_processing_standardises_scalars_with_the_training_statistics_and_keeps_missing_rows():
    values = np.array([[1.0], [3.0], [np.nan], [5.0], [7.0]])
    standardised, mean, std = standardise_tabular(values, np.array([0, 1, 2]), "scalars")
    assert mean.tolist() == [2.0] and std.tolist() == [1.0]  # training rows 0, 1 (row 2 is missing)
    np.testing.assert_array_equal(standardised[[0, 1, 3, 4], 0], [-1.0, 1.0, 3.0, 5.0])
    assert np.isnan(standardised[2, 0])
    with pytest.raises(SpecimenValidationError, match="scalars: column 0 is constant on the training split"):
        standardise_tabular(np.ones((4, 1)), np.arange(4), "scalars")

    n = 20
    rng = np.random.default_rng(0)
    raw = {"images": rng.random((n, 1, 4, 4)).astype(np.float32), "curves": rng.random((n, 8)).astype(np.float32),
           "grid": np.linspace(0, 1, 8).astype(np.float32), "scalars": rng.normal(5.0, 2.0, (n, 2)).astype(np.float32)}
    raw["scalars"][3] = np.nan
    labels = pd.DataFrame({"specimen_id": np.arange(n).astype(str), "a": rng.integers(0, 2, n)})
    params = {"curve_transform": "linear"}
    report = validate_specimens(raw, labels, params)
    assert report["tabular"] == {"scalars": {"columns": 2, "missing": 1}}
    split = split_specimens(report, params)
    train, val, test = build_model_input(raw, labels, split, fit_curve_scaler(raw, split, params), report)
    stacked = np.concatenate([train["scalars"], val["scalars"], test["scalars"]])
    assert np.isnan(stacked).any(axis=1).sum() == 1
    kept = train["scalars"][~np.isnan(train["scalars"]).any(axis=1)]
    np.testing.assert_allclose(kept.mean(0), 0.0, atol=1e-6)
    np.testing.assert_allclose(kept.std(0), 1.0, atol=1e-6)
    np.testing.assert_allclose(train["scalars_mean"], raw["scalars"][train["index"]][~np.isnan(raw["scalars"][train["index"]]).any(1)].mean(0), rtol=1e-5)
    raw["scalars"][5, 1] = np.inf
    with pytest.raises(SpecimenValidationError, match="specimen 5: scalars has inf values"):
        validate_specimens(raw, labels, params)
