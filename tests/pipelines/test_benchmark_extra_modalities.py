"""The benchmark with the circles generator's scalar modality (issue 21, item 1: ``benchmark.extra_modalities``):
the data sets rendered with scalars, the shared image_curve pretraining on three modalities, image_only and
the peer's sizes unchanged, the lattice and unknown names refused. Tiny circles sets, seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from causal_pima.parameter_schemas import InvalidParametersError, validate_parameters
from causal_pima.pipelines.benchmark import nodes
from causal_pima.pipelines.benchmark.methods import METHODS, PRETRAININGS, pretraining_modalities
from causal_pima.session_parameters import file_parameters

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def parameters() -> dict:
    return file_parameters(ROOT / "conf", env="base")[0]


def test_the_extra_modalities_join_the_shared_multimodal_pretraining_only():
    assert {name: pretraining_modalities(name) for name in PRETRAININGS} == dict(PRETRAININGS)  # [] changes nothing
    assert {name: pretraining_modalities(name, ["scalar"]) for name in PRETRAININGS} == {
        "image_curve": ("image", "curve", "scalar"), "image": ("image",), "sizes_image_curve": ("image", "curve")}
    # the methods that start from image_curve fit three modalities; image_only and peer do not
    assert sorted(m for m, method in METHODS.items() if "scalar" in pretraining_modalities(method.pretraining, ["scalar"])) == [
        "causal_pima", "causal_pima_auto_d", "pima", "two_stage"]


def test_a_causal_pima_row_with_the_scalar_modality_fits_a_three_modality_model(parameters):
    circles = {**parameters["circles"], "render": {**parameters["circles"]["render"], "scalar_missing": 0.25}}
    benchmark = {**parameters["benchmark"], "n_specimens": 200, "extra_modalities": ["scalar"],
                 "pretraining": {"epochs": 2, "min_steps": 0}, "causal_pima": {"epochs": 1, "min_steps": 0, "structure": {"steps": 50}}}
    data = nodes.generate_data(circles, parameters["data_processing"], benchmark, "collider", 0)
    plain = nodes.generate_data(circles, parameters["data_processing"], {**benchmark, "extra_modalities": []}, "collider", 0)
    train = data["train"]
    assert train["scalars"].shape == (len(train["specimen_id"]), 2) and "scalars" not in plain["train"]
    # the configured scalar_missing is kept: about a quarter of the specimens without scalars (NaN rows)
    missing = np.isnan(train["scalars"]).all(axis=1)
    assert 0.15 < missing.mean() < 0.35 and not np.isnan(train["scalars"][~missing]).any()
    np.testing.assert_array_equal(train["images"], plain["train"]["images"])  # the scalars' own random stream
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pretrained = {name: nodes.pretrain(data, parameters["model"], parameters["pretraining"], benchmark, 0, name)
                      for name in ("image_curve", "image", "sizes_image_curve")}
        row = nodes.run_method(data, pretrained["image_curve"], parameters["causal_pima"], benchmark, "collider", 0, "causal_pima")
    finally:
        torch.set_num_threads(threads)
    assert pretrained["image_curve"]["model"].modalities == ("image", "curve", "scalar")
    assert pretrained["image"]["model"].modalities == ("image",)
    assert "model" not in pretrained["sizes_image_curve"]
    assert pretrained["sizes_image_curve"]["config"].network.modalities == ("image", "curve")  # the peer's
    assert row["error"] == "" and row["n_nodes"] == 3 and row["n_test"] == 20
    assert all(np.isfinite(row[k]) for k in ("reconstruction_error_image", "reconstruction_error_curve",
                                               "reconstruction_error_scalar", "test_elbo", "node_accuracy", "cpdag_shd"))
    assert 0 <= row["node_accuracy"] <= 1


def test_the_lattice_stand_in_has_no_scalars_its_rows_record_why(parameters):
    data = nodes.generate_lattice_data(parameters["lattice_synthetic"], parameters["lattice_ingestion"],
                                       parameters["data_processing_lattice"], {"extra_modalities": ["scalar"]}, 0)
    assert data == {"error": "data: benchmark.extra_modalities = ['scalar'] with 'lattice' in benchmark.configurations: "
                             "the lattice stand-in has no scalar modality (image and curve only); allowed: "
                             "benchmark.extra_modalities = [] with the lattice, or configurations without it (conf/scalar: "
                             "kedro run --env scalar --pipelines benchmark)"}


def test_the_schema_refuses_an_unknown_extra_modality_and_the_lattice_with_one(parameters):
    def problems(**benchmark) -> list[str]:
        with pytest.raises(InvalidParametersError) as error:
            validate_parameters({**parameters, "benchmark": {**parameters["benchmark"], **benchmark}}, ["benchmark"])
        return error.value.problems

    circles_only = [c for c in parameters["benchmark"]["configurations"] if c != "lattice"]
    assert parameters["benchmark"]["extra_modalities"] == []
    assert validate_parameters({**parameters, "benchmark": {**parameters["benchmark"], "configurations": circles_only,
                                                            "extra_modalities": ["scalar"]}}, ["benchmark"])
    assert problems(configurations=circles_only, extra_modalities=["spectrum"]) == [
        "benchmark.extra_modalities.0 = 'spectrum': must be 'scalar' (allowed: a list of ['scalar'] (the registered "
        "modalities besides image and curve that the circles generator renders), each at most once)"]
    assert problems(configurations=circles_only, extra_modalities=["scalar", "scalar"]) == [
        "benchmark.extra_modalities = ['scalar', 'scalar']: allowed: each of ['scalar'] at most once"]
    (lattice,) = problems(extra_modalities=["scalar"])  # the base list has the lattice
    assert lattice.startswith("benchmark.extra_modalities = ['scalar'] with 'lattice' in benchmark.configurations: ")
    # the scalar profile (conf/scalar) is valid as it stands
    scalar_env = file_parameters(ROOT / "conf", env="scalar")[0]
    assert scalar_env["benchmark"]["extra_modalities"] == ["scalar"] and validate_parameters(scalar_env, ["benchmark"])


def test_the_summary_header_names_the_extra_modalities():
    table = nodes.gather_rows({"configuration": "collider", "seed": 0, "method": "causal_pima", "error": "", "node_accuracy": 1.0})
    benchmark = {"configurations": ["collider"], "seeds": [0], "n_specimens": 300}
    with_scalars, _ = nodes.summarise_benchmark(table, {**benchmark, "extra_modalities": ["scalar"]})
    assert with_scalars.startswith("Benchmark on circles: 1 seed(s) [0], N = 300, with the modalities ['scalar'] "
                                   "(benchmark.extra_modalities); mean +- std")
    assert nodes.summarise_benchmark(table, benchmark)[0].startswith("Benchmark on circles: 1 seed(s) [0], N = 300; mean +- std")
