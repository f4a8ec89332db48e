"""Ingestion bounds what one specimen may cost before it is spent (issue 24, "Run integrity", items 2
and 3): a specimen_id above MAX_SPECIMEN_ID_LENGTH (a 1 MB id made a 1 MB manifest an 800 MB
specimens.npz) and an image file above max_image_bytes (an 819 MB thin NPY image under the pixel limit
cost 1.6 GB) are rejected into the rejected table, naming the size and the limit; the file is not read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from causal_pima.data.specimens import (
    MAX_SPECIMEN_ID_LENGTH,
    IngestionConfig,
    SpecimenError,
    ingest_specimens,
)
from causal_pima.datasets.specimen_manifest import SpecimenImages, SpecimenManifestDataset
from causal_pima.parameter_schemas import InvalidParametersError, validate_parameters

ROOT = Path(__file__).resolve().parents[2]

IDS = ["S0", "S1", "S2"]
PARAMS = {"image_size": 8, "n_grid_points": 11, "max_strain": 0.5, "min_points": 8, "on_error": "skip"}


def _write_set(folder: Path, image_format: str = "png") -> SpecimenManifestDataset:
    rng = np.random.default_rng(0)
    strain = np.linspace(0.0, 0.5, 20)
    dataset = SpecimenManifestDataset(path=str(folder), image_format=image_format)
    dataset.save(
        {
            "manifest": pd.DataFrame({"specimen_id": IDS, "family": [0, 1, 0]}),
            "images": {i: rng.integers(0, 256, size=(10, 12), dtype=np.uint8) for i in IDS},
            "curves": {i: pd.DataFrame({"strain": strain, "stress": strain * (1 + n)}) for n, i in enumerate(IDS)},
        }
    )
    return dataset


def test_a_specimen_id_above_the_length_limit_is_rejected_naming_its_length(tmp_path):
    dataset = _write_set(tmp_path)
    manifest = pd.read_csv(tmp_path / "specimens.csv", dtype=str)
    long_id = "L" * (MAX_SPECIMEN_ID_LENGTH + 1)
    manifest.loc[1, "specimen_id"] = long_id  # S1's files, an id one character too long
    manifest.loc[2, "specimen_id"] = "M" * MAX_SPECIMEN_ID_LENGTH  # at the limit: kept
    manifest.to_csv(tmp_path / "specimens.csv", index=False)

    specimens, labels, rejected = ingest_specimens(dataset.load(), PARAMS)
    assert specimens["specimen_id"].tolist() == ["S0", "M" * MAX_SPECIMEN_ID_LENGTH]
    assert specimens["specimen_id"].dtype.itemsize == 4 * MAX_SPECIMEN_ID_LENGTH  # the fixed width stays bounded
    assert rejected.to_dict("records") == [{
        "specimen_id": "L" * 64 + f"... ({MAX_SPECIMEN_ID_LENGTH + 1} characters)",  # not the whole id
        "file": str(tmp_path / "specimens.csv"),
        "reason": f"specimen_id too long: {MAX_SPECIMEN_ID_LENGTH + 1} characters, above the limit of "
                  f"{MAX_SPECIMEN_ID_LENGTH} (causal_pima.data.specimens.MAX_SPECIMEN_ID_LENGTH; the ids are stored "
                  "as fixed-width strings, padded to the longest); shorten it in the manifest",
    }]
    with pytest.raises(SpecimenError, match=r"^specimen 'L{64}\.\.\. \(257 characters\)', file .*specimens.csv: "
                                            r"specimen_id too long: 257 characters, above the limit of 256"):
        ingest_specimens(dataset.load(), {**PARAMS, "on_error": "raise"})


def _thin_npy_set(folder: Path) -> tuple[SpecimenManifestDataset, Path, int]:
    """A set whose S1 image is a thin float64 NPY, 1 x 60,000 pixels x 4 channels (1.92 MB): under a
    100,000-pixel limit, above that limit's 100,000 x 1 channel x 8 bytes + 1 MiB = 1,848,576 bytes."""
    dataset = _write_set(folder, image_format="npy")
    path = folder / "images" / "S1.npy"
    np.save(path, np.full((1, 60_000, 4), 0.5))
    return dataset, path, path.stat().st_size


def test_an_image_file_above_the_byte_limit_is_rejected_before_it_is_read(tmp_path, monkeypatch):
    dataset, path, size = _thin_npy_set(tmp_path)
    read = []
    original = SpecimenImages.read
    monkeypatch.setattr(SpecimenImages, "read", lambda self, i, **kw: read.append(i) or original(self, i, **kw))
    params = {**PARAMS, "max_image_pixels": 100_000}
    assert IngestionConfig(**params).image_byte_limit() == 1_848_576 < size
    specimens, _, rejected = ingest_specimens(dataset.load(), params)
    assert specimens["specimen_id"].tolist() == ["S0", "S2"]
    assert read == ["S0", "S2"]  # S1 was refused from its size: never opened
    assert rejected.to_dict("records") == [{
        "specimen_id": "S1",
        "file": str(tmp_path / "images" / "S1.npy"),
        "reason": f"image file too large: {size} bytes (1.8 MiB), above the limit of 1848576 bytes (1.8 MiB; "
                  "lattice_ingestion.max_image_bytes = null: max_image_pixels 100000 x channels 1 x 8 bytes + 1 MiB); "
                  "the file was not read. Raise lattice_ingestion.max_image_bytes if the machine has the memory for it",
    }]
    # an explicit limit replaces the derived one; one above the file's size lets it through
    _, _, rejected = ingest_specimens(dataset.load(), {**params, "max_image_bytes": 1000})
    assert rejected["specimen_id"].tolist() == ["S1"]  # the 10 x 12 uint8 NPY files are 248 bytes
    assert "above the limit of 1000 bytes (0.0 MiB; lattice_ingestion.max_image_bytes = 1000)" in rejected["reason"].iloc[0]
    with pytest.raises(SpecimenError, match=r"no specimen passed validation \(3 rejected; first reasons: \['image file "
                                            r"too large: 248 bytes \(0.0 MiB\), above the limit of 200 bytes"):
        ingest_specimens(dataset.load(), {**params, "max_image_bytes": 200})
    _, _, rejected = ingest_specimens(dataset.load(), {**params, "max_image_bytes": size})
    assert rejected.empty


def test_max_image_bytes_is_a_checked_ingestion_parameter():
    defaults = yaml.safe_load((ROOT / "conf" / "base" / "parameters_lattice.yml").read_text())["lattice_ingestion"]
    assert defaults["max_image_bytes"] is None and defaults["max_image_pixels"] == 64_000_000
    assert IngestionConfig(**defaults).image_byte_limit() == 64_000_000 * 8 + 2**20  # 489.3 MiB
    assert IngestionConfig(channels=3).image_byte_limit() == 64_000_000 * 3 * 8 + 2**20
    assert IngestionConfig(max_image_bytes=10**6).image_byte_limit() == 10**6
    with pytest.raises(InvalidParametersError) as caught:
        validate_parameters({"lattice_ingestion": {**defaults, "max_image_bytes": 0}})
    assert caught.value.problems == [
        "lattice_ingestion.max_image_bytes = 0: must be greater than 0 (allowed: null or an integer > 0 (bytes))"
    ]
    with pytest.raises(ValueError, match="max_image_bytes must be null or an integer >= 1, got 0"):
        IngestionConfig(max_image_bytes=0)
