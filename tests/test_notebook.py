"""The demo notebook runs, cell by cell, on a tiny version of the default data (smoke test)."""

import json
from pathlib import Path

import matplotlib
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_notebook_runs(monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.setenv("CAUSAL_PIMA_SMOKE", "1")
    monkeypatch.chdir(ROOT / "notebooks")
    notebook = json.loads((ROOT / "notebooks" / "causal_pima_demo.ipynb").read_text())
    namespace: dict = {}
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), "causal_pima_demo.ipynb", "exec"), namespace)  # noqa: S102
    assert namespace["report"]["n_specimens"] == 300
    assert len(namespace["history"]) == 2
    assert 0.0 <= namespace["posterior"]["node_marginals"].min() <= namespace["posterior"]["node_marginals"].max() <= 1.0
