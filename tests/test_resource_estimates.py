"""Resources bounded before they are spent (issue 24, "Run integrity"), checked before any node runs:
the processes of a training run against the machine's cores and memory (item 1), and the training
specimens a fit's initial clusters need against the generated data set's size (item 4). Each refusal
names the parameter, its value, the estimate and the limit. (Items 2 and 3, the id length and the image
file size, are checked at ingestion: tests/data/test_ingestion_bounds.py.)"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node

from causal_pima import parameter_schemas
from causal_pima.parameter_schemas import (
    InvalidParametersError,
    available_memory_bytes,
    resource_problems,
    validate_parameters,
)
from causal_pima.settings import CONFIG_LOADER_ARGS
from causal_pima.validation_hook import ParameterValidationHook

ROOT = Path(__file__).resolve().parents[1]
GB = 10**9


@pytest.fixture(scope="module")
def defaults(tmp_path_factory) -> dict:
    """The parameters of conf/base exactly as a run loads them (conf/local left out)."""
    conf = tmp_path_factory.mktemp("conf")
    shutil.copytree(ROOT / "conf" / "base", conf / "base")
    (conf / "local").mkdir()
    return OmegaConfigLoader(str(conf), **CONFIG_LOADER_ARGS)["parameters"]


def _with(params: dict, **values) -> dict:
    """``params`` with ``{"circles.n_specimens": 5}``-style dotted keys (``__`` for ``.``) replaced."""
    params = copy.deepcopy(params)
    for key, value in values.items():
        *parents, last = key.split("__")
        target = params
        for part in parents:
            target = target[part]
        target[last] = value
    return params


def _problems(params: dict, groups=None) -> list[str]:
    with pytest.raises(InvalidParametersError) as caught:
        validate_parameters(params, groups)
    return caught.value.problems


# ------------------------------------------------------------------ item 1: processes against cores and memory
def _machine(params: dict, processes: int, workers: int, **resources) -> dict:
    params = _with(params, distributed__processes=processes, compute__workers=workers)
    params["resources"] = {**params["resources"], **resources}
    return params


def test_the_default_processes_fit_any_machine(defaults):
    assert resource_problems(defaults, ["compute", "distributed"], cpus=1, available=1) == []


def test_more_processes_than_cores_are_refused_naming_the_limit_and_its_parameter(defaults):
    params = _machine(defaults, processes=4, workers=1)
    assert resource_problems(params, ["distributed"], cpus=2, available=100 * GB) == [
        "distributed.processes = 4 with compute.workers = 1: 8 processes (4 training processes, each with 1 DataLoader "
        "worker), above the limit of 2 (resources.max_processes = null: this machine's 2 CPU cores); allowed: "
        "distributed.processes x (1 + compute.workers) <= 2; lower distributed.processes or compute.workers, or raise "
        "resources.max_processes if the machine can run that many"
    ]
    assert resource_problems(_machine(defaults, 2, 0), ["distributed"], cpus=2, available=100 * GB) == []
    # DataLoader workers are processes too: 1 training process with 2 workers is 3 processes
    (problem,) = resource_problems(_machine(defaults, 1, 2), ["compute"], cpus=2, available=100 * GB)
    assert problem.startswith("distributed.processes = 1 with compute.workers = 2: 3 processes (1 training process, "
                              "each with 2 DataLoader workers), above the limit of 2")


def test_resources_max_processes_raises_or_lowers_the_limit(defaults):
    assert resource_problems(_machine(defaults, 4, 1, max_processes=8), ["distributed"], cpus=2, available=100 * GB) == []
    (problem,) = resource_problems(_machine(defaults, 3, 0, max_processes=2), ["distributed"], cpus=16, available=100 * GB)
    assert "3 processes (3 training processes), above the limit of 2 (resources.max_processes = 2)" in problem


def test_processes_that_do_not_fit_the_available_memory_are_refused(defaults):
    params = _machine(defaults, processes=4, workers=1)
    assert resource_problems(params, ["distributed"], cpus=64, available=2 * GB) == [
        "distributed.processes = 4 with compute.workers = 1: about 2,560 MB for the new processes (4 training processes "
        "x 540 MB (resources.process_memory_mb) + 4 DataLoader workers x 100 MB (resources.worker_memory_mb)), above "
        "the 2,000 MB this machine has available (/proc/meminfo MemAvailable); lower distributed.processes or "
        "compute.workers, or lower resources.process_memory_mb / resources.worker_memory_mb if the processes need less"
    ]
    assert resource_problems(params, ["distributed"], cpus=64, available=3 * GB) == []  # 2,560 MB fit in 3,000
    # one process trains in the Kedro process, which is in memory already: only its workers are new
    assert resource_problems(_machine(defaults, 1, 0), ["compute"], cpus=64, available=1) == []
    (problem,) = resource_problems(_machine(defaults, 1, 3), ["compute"], cpus=64, available=GB // 4)
    assert "about 300 MB for the new processes (3 DataLoader workers x 100 MB (resources.worker_memory_mb))" in problem


def test_runs_that_train_nothing_and_torchrun_jobs_are_not_checked(defaults, monkeypatch):
    params = _machine(defaults, processes=64, workers=4)
    assert resource_problems(params, ["circles", "data_processing"], cpus=1, available=1) == []
    assert len(resource_problems(params, ["distributed"], cpus=1, available=1)) == 2
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job")  # torchrun: its processes replace distributed.processes
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert resource_problems(params, ["distributed"], cpus=1, available=1) == []


def test_available_memory_is_read_from_meminfo(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    8000000 kB\n")
    assert available_memory_bytes(str(meminfo)) == 8_000_000 * 1024
    meminfo.write_text("MemTotal:       16000000 kB\n")  # a kernel without MemAvailable: memory not checked
    assert available_memory_bytes(str(meminfo)) is None
    assert available_memory_bytes(str(tmp_path / "missing")) is None


def test_the_hook_refuses_too_many_processes_before_any_node_runs(defaults, monkeypatch):
    ran = []
    pipeline = Pipeline([node(lambda c, d: ran.append(1), ["params:compute", "params:distributed"], None, name="train")])
    catalog = DataCatalog({"parameters": MemoryDataset(_machine(defaults, processes=3, workers=0))})
    monkeypatch.setattr(parameter_schemas, "machine_cpu_count", lambda: 2)
    monkeypatch.setattr(parameter_schemas, "available_memory_bytes", lambda: 100 * GB)
    with pytest.raises(InvalidParametersError) as caught:
        ParameterValidationHook().before_pipeline_run({"runtime_params": {}}, pipeline, catalog)
    assert caught.value.problems == [
        "distributed.processes = 3 with compute.workers = 0: 3 processes (3 training processes), above the limit of 2 "
        "(resources.max_processes = null: this machine's 2 CPU cores); allowed: distributed.processes x (1 + "
        "compute.workers) <= 2; lower distributed.processes or compute.workers, or raise resources.max_processes if "
        "the machine can run that many"
    ]
    # the override given on the command line (kedro run --params resources.max_processes=3) lets it start
    params = _machine(defaults, processes=3, workers=0, max_processes=3)
    catalog = DataCatalog({"parameters": MemoryDataset(params)})
    ParameterValidationHook().before_pipeline_run({"runtime_params": {"resources": {"max_processes": 3}}}, pipeline, catalog)
    assert ran == []  # the hook never runs a node
    # an invalid limit is named like any parameter
    catalog = DataCatalog({"parameters": MemoryDataset(_machine(defaults, 1, 0, max_processes=0))})
    with pytest.raises(InvalidParametersError) as caught:
        ParameterValidationHook().before_pipeline_run({"runtime_params": {}}, pipeline, catalog)
    assert caught.value.problems == [
        "resources.max_processes = 0: must be greater than 0 (allowed: null (this machine's CPU count) or an integer > 0)"
    ]


# ------------------------------------------------------------------ item 4: training specimens for the clusters
FULL_RUN = ["circles", "data_processing", "model", "pretraining", "causal_pima"]
LATTICE_RUN = ["lattice_synthetic", "lattice_ingestion", "data_processing_lattice", "model_lattice",
               "pretraining_lattice", "causal_pima_lattice"]


def test_too_few_training_specimens_for_the_nodes_are_refused_before_the_run(defaults):
    # the case: 5 specimens split 3 / 1 / 1 (the split check passes), 3 nodes need 8
    assert _problems(_with(defaults, circles__n_specimens=5), FULL_RUN) == [
        "circles.n_specimens = 5: gives 3 training specimens (data_processing.split.train = 0.8), fewer than the 8 that "
        "causal_pima.prior.n_nodes = null needs: 3 nodes (one node per feature of circles.configurations.collider) are "
        "2**3 = 8 mixture components, started from clusters of the training specimens (causal_pima.init.clusterer = "
        "hdbscan): at least one training specimen per component; allowed: circles.n_specimens >= 10, or fewer nodes "
        "(causal_pima.prior.n_nodes)"
    ]
    validate_parameters(_with(defaults, circles__n_specimens=10), FULL_RUN)  # 8 / 1 / 1


@pytest.mark.parametrize(
    ("values", "start"),
    [
        ({"causal_pima__prior__n_nodes": 4, "circles__n_specimens": 15},
         "circles.n_specimens = 15: gives 12 training specimens (data_processing.split.train = 0.8), fewer than the 16 "
         "that causal_pima.prior.n_nodes = 4 needs: 4 nodes are 2**4 = 16 mixture components"),
        ({"circles__configuration": "glow", "circles__n_specimens": 19},  # glow: 4 features
         "circles.n_specimens = 19: gives 15 training specimens (data_processing.split.train = 0.8), fewer than the 16 "
         "that causal_pima.prior.n_nodes = null needs: 4 nodes (one node per feature of circles.configurations.glow)"),
        ({"data_processing__split": {"train": 0.5, "val": 0.25, "test": 0.25}, "circles__n_specimens": 15},
         "circles.n_specimens = 15: gives 7 training specimens (data_processing.split.train = 0.5), fewer than the 8"),
        ({"causal_pima__prior__n_nodes": "auto", "circles__n_specimens": 12},
         "circles.n_specimens = 12: gives 10 training specimens (data_processing.split.train = 0.8), fewer than the 15 "
         "that causal_pima.prior.n_nodes = auto needs: its smallest candidate, causal_pima.node_count.d_min = 1, is "
         "fitted only when each of its 2**1 = 2 outcomes can hold causal_pima.min_outcome_count = 7.5 training "
         "specimens"),
    ],
)
def test_the_specimens_needed_follow_the_nodes_the_split_and_the_candidates(defaults, values, start):
    params = _with(defaults, **values)
    if values.get("causal_pima__prior__n_nodes") == "auto":
        params["causal_pima"]["min_outcome_count"] = 7.5  # 7.5 x 2 = 15 needed
    (problem,) = _problems(params, FULL_RUN)
    assert problem.startswith(start), problem


def test_the_largest_too_small_and_the_smallest_large_enough_sizes(defaults):
    # 4 nodes need 16 training specimens: 19 specimens give 15, 20 give 16 (the smallest size named)
    params = _with(defaults, causal_pima__prior__n_nodes=4)
    (problem,) = _problems(_with(params, circles__n_specimens=19), FULL_RUN)
    assert problem.endswith("allowed: circles.n_specimens >= 20, or fewer nodes (causal_pima.prior.n_nodes)")
    validate_parameters(_with(params, circles__n_specimens=20), FULL_RUN)


def test_the_lattice_stand_in_is_checked_the_same_way(defaults):
    (problem,) = _problems(_with(defaults, lattice_synthetic__n_specimens=9), LATTICE_RUN)
    assert problem == (
        "lattice_synthetic.n_specimens = 9: gives 7 training specimens (data_processing_lattice.split.train = 0.8), "
        "fewer than the 8 that causal_pima_lattice.prior.n_nodes = null needs: 3 nodes (one node per feature of "
        "lattice_synthetic.dag) are 2**3 = 8 mixture components, started from clusters of the training specimens "
        "(causal_pima_lattice.init.clusterer = hdbscan): at least one training specimen per component; allowed: "
        "lattice_synthetic.n_specimens >= 10, or fewer nodes (causal_pima_lattice.prior.n_nodes)"
    )


def test_a_run_that_does_not_generate_and_fit_is_not_refused(defaults):
    small = _with(defaults, circles__n_specimens=5, lattice_synthetic__n_specimens=5)
    validate_parameters(small, ["circles", "data_processing"])  # generating 5 specimens to look at them is fine
    validate_parameters(small, ["causal_pima", "data_processing"])  # a stored data set: its size is not a parameter
    # a split that is already refused is not refused a second time for the clusters
    (problem,) = _problems(_with(defaults, circles__n_specimens=3), FULL_RUN)
    assert problem.startswith("data_processing.split: with 3 specimens (circles.n_specimens)")


def test_every_conf_environment_still_validates(tmp_path):
    for env in sorted(p.name for p in (ROOT / "conf").iterdir() if p.is_dir() and p.name not in ("base", "local")):
        conf = tmp_path / env
        shutil.copytree(ROOT / "conf" / "base", conf / "base")
        shutil.copytree(ROOT / "conf" / env, conf / env)
        params = OmegaConfigLoader(str(conf), **{**CONFIG_LOADER_ARGS, "default_run_env": env})["parameters"]
        validate_parameters(params)
        assert resource_problems(params, ["compute", "distributed"], cpus=1, available=10**12) == [], env


# ------------------------------------------------------------------ item 3: generated images against memory
def test_circles_images_that_do_not_fit_the_available_memory_are_refused_before_the_run(defaults, monkeypatch):
    from causal_pima.parameter_schemas import generated_image_problems

    huge = _with(defaults, circles__render__image_size=100000)
    gib = 2**30
    (problem,) = generated_image_problems(huge, {"circles"}, available=64 * gib)
    # 3 arrays x 6000 specimens x 3 channels x 1e10 pixels x 4 bytes = 2.16e15 bytes
    assert problem.startswith("circles.render.image_size = 100000 with circles.n_specimens = 6000: generating the images "
                              f"takes about {3 * 6000 * 3 * 10**10 * 4 / gib:,.1f} GiB")
    # the largest size that fits: 3 * 6000 * 3 * s**2 * 4 <= 64 GiB -> s = 564
    assert "above the 64.0 GiB this machine has available" in problem and "image_size <= 564 at this n_specimens" in problem
    assert generated_image_problems(_with(defaults, circles__render__image_size=560), {"circles"}, available=64 * gib) == []
    assert generated_image_problems(defaults, {"circles"}, available=64 * gib) == []  # 32 x 32: 221 MB
    assert generated_image_problems(huge, {"pretraining"}, available=64 * gib) == []  # nothing generated
    monkeypatch.setattr(parameter_schemas, "available_memory_bytes", lambda: None)
    assert generated_image_problems(huge, {"circles"}) == []  # memory unknown (no /proc/meminfo): not checked


def test_a_data_set_without_its_parameter_groups_is_named_with_what_to_add(defaults):
    """A catalog entry mydata.raw_manifest registers the data set; its parameter file missing, the run
    stops before any node naming the group and the recipe, not with Kedro's "not found in the DataCatalog"."""
    ran = []
    pipeline = Pipeline([node(lambda p, c, x: ran.append(1), ["params:pretraining_mydata", "params:causal_pima", "params:nothing_like_it"],
                              None, name="train")])
    catalog = DataCatalog({"parameters": MemoryDataset({"causal_pima": defaults["causal_pima"]})})
    with pytest.raises(InvalidParametersError) as caught:
        ParameterValidationHook().before_pipeline_run({"runtime_params": {}}, pipeline, catalog)
    assert caught.value.problems == [
        "params:nothing_like_it: this run's pipeline reads the parameter group 'nothing_like_it', which no parameter file defines",
        "params:pretraining_mydata: the data set 'mydata' has no parameter group 'pretraining_mydata'. Add "
        "conf/base/parameters_mydata.yml (README \"Your own data set\", step 1) with mydata_overrides (your differences) "
        "and the four stage groups, e.g. pretraining_mydata: ${overlay:pretraining,mydata_overrides.pretraining}",
    ]
    assert ran == []
