"""Tests for the project's Kedro datasets (NpzDataset, TorchCheckpointDataset) and atomic saves."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from kedro.io import DatasetError, Version

from causal_pima.datasets import NpzDataset, TorchCheckpointDataset


class CustomPayload:
    """A plain custom class: picklable, but not allowed by ``torch.load(weights_only=True)``."""

    def __init__(self, value: int) -> None:
        self.value = value


@pytest.fixture
def umask_022():
    """Fix the process umask, so that the expected file mode is known (0o644)."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------- NpzDataset


def test_npz_round_trip_of_a_dict(tmp_path):
    rng = np.random.default_rng(0)
    data = {
        "images": rng.random((5, 3, 4, 4), dtype=np.float32),
        "index": np.arange(5, dtype=np.int64),
        "labels": rng.integers(0, 2, (5, 2)).astype(np.int8),
        "label_names": np.asarray(["radius", "hue"]),
    }
    dataset = NpzDataset(filepath=str(tmp_path / "sets" / "train.npz"))
    assert not dataset.exists()
    dataset.save(data)
    assert dataset.exists()
    loaded = dataset.load()
    assert sorted(loaded) == sorted(data)
    for key, value in data.items():
        assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape
        np.testing.assert_array_equal(loaded[key], value)
    assert _leftovers(tmp_path / "sets") == ["train.npz"]


def test_npz_round_trip_of_a_bare_array_and_of_lists(tmp_path):
    dataset = NpzDataset(filepath=str(tmp_path / "grid.npz"), compress=True)
    grid = np.linspace(0.0, 1.0, 11)
    dataset.save(grid)
    loaded = dataset.load()
    assert list(loaded) == ["array"]
    np.testing.assert_array_equal(loaded["array"], grid)
    dataset.save({"values": [1, 2, 3]})  # plain lists are converted to arrays
    np.testing.assert_array_equal(dataset.load()["values"], np.array([1, 2, 3]))


def test_npz_load_of_missing_file_raises(tmp_path):
    with pytest.raises(DatasetError, match="npz file not found"):
        NpzDataset(filepath=str(tmp_path / "absent.npz")).load()


@pytest.mark.parametrize(
    "data",
    [
        {"ok": np.zeros(2), "mixed": np.array([1, "a", None], dtype=object)},
        {"ragged": [np.zeros(2), np.zeros(3)]},
        np.array([{"a": 1}], dtype=object),
    ],
    ids=["object-array", "ragged-list", "bare-object-array"],
)
def test_npz_rejects_object_arrays_and_writes_nothing(tmp_path, data):
    dataset = NpzDataset(filepath=str(tmp_path / "bad.npz"))
    with pytest.raises((DatasetError, ValueError), match="dtype object|inhomogeneous"):
        dataset.save(data)
    assert _leftovers(tmp_path) == []


def test_npz_versioned_save_keeps_earlier_versions(tmp_path):
    filepath = str(tmp_path / "model_input.npz")
    first = NpzDataset(filepath=filepath, version=Version(None, None))
    first.save({"x": np.array([1.0])})
    time.sleep(0.01)  # version strings have millisecond resolution
    first.save({"x": np.array([2.0])})
    versions = sorted(first.list_versions(full_path=False))
    assert len(versions) == 2
    assert sorted(p.name for p in (tmp_path / "model_input.npz").iterdir()) == versions

    latest = NpzDataset(filepath=filepath, version=Version(None, None)).load()
    np.testing.assert_array_equal(latest["x"], [2.0])
    earliest = NpzDataset(filepath=filepath, version=Version(versions[0], None)).load()
    np.testing.assert_array_equal(earliest["x"], [1.0])


def test_npz_failed_write_leaves_no_target_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "out" / "train.npz"
    dataset = NpzDataset(filepath=str(target))
    real_savez = np.savez

    def savez_then_crash(file, *args, **kwargs):
        file.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", savez_then_crash)
    with pytest.raises(DatasetError, match="disk full"):
        dataset.save({"x": np.arange(3)})
    assert not target.exists()
    assert _leftovers(target.parent) == []

    # an existing file survives a failed overwrite untouched
    monkeypatch.setattr(np, "savez", real_savez)
    dataset.save({"x": np.arange(3)})
    before = target.read_bytes()
    monkeypatch.setattr(np, "savez", savez_then_crash)
    with pytest.raises(DatasetError, match="disk full"):
        dataset.save({"x": np.arange(100)})
    assert target.read_bytes() == before
    np.testing.assert_array_equal(dataset.load()["x"], np.arange(3))
    assert _leftovers(target.parent) == ["train.npz"]


def test_npz_saved_files_are_not_private(tmp_path, umask_022):
    plain = tmp_path / "plain.npz"
    NpzDataset(filepath=str(plain)).save({"x": np.zeros(1)})
    assert _mode(plain) == 0o644
    versioned = NpzDataset(filepath=str(tmp_path / "v.npz"), version=Version(None, None))
    versioned.save({"x": np.zeros(1)})
    (path,) = versioned.list_versions()
    assert _mode(Path(path)) == 0o644


# ---------------------------------------------------------------- TorchCheckpointDataset


