"""A resume never continues a different fit (issue 9, items 1 and 8): the fit checkpoint carries a
fingerprint of its data, pretrained model and parameters; a resume checks it and says what it did."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from causal_pima.core.model import CausalPIMA, PoEVAE
from causal_pima.core.model_config import ModelConfig
from causal_pima.datasets.torch_checkpoint_dataset import CheckpointLocation, TorchCheckpointDataset
from causal_pima.pipelines.causal_pima import create_pipeline
from causal_pima.pipelines.causal_pima.nodes import fit_causal_pima
from causal_pima.pipelines.causal_pima.resume import (
    HARMLESS_KEYS,
    ResumeMismatchError,
    arrays_digest,
    check_resume,
)

ROOT = Path(__file__).resolve().parents[1]
TINY = {"image_shape": (1, 8, 8), "curve_length": 8, "latent_dim": 3, "image_channels": (4,),
        "image_hidden_dim": 8, "curve_hidden_dims": (8,)}
PARAMS = {"prior": {"n_nodes": None, "conditionals": "table"}, "epochs": 3, "batch_size": 32, "seed": 0,
          "learning_rate": 1.0e-3, "on_collapse": "warn", "init": {"oversample": 1}, "structure": {"steps": 20}}


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny_set(n: int, seed: int, n_labels: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"images": rng.random((n, 1, 8, 8)).astype(np.float32), "curves": rng.normal(size=(n, 8)).astype(np.float32),
            "label_names": np.asarray(["a", "b", "c"][:n_labels], dtype=str)}


@pytest.fixture(scope="module")
def pretrained():
    torch.manual_seed(0)  # what pretraining saves: the networks only
    return PoEVAE(ModelConfig(**TINY, n_nodes=2).network).checkpoint()


class _Interrupt(BaseException):  # like a kill: not wrapped by Kedro, not caught by the fit
    pass


class StopAfter(TorchCheckpointDataset):
    """A checkpoint store that 'kills' the fit right after writing epoch ``stop_after``."""

    def __init__(self, filepath: str, stop_after: int) -> None:
        super().__init__(filepath=filepath)
        self.stop_after = stop_after

    def save(self, data):
        super().save(data)
        if data["epoch"] == self.stop_after:
            raise _Interrupt


def _interrupted(pretrained, path: Path, params=PARAMS, train=None, val=None, stop_after=2) -> None:
    with pytest.raises(_Interrupt):
        fit_causal_pima(pretrained, train or tiny_set(64, 1), val or tiny_set(32, 2), params, StopAfter(str(path), stop_after))
    assert torch.load(path, weights_only=True)["epoch"] == stop_after


def _without_seconds(history):
    return history.drop(columns=["seconds"]).to_dict(orient="list")


def test_resume_with_the_same_fingerprint_is_bit_identical_and_says_so(pretrained, tmp_path, caplog):
    train, val = tiny_set(64, 1), tiny_set(32, 2)
    full_model, full_dag, full_history, _ = fit_causal_pima(pretrained, train, val, PARAMS, str(tmp_path / "full.pt"))
    path = tmp_path / "fit_checkpoint.pt"
    _interrupted(pretrained, path)
    with caplog.at_level(logging.INFO, logger="causal_pima"):
        model, dag, history, _ = fit_causal_pima(pretrained, train, val, {**PARAMS, "resume": True}, str(path))
    assert f"resuming the fit from the checkpoint {path} after epoch 2: training continues with epoch 3 of 3" in caplog.text
    assert _without_seconds(history) == _without_seconds(full_history)
    assert dag["edges"] == full_dag["edges"] and dag["order"] == full_dag["order"]
    for key, value in full_model["state_dict"].items():
        assert torch.equal(model["state_dict"][key], value), key
    # the checkpoint of the finished fit carries the fingerprint and ends at the last epoch
    stored = torch.load(path, weights_only=True)
    assert stored["epoch"] == 3 and stored["fingerprint"]["parameters"]["learning_rate"] == 1.0e-3
    assert stored["fingerprint"]["parameters"]["prior.n_nodes"] == 2


def test_a_changed_learning_rate_stops_the_resume_naming_the_checkpoint_and_the_key(pretrained, tmp_path):
    path = tmp_path / "fit_checkpoint.pt"
    _interrupted(pretrained, path)
    before = path.read_bytes()
    with pytest.raises(ResumeMismatchError) as info:
        fit_causal_pima(pretrained, tiny_set(64, 1), tiny_set(32, 2), {**PARAMS, "resume": True, "learning_rate": 0.01}, str(path))
    message = str(info.value)
    assert f"cannot resume from the fit checkpoint {path} (epoch 2): it was made from a different fit" in message
    assert "causal_pima.learning_rate: 0.001 in the checkpoint, 0.01 now" in message
    assert "causal_pima.resume=false" in message
    assert path.read_bytes() == before  # the refused resume left the checkpoint alone


def test_other_training_data_or_pretrained_model_stops_the_resume(pretrained, tmp_path):
    path = tmp_path / "fit_checkpoint.pt"
    _interrupted(pretrained, path)
    resume = {**PARAMS, "resume": True}
    with pytest.raises(ResumeMismatchError, match=r"(?s)fit_checkpoint.pt \(epoch 2\).*- the training data differs") as info:
        fit_causal_pima(pretrained, tiny_set(64, 7), tiny_set(32, 2), resume, str(path))
    changes = str(info.value).split("\nRun with")[0]
    assert changes.endswith("made from a different fit:\n  - the training data differs from the one the checkpoint was made from")
    torch.manual_seed(1)
    other = CausalPIMA(ModelConfig(**TINY, n_nodes=2)).checkpoint()
    with pytest.raises(ResumeMismatchError, match=r"- the pretrained model differs"):
        fit_causal_pima(other, tiny_set(64, 1), tiny_set(32, 2), resume, str(path))
    with pytest.raises(ResumeMismatchError, match=r"- the validation data differs"):
        fit_causal_pima(pretrained, tiny_set(64, 1), tiny_set(32, 9), resume, str(path))


def test_a_changed_number_of_nodes_names_the_checkpoint_and_the_mismatch_not_a_size_mismatch(pretrained, tmp_path):
    path = tmp_path / "fit_checkpoint.pt"
    _interrupted(pretrained, path)
    params = {**PARAMS, "resume": True, "prior": {**PARAMS["prior"], "n_nodes": 3}}
    with pytest.raises(ResumeMismatchError) as info:
        fit_causal_pima(pretrained, tiny_set(64, 1), tiny_set(32, 2), params, str(path))
    message = str(info.value)
    assert str(path) in message and "size mismatch" not in message
    assert "causal_pima.prior.n_nodes: 2 in the checkpoint, 3 now" in message
    assert "the model's tensors differ in shape: free_log_weights [4] in the checkpoint, [8] now; " in message
    # n_nodes: null counting the label columns of other data is caught the same way
    with pytest.raises(ResumeMismatchError, match="prior.n_nodes: 2 in the checkpoint, 3 now"):
        fit_causal_pima(pretrained, tiny_set(64, 1, n_labels=3), tiny_set(32, 2, n_labels=3), {**PARAMS, "resume": True}, str(path))


def test_more_epochs_is_harmless_the_fit_continues_and_the_log_says_so(pretrained, tmp_path, caplog):
    assert HARMLESS_KEYS == ("epochs",)
    path = tmp_path / "fit_checkpoint.pt"
    _interrupted(pretrained, path)
    with caplog.at_level(logging.INFO, logger="causal_pima"):
        _, _, history, _ = fit_causal_pima(pretrained, tiny_set(64, 1), tiny_set(32, 2), {**PARAMS, "resume": True, "epochs": 5}, str(path))
    assert history["epoch"].tolist() == [1, 2, 3, 4, 5]
    assert "causal_pima.epochs changed from 3 to 5 (harmless: the fit continues)" in caplog.text
    assert f"resuming the fit from the checkpoint {path} after epoch 2: training continues with epoch 3 of 5" in caplog.text
    # fewer epochs than the checkpoint already holds is not a continuation of it
    with pytest.raises(ResumeMismatchError, match="causal_pima.epochs is 2 now but the checkpoint already holds 5 epochs"):
        fit_causal_pima(pretrained, tiny_set(64, 1), tiny_set(32, 2), {**PARAMS, "resume": True, "epochs": 2}, str(path))


def test_settings_that_act_after_the_fit_do_not_block_a_resume(pretrained, tmp_path):
    path = tmp_path / "fit_checkpoint.pt"
    _interrupted(pretrained, path)
    fit_causal_pima(pretrained, tiny_set(64, 1), tiny_set(32, 2), {**PARAMS, "resume": True, "collapse_weight": 0.999}, str(path))


def test_a_checkpoint_without_fingerprint_is_refused_and_a_missing_one_starts_afresh(pretrained, tmp_path, caplog):
    path = tmp_path / "fit_checkpoint.pt"
    _interrupted(pretrained, path)
    legacy = torch.load(path, weights_only=True)
    del legacy["fingerprint"]
    torch.save(legacy, path)
    with pytest.raises(ResumeMismatchError, match=f"{re.escape(str(path))} \\(epoch 2\\): it carries no fingerprint"):
        fit_causal_pima(pretrained, tiny_set(64, 1), tiny_set(32, 2), {**PARAMS, "resume": True}, str(path))
    absent = tmp_path / "absent.pt"
    with caplog.at_level(logging.INFO, logger="causal_pima"):
        _, _, history, _ = fit_causal_pima(pretrained, tiny_set(64, 1), tiny_set(32, 2), {**PARAMS, "resume": True}, str(absent))
    assert f"no fit checkpoint at {absent} yet: fitting from the start" in caplog.text
    assert history["epoch"].tolist() == [1, 2, 3] and absent.exists()


def test_check_resume_lists_every_change_and_the_digest_covers_dtype_shape_and_bytes():
    fingerprint = {"version": 1, "training data": "a", "validation data": "b", "pretrained model": "c",
                   "parameters": {"learning_rate": 0.001, "structure.steps": 500, "epochs": 15}}
    checkpoint = {"phase": "fit", "epoch": 4, "model": {"state_dict": {}}, "fingerprint": fingerprint}
    assert check_resume(checkpoint, fingerprint, "ck.pt", "causal_pima_lattice") == []
    changed = {**fingerprint, "pretrained model": "d", "parameters": {"learning_rate": 0.001, "epochs": 15, "seed": 1}}
    with pytest.raises(ResumeMismatchError) as info:
        check_resume(checkpoint, changed, "ck.pt", "causal_pima_lattice")
    assert "causal_pima_lattice.seed: <unset> in the checkpoint, 1 now" in str(info.value)
    assert "causal_pima_lattice.structure.steps: 500 in the checkpoint, <unset> now" in str(info.value)
    assert "the pretrained model differs" in str(info.value)
    x = np.arange(6, dtype=np.float32)
    assert arrays_digest({"x": x}) == arrays_digest({"x": x.copy()})
    assert len({arrays_digest({"x": x}), arrays_digest({"x": x.reshape(2, 3)}), arrays_digest({"x": x.astype(np.float64)}),
                arrays_digest({"y": x}), arrays_digest({"x": x + 1})}) == 5


def test_the_checkpoint_location_comes_from_the_catalog_not_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fit_node = next(n for n in create_pipeline("lattice").nodes if n.name == "causal_pima.lattice.fit_causal_pima")
    assert fit_node.inputs[4] == "lattice.fit_checkpoint"
    assert fit_node.inputs[5] == "params:model_lattice"  # the physics settings (not in the networks-only pretrained model)
    catalog = yaml.safe_load((ROOT / "conf/base/catalog.yml").read_text())
    entry = catalog["{dataset}.fit_checkpoint"]
    assert entry["type"] == "causal_pima.datasets.torch_checkpoint_dataset.CheckpointLocation"
    assert entry["filepath"] == "data/06_models/{dataset}/fit_checkpoint.pt"  # Kedro makes it project-relative
    store = CheckpointLocation(filepath=str(tmp_path / "elsewhere" / "ck.pt")).load()
    assert isinstance(store, TorchCheckpointDataset) and not store.exists()
    assert str(store._get_load_path()) == str(tmp_path / "elsewhere" / "ck.pt")
