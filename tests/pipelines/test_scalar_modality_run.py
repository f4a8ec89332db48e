"""The scalar modality end to end in one Kedro session on tiny circles data (issue 21, item 1): the
generator's scalars (a fifth of the specimens without them) through processing, the three-modality model,
the cross-modal report and the figures. Uses the temporary project of tests/conftest.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.pipelines.test_kedro_session import TINY, _run


@pytest.mark.slow
def test_circles_with_scalars_fit_a_three_modality_model_and_report_each_modality_from_the_others(project):
    _run(project, extra={
        "circles": {**TINY["circles"], "render": {"scalars": True, "scalar_missing": 0.2}},
        "model": {"modalities": ["image", "curve", "scalar"]},
    })
    test_set = {p.stem: np.load(p) for p in (project / "data/05_model_input/circles/test").glob("*.npy")}
    missing = np.isnan(test_set["scalars"]).any(axis=1)
    assert test_set["scalars"].shape == (40, 2) and 0 < missing.sum() < 20  # some test specimens have no scalars
    metrics = json.loads((project / "data/08_reporting/circles/dag_metrics.json").read_text())
    assert set(metrics["reconstruction_error"]) == {"image", "curve", "scalar"}
    assert all(np.isfinite(v) for v in metrics["reconstruction_error"].values())
    pairs = json.loads((project / "data/08_reporting/circles/cross_modal_pairs.json").read_text())
    assert pairs["modalities"] == ["image", "curve", "scalar"]
    assert pairs["pairs"]["scalar_from_image"]["n_specimens"] == 40 - missing.sum()
    assert pairs["pairs"]["image_from_scalar"]["n_specimens"] == 40 - missing.sum()
    assert pairs["pairs"]["curve_from_image"]["n_specimens"] == 40
    # the image tells radius (mass) and hue (density): better than predicting the mean scalars
    assert pairs["pairs"]["scalar_from_image"]["rmse"] < pairs["pairs"]["scalar_from_image"]["mean_rmse"]
    assert (project / "data/08_reporting/circles/reconstruction.png").stat().st_size > 1000