def _checkpoint() -> dict:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    return {
        "state_dict": model.state_dict(),
        "config": {"latent_dim": 8, "features": ["radius", "hue"], "beta": 0.5, "pretrained": True},
        "history": [1.5, 1.25, 1.0],
        "log_pi": torch.log(torch.full((4,), 0.25, dtype=torch.float64)),
    }


def test_checkpoint_round_trip(tmp_path):
    dataset = TorchCheckpointDataset(filepath=str(tmp_path / "models" / "causal_pima.pt"))
    checkpoint = _checkpoint()
    dataset.save(checkpoint)
    loaded = dataset.load()
    assert loaded["config"] == checkpoint["config"]
    assert loaded["history"] == [1.5, 1.25, 1.0]
    assert list(loaded["state_dict"]) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    for key, tensor in checkpoint["state_dict"].items():
        assert torch.equal(loaded["state_dict"][key], tensor)
    assert loaded["log_pi"].dtype == torch.float64
    assert torch.allclose(loaded["log_pi"].exp().sum(), torch.tensor(1.0, dtype=torch.float64))
    # the state dict loads into a fresh module and gives the same outputs
    fresh = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    fresh.load_state_dict(loaded["state_dict"])
    x = torch.linspace(-1, 1, 8).reshape(2, 4)
    reference = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    reference.load_state_dict(checkpoint["state_dict"])
    assert torch.equal(fresh(x), reference(x))
    assert _leftovers(tmp_path / "models") == ["causal_pima.pt"]


def test_checkpoint_refuses_a_live_module(tmp_path):
    dataset = TorchCheckpointDataset(filepath=str(tmp_path / "model.pt"))
    with pytest.raises(DatasetError, match="live nn.Module at"):
        dataset.save(torch.nn.Linear(2, 2))
    assert _leftovers(tmp_path) == []


def test_checkpoint_load_uses_weights_only(tmp_path):
    # a checkpoint written by a plain torch.save, holding a pickled custom object beside the tensors
    path = tmp_path / "payload.pt"
    torch.save({"state_dict": {"w": torch.ones(2)}, "payload": CustomPayload(3)}, path)
    assert torch.load(path, weights_only=False)["payload"].value == 3  # a full unpickle rebuilds it
    with pytest.raises(DatasetError, match="not a checkpoint this project wrote, or it is damaged: the safe") as refused:
        TorchCheckpointDataset(filepath=str(path)).load()
    assert "will likely succeed" not in str(refused.value)  # torch's advice to unpickle it is not passed on
    # the same dict without the custom object loads
    torch.save({"state_dict": {"w": torch.ones(2)}, "config": {"d": 3}}, path)
    loaded = TorchCheckpointDataset(filepath=str(path)).load()
    assert loaded["config"] == {"d": 3} and torch.equal(loaded["state_dict"]["w"], torch.ones(2))


class _RunsCode:
    def __reduce__(self):
        return (print, ("this would run",))


@pytest.mark.parametrize("content", ["random", "pickle"])
def test_a_file_that_is_not_a_checkpoint_is_refused_without_advice_to_unpickle_it(tmp_path, content):
    """Issue 24, item 7: random bytes or a pickle payload under a checkpoint's name: the message says what
    happened and what to do, and never repeats torch's advice to load with weights_only=False."""
    import pickle

    from causal_pima.mlflow_model import load_checkpoint_model

    path = tmp_path / "fitted_model.pt"
    if content == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4000))
    else:
        path.write_bytes(pickle.dumps({"state_dict": _RunsCode()}))
    for load in (lambda: TorchCheckpointDataset(filepath=str(path)).load(), lambda: load_checkpoint_model(path)):
        with pytest.raises(DatasetError) as refused:
            load()
        message = str(refused.value)
        assert message.startswith(f"{path} is not a checkpoint this project wrote, or it is damaged")
        assert "It was not loaded" in message and "do not load it with weights_only=False" in message
        assert "will likely succeed" not in message and "file an issue" not in message


def test_checkpoint_refuses_a_module_nested_in_the_dict(tmp_path):
    dataset = TorchCheckpointDataset(filepath=str(tmp_path / "model.pt"))
    with pytest.raises(DatasetError, match="nn.Module"):
        dataset.save({"model": torch.nn.Linear(2, 2), "config": {}})
    assert not dataset.exists()


def test_checkpoint_load_of_missing_file_raises(tmp_path):
    with pytest.raises(DatasetError, match="checkpoint not found"):
        TorchCheckpointDataset(filepath=str(tmp_path / "absent.pt")).load()


def test_checkpoint_versioned_saves_and_permissions(tmp_path, umask_022):
    filepath = str(tmp_path / "model.pt")
    dataset = TorchCheckpointDataset(filepath=filepath, version=Version(None, None))
    dataset.save({"config": {"fit": 1}})
    time.sleep(0.01)
    dataset.save({"config": {"fit": 2}})
    paths = dataset.list_versions()
    assert len(paths) == 2
    assert all(_mode(Path(p)) == 0o644 for p in paths)
    assert TorchCheckpointDataset(filepath=filepath, version=Version(None, None)).load() == {
        "config": {"fit": 2}
    }
    plain = tmp_path / "plain.pt"
    TorchCheckpointDataset(filepath=str(plain)).save({"config": {}})
    assert _mode(plain) == 0o644
