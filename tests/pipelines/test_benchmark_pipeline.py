"""The benchmark as one namespaced pipeline per (configuration, seed, method) (issue 12, item 3).

The generation from a parameter group and from parameter files is tested without a session; one
Kedro session runs the small benchmark with ParallelRunner and 2 workers in a private copy of the
project (the ``project`` fixture) and compares its rows with the library run in this process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline

from causal_pima.benchmark_shape import BenchmarkShapeHook, read_benchmark_parameters
from causal_pima.benchmark_shape import main as shape_main
from causal_pima.parameter_schemas import BENCHMARK_METHODS
from causal_pima.pipelines.benchmark import nodes
from causal_pima.pipelines.benchmark.methods import METHODS, PRETRAININGS, UNTRAINED
from causal_pima.pipelines.benchmark.pipeline import create_pipeline, group_namespace, row_dataset
from causal_pima.pipelines.benchmark.shape import BenchmarkShapeError, shape_from_parameters
from tests.pipelines.benchmark_metrics import METRIC_RANGES, check_metric_ranges

SHAPE = {"configurations": ["collider", "glow"], "seeds": [0, 3], "methods": ["causal_pima", "image_only", "two_stage"]}


def test_one_namespace_per_configuration_and_seed_one_row_node_per_method():
    pipeline = create_pipeline(dict(SHAPE))
    names = {n.name for n in pipeline.nodes}
    expected = {"benchmark.report.gather_rows", "benchmark.report.describe_run", "benchmark.report.summarise_benchmark"}
    for configuration in ("collider", "glow"):
        for seed in (0, 3):
            group = f"benchmark.{configuration}.seed_{seed}"
            expected |= {f"{group}.generate_data", f"{group}.pretrain_image_curve", f"{group}.pretrain_image"}
            expected |= {f"{group}.{m}.run_method" for m in SHAPE["methods"]}
    assert names == expected and len(pipeline.nodes) == 4 * (3 + 3) + 3
    # parameters only as free inputs; rows gathered in configuration, seed, method order
    assert pipeline.inputs() == {f"params:{p}" for p in ("benchmark", "circles", "data_processing", "model", "pretraining", "causal_pima")}
    (gather,) = [n for n in pipeline.nodes if n.name == "benchmark.report.gather_rows"]
    assert gather.inputs == [row_dataset(c, s, m) for c in ("collider", "glow") for s in (0, 3) for m in SHAPE["methods"]]
    assert gather.outputs == ["benchmark.results"] and row_dataset("glow", 3, "two_stage") == "benchmark.glow.seed_3.two_stage.row"
    # image_only starts from the image networks, the others from the shared multimodal ones
    by_name = {n.name: n for n in pipeline.nodes}
    assert "benchmark.glow.seed_3.pretrained_image" in by_name["benchmark.glow.seed_3.image_only.run_method"].inputs
    assert "benchmark.glow.seed_3.pretrained_image_curve" in by_name["benchmark.glow.seed_3.two_stage.run_method"].inputs


def test_namespaces_select_rows_that_run_on_their_own():
    pipeline = create_pipeline(dict(SHAPE))
    group = pipeline.only_nodes_with_namespaces([group_namespace("glow", 3)])  # kedro run --namespaces benchmark.glow.seed_3
    assert len(group.nodes) == 1 + 2 + 3 and all(i.startswith("params:") for i in group.inputs())
    assert group.outputs() == {row_dataset("glow", 3, m) for m in SHAPE["methods"]}
    report = pipeline.only_nodes_with_namespaces(["benchmark.report"])
    assert report.inputs() - {"params:benchmark"} == {row_dataset(c, s, m) for c in ("collider", "glow") for s in (0, 3) for m in SHAPE["methods"]}
    # only the pretraining the methods need
    pima_only = create_pipeline({"configurations": ["chain"], "seeds": [1], "methods": ["pima", "two_stage"]})
    assert sorted(n.name for n in pima_only.nodes if ".pretrain_" in n.name) == ["benchmark.chain.seed_1.pretrain_image_curve"]


def test_the_shape_comes_from_the_parameter_files_of_the_environment(tmp_path, capsys):
    (tmp_path / "base").mkdir()
    (tmp_path / "cluster").mkdir()
    base = {"benchmark": {**SHAPE, "n_specimens": 100}}
    (tmp_path / "base" / "parameters_benchmark.yml").write_text(yaml.safe_dump(base))
    (tmp_path / "cluster" / "parameters_benchmark.yml").write_text(yaml.safe_dump({"benchmark": {**base["benchmark"], "seeds": [7]}}))
    benchmark, source = read_benchmark_parameters(tmp_path, env="cluster")
    assert benchmark["seeds"] == [7] and "cluster" in source
    nodes_of = {n.name for n in create_pipeline(benchmark).nodes}
    assert "benchmark.glow.seed_7.two_stage.run_method" in nodes_of and not any(".seed_0." in n for n in nodes_of)
    assert read_benchmark_parameters(tmp_path, env="base")[0]["seeds"] == [0, 3]
    # the namespaces a job array runs over (python -m causal_pima.benchmark_shape --env cluster)
    assert shape_main(["--conf-source", str(tmp_path), "--env", "cluster"]) == 0
    assert capsys.readouterr().out.split() == ["benchmark.collider.seed_7", "benchmark.glow.seed_7"]
    assert shape_main(["--conf-source", str(tmp_path), "--env", "cluster", "--rows"]) == 0
    assert capsys.readouterr().out.split()[:2] == ["benchmark.collider.seed_7.causal_pima", "benchmark.collider.seed_7.image_only"]


def test_the_repository_parameter_file_builds_the_registered_pipeline():
    from causal_pima.pipeline_registry import register_pipelines

    root = Path(__file__).resolve().parents[2]
    listed = yaml.safe_load((root / "conf/base/parameters_benchmark.yml").read_text())["benchmark"]
    shape = shape_from_parameters(listed)
    assert shape.problems == ()
    own = listed.get("seeds_by_configuration") or {}
    n_groups = sum(len(own.get(c, listed["seeds"])) for c in listed["configurations"])
    rows = [n for n in register_pipelines()["benchmark"].nodes if n.name.endswith(".run_method")]
    assert len(rows) == shape.n_rows == n_groups * len(listed["methods"])
    # the lattice stand-in is in, on the 5 seeds of benchmark.seeds like the circles
    assert shape.seeds_of("lattice") == (0, 1, 2, 3, 4) and shape.seeds_of("collider") == (0, 1, 2, 3, 4)
    lattice_groups = sorted({n.namespace.split(".")[2] for n in register_pipelines()["benchmark"].nodes
                             if n.namespace and n.namespace.startswith("benchmark.lattice.")})
    assert lattice_groups == ["seed_0", "seed_1", "seed_2", "seed_3", "seed_4"]


LATTICE_SHAPE = {"configurations": ["collider", "lattice"], "seeds": [0, 1, 2, 3, 4],
                 "seeds_by_configuration": {"lattice": [0, 2]}, "methods": ["causal_pima", "image_only", "two_stage"]}
CIRCLES_GROUPS = ("circles", "data_processing", "model", "pretraining", "causal_pima")
LATTICE_GROUPS = ("lattice_synthetic", "lattice_ingestion", "data_processing_lattice", "model_lattice",
                  "pretraining_lattice", "causal_pima_lattice")


def test_the_lattice_configuration_reads_the_lattice_groups_on_its_own_seeds():
    pipeline = create_pipeline(dict(LATTICE_SHAPE))
    by_name = {n.name: n for n in pipeline.nodes}
    lattice = [n for n in pipeline.nodes if n.namespace and n.namespace.startswith("benchmark.lattice.")]
    # seeds_by_configuration: the lattice on 0 and 2 only, circles on the five of seeds
    assert sorted({n.namespace.split(".")[2] for n in lattice}) == ["seed_0", "seed_2"]
    assert sum(n.name.endswith(".run_method") for n in pipeline.nodes) == (5 + 2) * 3
    expected = {f"benchmark.lattice.seed_{s}.{step}" for s in (0, 2) for step in
                ("generate_data", "pretrain_image_curve", "pretrain_image",
                 "causal_pima.run_method", "image_only.run_method", "two_stage.run_method")}
    assert {n.name for n in lattice} == expected
    # the params each lattice node reads (the lattice generator, ingestion and the <stage>_lattice groups)
    group = "benchmark.lattice.seed_2"
    assert by_name[f"{group}.generate_data"].inputs == ["params:lattice_synthetic", "params:lattice_ingestion",
                                                        "params:data_processing_lattice", "params:benchmark"]
    assert by_name[f"{group}.generate_data"].outputs == [f"{group}.data"]
    for modalities in ("image_curve", "image"):
        assert by_name[f"{group}.pretrain_{modalities}"].inputs == [
            f"{group}.data", "params:model_lattice", "params:pretraining_lattice", "params:benchmark"]
    assert by_name[f"{group}.image_only.run_method"].inputs == [
        f"{group}.data", f"{group}.pretrained_image", "params:causal_pima_lattice", "params:benchmark"]
    assert by_name[f"{group}.two_stage.run_method"].outputs == [row_dataset("lattice", 2, "two_stage")] == \
        ["benchmark.lattice.seed_2.two_stage.row"]
    # circles rows read the circles groups as before; no node of one reads the other's
    circles_params = {i for n in pipeline.nodes if n.namespace and n.namespace.startswith("benchmark.collider.")
                      for i in n.inputs if i.startswith("params:")}
    lattice_params = {i for n in lattice for i in n.inputs if i.startswith("params:")}
    assert circles_params == {f"params:{g}" for g in (*CIRCLES_GROUPS, "benchmark")}
    assert lattice_params == {f"params:{g}" for g in (*LATTICE_GROUPS, "benchmark")}
    assert "params:lattice_synthetic" in by_name["benchmark.report.summarise_benchmark"].inputs  # its N in the header
    assert pipeline.inputs() == {f"params:{g}" for g in (*CIRCLES_GROUPS, *LATTICE_GROUPS, "benchmark")}
    (gather,) = [n for n in pipeline.nodes if n.name == "benchmark.report.gather_rows"]
    assert gather.inputs == [row_dataset(c, s, m) for c, seeds in (("collider", range(5)), ("lattice", (0, 2)))
                             for s in seeds for m in LATTICE_SHAPE["methods"]]
    # the namespaces for a job array, and a run of the lattice rows alone
    assert shape_from_parameters(LATTICE_SHAPE).groups()[-2:] == [("lattice", 0), ("lattice", 2)]
    only = pipeline.only_nodes_with_namespaces(["benchmark.lattice"])
    assert only.inputs() == {f"params:{g}" for g in (*LATTICE_GROUPS, "benchmark")}


def test_seeds_by_configuration_is_checked_and_part_of_the_shape(tmp_path, capsys):
    shape = shape_from_parameters({**LATTICE_SHAPE, "seeds_by_configuration": {"lattice": [1, -1, 1], "chain": [7]}})
    assert shape.seeds_of("lattice") == (1,) and shape.seeds_of("collider") == (0, 1, 2, 3, 4)
    # chain is not listed: no rows, left out without a problem (a conf/<env> may list fewer configurations)
    assert shape.lists()["seeds_by_configuration"] == {"lattice": [1]}
    assert shape.problems == ("benchmark.seeds_by_configuration.lattice: -1 is not an integer >= 0",)
    assert shape_from_parameters({**LATTICE_SHAPE, "seeds_by_configuration": {"lattice": []}}).problems == (
        "benchmark.seeds_by_configuration.lattice: lists no seed (leave the configuration out of benchmark.configurations instead)",)
    assert "must be a mapping" in shape_from_parameters({**LATTICE_SHAPE, "seeds_by_configuration": [0]}).problems[0]
    assert "must be a list" in shape_from_parameters({**LATTICE_SHAPE, "seeds_by_configuration": {"lattice": 3}}).problems[0]
    assert shape_from_parameters({**LATTICE_SHAPE, "seeds_by_configuration": None}).seeds_of("lattice") == (0, 1, 2, 3, 4)
    # --params cannot change it: the run stops before any node (the hook computes the built shape again)
    pipeline = create_pipeline(dict(LATTICE_SHAPE))
    hook = BenchmarkShapeHook(built_shape=lambda: shape_from_parameters(LATTICE_SHAPE))
    catalog = DataCatalog({"parameters": MemoryDataset({"benchmark": {**LATTICE_SHAPE, "seeds_by_configuration": {"lattice": [1]}}})})
    with pytest.raises(BenchmarkShapeError, match=r"benchmark.seeds_by_configuration = \{'lattice': \[1\]\} in this run"):
        hook.before_pipeline_run(run_params={}, pipeline=pipeline, catalog=catalog)
    hook.before_pipeline_run(  # the same lists, other run-time values: runs
        run_params={}, pipeline=pipeline, catalog=DataCatalog({"parameters": MemoryDataset({"benchmark": {**LATTICE_SHAPE, "n_specimens": 7}})}))
    # the shape CLI lists each configuration's own seeds
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "parameters_benchmark.yml").write_text(yaml.safe_dump({"benchmark": LATTICE_SHAPE}))
    assert shape_main(["--conf-source", str(tmp_path), "--env", "base"]) == 0
    assert capsys.readouterr().out.split() == [*(f"benchmark.collider.seed_{s}" for s in range(5)),
                                               "benchmark.lattice.seed_0", "benchmark.lattice.seed_2"]


def test_the_parameter_schema_accepts_the_lattice_and_checks_seeds_by_configuration():
    from kedro.config import OmegaConfigLoader

    from causal_pima.parameter_schemas import InvalidParametersError, validate_parameters
    from causal_pima.settings import CONFIG_LOADER_ARGS

    root = Path(__file__).resolve().parents[2]
    params = OmegaConfigLoader(str(root / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": "base"})["parameters"]
    assert "lattice" in params["benchmark"]["configurations"] and validate_parameters(params, ["benchmark"])

    def problems(**benchmark):
        with pytest.raises(InvalidParametersError) as error:
            validate_parameters({**params, "benchmark": {**params["benchmark"], **benchmark}}, ["benchmark"])
        return error.value.problems

    (misspelt,) = problems(seeds_by_configuration={"latice": [0]})
    assert misspelt.startswith("benchmark.seeds_by_configuration: ['latice'] not defined; allowed: names from circles.configurations")
    assert misspelt.endswith("and 'lattice' (the lattice stand-in)")
    assert problems(seeds_by_configuration={"lattice": []})[0].startswith("benchmark.seeds_by_configuration.lattice = []: ")
    assert problems(seeds_by_configuration={"lattice": [-1]})[0].startswith("benchmark.seeds_by_configuration.lattice.0 = -1: ")
    # the benchmark's overrides are checked against the lattice's groups too (epochs 0 is wrong for both)
    assert problems(configurations=["lattice"], pretraining={"epochs": 0}) == [
        "benchmark.pretraining.epochs = 0: must be greater than 0 (allowed: an integer > 0)"]


def test_the_summary_header_names_each_data_set_with_its_seeds_and_size():
    table = nodes.gather_rows(*({"configuration": c, "seed": s, "method": "causal_pima", "error": "", "node_accuracy": 1.0}
                                for c, seeds in (("collider", range(5)), ("lattice", (0, 2))) for s in seeds))
    summary, _ = nodes.summarise_benchmark(table, {**LATTICE_SHAPE, "n_specimens": 6000}, {"n_specimens": 2000})
    assert summary.startswith("Benchmark on circles: 5 seed(s) [0, 1, 2, 3, 4], N = 6000; on the lattice stand-in: "
                              "2 seed(s) [0, 2], N = 2000 (lattice_synthetic.n_specimens; benchmark.n_specimens does not apply); ")
    assert "| lattice | causal_pima |" in summary
    only_circles, _ = nodes.summarise_benchmark(table[table["configuration"] == "collider"], {**SHAPE, "configurations": ["collider"], "n_specimens": 300})
    assert only_circles.startswith("Benchmark on circles: 2 seed(s) [0, 3], N = 300; mean +- std")


def test_bad_entries_are_left_out_and_a_run_with_other_lists_stops():
    shape = shape_from_parameters({"configurations": ["collider", "a.b", "report"], "seeds": [0, -1, True], "methods": ["pima", "magic"]})
    assert shape.lists() == {"configurations": ["collider"], "seeds": [0], "seeds_by_configuration": {}, "methods": ["pima"]}
    assert len(shape.problems) == 5
    built = {"configurations": ["collider"], "seeds": [0, 1], "methods": ["pima"]}
    pipeline = create_pipeline(built)
    hook = BenchmarkShapeHook(built_shape=lambda: shape_from_parameters(built))

    def run_with(benchmark):
        catalog = DataCatalog({"parameters": MemoryDataset({"benchmark": benchmark})})
        hook.before_pipeline_run(run_params={}, pipeline=pipeline, catalog=catalog)

    run_with({"configurations": ["collider"], "seeds": [0, 1], "methods": ["pima"], "n_specimens": 5})  # n_specimens may change
    with pytest.raises(BenchmarkShapeError, match=r"(?s)benchmark.seeds = \[0\] in this run.*--params cannot change them.*--env"):
        run_with({"configurations": ["collider"], "seeds": [0], "methods": ["pima"]})
    hook.before_pipeline_run(run_params={}, pipeline=Pipeline([]), catalog=DataCatalog())  # not a benchmark run: no check
    hook = BenchmarkShapeHook(built_shape=lambda: shape)  # files whose lists had bad entries
    with pytest.raises(BenchmarkShapeError, match="'a.b' cannot name a namespace"):
        run_with({"configurations": ["collider"], "seeds": [0], "methods": ["pima"]})


def test_the_registry_and_the_hook_read_the_same_session_files_and_keep_no_shape(tmp_path):
    """Issue 21, item 4: the shape is passed into the pipeline when it is registered, and the hook computes
    it again from the session's files; no module remembers it."""
    from causal_pima import session_parameters
    from causal_pima.benchmark_shape import file_benchmark_shape
    from causal_pima.pipelines.benchmark import shape as shape_module

    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "parameters_benchmark.yml").write_text(yaml.safe_dump({"benchmark": {**SHAPE, "n_specimens": 9}}))
    session_parameters.set_session(tmp_path, "base")
    try:
        built = file_benchmark_shape()
        assert built.lists()["seeds"] == [0, 3] and str(tmp_path) in built.source
        pipeline = create_pipeline(built)
        assert len([n for n in pipeline.nodes if n.name.endswith(".run_method")]) == 2 * 2 * 3

        def run_with(benchmark):
            catalog = DataCatalog({"parameters": MemoryDataset({"benchmark": benchmark})})
            BenchmarkShapeHook().before_pipeline_run(run_params={}, pipeline=pipeline, catalog=catalog)

        run_with({**SHAPE, "n_specimens": 5})
        with pytest.raises(BenchmarkShapeError, match=rf"benchmark.seeds = \[0\] in this run, but the benchmark pipeline was "
                                                      rf"built with \[0, 3\] from {tmp_path}"):
            run_with({**SHAPE, "seeds": [0]})
    finally:
        session_parameters.set_session(None, None, None)
    assert not [name for name, value in vars(shape_module).items() if isinstance(value, shape_module.BenchmarkShape)]


