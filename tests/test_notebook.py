"""The demo notebook runs, cell by cell, against a tiny completed Kedro run (smoke test, issue 11 item 6).

The notebook reads the latest run's outputs through the Kedro catalog; here the run is a tiny
``kedro run`` (tiny networks, a few seconds) in a copy of the project with its own MLflow store
(the ``project`` fixture of conftest.py).
"""

import json
import shutil
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
    shutil.copy(NOTEBOOK.with_name("logging.yml"), project / "notebooks" / "logging.yml")
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
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project


    _notebook_folder(project, monkeypatch)
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    first_code_cell = next(c for c in cells if c["cell_type"] == "code")
    with pytest.raises(RuntimeError, match=r"No completed run of 'circles' .* Run `kedro run` first"):
        _execute([first_code_cell])

    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params=TINY) as session:
        session.run()
    executed = _run_in_a_kernel(project)
    outputs = [o for c in executed.cells if c["cell_type"] == "code" for o in c.get("outputs", [])]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    # every show() of a reporting figure and the cross-modal plot: 8 figures displayed by Jupyter's own backend
    assert len(images) == 8, [o.get("output_type") for o in outputs]
    # what Jupyter shows as text: streams, and the text of rich display blocks (Rich's handler renders
    # log records in a kernel as display_data, not as stream text)
    text = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream")
    text += "".join(o["data"].get("text/plain", "") for o in outputs if o["output_type"] == "display_data")
    assert "TqdmWarning" not in text and "IProgress" not in text  # no widget warnings
    assert " INFO " not in text and "INFO " not in text and "\x1b[" not in text  # no Kedro log lines, no colour codes
    assert "Add type hints" not in text and "Warning" not in text  # no library warnings either
    checks = json.loads(executed.cells[-1]["outputs"][-1]["text"])
    assert checks == {"root": str(project.resolve()), "n_specimens": 200, "model": "CausalPIMA", "features_known": True,
                      "prediction_shape_matches": True, "q_in_unit_interval": True}


CHECKS = """
import json
print(json.dumps({
    "root": str(ROOT), "n_specimens": report["n_specimens"], "model": type(model).__name__,
    "features_known": set(matching["feature"]) <= {"radius", "shift", "hue"},
    "prediction_shape_matches": predicted.shape == test_set["curves"].shape,
    "q_in_unit_interval": bool(0.0 <= test_posteriors.filter(like="q_N").to_numpy().min() <= test_posteriors.filter(like="q_N").to_numpy().max() <= 1.0),
}))
"""


def _run_in_a_kernel(project: Path):
    """The notebook executed by a real Jupyter kernel (nbclient), started in the project copy's notebooks/,
    with a last cell that prints what the test checks; returns the executed notebook."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(CHECKS))
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(project / "notebooks")}})
    return client.execute()
