"""core.diagnostics: a collapsed mixture is flagged, a healthy one is not."""

from __future__ import annotations

import pytest
import torch

from causal_pima.core.diagnostics import fit_diagnostics

from .conftest import small_model

pytestmark = pytest.mark.usefixtures("one_thread")


def test_collapse_is_flagged_when_one_outcome_takes_nearly_all_weight(circles_val):
    # identical components (mean 0, variance 1): every responsibility equals the mixture weight
    model = small_model(n_nodes=2)
    data = {k: circles_val[k] for k in ("image", "curve")}
    healthy = fit_diagnostics(model, data)
    # fair independent coins: every weight is exactly 1/4
    assert healthy["max_mixture_weight"] == pytest.approx(0.25, abs=1e-6)
    assert not healthy["collapsed"] and healthy["warnings"] == []
    assert healthy["physics_rmse"] is None
    with torch.no_grad():  # P(N_j = 1) = sigmoid(-12) for both nodes: outcome 0 has weight 0.99999
        model.dag.biases.fill_(-12.0)
    collapsed = fit_diagnostics(model, data)
    assert collapsed["collapsed"]
    assert collapsed["largest_outcome"] == 0
    assert collapsed["max_mixture_weight"] == pytest.approx(torch.sigmoid(torch.tensor(12.0)).item() ** 2, rel=1e-6)
    assert collapsed["effective_components"] < 1.01
    assert len(collapsed["warnings"]) == 1 and "mixture collapse: outcome 0" in collapsed["warnings"][0]


def test_collapse_weight_must_be_a_probability(circles_val):
    with pytest.raises(ValueError, match="collapse_weight"):
        fit_diagnostics(small_model(n_nodes=2), {"image": circles_val["image"][:4]}, collapse_weight=1.5)


def test_effective_components_is_finite_when_an_outcome_is_empty(circles_val):
    """An outcome with no responsibility (0 log 0) must not make the entropy NaN (strict JSON readers)."""
    model = small_model(n_nodes=2)
    data = {k: circles_val[k] for k in ("image", "curve")}
    with torch.no_grad():  # outcome 3 far from every specimen: its responsibilities underflow to 0 in float32
        model.prior.means[3].fill_(1e4)
    report = fit_diagnostics(model, data)
    assert report["effective_components"] == pytest.approx(3.0, abs=0.01)
