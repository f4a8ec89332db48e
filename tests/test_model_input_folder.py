"""Model-input folders trust nothing they read (issue 24, item 5): names confined to the folder, the
catalog's schema (dtype kind, dimensions, rows), an empty index, a full disk while writing."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest
import yaml
from kedro.io import DatasetError

from causal_pima.datasets import ArrayFolderDataset

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((ROOT / "conf/base/catalog.yml").read_text())["{dataset}.{split}_set"]["schema"]


def model_input(n: int = 6) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"images": rng.random((n, 1, 4, 4)).astype(np.float32), "curves": rng.normal(size=(n, 5)).astype(np.float32),
            "grid": np.linspace(0, 1, 5, dtype=np.float32), "curve_mean": np.zeros(5, np.float32),
            "curve_std": np.ones(5, np.float32), "curve_asinh_scale": np.float64(0.0), "index": np.arange(n),
            "specimen_id": np.array([f"s{i}" for i in range(n)]), "labels": np.zeros((n, 2), np.int8),
            "label_names": np.array(["a", "b"])}


def store(path: Path) -> ArrayFolderDataset:
    return ArrayFolderDataset(filepath=str(path), schema=SCHEMA)


def test_a_folder_as_the_project_writes_it_loads(tmp_path):
    store(tmp_path / "train").save(model_input())
    loaded = store(tmp_path / "train").load()
    assert set(loaded) == set(model_input()) and loaded["images"].shape == (6, 1, 4, 4)


@pytest.mark.parametrize("name", ["../../outside/evil", "/etc/passwd", "..\\\\evil", ".hidden"])
def test_an_index_naming_a_path_outside_the_folder_is_refused(tmp_path, name):
    outside = tmp_path / "outside"
    outside.mkdir()
    np.save(outside / "evil.npy", np.zeros(3))
    folder = tmp_path / "a" / "b" / "train"
    store(folder).save(model_input())
    (folder / "arrays.txt").write_text(f"images\n{name}\n")
    with pytest.raises(DatasetError, match=r"lists '.*', which is not a file name inside .*train.*refused"):
        store(folder).load()


@pytest.mark.parametrize(("name", "value", "problem"), [
    ("images", np.zeros((6, 1, 4, 4), np.uint8), r"array 'images' has dtype uint8, expected float"),
    ("curves", np.zeros((6, 5), np.complex64), r"array 'curves' has dtype complex64, expected float"),
    ("images", np.full((6, 1, 4, 4), "x"), r"array 'images' has dtype <U1, expected float"),
    ("curves", np.zeros((6, 5, 1), np.float32), r"array 'curves' has shape \(6, 5, 1\) \(3 dimensions\), expected 2"),
    ("labels", np.zeros((5, 2), np.int8), r"one row per specimen disagree in length: .*'labels': 5"),
])
def test_arrays_that_do_not_fit_the_schema_are_refused_on_load_and_on_save(tmp_path, name, value, problem):
    folder = tmp_path / "train"
    store(folder).save(model_input())
    np.save(folder / f"{name}.npy", value)  # replaced behind the dataset's back
    with pytest.raises(DatasetError, match=problem):
        store(folder).load()
    with pytest.raises(DatasetError, match=problem):
        store(tmp_path / "other").save({**model_input(), name: value})
    assert not (tmp_path / "other").exists()


def test_an_empty_index_is_refused_naming_the_file(tmp_path):
    folder = tmp_path / "train"
    store(folder).save(model_input())
    (folder / "arrays.txt").write_text("")
    with pytest.raises(DatasetError, match=r"lists no arrays \(arrays.txt is empty\)"):
        store(folder).load()


def test_a_full_disk_while_writing_leaves_the_previous_folder_and_says_so(tmp_path, monkeypatch):
    folder = tmp_path / "train"
    store(folder).save(model_input(6))
    real_save = np.save

    def full_disk(path, value, **kwargs):
        if str(path).endswith("curves.npy"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(path, value, **kwargs)

    monkeypatch.setattr(np, "save", full_disk)
    with pytest.raises(DatasetError, match=r"the disk is full: writing the array folder .*train stopped.*nothing was replaced"):
        store(folder).save(model_input(9))
    monkeypatch.undo()
    assert store(folder).load()["images"].shape[0] == 6  # the old set, whole
    assert [p.name for p in tmp_path.iterdir()] == ["train"]  # no staging folder left behind


def test_an_unknown_schema_dtype_is_refused_when_the_catalog_is_read(tmp_path):
    with pytest.raises(DatasetError, match=r"schema dtype\(s\) \['double'\] unknown"):
        ArrayFolderDataset(filepath=str(tmp_path), schema={"images": {"dtype": "double"}})
