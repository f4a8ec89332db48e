"""Raw sets are all-or-nothing: an interrupted write, a mixed or a changed set is refused on load.

The crash of a killed run is simulated by raising inside the write step; a later run is simulated by
changing the run token (a new process has a new one).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import AbstractDataset, DataCatalog, DatasetError, MemoryDataset
from kedro.runner import SequentialRunner

from causal_pima.datasets import raw_set, specimen_manifest
from causal_pima.datasets.raw_member_dataset import RawSetMemberDataset
from causal_pima.datasets.raw_set import RawSetError
from causal_pima.datasets.specimen_manifest import SpecimenManifestDataset
from causal_pima.pipelines.circles import create_pipeline as create_circles_pipeline
from causal_pima.pipelines.data_processing import (
    create_pipeline as create_data_processing_pipeline,
)

CONF = Path(__file__).resolve().parents[1] / "conf" / "base"
RAW = ("circles.features", "circles.raw_specimens", "circles.true_dag")
N = 40


def _params(name: str) -> dict:
    with (CONF / f"parameters_{name}.yml").open() as handle:
        return yaml.safe_load(handle)[name]


def _raw_datasets(folder: Path) -> dict[str, AbstractDataset]:
    """The catalog's circles raw entries, as configured, moved to ``folder``."""
    with (CONF / "catalog.yml").open() as handle:
        config = yaml.safe_load(handle)
    datasets = {}
    for name in RAW:
        entry = copy.deepcopy(config[name])
        assert entry["metadata"]["kedro-viz"]["layer"] == "01_raw"
        entry["filepath"] = str(folder / Path(entry["filepath"]).name)
        datasets[name] = AbstractDataset.from_config(name, entry)
    return datasets


def _run_circles(folder: Path, seed: int, with_processing: bool = False) -> dict:
    circles = {**_params("circles"), "n_specimens": N, "seed": seed}
    catalog = DataCatalog(
        {
            **_raw_datasets(folder),
            "params:circles": MemoryDataset(circles),
            "params:data_processing": MemoryDataset(_params("data_processing")),
        }
    )
    pipeline = create_circles_pipeline()
    if with_processing:
        pipeline += create_data_processing_pipeline(dataset="circles")
    figures = set(plt.get_fignums())
    try:
        return SequentialRunner().run(pipeline, catalog)
    finally:
        for number in set(plt.get_fignums()) - figures:
            plt.close(number)


def _run_processing(folder: Path) -> dict:
    catalog = DataCatalog(
        {
            **_raw_datasets(folder),
            "params:data_processing": MemoryDataset(_params("data_processing")),
        }
    )
    return SequentialRunner().run(create_data_processing_pipeline(dataset="circles"), catalog)


@pytest.fixture
def new_run(monkeypatch):
    """Make the following loads and saves belong to another run (process)."""

    def switch(name: str = "pid 0 later-run") -> None:
        monkeypatch.setattr(raw_set, "RUN_TOKEN", name)

    return switch


def _record(folder: Path) -> dict:
    return json.loads((folder / "checksums.json").read_text())


# ---------------------------------------------------------------- circles


def test_circles_run_publishes_a_complete_checked_set(tmp_path, new_run):
    outputs = _run_circles(tmp_path, seed=0, with_processing=True)
    assert outputs["circles.train_set"].load()["images"].shape == (32, 3, 32, 32)
    record = _record(tmp_path)
    assert record["state"] == "complete"
    assert sorted(record["members"]) == ["features.csv", "specimens.npz", "true_dag.json"]
    assert record["members"]["features.csv"] == {
        "features.csv": raw_set.sha256_file(tmp_path / "features.csv")
    }
    new_run()
    # a later run reads the set, and data_processing alone runs on it
    outputs = _run_processing(tmp_path)
    assert outputs["circles.val_set"].load()["images"].shape == (4, 3, 32, 32)