def test_the_methods_are_listed_once_and_each_has_its_pretraining_and_runner():
    names = ("causal_pima", "pima", "image_only", "two_stage", "causal_pima_auto_d", "peer")
    assert tuple(METHODS) == BENCHMARK_METHODS == names  # the schema's choices are the registry's
    assert shape_from_parameters({"configurations": ["collider"], "seeds": [0]}).methods == names  # the default list
    assert {name: (m.pretraining, m.runner) for name, m in METHODS.items()} == {
        "causal_pima": ("image_curve", "causal_pima"), "pima": ("image_curve", "causal_pima"),
        "image_only": ("image", "causal_pima"), "two_stage": ("image_curve", "two_stage"),
        "causal_pima_auto_d": ("image_curve", "causal_pima"), "peer": ("sizes_image_curve", "peer")}
    assert set(PRETRAININGS) == {"image_curve", "image", "sizes_image_curve"} and set(nodes.RUNNERS) == {"causal_pima", "two_stage", "peer"}
    assert UNTRAINED == {"sizes_image_curve"}  # the peer trains its own networks: no shared pretraining runs for it
    assert METHODS["pima"].prior == {"mixture_weights": "free"} and METHODS["causal_pima_auto_d"].prior == {"n_nodes": "auto"}
    with pytest.raises(ValueError, match="unknown benchmark method 'magic'; choose from"):
        nodes.run_method({}, {}, {}, {}, "collider", 0, "magic")


