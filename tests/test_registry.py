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
