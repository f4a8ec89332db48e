"""Runs that can be told apart, in the project's own store (issue 11, items 2 and 3)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import mlflow
import pytest

from causal_pima import project_path
from causal_pima.run_naming import (
    describe_run,
    git_tags,
    is_skipped,
    run_name,
    runner_name,
    unused_configuration_prefixes,
)

ROOT = Path(__file__).resolve().parents[1]

PARAMETERS = {
    "circles": {"seed": 3, "configuration": "chain", "configurations": {"collider": {}, "chain": {}, "xor": {}}},
    "data_processing": {"seed": 0},
    "pretraining": {"seed": 1},
    "causal_pima": {"seed": 7},
    "causal_pima_lattice": {"seed": 2},
    "lattice_synthetic": {"seed": 0, "configuration": "collider"},
    "benchmark": {"configurations": ["collider", "chain", "empty", "fork"], "seeds": [0, 1, 2, 3, 4]},
}


def test_a_run_is_described_by_pipeline_data_set_configuration_and_seed():
    tags = describe_run(["__default__"], ["circles"], {"circles", "data_processing", "model", "pretraining", "causal_pima"}, PARAMETERS)
    assert tags == {"pipeline": "__default__", "dataset": "circles", "configuration": "chain", "data_seed": "3", "seed": "7"}
    assert run_name(tags) == "circles/chain seed=7 (__default__)"
    # the generation alone: its own seed; the lattice: its overlaid group's seed, no configuration
    alone = describe_run(["circles"], ["circles"], {"circles"}, PARAMETERS)
    assert run_name(alone) == "circles/chain seed=3 (circles)"
    lattice = describe_run(["lattice"], ["lattice"], {"lattice_ingestion", "causal_pima_lattice", "pretraining_lattice"}, PARAMETERS)
    assert run_name(lattice) == "lattice seed=2 (lattice)" and "configuration" not in lattice
    bench = describe_run(["benchmark"], ["benchmark"], {"benchmark", "circles", "causal_pima"}, PARAMETERS)
    assert bench["configuration"] == "collider+chain+empty+fork" and bench["seed"] == "0,1,2,3,4"
    assert run_name(bench) == "benchmark/4 configurations seeds=0..4 (benchmark)"
    # a configuration with its own seeds (the lattice's) counts those, not the shared list
    lattice_only = {**PARAMETERS, "benchmark": {"configurations": ["lattice"], "seeds": [0, 1, 2, 3, 4],
                                                "seeds_by_configuration": {"lattice": [2, 0, 1]}}}
    assert describe_run(["benchmark"], ["benchmark"], {"benchmark"}, lattice_only)["seed"] == "0,1,2"
    both = {**PARAMETERS, "benchmark": {**lattice_only["benchmark"], "configurations": ["collider", "lattice"],
                                        "seeds_by_configuration": {"lattice": [7]}}}
    assert describe_run(["benchmark"], ["benchmark"], {"benchmark"}, both)["seed"] == "0,1,2,3,4,7"


def test_only_the_configurations_a_run_uses_are_logged():
    prefixes = unused_configuration_prefixes(PARAMETERS, {"circles"})
    assert prefixes == ("circles.configurations.collider", "circles.configurations.xor")
    assert is_skipped("circles.configurations.xor.hue.p_one", prefixes)
    assert not is_skipped("circles.configurations.chain.hue.p_one", prefixes)
    assert not is_skipped("circles.configuration", prefixes) and not is_skipped("circles.configurations.xorx", prefixes)
    # a benchmark run uses every configuration it lists
    assert unused_configuration_prefixes(PARAMETERS, {"circles", "benchmark"}) == ("circles.configurations.xor",)


def test_the_runner_tag_is_its_class_name_and_git_tags_come_from_a_checkout(tmp_path):
    assert runner_name("<kedro.runner.sequential_runner.SequentialRunner object at 0x7f3a2b1c>") == "SequentialRunner"
    assert runner_name("ParallelRunner") == "ParallelRunner"
    assert runner_name("None") == runner_name(None) == "SequentialRunner"  # session.run() without a runner
    assert git_tags(tmp_path) == {}  # not a checkout (a packaged run)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for command in (["git", "init", "-q"], ["git", "commit", "-q", "--allow-empty", "-m", "x"]):
        subprocess.run(command, cwd=tmp_path, check=True, env=env)
    tags = git_tags(tmp_path)
    assert len(tags["mlflow.source.git.commit"]) == 40 and tags["git_dirty"] == "false"


# ---------------------------------------------------------------------------- item 3: the store's folder
def test_the_store_folder_is_the_running_project_not_the_package(tmp_path, monkeypatch):
    """A packaged layout: the package in site-packages, the project (conf/base) elsewhere."""
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages" / "causal_pima"
    site.mkdir(parents=True)
    project = tmp_path / "work" / "my-project"
    (project / "conf" / "base").mkdir(parents=True)
    (project / "conf" / "base" / "mlflow.yml").write_text("{}")
    monkeypatch.delenv(project_path.ENV_VAR, raising=False)
    monkeypatch.setattr(project_path, "_session_project", None)
    assert project_path.project_root(project) == project.resolve()
    # a source checkout: the folder with pyproject.toml [tool.kedro], from any subfolder
    checkout = tmp_path / "checkout"
    (checkout / "notebooks").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text('[tool.kedro]\npackage_name = "causal_pima"\n')
    assert project_path.project_root(checkout / "notebooks") == checkout.resolve()
    # the running session's project wins over the working directory; the variable over both
    project_path.set_session_project(checkout)
    assert project_path.project_root(project) == checkout.resolve()
    monkeypatch.setenv(project_path.ENV_VAR, str(project))
    assert project_path.project_root(checkout) == project.resolve()
    monkeypatch.delenv(project_path.ENV_VAR)
    project_path.set_session_project(None)
    with pytest.raises(project_path.ProjectNotFoundError, match="in the project folder"):
        project_path.project_root(site)


def test_the_console_script_outside_a_project_says_where_to_run_it(tmp_path):
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop(project_path.ENV_VAR, None)
    result = subprocess.run([_python(), "-m", "causal_pima"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "project folder" in result.stderr and "Traceback" not in result.stderr
    helped = subprocess.run([_python(), "-m", "causal_pima", "--help"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert helped.returncode == 0, helped.stderr[-2000:]
    for name in ("__default__", "circles", "lattice", "benchmark", "--pipelines"):
        assert name in helped.stdout


def _python() -> str:
    import sys

    return sys.executable


# ---------------------------------------------------------------------------- one real session run
TINY = {
    "circles": {"n_specimens": 300},
    "data_processing": {},
    "pretraining": {"epochs": 1, "min_steps": 0},
    "causal_pima": {"epochs": 1, "min_steps": 0, "structure": {"steps": 50}},
}


@pytest.mark.slow
def test_a_session_run_is_named_tagged_and_stored_in_its_project(tmp_path, monkeypatch):
    """The project is a copy of conf/ and pyproject.toml (the package stays where it is installed): the
    store must be written in the copy, and the run named and tagged after what it ran."""
    import logging

    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    shutil.copytree(ROOT / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("local"))
    (tmp_path / "conf" / "local").mkdir()
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "src").mkdir()  # empty: causal_pima is imported from where it is installed
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(project_path.ENV_VAR, raising=False)
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    bootstrap_project(tmp_path)  # configures logging from conf/logging.yml: collect the epoch lines after it
    epochs: list[str] = []
    collector = logging.Handler(logging.INFO)
    collector.emit = lambda record: epochs.append(record.getMessage())
    callbacks_logger = logging.getLogger("causal_pima.core.callbacks")
    callbacks_logger.addHandler(collector)
    try:
        with KedroSession.create(project_path=tmp_path, runtime_params={**TINY, "circles": {"n_specimens": 300, "configuration": "chain"}}) as session:
            session.run()
    finally:
        callbacks_logger.removeHandler(collector)
    assert (tmp_path / "mlflow.db").is_file() and (tmp_path / "mlartifacts").is_dir()

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("causal_pima")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert experiment.artifact_location.removeprefix("file://").startswith(str(tmp_path))
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "circles/chain seed=0 (__default__)"
    tags = run.data.tags
    assert {k: tags[k] for k in ("pipeline", "dataset", "configuration", "seed", "env", "runner")} == {
        "pipeline": "__default__", "dataset": "circles", "configuration": "chain", "seed": "0", "env": "local",
        "runner": "SequentialRunner"}
    assert not any(" object at 0x" in value for value in tags.values())
    # Kedro's session id is tagged as what it is, not as "run_id" beside MLflow's own run id (issue 23, item 7)
    assert "run_id" not in tags and tags["kedro_session_id"].startswith("20") and tags["kedro_session_id"] != run.info.run_id
    configurations = {k.split(".")[2] for k in run.data.params if k.startswith("circles.configurations.")}
    assert configurations == {"chain"}
    assert run.data.params["causal_pima.epochs"] == "1"
    # progress: one line per epoch of each phase
    assert [m.split(":")[0] for m in epochs] == ["pretraining epoch 1/1", "causalPIMA fit epoch 1/1"]