def test_a_failure_is_recorded_in_the_row():
    row = nodes.run_method({"error": "data: ValueError: x"}, {"error": "data: ValueError: x"}, {}, {}, "collider", 0, "pima")
    assert row["error"] == "data: ValueError: x" and row["method"] == "pima" and row["wall_seconds"] >= 0
    failed_pretraining = nodes.pretrain({"train": {}, "val": {}}, {}, {}, {}, 0, "image")
    assert failed_pretraining["error"].startswith("pretraining: ")
    row = nodes.run_method({"train": {}, "val": {}, "test": {}, "true_dag": {}}, failed_pretraining, {}, {}, "chain", 2, "image_only")
    assert row["error"] == failed_pretraining["error"]
    # an exception inside the method itself (here: no model), after 1.5 s of (pretend) pretraining
    row = nodes.run_method({"train": {}, "val": {}, "test": {}, "true_dag": {"features": []}}, {"model": None, "seconds": 1.5},
                           {}, {}, "collider", 0, "two_stage")
    assert row["error"].startswith("AttributeError: ") and row["wall_seconds"] >= 1.5
    table = nodes.gather_rows(row, {"configuration": "collider", "seed": 0, "method": "pima", "error": "", "node_accuracy": 0.9, "wall_seconds": 2.0})
    summary, _ = nodes.summarise_benchmark(table, {"seeds": [0], "n_specimens": 10})
    assert "failed runs: 1" in summary and "FAILED: collider seed 0 two_stage: AttributeError: " in summary


