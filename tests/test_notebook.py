"""The demo notebook runs, cell by cell, against a tiny completed Kedro run (smoke test, issue 11 item 6).

The notebook reads the latest run's outputs through the Kedro catalog; here the run is a tiny
``kedro run`` (tiny networks, a few seconds) in a copy of the project with its own MLflow store
(the ``project`` fixture of conftest.py).
"""

import json
from pathlib import Path

import matplotlib
import pytest

from causal_pima import project_path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "causal_pima_demo.ipynb"
TINY = {
    "circles": {"n_specimens": 200},
    "model": {"latent_dim": 3, "image_channels": [4], "image_hidden_dim": 8, "curve_hidden_dims": [8]},
    "pretraining": {"epochs": 1, "min_steps": 0},
    "causal_pima": {"epochs": 1, "min_steps": 0, "structure": {"steps": 50}},
}


def _notebook_folder(project: Path, monkeypatch) -> Path:
    """The working directory of a kernel started on notebooks/ in the project copy (conftest ``project``)."""
    (project / "notebooks").mkdir()
    monkeypatch.chdir(project / "notebooks")
    monkeypatch.delenv(project_path.ENV_VAR, raising=False)
    return project


def _execute(cells: list[dict]) -> dict:
    """Runs the code cells in one namespace, as a kernel would (the notebook uses no magics)."""
    matplotlib.use("Agg")
    namespace: dict = {}
    for cell in cells:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), str(NOTEBOOK.name), "exec"), namespace)  # noqa: S102
    return namespace


@pytest.mark.slow
def test_demo_notebook_tells_the_story_of_the_latest_run_and_asks_for_one_when_there_is_none(project, monkeypatch):
    import matplotlib.pyplot as plt
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from causal_pima.core.model import CausalPIMA

    _notebook_folder(project, monkeypatch)
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    first_code_cell = next(c for c in cells if c["cell_type"] == "code")
    with pytest.raises(RuntimeError, match=r"No completed run of 'circles' .* Run `kedro run` first"):
        _execute([first_code_cell])

    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=TINY) as session:
        session.run()
    try:
        namespace = _execute(cells)
    finally:
        plt.close("all")
    assert namespace["ROOT"] == project.resolve()
    assert namespace["report"]["n_specimens"] == 200
    assert isinstance(namespace["model"], CausalPIMA)
    assert set(namespace["matching"]["feature"]) <= {"radius", "shift", "hue"}
    assert namespace["predicted"].shape == namespace["test_set"]["curves"].shape
    q = namespace["test_posteriors"].filter(like="q_N").to_numpy()
    assert 0.0 <= q.min() <= q.max() <= 1.0