def test_interrupted_circles_run_leaves_a_set_every_later_load_refuses(
    tmp_path, new_run, monkeypatch
):
    _run_circles(tmp_path, seed=0)
    seed0_specimens = (tmp_path / "specimens.npz").read_bytes()
    seed0_features = (tmp_path / "features.csv").read_bytes()

    new_run("pid 1 seed-1-run")
    real_savez = np.savez

    def savez_killed(file, *args, **kwargs):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt("killed while writing specimens.npz")

    monkeypatch.setattr(np, "savez", savez_killed)
    with pytest.raises(KeyboardInterrupt):
        _run_circles(tmp_path, seed=1)
    monkeypatch.setattr(np, "savez", real_savez)
    # what a kill -9 at that point leaves: seed 1 features beside seed 0 specimens, and a temp file
    assert (tmp_path / "features.csv").read_bytes() != seed0_features
    assert (tmp_path / "specimens.npz").read_bytes() == seed0_specimens
    orphan = tmp_path / ".specimens.npz.k9x2ab7q.tmp"
    orphan.write_bytes(b"PK\x03\x04 half an archive")
    assert _record(tmp_path)["state"] == "writing"

    new_run()
    with pytest.raises(DatasetError) as info:
        _run_processing(tmp_path)
    message = str(info.value)
    assert f"the set of files in {tmp_path} is incomplete" in message
    assert "rewritten: features.csv, true_dag.json; not rewritten: specimens.npz" in message
    assert "`kedro run --pipelines circles`" in message
    datasets = _raw_datasets(tmp_path)
    for name in RAW:  # every member is refused, the rewritten ones too
        with pytest.raises(RawSetError, match="is incomplete"):
            datasets[name].load()

    # writing the set again (a complete run) repairs it and removes the orphan
    _run_circles(tmp_path, seed=1)
    assert not orphan.exists()
    assert _record(tmp_path)["state"] == "complete"
    new_run("pid 2 yet-another-run")
    features = _raw_datasets(tmp_path)["circles.features"].load()
    assert len(features) == N
    assert _run_processing(tmp_path)["circles.train_set"].load()["images"].shape[0] == 32


def test_a_run_reads_back_only_what_it_wrote_itself(tmp_path, new_run):
    _run_circles(tmp_path, seed=0)
    new_run("pid 3 partial-run")
    datasets = _raw_datasets(tmp_path)
    features = datasets["circles.features"].load()
    datasets["circles.features"].save(features.assign(radius=1 - features["radius"]))
    assert (
        datasets["circles.features"].load()["radius"].tolist() == (1 - features["radius"]).tolist()
    )
    # specimens.npz is from the earlier run: using it with the new features would mix two runs
    with pytest.raises(RawSetError, match=r"is incomplete.*'specimens.npz' is refused"):
        datasets["circles.raw_specimens"].load()


def test_a_file_changed_after_the_set_was_written_is_refused(tmp_path, new_run):
    _run_circles(tmp_path, seed=0)
    new_run()
    features = pd.read_csv(tmp_path / "features.csv")
    features.loc[0, "radius"] = 1 - features.loc[0, "radius"]
    features.to_csv(tmp_path / "features.csv", index=False)
    datasets = _raw_datasets(tmp_path)
    with pytest.raises(RawSetError) as info:
        datasets["circles.features"].load()
    message = str(info.value)
    assert (
        f"the set of files in {tmp_path} does not match its checksum file {tmp_path / 'checksums.json'}"
        in message
    )
    assert "1 of the 1 file(s) of 'features.csv' differ (features.csv: sha256 " in message
    assert datasets["circles.raw_specimens"].load()["images"].shape == (N, 3, 32, 32)  # unchanged


def test_a_circles_folder_without_checksums_is_refused(tmp_path, new_run):
    _run_circles(tmp_path, seed=0)
    (tmp_path / "checksums.json").unlink()
    new_run()
    with pytest.raises(
        RawSetError, match=r"has no checksum file .*checksums.json, so it was not completely"
    ):
        _raw_datasets(tmp_path)["circles.raw_specimens"].load()


def test_member_dataset_wraps_any_dataset_and_refuses_a_filepath_inside(tmp_path):
    with pytest.raises(DatasetError, match="give 'filepath' on the entry"):
        RawSetMemberDataset(str(tmp_path / "a.json"), {"type": "json.JSONDataset", "filepath": "x"})
    dataset = RawSetMemberDataset(str(tmp_path / "a.json"), "json.JSONDataset")
    assert not dataset.exists()
    dataset.save({"x": 1})
    assert dataset.load() == {"x": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "checksums.json"]


# ---------------------------------------------------------------- lattice manifest folder


def _lattice_data(seed: int, n: int = 6) -> dict:
    rng = np.random.default_rng(seed)
    ids = [f"L{i}" for i in range(n)]
    return {
        "manifest": pd.DataFrame({"specimen_id": ids, "family": rng.integers(0, 2, n)}),
        "images": {i: rng.random((8, 8)).astype(np.float32) for i in ids},
        "curves": {
            i: pd.DataFrame({"strain": np.linspace(0, 1, 5), "stress": rng.random(5)}) for i in ids
        },
    }


