"""Smoke runs of the measurement scripts under benchmarks/ with tiny settings, and the known answer of
the labelled feature-effect diagnostic."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"benchmark_script_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_main_effects_and_their_cosines_on_hand_made_observations():
    effects = _script("feature_effects")
    labels = np.array([[a, b] for a in (0, 1) for b in (0, 1)] * 3)
    # feature 0 adds (1, 0), feature 1 adds (-2, 0) plus an interaction (0, 4) when both are 1
    values = labels[:, :1] * np.array([1.0, 0.0]) + labels[:, 1:] * np.array([-2.0, 0.0]) \
        + (labels[:, :1] * labels[:, 1:]) * np.array([0.0, 4.0])
    np.testing.assert_allclose(effects.main_effect(values, labels, 0), [1.0, 2.0])  # mean of (1, 0) at b = 0 and (1, 4) at b = 1
    np.testing.assert_allclose(effects.main_effect(values, labels, 1), [-2.0, 2.0])  # mean of (-2, 0) and (-2, 4)
    text = effects.report({"images": values[:, :, None, None], "curves": values[:, :1], "labels": labels,
                           "label_names": np.array(["a", "b"])})
    assert "cos(a, b) = -1.000" in text  # curves: both effects on one axis, opposite signs
    assert "12 specimens" in text


def test_the_streaming_measurement_runs_on_a_tiny_set(tmp_path):
    scale_out = _script("scale_out")
    table = scale_out.streaming([200], tmp_path / "sets")
    row = table.splitlines()[-1].split("|")
    assert row[1].strip() == "200"
    numbers = [float(cell) for cell in row[2:-1]]
    assert len(numbers) == 8 and all(np.isfinite(numbers))
    mib, generation, *epochs_and_memory = numbers
    assert mib > 0 and generation >= 0  # printed with one decimal: a fast generation shows 0.0
    assert all(n > 0 for n in epochs_and_memory)
    assert not (tmp_path / "sets" / "n200").exists()  # the generated sets are removed


def test_the_peer_epoch_ratio_runs_on_a_tiny_set():
    table, ratio = _script("peer_speed").epoch_ratio(64, 32, 1)
    assert "| 238,565 |" in table and "| 238,547 |" in table  # the project's and the library's parameters
    assert 0 < ratio < 100 and f"Ratio project / library: {ratio:.3f}" in table


@pytest.mark.parametrize("name", ["speed", "scaling", "image_memory", "scale_out", "feature_effects", "peer_speed"])
def test_every_script_documents_its_command(name):
    text = (ROOT / "benchmarks" / f"{name}.py").read_text()
    assert f"benchmarks/{name}.py" in text.split('"""')[1]  # the module docstring gives the command
