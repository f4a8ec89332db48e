"""Batches read through the DataLoader from memory-mapped files, and the device plumbing (docs/scaling.md).

CI has no GPU: the CUDA paths are covered by their CPU counterparts (``device="cpu"`` explicitly,
checkpoints that are CPU tensors whatever the device, ``map_location`` loads) and by the refusal of
a CUDA device on a machine without one.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

from causal_pima.core import training_state
from causal_pima.core.batching import (
    SpecimenRows,
    as_batches,
    batch_indices,
    by_reference,
    read_batches,
    specimen_data,
)
from causal_pima.core.compute import ComputeConfig, resolve_device
from causal_pima.core.training import fit, pretrain
from causal_pima.core.training_config import FitConfig, PretrainConfig
from causal_pima.datasets import ArrayFolderDataset, TorchCheckpointDataset

from .conftest import small_model

pytestmark = pytest.mark.usefixtures("one_thread")


def _on_disk(data: dict[str, torch.Tensor], folder) -> dict[str, np.ndarray]:
    """The tensors saved as one .npy each and loaded back memory-mapped (as the catalog loads model inputs)."""
    store = ArrayFolderDataset(filepath=str(folder))
    store.save({k: v.numpy() for k, v in data.items()})
    return store.load()


def _without_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


# ---------------------------------------------------------------------------- batches
def test_memory_mapped_batches_equal_in_memory_batches(circles_train, tmp_path):
    mapped = _on_disk(circles_train, tmp_path / "train")
    assert all(isinstance(v, np.memmap) for v in mapped.values())
    a = list(as_batches(circles_train, 50, torch.Generator().manual_seed(3)))
    b = list(as_batches(mapped, 50, torch.Generator().manual_seed(3)))
    assert [len(x["image"]) for x in a] == [50, 50, 50, 50, 50, 6]
    for x, y in zip(a, b, strict=True):
        for key in x:
            assert torch.equal(x[key].float(), y[key])


def test_batches_are_the_permutation_of_the_generator_and_leave_the_global_stream_alone(circles_train):
    torch.manual_seed(11)
    before = torch.get_rng_state()
    data = {"row": torch.arange(10)}
    got = [b["row"].tolist() for b in as_batches(data, 4, torch.Generator().manual_seed(5))]
    expected = [i.tolist() for i in torch.randperm(10, generator=torch.Generator().manual_seed(5)).split(4)]
    assert got == expected
    assert torch.equal(torch.get_rng_state(), before)  # the DataLoader draws its seed from its own generator
    assert [b["row"].tolist() for b in as_batches(data, 4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_shards_split_every_batch_between_processes():
    data = {"row": torch.arange(11)}
    indices = batch_indices(11, 4, torch.Generator().manual_seed(0))  # sizes 4, 4, 3
    shards = [[b["row"].tolist() for b in read_batches(data, indices, shard=(rank, 2))] for rank in range(2)]
    for step in range(3):
        assert sorted(shards[0][step] + shards[1][step]) == sorted(indices[step].tolist())
    # a batch with fewer rows than processes is skipped on every process (same number of steps)
    tiny = [torch.tensor([3, 7, 1]), torch.tensor([5])]
    assert [len(list(read_batches(data, tiny, shard=(r, 2)))) for r in range(2)] == [1, 1]


def test_loader_workers_read_the_same_batches(circles_val, tmp_path):
    mapped = _on_disk(circles_val, tmp_path / "val")
    serial = list(as_batches(mapped, 40, torch.Generator().manual_seed(1)))
    parallel = list(as_batches(mapped, 40, torch.Generator().manual_seed(1), workers=2))
    assert len(serial) == len(parallel) == 4
    for x, y in zip(serial, parallel, strict=True):
        assert all(torch.equal(x[k], y[k]) for k in x)


def test_memory_maps_are_pickled_by_reference(tmp_path):
    big = np.arange(200_000, dtype=np.float32).reshape(1000, 200)
    mapped = _on_disk({"image": torch.from_numpy(big)}, tmp_path / "big")
    rows = SpecimenRows(mapped)
    payload = pickle.dumps(rows)
    assert len(payload) < 2_000  # the file reference, not the 800 kB of data
    restored = pickle.loads(payload)
    assert isinstance(restored.data["image"], np.memmap)
    assert np.array_equal(restored.data["image"], big)
    assert isinstance(pickle.loads(pickle.dumps(by_reference(mapped)))["image"], np.memmap)
    # a slice of a memory map is not a whole file: it travels as data
    assert not isinstance(by_reference({"x": mapped["image"][:10]})["x"], type(by_reference(mapped)["image"]))


def test_specimen_data_keeps_memory_maps_on_disk(circles_train, tmp_path):
    mapped = _on_disk({"images": circles_train["image"], "curves": circles_train["curve"]}, tmp_path / "set")
    data = specimen_data(mapped, ["image", "curve"])
    assert isinstance(data["image"], np.memmap) and isinstance(data["curve"], np.memmap)
    in_memory = specimen_data({"images": np.asarray(mapped["images"]), "curves": np.asarray(mapped["curves"])}, ["image"])
    assert isinstance(in_memory["image"], torch.Tensor) and in_memory["image"].dtype == torch.float32


def test_training_from_memory_maps_equals_training_in_memory(circles_train, circles_val, tmp_path):
    """Streaming is not an approximation: the same seed gives the same history, number for number."""
    config = PretrainConfig(epochs=2, batch_size=64, seed=0)
    in_memory = small_model(0)
    history_a = pretrain(in_memory, circles_train, circles_val, config)
    streamed = small_model(0)
    history_b = pretrain(streamed, _on_disk(circles_train, tmp_path / "t"), _on_disk(circles_val, tmp_path / "v"), config)
    assert _without_seconds(history_a) == _without_seconds(history_b)
    for (name, a), b in zip(in_memory.state_dict().items(), streamed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


# ---------------------------------------------------------------------------- device
def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="auto, cpu, cuda or cuda:N"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_a_cuda_device_without_cuda_is_a_clear_error(circles_train, circles_val):
    with pytest.raises(ValueError, match="'cuda:1' was asked for but this machine has no CUDA device"):
        pretrain(small_model(0), circles_train, circles_val, PretrainConfig(epochs=1), compute=ComputeConfig(device="cuda:1"))


def test_explicit_cpu_device_is_the_default_loop_number_for_number(circles_train, circles_val, caplog):
    """device="cpu" (and mixed_precision, which needs CUDA and is ignored with a warning) goes
    through the device plumbing and gives exactly the numbers of the plain loop."""
    config = FitConfig(epochs=1, batch_size=64, seed=0)
    base = small_model(0)
    pretrain(base, circles_train, circles_val, PretrainConfig(epochs=1, batch_size=64))
    plain, explicit = copy.deepcopy(base), copy.deepcopy(base)
    result_a = fit(plain, circles_train, circles_val, config)
    with caplog.at_level("WARNING", logger="causal_pima.core.compute"):
        result_b = fit(explicit, circles_train, circles_val, config, compute=ComputeConfig(device="cpu", mixed_precision=True))
    assert "mixed_precision is true but the device is cpu" in caplog.text
    assert _without_seconds(result_a["history"]) == _without_seconds(result_b["history"])
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), explicit.state_dict().values(), strict=True))
    assert next(explicit.parameters()).device.type == "cpu"  # the model ends on the CPU


def test_checkpoints_hold_cpu_tensors_and_load_with_map_location(circles_train, circles_val, tmp_path):
    model = small_model(0)
    kept = []
    fit(model, circles_train, circles_val, FitConfig(epochs=1, batch_size=64), [lambda r: kept.append(r.checkpoint())],
        compute=ComputeConfig(device="cpu"))

    def tensors(value):
        if isinstance(value, torch.Tensor):
            yield value
        elif isinstance(value, dict):
            for v in value.values():
                yield from tensors(v)
        elif isinstance(value, list | tuple):
            for v in value:
                yield from tensors(v)

    state = kept[-1]
    assert all(t.device.type == "cpu" for t in tensors(state))
    assert training_state.to_cpu({"a": [torch.ones(2)]})["a"][0].device.type == "cpu"
    store = TorchCheckpointDataset(filepath=str(tmp_path / "fit.pt"))
    store.save(state)
    loaded = store.load()  # torch.load(map_location="cpu"): a checkpoint written on a GPU loads here too
    assert torch.equal(loaded["model"]["state_dict"]["prior.means"], state["model"]["state_dict"]["prior.means"])


# ---------------------------------------------------------------------------- DDP's unused parameters
def _tiny_models():
    from causal_pima.core.model import CausalPIMA, PoEVAE
    from causal_pima.core.model_config import ModelConfig
    from tests.pipelines.test_node_units import GRID, TINY

    torch.manual_seed(0)
    physics = {"curve_decoder": "physics", "curve_grid": tuple(GRID), "curve_mean": (2.0,) * 8, "curve_std": (0.5,) * 8}
    return {
        "poe": PoEVAE(ModelConfig(**TINY).network),
        "dag": CausalPIMA(ModelConfig(**TINY, n_nodes=2)),
        "free_weights": CausalPIMA(ModelConfig(**TINY, n_nodes=2, mixture_weights="free")),
        "physics": CausalPIMA(ModelConfig(**TINY, n_nodes=2, **physics)),
    }


@pytest.mark.parametrize(
    ("kind", "method"),
    [("poe", "pretraining_loss")]  # a plain PoE VAE has no mixture objective
    + [(kind, method) for kind in ("dag", "free_weights", "physics") for method in ("pretraining_loss", "mixture_loss")],
)
def test_ddp_is_told_exactly_when_an_objective_leaves_parameters_without_gradient(kind, method):
    """DistributedDataParallel fails on the second step if a trainable parameter gets no gradient and
    it was not told (seen with the physics expert); telling it when all are used only costs time."""
    from causal_pima.core.distributed import has_unused_parameters

    model = _tiny_models()[kind]
    rng = np.random.default_rng(0)
    batch = {"image": torch.from_numpy(rng.random((6, 1, 8, 8)).astype(np.float32)),
             "curve": torch.from_numpy(rng.normal(size=(6, 8)).astype(np.float32))}
    getattr(model, method)(batch)["loss"].backward()
    unused = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert has_unused_parameters(model, method) == bool(unused), unused