# ---------------------------------------------------------------------------- one session, 2 workers
SMALL = {
    "configurations": ["collider"],
    "seeds": [0],
    "methods": ["causal_pima", "pima", "image_only", "two_stage"],
    "n_specimens": 300,
    "pretraining": {"epochs": 2, "min_steps": 0},
    "causal_pima": {"epochs": 1, "min_steps": 0, "structure": {"steps": 100}},
}


@pytest.mark.slow
def test_small_benchmark_runs_its_rows_in_two_worker_processes(project, monkeypatch):
    import torch

    # the shape is read from the parameter files (a conf/local override), not from --params
    (project / "conf/local/parameters_benchmark.yml").write_text(yaml.safe_dump({"benchmark": SMALL}))

    # one method forced to fail (the worker processes are forked, so they see the patch): its row
    # must be recorded with the error, the other rows unaffected
    def broken_two_stage(*args, **kwargs):
        raise RuntimeError("two_stage forced to fail by the test")

    monkeypatch.setattr(nodes, "_two_stage", broken_two_stage)
    monkeypatch.setenv("KEDRO_MP_CONTEXT", "fork")
    # one torch thread per worker (README: OMP_NUM_THREADS=1); the rows compared below are computed
    # in this process with the same thread count (a different count changes the last bits)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _run_and_check(project)
    finally:
        torch.set_num_threads(threads)


