"""Every registered pipeline resolves and runs as ``kedro run --pipelines NAME`` would (issue 9, item 7).

Kedro 1.x loads pipelines lazily: ``KedroSession.run(pipeline_names=[NAME])`` first calls
``pipelines.set_requested([NAME])``, then reads ``pipelines[NAME]``, and ``find_pipelines`` imports only
the folders named in that request. A composite name without a folder (``lattice_ingestion``) used to
fail there with ``ImportError`` although ``kedro registry list`` (everything loaded) showed it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.framework.project import pipelines
from kedro.framework.startup import bootstrap_project
from kedro.pipeline import Pipeline

from causal_pima.pipeline_registry import register_pipelines

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = {
    "__default__", "benchmark", "causal_pima", "circles", "data_processing", "evaluation",
    "lattice", "lattice_ingestion", "lattice_synthetic", "pretraining",
}


@pytest.fixture
def lazy_registry():
    """Kedro's project pipelines, reset to the lazy, unloaded state a fresh ``kedro run`` starts from."""
    bootstrap_project(ROOT)
    pipelines.configure("causal_pima.pipeline_registry")
    yield pipelines
    pipelines.set_requested(None)


def test_the_registry_lists_every_folder_and_composite():
    registered = register_pipelines()
    assert set(registered) == EXPECTED
    folders = {p.name for p in (ROOT / "src" / "causal_pima" / "pipelines").iterdir() if (p / "__init__.py").is_file()}
    assert folders <= set(registered)
    assert all(isinstance(p, Pipeline) and p.nodes for p in registered.values())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_registered_name_resolves_as_kedro_run_requests_it(lazy_registry, name):
    lazy_registry.set_requested([name])  # what KedroSession.run does for --pipelines NAME
    pipeline = lazy_registry[name]
    assert isinstance(pipeline, Pipeline) and pipeline.nodes
    assert set(pipeline.nodes) == set(register_pipelines()[name].nodes)


def test_several_names_together_resolve(lazy_registry):
    names = ["lattice_synthetic", "lattice_ingestion"]
    lazy_registry.set_requested(names)
    assert [node.name for name in names for node in lazy_registry[name].nodes] == [
        "synthetic.lattice.generate_raw", "synthetic.lattice.plot_sample_images", "synthetic.lattice.plot_stress_strain",
        "ingestion.lattice.ingest", "ingestion.lattice.plot_overview",
    ]


def test_the_cli_registry_shows_exactly_the_names_that_resolve(lazy_registry):
    lazy_registry.set_requested(None)  # kedro registry list
    assert set(lazy_registry.keys()) == EXPECTED


# ---------------------------------------------------------------------------- a data set by configuration only
MINE_CATALOG = """
mine.raw_manifest:
  type: causal_pima.datasets.specimen_manifest.SpecimenManifestDataset
  path: data/01_raw/mine
  manifest: specimens.csv
"""


def _add_mine(project: Path, curve_decoder: str | None) -> None:
    """``mine.raw_manifest`` in a catalog file of the project copy, and (unless ``curve_decoder`` is None) its
    parameter groups with that curve decoder: the README recipe, no source edited."""
    (project / "conf" / "base" / "catalog_mine.yml").write_text(MINE_CATALOG)
    if curve_decoder is not None:
        (project / "conf" / "base" / "parameters_mine.yml").write_text(
            f"mine_overrides: {{data_processing: {{}}, model: {{curve_decoder: {curve_decoder}}}, pretraining: {{}}, causal_pima: {{}}}}\n"
            + "".join(f"{stage}_mine: ${{overlay:{stage},mine_overrides.{stage}}}\n"
                      for stage in ("data_processing", "model", "pretraining", "causal_pima"))
        )


@pytest.fixture
def outside_a_session(monkeypatch):
    """No earlier session's conf source, environment or project in this process: the registry reads the
    project holding the working directory, as ``kedro registry list`` does."""
    from causal_pima import project_path, session_parameters

    monkeypatch.setattr(session_parameters, "_session", {"conf_source": None, "env": None, "parameters": None})
    monkeypatch.setattr(project_path, "_session_project", None)
    monkeypatch.delenv(project_path.ENV_VAR, raising=False)
    monkeypatch.delenv("KEDRO_ENV", raising=False)


@pytest.mark.parametrize("curve_decoder", ["physics", "neural", None])
def test_a_catalog_entry_registers_a_manifest_data_set_with_its_curve_decoder(project, outside_a_session, curve_decoder):
    lattice_before = [(n.name, sorted(n.inputs), sorted(n.outputs)) for n in register_pipelines()["lattice"].nodes]
    _add_mine(project, curve_decoder)
    registered = register_pipelines()
    assert set(registered) == EXPECTED | {"mine", "mine_ingestion"}
    assert {n.name for n in registered["mine_ingestion"].nodes} == {"ingestion.mine.ingest", "ingestion.mine.plot_overview"}
    assert registered["mine_ingestion"].all_outputs() == {"mine.raw_specimens", "mine.features", "mine.rejected", "mine.overview"}
    physics_nodes = {"causal_pima.mine.physics_parameters", "causal_pima.mine.plot_physics_curves"}
    names = {n.name for n in registered["mine"].nodes}
    assert names & physics_nodes == (physics_nodes if curve_decoder == "physics" else set())  # model_mine.curve_decoder
    assert "mine.raw_manifest" in registered["mine"].inputs() and "ingestion.mine.check_n_nodes" in names
    assert [(n.name, sorted(n.inputs), sorted(n.outputs)) for n in registered["lattice"].nodes] == lattice_before


