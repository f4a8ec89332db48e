"""Suite-wide fixtures: MLflow hygiene and a temporary copy of the project for Kedro sessions.

The matplotlib backend is chosen here, once, before any test module is imported: ``Agg`` (files only,
no display), as ``causal_pima.plots`` sets it for the project.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib
import pytest
import yaml

matplotlib.use("Agg")  # before any test module imports pyplot

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def no_mlflow_run_left_active():
    """End any MLflow run a test leaves active, so the next test in the worker starts clean.

    kedro-mlflow starts a run in the test process for every Kedro session; a test whose session
    stops early (or that starts a run itself) would otherwise hand its active run, and its tracking
    URI, to whichever test the same xdist worker runs next.
    """
    yield
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()


def copy_project(target: Path, store: Path) -> Path:
    """A copy of the project's conf and src in ``target`` whose conf/local/mlflow.yml points MLflow at
    the sqlite file ``store`` (artifacts in ``target/mlartifacts``); returns ``target``."""
    shutil.copytree(ROOT / "conf", target / "conf", ignore=shutil.ignore_patterns("local"))
    (target / "conf" / "local").mkdir()
    mlflow_conf = yaml.safe_load((ROOT / "conf" / "base" / "mlflow.yml").read_text())
    mlflow_conf["server"]["mlflow_tracking_uri"] = f"sqlite:///{store}"
    mlflow_conf["tracking"]["experiment"]["create_experiment_kwargs"]["artifact_location"] = str(target / "mlartifacts")
    (target / "conf" / "local" / "mlflow.yml").write_text(yaml.safe_dump(mlflow_conf))
    shutil.copy(ROOT / "pyproject.toml", target / "pyproject.toml")
    shutil.copytree(ROOT / "src", target / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return target


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A copy of the project's conf and src in ``tmp_path`` with MLflow pointed at a temporary store.

    A Kedro session on it writes data/, mlflow.db and mlartifacts/ inside ``tmp_path`` (the
    catalog's relative paths resolve against the project root), never into the real project.
    """
    copy_project(tmp_path, tmp_path / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    return tmp_path
