"""Data-parallel training with 2 gloo processes on the CPU (docs/scaling.md "Several processes").

Each test starts real processes (spawn), so there are only two: the closed-form statistics of 2
processes equal the one-process ones, and a short 2-process fit runs end to end through the fit node
(checkpoint of every epoch written by the launching process, model returned trained).
"""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from causal_pima.core import distributed
from causal_pima.core.launch import _free_port
from causal_pima.core.mixture_update import mixture_update, soft_outcome_counts
from causal_pima.core.model import CausalPIMA, PoEVAE
from causal_pima.core.model_config import ModelConfig
from causal_pima.datasets.torch_checkpoint_dataset import TorchCheckpointDataset
from causal_pima.pipelines.causal_pima.nodes import fit_causal_pima

from .conftest import small_model


def _statistics_worker(rank: int, world: int, port: int, model: CausalPIMA, data: dict, results) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        model = copy.deepcopy(model)  # shared-memory parameters: each process updates its own copy
        assert distributed.shard() == (rank, world)
        counts = soft_outcome_counts(model, data, batch_size=40)
        stats = mixture_update(model, data, batch_size=40)
        buffer = io.BytesIO()
        torch.save({"rank": rank, "counts": counts, "s0": stats.s0, "s1": stats.s1, "s2": stats.s2,
                    "means": model.prior.means, "variances": model.prior.variances}, buffer)
        results.put(buffer.getvalue())
    finally:
        dist.destroy_process_group()


def test_two_processes_sum_the_same_sufficient_statistics_and_make_the_same_update(circles_train):
    """Tolerance: float32 sums over 255 specimens in another order (relative 1e-5)."""
    torch.manual_seed(0)
    model = small_model(0)
    with torch.no_grad():  # distinct means, so that the responsibilities are not uniform
        model.prior.means.copy_(torch.randn_like(model.prior.means))
    data = {k: v[:255] for k, v in circles_train.items()}  # odd: the processes get 128 and 127 rows

    one = copy.deepcopy(model)
    counts = soft_outcome_counts(one, data, batch_size=40)
    stats = mixture_update(one, data, batch_size=40)

    context = mp.get_context("spawn")
    results = context.SimpleQueue()
    mp.start_processes(_statistics_worker, args=(2, _free_port(), model, data, results), nprocs=2, start_method="spawn")
    got = [torch.load(io.BytesIO(results.get()), weights_only=False) for _ in range(2)]
    for result in got:
        assert float(result["s0"].sum()) == pytest.approx(255, rel=1e-5)
        torch.testing.assert_close(result["counts"], counts, rtol=1e-7, atol=1e-7)
        torch.testing.assert_close(result["s0"], stats.s0, rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(result["s1"], stats.s1, rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(result["s2"], stats.s2, rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(result["means"], one.prior.means, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(result["variances"], one.prior.variances, rtol=1e-5, atol=1e-5)
    # both processes hold the same mixture after the update
    assert torch.equal(got[0]["means"], got[1]["means"])


TINY = {"image_shape": (1, 8, 8), "curve_length": 8, "latent_dim": 3, "image_channels": (4,),
        "image_hidden_dim": 8, "curve_hidden_dims": (8,)}


def _tiny_set(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"images": rng.random((n, 1, 8, 8)).astype(np.float32), "curves": rng.normal(size=(n, 8)).astype(np.float32)}


def test_a_two_process_fit_runs_end_to_end_through_the_fit_node(tmp_path):
    torch.manual_seed(0)
    pretrained = PoEVAE(ModelConfig(**TINY, n_nodes=2).network).checkpoint()
    params = {"prior": {"n_nodes": 2}, "epochs": 2, "batch_size": 32, "seed": 0, "on_collapse": "warn",
              "init": {"oversample": 1}, "structure": {"steps": 20}}
    store = TorchCheckpointDataset(filepath=str(tmp_path / "fit_checkpoint.pt"))
    checkpoint, record, history, metrics = fit_causal_pima(
        pretrained, _tiny_set(96, 1), _tiny_set(32, 2), params, store,
        compute_params={"device": "cpu"}, distributed_params={"processes": 2, "threads_per_process": 1},
    )
    assert list(history["epoch"]) == [1, 2]
    assert np.isfinite(history["val_elbo"]).all()
    saved = store.load()  # written in this process from process 0's relayed checkpoints
    assert saved["epoch"] == 2 and "fingerprint" in saved
    model = CausalPIMA.from_checkpoint(checkpoint)  # the trained weights came back
    assert not torch.equal(model.prior.means, torch.zeros_like(model.prior.means))
    fitted_net = {k: v for k, v in checkpoint["state_dict"].items() if k.startswith("encoders.")}
    assert any(not torch.equal(v, pretrained["state_dict"][k]) for k, v in fitted_net.items())
    assert record["node_names"] == ["N0", "N1"] and "diagnostics" in record
    assert len(metrics) > 0