def test_kedro_registry_list_and_the_cli_help_show_the_new_data_set(project, outside_a_session):
    import os
    import subprocess
    import sys

    _add_mine(project, "neural")
    bootstrap_project(project)
    pipelines.configure("causal_pima.pipeline_registry")
    pipelines.set_requested(None)  # kedro registry list: every name
    try:
        assert set(pipelines.keys()) == EXPECTED | {"mine", "mine_ingestion"}
    finally:
        pipelines.configure("causal_pima.pipeline_registry")  # later tests load the registry again
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "KEDRO_DISABLE_TELEMETRY": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    helped = subprocess.run([sys.executable, "-m", "causal_pima", "--help"], cwd=project, env=env, capture_output=True, text=True,
                            timeout=120)
    assert helped.returncode == 0, helped.stderr[-2000:]
    lines = [line.strip() for line in helped.stdout.splitlines()]
    assert "mine               ingestion of the manifest in data/01_raw/mine, then processing ... evaluation (neural curve decoder)" in lines
    assert any(line.startswith("mine_ingestion     its ingestion alone") for line in lines)
    assert any(line.startswith("lattice            ingestion of the manifest in data/01_raw/lattice") and "(physics curve expert)" in line
               for line in lines)


# ---------------------------------------------------------------------------- real session runs
def _run(project: Path, name: str, runtime_params: dict) -> None:
    from kedro.framework.session import KedroSession

    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=runtime_params) as session:
        session.run(pipeline_names=[name])


@pytest.mark.slow
def test_lattice_synthetic_then_lattice_ingestion_run_in_kedro_sessions(project):
    """The name that used to fail, run for real on a tiny stand-in (the cheap names; the full paths
    run in tests/pipelines/test_kedro_session.py)."""
    import pandas as pd

    _run(project, "lattice_synthetic", {"lattice_synthetic": {"n_specimens": 12, "n_figure_images": 4, "n_figure_curves": 12}})
    assert (project / "data/01_raw/lattice/specimens.csv").is_file()
    _run(project, "lattice_ingestion", {})
    features = pd.read_csv(project / "data/02_intermediate/lattice/features.csv")
    assert len(features) == 12 and {"family", "thickness", "defect"} <= set(features.columns)
    assert (project / "data/02_intermediate/lattice/specimens.npz").stat().st_size > 0
    assert pd.read_csv(project / "data/08_reporting/lattice/rejected.csv").empty


# tiny lattice: 40 specimens, 16 x 16 images, 16 grid points, one epoch of each training stage
LATTICE_TINY = {
    "lattice_synthetic": {"n_specimens": 40, "n_figure_images": 4, "n_figure_curves": 12,
                          "config": {"image_height": 32, "image_width": 32, "n_curve_points": 61}},
    "lattice_ingestion": {"image_size": 16, "n_grid_points": 16},
    "lattice_overrides": {"pretraining": {"epochs": 1, "batch_size": 16, "min_steps": 0},
                          "causal_pima": {"epochs": 1, "batch_size": 16, "min_steps": 0}},
    "model": {"latent_dim": 4, "image_channels": [4, 8], "image_hidden_dim": 16, "curve_hidden_dims": [16]},
    "causal_pima": {"on_collapse": "warn", "init": {"oversample": 1}, "structure": {"steps": 20}},
}


@pytest.mark.slow
def test_lattice_path_runs_end_to_end_on_tiny_data(project):
    """lattice_synthetic, then the whole lattice path (ingestion, processing, pretraining, fit with the
    physics expert, evaluation) in Kedro sessions on a tiny stand-in."""
    import json

    import torch

    _run(project, "lattice_synthetic", LATTICE_TINY)
    _run(project, "lattice", LATTICE_TINY)
    pretrained = torch.load(project / "data/06_models/lattice/pretrained_model.pt", weights_only=True)
    assert not any(k.startswith("prior.") for k in pretrained["state_dict"])  # the networks only
    (version,) = (project / "data/06_models/lattice/fitted_model.pt").iterdir()
    fitted = torch.load(version / "fitted_model.pt", weights_only=True)
    assert fitted["config"]["curve_decoder"] == "physics" and any(k.startswith("physics.") for k in fitted["state_dict"])
    metrics = json.loads((project / "data/08_reporting/lattice/dag_metrics.json").read_text())
    assert {"shd", "cpdag_shd", "node_accuracy", "test_elbo"} <= set(metrics)
    assert (project / "data/07_model_output/lattice/physics_parameters.csv").stat().st_size > 0
