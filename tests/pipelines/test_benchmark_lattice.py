"""The lattice stand-in as the benchmark configuration ``lattice``: its in-memory data equal the files
that ``lattice_synthetic`` then ``lattice`` (ingestion, data_processing) write for the same seed, and
one tiny row of each kind of method runs and has the metric columns.

Tiny settings (40 specimens, 48 x 40 images ingested at 16 x 16, one epoch): about 10 s in all.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from causal_pima.pipelines.benchmark import nodes
from causal_pima.pipelines.benchmark.methods import METHODS, PRETRAININGS
from causal_pima.settings import CONFIG_LOADER_ARGS
from tests.pipelines.benchmark_metrics import METRIC_RANGES, check_metric_ranges

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ["family", "thickness", "defect"]
SEED = 3  # not a group's default seed (0): the run's seed must reach the generator and the split
SETS = ("train", "val", "test")


@pytest.fixture(scope="module")
def params() -> dict:
    """conf/base's parameters as kedro run loads them (the <stage>_lattice groups overlaid), made tiny."""
    loaded = OmegaConfigLoader(str(ROOT / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": "base"})["parameters"]
    params = {name: dict(group) if isinstance(group, dict) else group for name, group in loaded.items()}
    params["lattice_synthetic"] = {**params["lattice_synthetic"], "n_specimens": 40,
                                   "config": {**params["lattice_synthetic"]["config"], "image_height": 48, "image_width": 40}}
    params["lattice_ingestion"] = {**params["lattice_ingestion"], "image_size": 16}  # crop to 40 x 40, then resize
    return params


def _on_disk(params: dict, folder: Path, monkeypatch) -> tuple[dict, dict]:
    """The sets and true DAG of ``kedro run --pipelines lattice_synthetic --params lattice_synthetic.seed=3``
    then ``kedro run --pipelines lattice --params data_processing_lattice.seed=3 --to-outputs ...``:
    the registered pipelines, through the project's catalog entries (relative paths, so in ``folder``)."""
    from causal_pima.pipeline_registry import register_pipelines

    registered = register_pipelines()  # in the project folder (the benchmark pipeline reads its conf)
    route = (registered["lattice_synthetic"] + registered["lattice"]).to_outputs(*(f"lattice.{s}_set" for s in SETS))
    assert {n.name for n in route.nodes} >= {"synthetic.lattice.generate_raw", "ingestion.lattice.ingest",
                                             "data_processing.lattice.build_model_input"}
    entries = OmegaConfigLoader(str(ROOT / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": "base"})["catalog"]
    catalog = DataCatalog.from_config(entries)
    for group, value in (("lattice_synthetic", {**params["lattice_synthetic"], "seed": SEED}),
                         ("lattice_ingestion", params["lattice_ingestion"]),
                         ("data_processing_lattice", {**params["data_processing_lattice"], "seed": SEED})):
        catalog[f"params:{group}"] = value
    monkeypatch.chdir(folder)  # the catalog's relative data/ paths now lie in folder
    SequentialRunner().run(route, catalog)
    assert (folder / "data/01_raw/lattice/images").is_dir() and (folder / "data/02_intermediate/lattice/specimens.npz").is_file()
    return {s: catalog.load(f"lattice.{s}_set") for s in SETS}, catalog.load("lattice.true_dag")


def test_the_lattice_data_equal_the_files_of_the_lattice_pipelines(params, tmp_path, monkeypatch):
    data = nodes.generate_lattice_data(params["lattice_synthetic"], params["lattice_ingestion"],
                                       params["data_processing_lattice"], {}, SEED)
    assert "error" not in data, data.get("error")
    on_disk, true_dag = _on_disk(params, tmp_path, monkeypatch)
    for name in SETS:
        memory, disk = data[name], on_disk[name]
        assert sorted(memory) == sorted(disk), name
        for key in memory:
            a, b = np.asarray(memory[key]), np.asarray(disk[key])
            assert a.dtype == b.dtype and a.shape == b.shape, (name, key, a.dtype, b.dtype, a.shape, b.shape)
            np.testing.assert_array_equal(a, b, err_msg=f"{name}.{key}")  # exactly, not approximately
    assert data["true_dag"] == true_dag  # the record the stand-in writes: features, edges, scm
    assert true_dag["features"] == FEATURES and true_dag["edges"] == [["family", "defect"], ["thickness", "defect"]]
    train = data["train"]
    assert list(train["label_names"]) == FEATURES and train["images"].shape[1:] == (1, 16, 16)
    assert sum(len(data[s]["specimen_id"]) for s in SETS) == 40
    # the run's seed is the generator's and the split's: another seed, other specimens and another split
    other = nodes.generate_lattice_data(params["lattice_synthetic"], params["lattice_ingestion"],
                                        params["data_processing_lattice"], {}, 0)
    assert not np.array_equal(other["train"]["index"], train["index"])
    assert not np.array_equal(np.sort(other["train"]["curves"], axis=None), np.sort(train["curves"], axis=None))
    # a failure is the rows' error, not an exception
    broken = nodes.generate_lattice_data({**params["lattice_synthetic"], "dag": {"family": {"parents": [], "p_one": [0.5]}}},
                                         params["lattice_ingestion"], params["data_processing_lattice"], {}, SEED)
    assert broken["error"].startswith("data: ValueError: ")


def test_a_tiny_lattice_row_of_each_kind_runs_and_has_the_metric_columns(params):
    benchmark = {"configurations": ["lattice"], "seeds": [SEED], "methods": ["causal_pima", "image_only", "two_stage"],
                 "n_specimens": 99999,  # not used by the lattice
                 "pretraining": {"epochs": 1, "min_steps": 0},
                 "causal_pima": {"epochs": 1, "min_steps": 0, "on_collapse": "warn", "structure": {"steps": 50}}}
    data = nodes.generate_lattice_data(params["lattice_synthetic"], params["lattice_ingestion"],
                                       params["data_processing_lattice"], {}, SEED)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pretrained = {name: nodes.pretrain(data, params["model_lattice"], params["pretraining_lattice"], benchmark, SEED, name)
                      for name in PRETRAININGS}
        rows = [nodes.run_method(data, pretrained[METHODS[m].pretraining], params["causal_pima_lattice"], benchmark, "lattice", SEED, m)
                for m in benchmark["methods"]]
    finally:
        torch.set_num_threads(threads)
    # the lattice's model: the physics curve expert with both modalities, none on the image alone
    assert params["model_lattice"]["curve_decoder"] == "physics"
    assert pretrained["image_curve"]["config"].modality_names == ("image", "curve")
    assert pretrained["image_curve"]["config"].curve_grid is not None  # the physics expert's strain grid
    assert pretrained["image"]["config"].modality_names == ("image",) and pretrained["image"]["config"].curve_grid is None
    table = nodes.gather_rows(*rows)
    assert list(table["error"]) == ["", "", ""], list(table["error"])
    assert list(table["configuration"]) == ["lattice"] * 3 and list(table["seed"]) == [SEED] * 3
    assert set(METRIC_RANGES) - {"shd_within_class", "shd_real"} <= set(table.columns)
    assert check_metric_ranges(table) == []
    assert table.set_index("method")["cpdag_shd"].notna().to_dict() == {"causal_pima": True, "image_only": True, "two_stage": True}
    summary, metrics = nodes.summarise_benchmark(table, benchmark, params["lattice_synthetic"])
    assert summary.startswith("Benchmark on the lattice stand-in: 1 seed(s) [3], N = 40 (lattice_synthetic.n_specimens; "
                              "benchmark.n_specimens does not apply); ")
    assert "lattice.causal_pima.node_accuracy" in metrics
