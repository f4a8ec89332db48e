"""Ingestion refuses what it must not pass on: paths outside the data folder, non-finite or
float32-overflowing values, labels other than 0/1, images above the pixel limit; it strips header
spaces, reduces large images while reading them, and processing refuses splits that would be empty."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from causal_pima.data.specimens import SpecimenError, centre_crop_resize, ingest_specimens
from causal_pima.datasets.specimen_manifest import SpecimenManifestDataset, read_image
from causal_pima.pipelines.data_processing.nodes import SpecimenValidationError, split_specimens

IDS = ["S0", "S1", "S2", "S3"]
PARAMS = {"image_size": 8, "n_grid_points": 11, "max_strain": 0.5, "min_points": 8}


def _curve(slope: float = 1.0) -> pd.DataFrame:
    strain = np.linspace(0.0, 0.5, 20)
    return pd.DataFrame({"strain": strain, "stress": slope * strain})


def _write_set(folder: Path) -> SpecimenManifestDataset:
    rng = np.random.default_rng(0)
    dataset = SpecimenManifestDataset(path=str(folder))
    dataset.save(
        {
            "manifest": pd.DataFrame({"specimen_id": IDS, "family": [0, 1, 0, 1]}),
            "images": {i: rng.integers(0, 256, size=(10, 12), dtype=np.uint8) for i in IDS},
            "curves": {i: _curve(1.0 + n) for n, i in enumerate(IDS)},
        }
    )
    return dataset


def _set_manifest(folder: Path, row: int, column: str, value: object) -> None:
    manifest = pd.read_csv(folder / "specimens.csv", dtype={"specimen_id": str, "family": object})
    manifest.loc[row, column] = value
    manifest.to_csv(folder / "specimens.csv", index=False)


@pytest.fixture
def layout(tmp_path) -> tuple[Path, Path]:
    """``raw/`` (the manifest folder, 4 valid specimens) and ``outside/secret.csv``, a valid curve."""
    raw, outside = tmp_path / "raw", tmp_path / "outside"
    _write_set(raw)
    outside.mkdir()
    _curve(99.0).to_csv(outside / "secret.csv", index=False)
    return raw, outside


# ---------------------------------------------------------------- item 4: paths stay inside the data folder


def _escape_relative(raw: Path, outside: Path) -> str:
    _set_manifest(raw, 2, "curve", "../outside/secret.csv")
    return "path '../outside/secret.csv' resolves to"


def _escape_absolute(raw: Path, outside: Path) -> str:
    _set_manifest(raw, 2, "curve", str(outside / "secret.csv"))
    return f"absolute path '{outside / 'secret.csv'}' resolves to"


def _escape_symlink(raw: Path, outside: Path) -> str:
    (raw / "curves" / "S2.csv").unlink()
    os.symlink(outside / "secret.csv", raw / "curves" / "S2.csv")
    return f"'curves/S2.csv' is a symbolic link to {outside.resolve() / 'secret.csv'}"


def _escape_symlinked_folder(raw: Path, outside: Path) -> str:
    os.symlink(outside, raw / "more")
    _set_manifest(raw, 2, "curve", "more/secret.csv")
    return f"'more/secret.csv' is a symbolic link to {outside.resolve() / 'secret.csv'}"


ESCAPES = {
    "dot-dot": _escape_relative,
    "absolute": _escape_absolute,
    "symlink": _escape_symlink,
    "symlinked folder": _escape_symlinked_folder,
}


@pytest.mark.parametrize("escape", list(ESCAPES))
def test_curve_outside_the_folder_is_refused_in_raise_mode(layout, escape):
    raw, outside = layout
    detail = ESCAPES[escape](raw, outside)
    with pytest.raises(SpecimenError) as info:
        ingest_specimens(SpecimenManifestDataset(str(raw)).load(), {**PARAMS, "on_error": "raise"})
    message = str(info.value)
    assert info.value.specimen_id == "S2"
    assert message.startswith("specimen 'S2', file ")
    assert "curve: outside the data folder: " in message and detail in message
    assert f"outside {raw}" in message or f"outside {raw.resolve()}" in message


@pytest.mark.parametrize("escape", list(ESCAPES))
def test_curve_outside_the_folder_is_listed_in_skip_mode(layout, escape):
    raw, outside = layout
    detail = ESCAPES[escape](raw, outside)
    specimens, labels, rejected = ingest_specimens(
        SpecimenManifestDataset(str(raw)).load(), {**PARAMS, "on_error": "skip"}
    )
    assert specimens["specimen_id"].tolist() == ["S0", "S1", "S3"]
    assert rejected["specimen_id"].tolist() == ["S2"]
    assert rejected["reason"].iloc[0].startswith("curve: outside the data folder: ")
    assert detail in rejected["reason"].iloc[0]
    # the outside file was never read: its stress (99 x strain) is nowhere in the result
    assert specimens["curves"].max() <= 4.0 * 0.5 + 1e-6


def test_image_path_to_a_system_file_is_refused_not_opened(layout):
    raw, _ = layout
    _set_manifest(raw, 1, "image", "../../../../../../../../etc/passwd")
    loaded = SpecimenManifestDataset(str(raw)).load()
    assert loaded["images"]["S1"].startswith("outside the data folder: path '../../../../")
    with pytest.raises(
        SpecimenError,
        match=r"^specimen 'S1', file .*: image: outside the data folder: .*resolves to /etc/passwd",
    ):
        ingest_specimens(loaded, {**PARAMS, "on_error": "raise"})


def test_links_and_absolute_paths_inside_the_folder_are_followed(layout):
    raw, _ = layout
    (raw / "curves" / "S2.csv").rename(raw / "curves" / "S2_real.csv")
    os.symlink(
        raw / "curves" / "S2_real.csv", raw / "curves" / "S2.csv"
    )  # a link inside the folder
    _set_manifest(raw, 3, "curve", str(raw / "curves" / "S3.csv"))  # absolute, inside the folder
    specimens, _, rejected = ingest_specimens(SpecimenManifestDataset(str(raw)).load(), PARAMS)
    assert rejected.empty
    np.testing.assert_allclose(
        specimens["curves"][2:], np.outer([3.0, 4.0], np.linspace(0, 0.5, 11)), atol=1e-6
    )


def test_data_root_widens_the_allowed_folder(layout):
    raw, outside = layout
    _set_manifest(raw, 2, "curve", "../outside/secret.csv")
    confined = ingest_specimens(
        SpecimenManifestDataset(str(raw)).load(), {**PARAMS, "on_error": "skip"}
    )
    assert confined[2]["specimen_id"].tolist() == ["S2"]
    widened = SpecimenManifestDataset(str(raw), data_root=str(raw.parent)).load()
    specimens, _, rejected = ingest_specimens(widened, PARAMS)
    assert rejected.empty
    np.testing.assert_allclose(specimens["curves"][2], 99.0 * np.linspace(0, 0.5, 11), atol=1e-5)


# ---------------------------------------------------------------- item 5: every value checked


def _rewrite_s2_curve(raw: Path, value: str, row: int = 3) -> None:
    lines = (raw / "curves" / "S2.csv").read_text().splitlines()
    strain = lines[row + 1].split(",")[0]
    lines[row + 1] = f"{strain},{value}"
    (raw / "curves" / "S2.csv").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (
            "1e308",
            "bad curve: stress overflows float32: 1 value(s) beyond 3.4e+38, first at data row 3 (column 'stress', value 1e+308)",
        ),
        (
            "-5e40",
            "bad curve: stress overflows float32: 1 value(s) beyond 3.4e+38, first at data row 3 (column 'stress', value -5e+40)",
        ),
        (
            "1e309",
            "bad curve: NaN or non-finite stress: 1 value(s), first at data row 3 (column 'stress', value inf)",
        ),
        (
            "inf",
            "bad curve: NaN or non-finite stress: 1 value(s), first at data row 3 (column 'stress', value inf)",
        ),
    ],
)
def test_overflowing_and_infinite_stresses_are_rejected_at_ingestion(layout, value, problem):
    raw, _ = layout
    _rewrite_s2_curve(raw, value)
    with pytest.raises(SpecimenError) as info:
        ingest_specimens(SpecimenManifestDataset(str(raw)).load(), PARAMS)
    assert str(info.value) == f"specimen 'S2', file {raw / 'curves' / 'S2.csv'}: {problem}"
    specimens, _, rejected = ingest_specimens(
        SpecimenManifestDataset(str(raw)).load(), {**PARAMS, "on_error": "skip"}
    )
    assert rejected.to_dict("records") == [
        {"specimen_id": "S2", "file": str(raw / "curves" / "S2.csv"), "reason": problem}
    ]
    assert np.isfinite(specimens["curves"]).all() and specimens["curves"].dtype == np.float32


@pytest.mark.parametrize(
    ("value", "shown"), [(2, "2"), ("yes", "'yes'"), ("", "missing (empty)"), ("0.5", "0.5")]
)
def test_labels_other_than_0_and_1_are_rejected_naming_specimen_and_column(layout, value, shown):
    raw, _ = layout
    _set_manifest(raw, 1, "family", value)
    with pytest.raises(SpecimenError) as info:
        ingest_specimens(SpecimenManifestDataset(str(raw)).load(), PARAMS)
    assert str(info.value) == (
        f"specimen 'S1', file {raw / 'specimens.csv'}: label column 'family' is {shown}, expected 0 or 1"
    )
    _, labels, rejected = ingest_specimens(
        SpecimenManifestDataset(str(raw)).load(), {**PARAMS, "on_error": "skip"}
    )
    assert rejected["specimen_id"].tolist() == ["S1"]
    assert labels["specimen_id"].tolist() == ["S0", "S2", "S3"]
    assert labels["family"].tolist() == [0, 0, 1] and labels["family"].dtype == np.int64


def test_labels_given_as_text_0_and_1_are_integers():
    manifest = pd.DataFrame({"specimen_id": ["a", "b"], "defect": ["1", " 0"]})
    images = {i: np.zeros((8, 8), np.uint8) for i in ("a", "b")}
    curves = {i: _curve() for i in ("a", "b")}
    from causal_pima.data.specimens import IngestionConfig, prepare_specimens

    _, labels, _ = prepare_specimens(manifest, images, curves, IngestionConfig(**PARAMS))
    assert labels["defect"].tolist() == [1, 0] and labels["defect"].dtype == np.int64


def test_excel_style_headers_with_spaces_work(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "curves").mkdir()
    rows = ["specimen_id, image, curve, family "]
    for n, specimen_id in enumerate(["007", "008"]):
        Image.fromarray(np.full((10, 10), 40 * (n + 1), np.uint8)).save(
            tmp_path / "images" / f"{specimen_id}.png"
        )
        strain = np.linspace(0, 0.5, 20)
        lines = ["strain , stress"] + [f"{e:.6f}, {(n + 1) * e:.6f}" for e in strain]
        (tmp_path / "curves" / f"{specimen_id}.csv").write_text("\n".join(lines) + "\n")
        rows.append(f"{specimen_id}, images/{specimen_id}.png, curves/{specimen_id}.csv, {n}")
    (tmp_path / "specimens.csv").write_text("\n".join(rows) + "\n")
    loaded = SpecimenManifestDataset(str(tmp_path)).load()
    assert list(loaded["manifest"].columns) == ["specimen_id", "image", "curve", "family"]
    specimens, labels, rejected = ingest_specimens(loaded, PARAMS)
    assert rejected.empty
    assert specimens["specimen_id"].tolist() == ["007", "008"]  # ids kept as text
    assert labels["family"].tolist() == [0, 1]
    np.testing.assert_allclose(specimens["curves"][1], 2.0 * np.linspace(0, 0.5, 11), atol=1e-5)
    np.testing.assert_allclose(specimens["images"][:, 0, 0, 0], [40 / 255, 80 / 255], atol=1e-6)


@pytest.mark.parametrize(
    ("n", "fractions", "sizes", "empty"),
    [
        (2, {"train": 0.8, "val": 0.1, "test": 0.1}, "1 train, 1 val, 0 test", "test"),
        (1, {"train": 0.8, "val": 0.1, "test": 0.1}, "1 train, 0 val, 0 test", "val and test"),
        (200, {"train": 0.9, "val": 0.0, "test": 0.1}, "180 train, 0 val, 20 test", "val"),
    ],
)
def test_too_few_specimens_for_a_split_is_a_clear_processing_error(n, fractions, sizes, empty):
    with pytest.raises(SpecimenValidationError) as info:
        split_specimens({"n_specimens": n}, {"seed": 0, "split": fractions})
    message = str(info.value)
    assert message.startswith(
        f"too few specimens for the split: {n} specimen(s) with split fractions {fractions} give {sizes}, "
        f"so the {empty} split(s) would be empty"
    )
    assert "data_processing.split" in message and "data_processing_lattice.split" in message


@pytest.mark.parametrize(
    ("n", "sizes"), [(3, [1, 1, 1]), (4, [2, 1, 1]), (7, [5, 1, 1]), (12, [10, 1, 1])]
)
def test_rounding_never_empties_a_split_with_a_positive_fraction(n, sizes):
    split = split_specimens(
        {"n_specimens": n}, {"seed": 0, "split": {"train": 0.8, "val": 0.1, "test": 0.1}}
    )
    assert [int((split["split"] == name).sum()) for name in ("train", "val", "test")] == sizes


# ---------------------------------------------------------------- item 6: bounded image reading


def _gradient(height: int, width: int, channels: int = 0) -> np.ndarray:
    """A smooth 8-bit test image (a blob and a ramp)."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    image = np.round(200 * np.exp(-((x - 0.45) ** 2 + (y - 0.5) ** 2) / 0.05) + 40 * x).astype(
        np.uint8
    )
    return np.stack([image, 255 - image, image // 2], axis=2) if channels == 3 else image


def test_large_png_is_reduced_while_read_and_matches_the_full_resolution_result(tmp_path):
    image = _gradient(1000, 1200)
    Image.fromarray(image).save(tmp_path / "big.png")
    reduced = read_image(tmp_path / "big.png", min_side=32, max_pixels=2_000_000)
    assert (
        reduced.shape == (32, 32) and reduced.dtype == np.uint8
    )  # the centre square, area-resized
    full = centre_crop_resize(image, 32)  # what ingestion makes of the full-resolution array
    np.testing.assert_allclose(centre_crop_resize(reduced, 32), full, atol=1 / 255)
    rgba = np.dstack([_gradient(1000, 1200, channels=3), np.full((1000, 1200), 255, np.uint8)])
    Image.fromarray(rgba).save(tmp_path / "big_rgba.png")
    reduced = read_image(tmp_path / "big_rgba.png", min_side=32)
    assert reduced.shape == (32, 32, 3)
    np.testing.assert_allclose(
        centre_crop_resize(reduced, 32, channels=3),
        centre_crop_resize(rgba, 32, channels=3),
        atol=1 / 255,
    )


def test_large_rgb_npy_is_block_reduced_from_a_memory_map(tmp_path):
    image = _gradient(500, 600, channels=3)
    np.save(tmp_path / "big.npy", image)
    reduced = read_image(tmp_path / "big.npy", min_side=32)  # factor 500 // 128 = 3
    assert reduced.shape == (166, 166, 3) and reduced.dtype == np.float32  # factor 3, 498 kept
    assert 0.0 <= reduced.min() and reduced.max() <= 1.0
    np.testing.assert_allclose(
        centre_crop_resize(reduced, 32, channels=3),
        centre_crop_resize(image, 32, channels=3),
        atol=6 / 255,
    )


def test_small_images_are_read_exactly_as_stored(tmp_path):
    image = _gradient(260, 256, channels=3)  # not more than 8 x 32 pixels across: not reduced
    Image.fromarray(image).save(tmp_path / "small.png")
    np.testing.assert_array_equal(read_image(tmp_path / "small.png", min_side=32), image)


def test_ingestion_reads_images_reduced_through_the_dataset(tmp_path):
    dataset = SpecimenManifestDataset(str(tmp_path))
    images = {
        "a": _gradient(400, 400),
        "b": _gradient(300, 500, channels=3),
        "c": _gradient(60, 50),
    }
    dataset.save(
        {
            "manifest": pd.DataFrame({"specimen_id": list(images)}),
            "images": images,
            "curves": {i: _curve() for i in images},
        }
    )
    specimens, _, _ = ingest_specimens(dataset.load(), PARAMS)
    assert specimens["images"].shape == (3, 1, 8, 8)
    for row, key in enumerate(images):  # "c" (under 8 x 8 x 8 pixels) is read as stored: exact
        np.testing.assert_allclose(
            specimens["images"][row],
            centre_crop_resize(images[key], 8),
            atol=1 / 255 if key != "c" else 0,
        )


def test_image_above_the_pixel_limit_is_a_named_per_specimen_error(tmp_path):
    dataset = _write_set(tmp_path)
    Image.fromarray(_gradient(120, 200)).save(tmp_path / "images" / "S1.png")
    params = {**PARAMS, "max_image_pixels": 10_000}
    expected = (
        f"specimen 'S1', file {tmp_path / 'images' / 'S1.png'}: image: too large: 200 x 120 = 24000 pixels, "
        "above max_image_pixels = 10000 (parameter lattice_ingestion.max_image_pixels)"
    )
    with pytest.raises(SpecimenError) as info:
        ingest_specimens(dataset.load(), params)
    assert str(info.value) == expected
    specimens, _, rejected = ingest_specimens(dataset.load(), {**params, "on_error": "skip"})
    assert rejected["specimen_id"].tolist() == ["S1"] and rejected["reason"].iloc[0].startswith(
        "image: too large: 200 x 120"
    )
    assert specimens["specimen_id"].tolist() == ["S0", "S2", "S3"]


def test_pil_decompression_bomb_becomes_the_named_error(tmp_path, monkeypatch):
    dataset = _write_set(tmp_path)
    Image.fromarray(_gradient(100, 100)).save(tmp_path / "images" / "S3.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # PIL refuses above 2 x 1000 pixels
    with pytest.raises(
        SpecimenError, match=r"^specimen 'S3', file .*S3.png: image: too large: .*exceeds limit"
    ):
        ingest_specimens(dataset.load(), PARAMS)


def test_in_memory_images_above_the_limit_are_refused_too():
    from causal_pima.data.specimens import IngestionConfig, prepare_specimens

    manifest = pd.DataFrame({"specimen_id": ["a"]})
    with pytest.raises(
        SpecimenError, match=r"image: too large: 30 x 20 = 600 pixels, above max_image_pixels = 500"
    ):
        prepare_specimens(
            manifest,
            {"a": np.zeros((20, 30))},
            {"a": _curve()},
            IngestionConfig(**{**PARAMS, "max_image_pixels": 500}),
        )
    with pytest.raises(ValueError, match="max_image_pixels must be an integer >= 1, got 0"):
        IngestionConfig(max_image_pixels=0)
