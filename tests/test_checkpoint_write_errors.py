"""A full device while writing a checkpoint names the file and says the device is full (issue 9, item 8),
instead of torch's "[enforce fail at inline_container.cc:672] . unexpected pos ..."."""

from __future__ import annotations

import errno
import re

import pytest
import torch
from kedro.io import DatasetError

from causal_pima.datasets import TorchCheckpointDataset

TORCH_DISK_FULL = "[enforce fail at inline_container.cc:672] . unexpected pos 832 vs 726"  # torch 2.13 on a full tmpfs


def _failing_save(exc: BaseException):
    def save(obj, f, *args, **kwargs):
        with open(f, "wb") as handle:
            handle.write(b"PK\x03\x04 half a checkpoint")
        raise exc

    return save


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (RuntimeError(TORCH_DISK_FULL), "torch.save stopped part-way ([enforce fail at inline_container.cc:672] . unexpected "
                                        "pos 832 vs 726), which is how it reports a full device: the device may be full (errno ENOSPC)"),
        (OSError(errno.ENOSPC, "No space left on device"), "the device is full (errno ENOSPC: No space left on device)"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "the device is full (errno EDQUOT: Disk quota exceeded)"),
    ],
)
def test_disk_full_names_the_file_and_the_full_device_and_keeps_the_old_checkpoint(tmp_path, monkeypatch, error, expected):
    target = tmp_path / "models" / "fit_checkpoint.pt"
    dataset = TorchCheckpointDataset(filepath=str(target))
    dataset.save({"epoch": 1})
    monkeypatch.setattr(torch, "save", _failing_save(error))
    with pytest.raises(DatasetError) as info:
        dataset.save({"epoch": 2})
    message = str(info.value)
    assert message.startswith(f"could not write {target}: ")
    assert expected in message
    assert re.search(rf"[0-9.]+ MiB free now on the device holding {re.escape(str(target.parent))}", message)
    assert "Nothing was replaced" in message
    assert isinstance(info.value.__cause__, type(error))
    # the previous checkpoint is intact and no temporary file is left
    assert sorted(p.name for p in target.parent.iterdir()) == ["fit_checkpoint.pt"]
    assert dataset.load() == {"epoch": 1}


def test_other_write_errors_still_name_the_file_and_unrelated_errors_pass_through(tmp_path, monkeypatch):
    target = tmp_path / "model.pt"
    monkeypatch.setattr(torch, "save", _failing_save(OSError(errno.EACCES, "Permission denied")))
    with pytest.raises(DatasetError, match=re.escape(f"could not write {target}: [Errno 13] Permission denied")):
        TorchCheckpointDataset(filepath=str(target)).save({})
    monkeypatch.setattr(torch, "save", _failing_save(RuntimeError("something else")))
    with pytest.raises(DatasetError, match="something else") as info:
        TorchCheckpointDataset(filepath=str(target)).save({})
    assert "could not write" not in str(info.value)


def test_a_truncated_checkpoint_names_the_file_on_load(tmp_path):
    target = tmp_path / "fit_checkpoint.pt"
    torch.save({"w": torch.ones(1000)}, target)
    target.write_bytes(target.read_bytes()[:500])
    with pytest.raises(DatasetError, match=re.escape(f"could not read the checkpoint {target}: ") + ".*truncated file"):
        TorchCheckpointDataset(filepath=str(target)).load()


def test_a_fit_whose_checkpoint_cannot_be_written_stops_with_that_message(tmp_path, monkeypatch):
    from causal_pima.core.model import CausalPIMA
    from causal_pima.core.model_config import ModelConfig
    from causal_pima.pipelines.causal_pima.nodes import fit_causal_pima
    from tests.test_resume_fingerprint import PARAMS, TINY, tiny_set

    torch.manual_seed(0)
    pretrained = CausalPIMA(ModelConfig(**TINY, n_nodes=2)).checkpoint()
    monkeypatch.setattr(torch, "save", _failing_save(RuntimeError(TORCH_DISK_FULL)))
    target = tmp_path / "06_models" / "fit_checkpoint.pt"
    with pytest.raises(DatasetError, match=re.escape(f"could not write {target}: torch.save stopped part-way")):
        fit_causal_pima(pretrained, tiny_set(64, 1), tiny_set(32, 2), {**PARAMS, "epochs": 1}, str(target))
    assert not target.exists()