def _run_and_check(project: Path) -> None:
    import mlflow
    import torch
    from kedro.config import OmegaConfigLoader
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro.runner import ParallelRunner

    from causal_pima import settings

    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        session.run(pipeline_names=["benchmark"], runner=ParallelRunner(max_workers=2))

    results = pd.read_csv(project / "data/08_reporting/benchmark/results.csv")
    assert len(results) == 1 * 1 * 4 and list(results["method"]) == SMALL["methods"]
    assert check_metric_ranges(results) == [] and set(METRIC_RANGES) <= set(results.columns)
    errors = dict(zip(results["method"], results["error"].fillna("").astype(str), strict=True))
    assert errors == {"causal_pima": "", "pima": "", "image_only": "", "two_stage": "RuntimeError: two_stage forced to fail by the test"}
    has_graph = results.set_index("method")["cpdag_shd"].notna().to_dict()
    assert has_graph == {"causal_pima": True, "pima": False, "image_only": True, "two_stage": False}
    assert (results["wall_seconds"] > 0).all()
    # every row also has its own file (a failed one too)
    row_files = sorted((project / "data/07_model_output/benchmark/rows/collider/seed_0").glob("*.json"))
    assert [p.stem for p in row_files] == sorted(SMALL["methods"])
    assert json.loads((row_files[-1]).read_text())["error"].startswith("RuntimeError")

    # the same rows as the library run in this process (same functions, same seeds): every metric equal
    loader = OmegaConfigLoader(conf_source=str(project / "conf"), env="local", **settings.CONFIG_LOADER_ARGS)
    params = loader["parameters"]
    direct = nodes.benchmark_rows(params)
    direct = pd.read_csv(pd.io.common.StringIO(direct.to_csv(index=False)))  # through CSV like results.csv
    pd.testing.assert_frame_equal(results.drop(columns="wall_seconds"), direct.drop(columns="wall_seconds"), check_exact=True)

    summary = (project / "data/08_reporting/benchmark/results.md").read_text()
    assert summary.count("| collider |") == 4 and "failed runs: 1" in summary
    # the header line: the run's date, commit, machine, torch and threads (a worker's: 1), and its plain-VAE epoch
    info = json.loads((project / "data/08_reporting/benchmark/run_info.json").read_text())
    assert info["threads"] == 1 and info["torch"] == torch.__version__ and 0 < info["plain_epoch_seconds"] < 60
    assert summary.startswith(f"Run: {info['date']}, commit {info['commit']}, {info['machine']}, torch {torch.__version__}, "
                              "1 torch thread(s); one plain-VAE epoch (8 batches of 128) ")
    assert "FAILED: collider seed 0 two_stage: RuntimeError: two_stage forced to fail by the test" in summary

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name == "causal_pima"]
    (run,) = client.search_runs([experiment.experiment_id])  # the workers logged into the session's run
    assert run.info.status == "FINISHED" and run.data.tags["runner"] == "ParallelRunner"
    assert {a.path for a in client.list_artifacts(run.info.run_id, "benchmark")} == {"benchmark/results.csv", "benchmark/results.md"}
    assert "benchmark/collider/causal_pima/node_accuracy" in run.data.metrics


