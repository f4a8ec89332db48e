"""Specimen manifest ingestion: validation (raise / skip), resampling, conversion, images, dataset I/O."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.io import DatasetError

from causal_pima.data.lattice import LatticeConfig, generate_lattice, lattice_raw_tables
from causal_pima.data.specimens import (
    IngestionConfig,
    SpecimenError,
    centre_crop_resize,
    force_displacement_to_stress_strain,
    ingest_specimens,
    prepare_specimens,
)
from causal_pima.datasets.specimen_manifest import SpecimenManifestDataset

IDS = ["S0", "S1", "S2", "S3"]
# A small valid set: 20-point linear curves up to strain 0.5, resampled onto 11 grid points.
PARAMS = {"image_size": 8, "n_grid_points": 11, "max_strain": 0.5, "min_points": 8}


def _curve(strain: np.ndarray, slope: float = 10.0) -> pd.DataFrame:
    return pd.DataFrame({"strain": strain, "stress": slope * strain})


def _write_valid_set(folder: Path) -> SpecimenManifestDataset:
    rng = np.random.default_rng(0)
    data = {
        "manifest": pd.DataFrame({"specimen_id": IDS, "family": [0, 1, 0, 1]}),
        "images": {i: rng.integers(0, 256, size=(10, 12), dtype=np.uint8) for i in IDS},
        "curves": {i: _curve(np.linspace(0.0, 0.5, 20), slope=1.0 + n) for n, i in enumerate(IDS)},
    }
    dataset = SpecimenManifestDataset(path=str(folder))
    dataset.save(data)
    return dataset


def _rewrite_curve(folder: Path, table: pd.DataFrame) -> None:
    table.to_csv(folder / "curves" / "S2.csv", index=False)


def _swap_rows(folder: Path) -> None:
    table = _curve(np.linspace(0.0, 0.5, 20))
    table.iloc[[3, 4]] = table.iloc[[4, 3]].to_numpy()
    _rewrite_curve(folder, table)


def _nan_stress(folder: Path) -> None:
    table = _curve(np.linspace(0.0, 0.5, 20))
    table.loc[5, "stress"] = np.nan
    _rewrite_curve(folder, table)


# (case, corrupt the folder, file named in the error, problem regex). The corrupted specimen is S2.
BAD_INPUTS = [
    (
        "missing image",
        lambda f: (f / "images" / "S2.png").unlink(),
        "images/S2.png",
        r"image: missing file",
    ),
    (
        "missing curve",
        lambda f: (f / "curves" / "S2.csv").unlink(),
        "curves/S2.csv",
        r"curve: missing file",
    ),
    (
        "unreadable image",
        lambda f: (f / "images" / "S2.png").write_bytes(b"this is not a png"),
        "images/S2.png",
        r"image: unreadable file \(UnidentifiedImageError",
    ),
    (
        "unreadable curve",
        lambda f: (f / "curves" / "S2.csv").write_bytes(b""),
        "curves/S2.csv",
        r"curve: unreadable file \(EmptyDataError",
    ),
    (
        "too few points",
        lambda f: _rewrite_curve(f, _curve(np.linspace(0.0, 0.5, 5))),
        "curves/S2.csv",
        r"too few points: 5 < min_points 8",
    ),
    (
        "NaN",
        _nan_stress,
        "curves/S2.csv",
        r"NaN or non-finite stress: 1 value\(s\), first at data row 5",
    ),
    (
        "non-increasing strain (reject)",
        _swap_rows,
        "curves/S2.csv",
        r"strain is not strictly increasing: data rows 3 -> 4",
    ),
    (
        "curve short of max strain",
        lambda f: _rewrite_curve(f, _curve(np.linspace(0.0, 0.4, 20))),
        "curves/S2.csv",
        r"does not reach the grid maximum strain 0\.5: it ends at 0\.4",
    ),
]


@pytest.mark.parametrize(
    ("case", "corrupt", "file", "problem"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_raises_naming_specimen_file_and_problem(tmp_path, case, corrupt, file, problem):
    dataset = _write_valid_set(tmp_path)
    corrupt(tmp_path)
    raw = dataset.load()  # the loader never raises for one bad specimen
    with pytest.raises(SpecimenError, match=rf"^specimen 'S2', file .*{problem}") as error:
        ingest_specimens(raw, {**PARAMS, "on_error": "raise"})
    assert error.value.specimen_id == "S2"
    assert error.value.file == str(tmp_path / file)
    assert isinstance(error.value, ValueError)


@pytest.mark.parametrize(
    ("case", "corrupt", "file", "problem"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_skipped_and_listed(tmp_path, case, corrupt, file, problem):
    dataset = _write_valid_set(tmp_path)
    corrupt(tmp_path)
    specimens, labels, rejected = ingest_specimens(dataset.load(), {**PARAMS, "on_error": "skip"})
    assert specimens["specimen_id"].tolist() == ["S0", "S1", "S3"]
    assert specimens["images"].shape == (3, 1, 8, 8)
    assert specimens["curves"].shape == (3, 11)
    assert labels["specimen_id"].tolist() == ["S0", "S1", "S3"]
    assert labels["family"].tolist() == [0, 1, 1]
    assert list(rejected.columns) == ["specimen_id", "file", "reason"]
    assert rejected["specimen_id"].tolist() == ["S2"]
    assert rejected["file"].tolist() == [str(tmp_path / file)]
    assert pd.Series(rejected["reason"]).str.contains(problem, regex=True).all()
    # the surviving curves are untouched: stress = (1 + n) * strain on the grid 0, 0.05, ..., 0.5
    grid = np.linspace(0.0, 0.5, 11)
    np.testing.assert_allclose(specimens["curves"], np.outer([1.0, 2.0, 4.0], grid), atol=1e-6)


def _duplicate_s1(folder: Path) -> None:
    manifest = pd.read_csv(folder / "specimens.csv")
    manifest.loc[2, "specimen_id"] = "S1"
    manifest.to_csv(folder / "specimens.csv", index=False)


def test_duplicate_ids_raise(tmp_path):
    dataset = _write_valid_set(tmp_path)
    _duplicate_s1(tmp_path)
    with pytest.raises(
        SpecimenError, match=r"^specimen 'S1', file .*specimens\.csv: duplicate specimen_id"
    ):
        ingest_specimens(dataset.load(), PARAMS)  # on_error defaults to raise


def test_duplicate_ids_skip_every_copy(tmp_path):
    dataset = _write_valid_set(tmp_path)
    _duplicate_s1(tmp_path)
    specimens, labels, rejected = ingest_specimens(dataset.load(), {**PARAMS, "on_error": "skip"})
    assert specimens["specimen_id"].tolist() == ["S0", "S3"]
    assert rejected["specimen_id"].tolist() == ["S1", "S1"]
    assert rejected["reason"].str.contains("duplicate specimen_id: it appears 2 times").all()
    assert rejected["file"].tolist() == [str(tmp_path / "specimens.csv")] * 2


@pytest.mark.parametrize("on_error", ["raise", "skip"])
def test_non_increasing_strain_sorted_when_policy_is_sort(tmp_path, on_error):
    dataset = _write_valid_set(tmp_path)
    _swap_rows(tmp_path)
    params = {**PARAMS, "on_error": on_error, "non_increasing_strain": "sort"}
    specimens, _, rejected = ingest_specimens(dataset.load(), params)
    assert specimens["specimen_id"].tolist() == IDS
    assert rejected.empty
    np.testing.assert_allclose(specimens["curves"][2], 10.0 * np.linspace(0.0, 0.5, 11), atol=1e-6)


def test_sort_policy_averages_equal_strains():
    manifest = pd.DataFrame({"specimen_id": ["A"]})
    curve = pd.DataFrame(
        {"strain": [0.0, 0.5, 0.25, 0.25, 1.0], "stress": [0.0, 5.0, 1.0, 3.0, 10.0]}
    )
    config = IngestionConfig(
        image_size=2, n_grid_points=5, max_strain=1.0, min_points=4, non_increasing_strain="sort"
    )
    specimens, _, _ = prepare_specimens(manifest, {"A": np.zeros((2, 2))}, {"A": curve}, config)
    # knots after sorting and merging: (0, 0), (0.25, 2), (0.5, 5), (1, 10)
    np.testing.assert_allclose(specimens["curves"][0], [0.0, 2.0, 5.0, 7.5, 10.0], atol=1e-6)


def test_every_specimen_rejected_raises(tmp_path):
    dataset = _write_valid_set(tmp_path)
    for specimen_id in IDS:
        (tmp_path / "images" / f"{specimen_id}.png").unlink()
    with pytest.raises(SpecimenError, match="no specimen passed validation"):
        ingest_specimens(dataset.load(), {**PARAMS, "on_error": "skip"})


def test_manifest_without_specimen_id_column_raises():
    with pytest.raises(SpecimenError, match="lacks the 'specimen_id' column"):
        prepare_specimens(pd.DataFrame({"id": ["A"]}), {}, {})


def test_invalid_policy_values_raise():
    with pytest.raises(ValueError, match="on_error must be 'raise' or 'skip'"):
        IngestionConfig(on_error="ignore")
    with pytest.raises(ValueError, match="non_increasing_strain must be 'reject' or 'sort'"):
        IngestionConfig(non_increasing_strain="drop")


# ------------------------------------------------------------------------------ resampling


def test_resampling_is_exact_on_a_piecewise_linear_curve():
    # knots (0, 0), (0.1, 5), (0.3, 6), (0.7, 20); grid 0, 0.1, ..., 0.7 hits knots and midpoints
    manifest = pd.DataFrame({"specimen_id": ["A"]})
    curve = pd.DataFrame({"strain": [0.0, 0.1, 0.3, 0.7], "stress": [0.0, 5.0, 6.0, 20.0]})
    config = IngestionConfig(image_size=2, n_grid_points=8, max_strain=0.7, min_points=4)
    specimens, _, _ = prepare_specimens(manifest, {"A": np.zeros((2, 2))}, {"A": curve}, config)
    expected = [0.0, 5.0, 5.5, 6.0, 9.5, 13.0, 16.5, 20.0]
    np.testing.assert_allclose(specimens["curves"][0], expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(specimens["strain_grid"], np.linspace(0.0, 0.7, 8), atol=1e-7)

    # a grid that does not line up with the knots equals np.interp
    config = IngestionConfig(image_size=2, n_grid_points=15, max_strain=0.65, min_points=4)
    specimens, _, _ = prepare_specimens(manifest, {"A": np.zeros((2, 2))}, {"A": curve}, config)
    grid = np.linspace(0.0, 0.65, 15)
    np.testing.assert_allclose(
        specimens["curves"][0], np.interp(grid, curve["strain"], curve["stress"]), rtol=1e-6
    )


def test_curve_starting_above_grid_minimum_is_rejected():
    manifest = pd.DataFrame({"specimen_id": ["A"]})
    curve = pd.DataFrame({"strain": np.linspace(0.01, 0.7, 10), "stress": np.ones(10)})
    config = IngestionConfig(image_size=2, max_strain=0.7)
    with pytest.raises(
        SpecimenError, match="curve starts at strain 0.01, above the grid minimum 0"
    ):
        prepare_specimens(manifest, {"A": np.zeros((2, 2))}, {"A": curve}, config)


# ---------------------------------------------------------------------- force / displacement


def test_force_displacement_conversion_by_hand():
    # L0 = 10 mm, A = 25 mm^2: stress = F / 25 (MPa), strain = delta / 10
    strain, stress = force_displacement_to_stress_strain(
        force=np.array([0.0, 50.0, 100.0, 150.0]),
        displacement=np.array([0.0, 0.1, 0.2, 0.3]),
        gauge_length=10.0,
        cross_section_area=25.0,
    )
    np.testing.assert_allclose(strain, [0.0, 0.01, 0.02, 0.03])
    np.testing.assert_allclose(stress, [0.0, 2.0, 4.0, 6.0])
    with pytest.raises(ValueError, match="gauge length must be a positive number"):
        force_displacement_to_stress_strain(np.ones(2), np.ones(2), 0.0, 1.0)


def test_force_displacement_curves_use_manifest_geometry_then_parameters():
    displacement = np.linspace(0.0, 0.3, 10)  # mm
    force = 200.0 * displacement  # N
    manifest = pd.DataFrame(
        {
            "specimen_id": ["A", "B"],
            "gauge_length": [10.0, np.nan],
            "cross_section_area": [25.0, np.nan],
        }
    )
    curve = pd.DataFrame({"displacement": displacement, "force": force})
    images = {"A": np.zeros((2, 2)), "B": np.zeros((2, 2))}
    config = IngestionConfig(
        image_size=2, n_grid_points=4, max_strain=0.03, gauge_length=5.0, cross_section_area=50.0
    )
    specimens, labels, _ = prepare_specimens(manifest, images, {"A": curve, "B": curve}, config)
    # A: strain = d / 10, stress = 200 d / 25 = 80 strain; B: strain = d / 5, stress = 4 d = 20 strain
    grid = np.linspace(0.0, 0.03, 4)
    np.testing.assert_allclose(specimens["curves"][0], 80.0 * grid, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(specimens["curves"][1], 20.0 * grid, rtol=1e-6, atol=1e-7)
    assert list(labels.columns) == ["specimen_id"]  # geometry columns are not labels

    no_geometry = IngestionConfig(image_size=2, n_grid_points=4, max_strain=0.03)
    with pytest.raises(
        SpecimenError, match="specimen 'B'.*needs the gauge length and cross-section"
    ):
        prepare_specimens(manifest, images, {"A": curve, "B": curve}, no_geometry)


# ---------------------------------------------------------------------------------- images


def test_centre_crop_of_a_3x5_image():
    image = np.arange(15, dtype=np.uint8).reshape(3, 5)
    out = centre_crop_resize(image, size=3)
    assert out.shape == (1, 3, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], np.array([[1, 2, 3], [6, 7, 8], [11, 12, 13]]) / 255.0)


def test_centre_crop_then_area_resize_of_a_6x4_image():
    image = np.arange(24, dtype=np.float64).reshape(6, 4) / 23.0  # rows 1..4 are the centre square
    out = centre_crop_resize(image, size=2)
    square = image[1:5]
    expected = square.reshape(2, 2, 2, 2).mean(axis=(1, 3))  # 2x2 block means
    np.testing.assert_allclose(out[0], expected, atol=1e-6)


def test_rgb_to_gray_and_gray_to_rgb():
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 255, 0, 255
    np.testing.assert_allclose(
        centre_crop_resize(rgb, 2, channels=1), np.full((1, 2, 2), 0.413), atol=1e-6
    )
    gray = np.full((2, 2), 0.25)
    np.testing.assert_allclose(centre_crop_resize(gray, 2, channels=3), np.full((3, 2, 2), 0.25))
    with pytest.raises(ValueError, match="float image values outside"):
        centre_crop_resize(np.full((2, 2), 1.5), 2)


# ------------------------------------------------------------------------------ dataset I/O


def _round_trip_data(rng: np.random.Generator) -> dict:
    return {
        "manifest": pd.DataFrame({"specimen_id": ["a", "b/c"], "label": [1, 0]}),
        "images": {
            "a": rng.random((5, 7)).astype(np.float32),
            "b/c": rng.random((6, 4, 3)).astype(np.float32),
        },
        "curves": {
            "a": pd.DataFrame({"strain": rng.random(9), "stress": rng.random(9) * 1e3}),
            "b/c": pd.DataFrame({"strain": rng.random(4), "stress": rng.random(4) / 3}),
        },
    }


def test_dataset_round_trip_npy_is_exact(tmp_path):
    data = _round_trip_data(np.random.default_rng(1))
    dataset = SpecimenManifestDataset(path=str(tmp_path / "raw"), image_format="npy")
    assert not dataset.exists()
    dataset.save(data)
    assert dataset.exists()
    loaded = dataset.load()
    assert loaded["folder"] == str(tmp_path / "raw")
    assert loaded["manifest"]["specimen_id"].tolist() == ["a", "b/c"]
    assert loaded["manifest"]["label"].tolist() == [1, 0]
    assert loaded["manifest"]["image"].tolist() == ["images/a.npy", "images/b_c.npy"]
    for specimen_id in ("a", "b/c"):
        np.testing.assert_array_equal(loaded["images"][specimen_id], data["images"][specimen_id])
        assert loaded["images"][specimen_id].dtype == np.float32
        pd.testing.assert_frame_equal(loaded["curves"][specimen_id], data["curves"][specimen_id])


def test_the_dataset_reads_and_writes_the_file_columns_the_specs_name(tmp_path, monkeypatch):
    """The file columns come from ``ModalitySpec.manifest_column`` / ``file_format`` (issue 21): a new
    file-backed modality (here a spectrum CSV) is written and read without touching the dataset."""
    from dataclasses import replace

    from causal_pima.core.modality_spec import CURVE_SPEC, file_specs
    from causal_pima.datasets import specimen_manifest

    assert {m: (s.manifest_column, s.file_format, s.array_key) for m, s in file_specs().items()} == {
        "image": ("image", "image", "images"), "curve": ("curve", "table", "curves")}
    spectrum = replace(CURVE_SPEC, name="spectrum", array_key="spectra", manifest_column="spectrum")
    monkeypatch.setattr(specimen_manifest, "file_specs", lambda: {**file_specs(), "spectrum": spectrum})
    data = _round_trip_data(np.random.default_rng(1))
    data["spectra"] = {i: pd.DataFrame({"wavelength": [400.0, 500.0], "intensity": [n, 2.0 * n]}) for n, i in enumerate(["a", "b/c"])}
    dataset = SpecimenManifestDataset(path=str(tmp_path), image_format="npy")
    dataset.save(data)
    written = pd.read_csv(tmp_path / "specimens.csv")
    assert list(written.columns) == ["specimen_id", "image", "curve", "spectrum", "label"]
    assert written["spectrum"].tolist() == ["spectra/a.csv", "spectra/b_c.csv"]
    loaded = dataset.load()
    for specimen_id in ("a", "b/c"):
        pd.testing.assert_frame_equal(loaded["spectra"][specimen_id], data["spectra"][specimen_id])
        np.testing.assert_array_equal(loaded["images"][specimen_id], data["images"][specimen_id])
    with pytest.raises(DatasetError, match=r"save\(\) needs a dict with keys \['manifest', 'images', 'curves', 'spectra'\]"):
        dataset.save({k: v for k, v in data.items() if k != "spectra"})


def test_dataset_round_trip_png_within_quantisation(tmp_path):
    data = _round_trip_data(np.random.default_rng(2))
    dataset = SpecimenManifestDataset(path=str(tmp_path))
    dataset.save(data)
    loaded = dataset.load()
    for specimen_id in ("a", "b/c"):
        image = loaded["images"][specimen_id]
        assert image.dtype == np.uint8 and image.shape == data["images"][specimen_id].shape
        error = np.abs(image / 255.0 - data["images"][specimen_id])
        assert error.max() <= 0.5 / 255.0 + 1e-6


def test_dataset_round_trip_tiff_float_gray_is_exact(tmp_path):
    image = np.random.default_rng(3).random((5, 6)).astype(np.float32)
    data = {
        "manifest": pd.DataFrame({"specimen_id": ["t"]}),
        "images": {"t": image},
        "curves": {"t": _curve(np.linspace(0, 1, 3))},
    }
    dataset = SpecimenManifestDataset(path=str(tmp_path), image_format="tiff")
    dataset.save(data)
    np.testing.assert_array_equal(dataset.load()["images"]["t"], image)


def test_deleted_image_is_reported_not_raised(tmp_path):
    dataset = SpecimenManifestDataset(path=str(tmp_path))
    dataset.save(_round_trip_data(np.random.default_rng(4)))
    (tmp_path / "images" / "a.png").unlink()
    loaded = dataset.load()
    assert isinstance(loaded["images"]["a"], str)
    assert loaded["images"]["a"].startswith("missing file")
    assert isinstance(loaded["images"]["b/c"], np.ndarray)
    assert isinstance(loaded["curves"]["a"], pd.DataFrame)


def test_manifest_is_written_last(tmp_path, monkeypatch):
    """A save that dies while writing files leaves no manifest (so nothing points at missing files)."""
    dataset = SpecimenManifestDataset(path=str(tmp_path))
    data = _round_trip_data(np.random.default_rng(5))
    calls = []

    def failing_to_csv(self, path, **kwargs):
        calls.append(path)
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", failing_to_csv)
    with pytest.raises(Exception, match="disk full"):
        dataset.save(data)
    assert not (tmp_path / "specimens.csv").exists()
    assert not list(tmp_path.glob(".specimens.csv*"))
    assert dataset._describe() == {
        "path": str(tmp_path),
        "manifest": "specimens.csv",
        "image_format": "png",
        "checksums": False,
    }


def test_lattice_raw_set_survives_save_load_ingest(tmp_path):
    """The stand-in in force/displacement form ingests to the same curves as in strain/stress form."""
    features = pd.DataFrame({"family": [0, 1, 1], "thickness": [1, 0, 1], "defect": [0, 1, 0]})
    specimens = generate_lattice(features, np.random.default_rng(6), LatticeConfig(image_height=40))
    params = {"image_size": 32, "max_strain": 0.7}
    results = []
    for curve_format in ("stress_strain", "force_displacement"):
        dataset = SpecimenManifestDataset(path=str(tmp_path / curve_format))
        dataset.save(lattice_raw_tables(specimens, curve_format=curve_format))
        results.append(ingest_specimens(dataset.load(), params))
    (a, labels_a, rejected_a), (b, _, rejected_b) = results
    assert rejected_a.empty and rejected_b.empty
    assert a["images"].shape == (3, 1, 32, 32) and a["curves"].shape == (3, 64)
    np.testing.assert_allclose(a["curves"], b["curves"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(a["images"], b["images"])
    assert (
        labels_a[["family", "thickness", "defect"]].to_numpy().tolist()
        == features.to_numpy().tolist()
    )


FORMULAS = ["=HYPERLINK(\"http://x\",\"y\")", "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3"]


def _formula_ids(folder: Path) -> SpecimenManifestDataset:
    rng = np.random.default_rng(0)
    ids = [*FORMULAS, "-7", "S5"]  # -7: a plain number, harmless
    dataset = SpecimenManifestDataset(path=str(folder))
    dataset.save({"manifest": pd.DataFrame({"specimen_id": ids, "family": [0, 1, 0, 1, 0, 1]}),
                  "images": {i: rng.integers(0, 256, size=(10, 12), dtype=np.uint8) for i in ids},
                  "curves": {i: _curve(np.linspace(0.0, 0.5, 20)) for i in ids}})
    return dataset


def test_ids_a_spreadsheet_would_run_are_refused_and_reported_escaped(tmp_path):
    """Issue 24, item 8: ids starting with = + - @ never reach features.csv; with on_error: skip they
    are listed in rejected.csv with a leading apostrophe (shown as text), with raise the run stops."""
    dataset = _formula_ids(tmp_path)
    specimens, labels, rejected = ingest_specimens(dataset.load(), {**PARAMS, "on_error": "skip"})
    assert specimens["specimen_id"].tolist() == ["-7", "S5"] and labels["specimen_id"].tolist() == ["-7", "S5"]
    assert rejected["specimen_id"].tolist() == ["'" + f for f in FORMULAS]
    assert rejected["reason"].str.contains("spreadsheet programs run such a cell as a formula").all()
    written = tmp_path / "rejected.csv"
    rejected.to_csv(written, index=False)
    cells = pd.read_csv(written, dtype=str)["specimen_id"]
    assert not cells.str.match(r"^[=+\-@]").any()
    with pytest.raises(SpecimenError, match=r"^specimen '=HYPERLINK.*specimen_id starts with '=': spreadsheet"):
        ingest_specimens(dataset.load(), PARAMS)