def _lattice_datasets(folder: Path) -> tuple[SpecimenManifestDataset, RawSetMemberDataset]:
    members = ["specimens.csv", "true_dag.json"]
    manifest = SpecimenManifestDataset(str(folder), checksums=True, set_members=members)
    true_dag = RawSetMemberDataset(
        str(folder / "true_dag.json"), "json.JSONDataset", members=members, require_checksums=False
    )
    return manifest, true_dag


def test_lattice_folder_is_one_unit_with_the_true_dag(tmp_path, new_run):
    manifest, true_dag = _lattice_datasets(tmp_path)
    manifest.save(_lattice_data(0))
    assert _record(tmp_path)["state"] == "writing"  # true_dag.json not yet written
    true_dag.save({"edges": []})
    record = _record(tmp_path)
    assert record["state"] == "complete"
    assert sorted(record["members"]["specimens.csv"]) == sorted(
        ["specimens.csv"]
        + [f"images/L{i}.png" for i in range(6)]
        + [f"curves/L{i}.csv" for i in range(6)]
    )
    new_run()
    loaded = manifest.load()
    assert loaded["images"]["L3"].shape == (8, 8) and true_dag.load() == {"edges": []}


def test_interrupted_lattice_save_is_refused_and_orphans_cleaned(tmp_path, new_run, monkeypatch):
    manifest, true_dag = _lattice_datasets(tmp_path)
    manifest.save(_lattice_data(0))
    true_dag.save({"edges": []})
    new_run("pid 4 regenerating")
    real_write = specimen_manifest._write_image
    calls = []

    def killed_at_the_third_image(path, image, image_format):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        real_write(path, image, image_format)

    monkeypatch.setattr(specimen_manifest, "_write_image", killed_at_the_third_image)
    with pytest.raises(KeyboardInterrupt):
        manifest.save(_lattice_data(1))
    monkeypatch.setattr(specimen_manifest, "_write_image", real_write)
    orphan = tmp_path / "images" / ".L2.png.zz81kq0a.tmp"
    orphan.write_bytes(b"half a png")

    new_run()  # two new images beside four old ones and the old manifest: refused as a whole
    with pytest.raises(RawSetError) as info:
        manifest.load()
    assert f"the set of files in {tmp_path} is incomplete" in str(info.value)
    assert "not rewritten: specimens.csv, true_dag.json" in str(info.value)
    with pytest.raises(RawSetError, match="is incomplete"):
        true_dag.load()

    manifest.save(_lattice_data(1))
    true_dag.save({"edges": [["family", "defect"]]})
    assert not orphan.exists()
    new_run("pid 5 reader")
    np.testing.assert_allclose(
        manifest.load()["images"]["L2"] / 255.0,
        _lattice_data(1)["images"]["L2"],
        atol=0.5 / 255 + 1e-7,
    )


def test_lattice_file_changed_after_writing_is_named(tmp_path, new_run):
    manifest, true_dag = _lattice_datasets(tmp_path)
    manifest.save(_lattice_data(0))
    true_dag.save({"edges": []})
    new_run()
    curve = pd.read_csv(tmp_path / "curves" / "L4.csv")
    curve.loc[2, "stress"] = 9.0
    curve.to_csv(tmp_path / "curves" / "L4.csv", index=False)
    with pytest.raises(RawSetError) as info:
        manifest.load()
    message = str(info.value)
    assert "1 of the 13 file(s) of 'specimens.csv' differ (curves/L4.csv: sha256 " in message
    assert f"If you changed the files on purpose, delete {tmp_path / 'checksums.json'}" in message
    (tmp_path / "checksums.json").unlink()  # your own data: read unverified
    assert manifest.load()["curves"]["L4"]["stress"][2] == 9.0


def test_saving_without_checksums_drops_a_stale_checksum_file(tmp_path):
    manifest, true_dag = _lattice_datasets(tmp_path)
    manifest.save(_lattice_data(0))
    true_dag.save({"edges": []})
    plain = SpecimenManifestDataset(str(tmp_path))
    plain.save(_lattice_data(2))
    assert not (tmp_path / "checksums.json").exists()
    assert (
        plain.load()["manifest"]["family"].tolist()
        == _lattice_data(2)["manifest"]["family"].tolist()
    )