def test_kedro_reads_the_type_hints_of_every_registered_node(caplog):
    """kedro validates params: inputs against the nodes' annotations on every run; a node function it
    cannot read logs a warning per node (385 lines for the benchmark's bound functions before)."""
    from kedro.validation.type_extractor import TypeExtractor

    from causal_pima.pipeline_registry import register_pipelines

    with caplog.at_level("WARNING", logger="kedro.validation.type_extractor"):
        TypeExtractor(register_pipelines()).extract_types_from_pipelines()
    assert "Could not extract type hints" not in caplog.text


@pytest.mark.parametrize("n_specimens", [300, 600])
def test_the_small_n_environments_list_their_rows_and_keep_their_own_files(n_specimens):
    from causal_pima import settings as project_settings

    root = Path(__file__).resolve().parents[2]
    env = f"small_n_{n_specimens}"
    listed, _ = read_benchmark_parameters(conf_source=root / "conf", env=env)
    assert listed["n_specimens"] == listed["lattice_n_specimens"] == n_specimens
    shape = shape_from_parameters(listed)
    assert shape.problems == () and shape.n_rows == 15  # collider, glow, lattice x 5 seeds x causal_pima
    assert shape.groups()[-1] == ("lattice", 4)
    loader = project_settings.CONFIG_LOADER_CLASS(conf_source=str(root / "conf"), env=env,
                                                  **project_settings.CONFIG_LOADER_ARGS)
    catalog, base = loader["catalog"], yaml.safe_load((root / "conf/base/catalog.yml").read_text())
    for name in ("benchmark.{configuration}.{seed}.{method}.row", "benchmark.results", "benchmark.summary", "benchmark.run_info"):
        path = catalog[name]["filepath"] if "filepath" in catalog[name] else catalog[name]["dataset"]["filepath"]
        base_path = base[name]["filepath"] if "filepath" in base[name] else base[name]["dataset"]["filepath"]
        # the same file names in a folder of their own: the full benchmark's rows are never overwritten
        assert path == base_path.replace("/benchmark/", f"/benchmark_{env}/") != base_path
