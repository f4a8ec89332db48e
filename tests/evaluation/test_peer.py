"""The peer pipeline from libraries (``evaluation.peer``, benchmark method ``peer``): GES on codes of a
known graph, the library VAE at the project's size, and a whole row on a tiny circles set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from causal_pima.core.model import PoEVAE
from causal_pima.core.model_config import NetworkConfig
from causal_pima.core.networks import count_parameters
from causal_pima.evaluation.peer import (
    flatten_specimens,
    ges_structure,
    gmm_clusters,
    peer_structure,
    peer_vae,
)
from causal_pima.model_input import model_config_from_data
from causal_pima.pipelines.benchmark import nodes
from causal_pima.pipelines.benchmark.methods import METHODS, UNTRAINED
from causal_pima.session_parameters import file_parameters
from tests.pipelines.benchmark_metrics import METRIC_RANGES, check_metric_ranges

ROOT = Path(__file__).resolve().parents[2]


def _bernoulli(rng, p):
    return (rng.random(len(p)) < p).astype(np.int64)


def test_ges_recovers_the_cpdag_of_a_strong_collider_and_of_a_chain():
    rng = np.random.default_rng(0)
    n = 3000
    a, b = _bernoulli(rng, np.full(n, 0.5)), _bernoulli(rng, np.full(n, 0.5))
    c = _bernoulli(rng, np.array([0.05, 0.6, 0.6, 0.95])[a + 2 * b])  # a -> c <- b
    cpdag, dag = ges_structure(np.c_[a, b, c])
    collider = np.array([[0, 0, 1], [0, 0, 1], [0, 0, 0]])
    np.testing.assert_array_equal(cpdag, collider)  # a v-structure: every edge directed
    np.testing.assert_array_equal(dag, collider)
    # a chain a -> b -> c: its class is the undirected skeleton a - b - c; the DAG is one member
    b2 = _bernoulli(rng, np.where(a == 1, 0.9, 0.1))
    c2 = _bernoulli(rng, np.where(b2 == 1, 0.9, 0.1))
    cpdag, dag = ges_structure(np.c_[a, b2, c2])
    np.testing.assert_array_equal(cpdag, [[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(dag + dag.T, cpdag)  # the same skeleton, each edge one way
    assert not (dag[0, 1] and dag[2, 1])  # no v-structure at b
    with pytest.raises(ValueError, match=r"codes must be a non-empty binary array \[N, d\], got shape \(3,\)"):
        ges_structure(np.array([0, 1, 2]))


def test_gmm_clusters_and_codes_of_four_separated_blobs():
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])  # bit 0 on x, bit 1 on y
    truth = np.repeat(np.arange(4), 100)
    latents = centres[truth] + rng.normal(scale=0.5, size=(400, 2))
    clusters = gmm_clusters(latents, 2, seed=0)
    assert len(clusters.used) == 4 and sorted(np.bincount(clusters.labels)) == [100] * 4
    found = peer_structure(latents, 2, "pca_signs_additive", seed=0)
    codes = found.result.codes  # [400, 2]
    # each blob gets one code, and the two nodes are x and y (up to a flip and a swap of the nodes)
    agree = [[abs(np.corrcoef(codes[:, j], centres[truth][:, k])[0, 1]) for k in range(2)] for j in range(2)]
    assert sorted(np.max(agree, axis=1)) == pytest.approx([1.0, 1.0])
    np.testing.assert_array_equal(found.predict_outcomes(centres), found.cluster_codes[clusters.predict(centres)])
    assert found.cpdag.sum() == 0  # independent nodes: no edge
    with pytest.raises(ValueError, match="need at least 8 specimens for 8 mixture components, got 5"):
        gmm_clusters(latents[:5], 3)


def test_the_library_vae_has_the_size_of_the_projects_poe_vae_and_reads_flat_rows():
    network = NetworkConfig(image_shape=(3, 32, 32), curve_length=64, latent_dim=8)
    library, project = count_parameters(peer_vae(network)), count_parameters(PoEVAE(network))
    assert abs(library - project) / project < 0.001  # 238,547 and 238,565 parameters
    tensors = {"image": torch.rand(5, 3, 32, 32), "curve": torch.randn(5, 64)}
    rows = flatten_specimens(tensors, network)
    assert rows.shape == (5, 3 * 32 * 32 + 64) and torch.equal(rows[:, -64:], tensors["curve"])
    output = peer_vae(network)({"data": rows})
    assert output.recon_x.shape == rows.shape and torch.isfinite(output.loss)
    with pytest.raises(ValueError, match="curve has 60 values per specimen, the model config 64"):
        flatten_specimens({**tensors, "curve": torch.randn(5, 60)}, network)


def test_the_peer_row_on_a_tiny_circles_set_has_every_metric():
    parameters, _ = file_parameters(ROOT / "conf", env="base")
    benchmark = {**parameters["benchmark"], "n_specimens": 200}
    data = nodes.generate_data(parameters["circles"], parameters["data_processing"], benchmark, "collider", 0)
    # the peer reads only the model config and the pretraining's parameters: its pretraining trains nothing
    assert METHODS["peer"].pretraining in UNTRAINED
    pretraining = {**parameters["pretraining"], "epochs": 2, "min_steps": 0}
    pretrained = nodes.pretrain(data, parameters["model"], pretraining, benchmark, 0, "sizes_image_curve")
    assert "model" not in pretrained and pretrained["pretraining"] == {**pretraining, "seed": 0}
    assert pretrained["config"] == model_config_from_data(data["train"], {**parameters["model"], "modalities": ["image", "curve"]})
    row = nodes.run_method(data, pretrained, parameters["causal_pima"], benchmark, "collider", 0, "peer")
    assert row["error"] == ""
    assert set(METRIC_RANGES) - {"test_elbo"} <= set(row)  # no ELBO: the peer's likelihood is not the project's
    assert check_metric_ranges(nodes.gather_rows(row)) == []
    assert row["n_nodes"] == 3 and row["peer_epochs"] == 2 and row["n_test"] == 20
    assert row["wall_seconds"] > pretrained["seconds"]  # its own training, and the sizing
    again = nodes.run_method(data, pretrained, parameters["causal_pima"], benchmark, "collider", 0, "peer")
    assert {k: v for k, v in again.items() if k != "wall_seconds"} == {k: v for k, v in row.items() if k != "wall_seconds"}
