"""Tests for the evaluation read-outs: reconstruction error, cross-modal prediction and
interventional latent samples (README "What the reports hold")."""

from __future__ import annotations

import pytest
import torch

from causal_pima.core.dag import interventional_log_weights
from causal_pima.core.model import CausalPIMA
from causal_pima.core.outcomes import joint_outcomes
from causal_pima.core.prediction import (
    cross_modal_prediction,
    reconstruction_rmse,
    sample_interventional_latents,
)

from .conftest import small_model

pytestmark = pytest.mark.usefixtures("one_thread")


def test_reconstruction_rmse_matches_hand_computation(model, circles_train):
    # 256 specimens in batches of 100: the last batch is short
    rmse = reconstruction_rmse(model, circles_train, batch_size=100)
    assert set(rmse) == {"image", "curve"}
    with torch.no_grad():
        mu, _ = model.encode(circles_train)
        recon = model.decode(mu)
    for m in ("image", "curve"):
        expected = (recon[m] - circles_train[m]).double().pow(2).mean().sqrt().item()
        assert rmse[m] == pytest.approx(expected, rel=1e-5)
    assert rmse["image"] != rmse["curve"]


def test_reconstruction_rmse_only_for_modalities_in_data(model, circles_train):
    rmse = reconstruction_rmse(model, {"image": circles_train["image"][:20]})
    assert set(rmse) == {"image"}


def test_cross_modal_prediction_uses_only_the_source(model, circles_train):
    data = {k: v[:40] for k, v in circles_train.items()}
    predicted = cross_modal_prediction(model, data, "image", "curve")
    assert predicted.shape == data["curve"].shape
    with torch.no_grad():
        mu, _ = model.encode({"image": data["image"]})
        expected = model.decode(mu)["curve"]
    assert torch.equal(predicted, expected)
    # the target's observed values play no part
    garbage = dict(data, curve=torch.full_like(data["curve"], float("nan")))
    assert torch.equal(cross_modal_prediction(model, garbage, "image", "curve"), expected)
    assert (
        cross_modal_prediction(model, {"curve": data["curve"]}, "curve", "image").shape
        == data["image"].shape
    )


def test_cross_modal_prediction_raises_for_missing_modality(circles_train):
    image_only = small_model(0, curve_length=0)
    data = {k: v[:8] for k, v in circles_train.items()}
    with pytest.raises(ValueError, match="curve"):
        cross_modal_prediction(image_only, data, "image", "curve")
    with pytest.raises(ValueError, match="curve"):
        cross_modal_prediction(image_only, data, "curve", "image")
    with pytest.raises(ValueError):
        cross_modal_prediction(small_model(0), data, "image", "spectrum")


def _separated_model() -> CausalPIMA:
    """d = 3, D = 4: component k sits at 20 * (n_k, 0) with sd 0.1, and a collider 0 -> 2 <- 1."""
    model = small_model(0)
    outcomes = torch.as_tensor(joint_outcomes(3), dtype=torch.float32)
    with torch.no_grad():
        model.prior.means.copy_(torch.cat([outcomes, torch.zeros(8, 1)], dim=1) * 20.0)
        model.prior.variances.fill_(0.01)
        model.dag.node_scores.copy_(torch.tensor([0.0, 1.0, 2.0]))
        model.dag.temperature.fill_(0.05)
        model.dag.edge_weights.copy_(
            torch.tensor([[0.0, 0.0, 3.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0]])
        )
        model.dag.biases.copy_(torch.tensor([1.0, -1.0, -3.0]))
    return model


@pytest.mark.parametrize("node", [0, 1, 2])
@pytest.mark.parametrize("value", [0, 1])
def test_interventional_samples_only_from_components_with_the_forced_value(node, value):
    model = _separated_model()
    n = 4000
    generator = torch.Generator().manual_seed(10 * node + value)
    z = sample_interventional_latents(model, node, value, n, generator=generator)
    assert z.shape == (n, 4) and torch.isfinite(z).all()
    nearest = torch.cdist(z, model.prior.means).argmin(dim=1)  # [n] component index
    outcomes = torch.as_tensor(joint_outcomes(3))
    assert (outcomes[nearest, node] == value).all()
    # component frequencies follow the interventional weights (children see the forced value)
    weights = interventional_log_weights(model.dag.adjacency(), model.dag.biases, node, value).exp()
    frequencies = torch.bincount(nearest, minlength=8).float() / n
    # 4000 draws: sd <= 0.008
    torch.testing.assert_close(frequencies, weights.detach(), rtol=0, atol=0.03)
    # every allowed component is drawn
    assert ((frequencies > 0) == (weights > 1e-3)).all()


def test_intervention_on_parent_changes_the_child_but_not_the_other_root():
    model = _separated_model()
    generator = torch.Generator().manual_seed(0)
    outcomes = torch.as_tensor(joint_outcomes(3))
    hue_rate, other_root = [], []
    for value in (0, 1):
        z = sample_interventional_latents(model, 0, value, 4000, generator=generator)
        nodes = outcomes[torch.cdist(z, model.prior.means).argmin(dim=1)]
        hue_rate.append(nodes[:, 2].float().mean().item())
        other_root.append(nodes[:, 1].float().mean().item())
    assert hue_rate[1] - hue_rate[0] > 0.3  # edge weight 3 in logit units
    # P(N_1 = 1) = sigmoid(-1) under both interventions
    assert other_root[0] == pytest.approx(other_root[1], abs=0.05)
    assert other_root[0] == pytest.approx(torch.sigmoid(torch.tensor(-1.0)).item(), abs=0.03)


def test_interventional_samples_are_reproducible():
    model = _separated_model()
    a = sample_interventional_latents(model, 2, 1, 100, generator=torch.Generator().manual_seed(5))
    b = sample_interventional_latents(model, 2, 1, 100, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
