"""Tests for product-of-experts fusion (docs/model.md "Model and ELBO")."""

from __future__ import annotations

import math

import pytest
import torch

from causal_pima.core.fusion import product_of_experts


def _random_experts(n_modalities=3, batch=4, latent=5, dtype=torch.float64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    mus = torch.randn(n_modalities, batch, latent, generator=generator, dtype=dtype) * 2.0
    logvars = torch.randn(n_modalities, batch, latent, generator=generator, dtype=dtype)
    return mus, logvars


def test_matches_precision_weighted_closed_form():
    mus, logvars = _random_experts()
    mu, logvar = product_of_experts(mus, logvars)
    precisions = torch.exp(-logvars)
    total_precision = 1.0 + precisions.sum(dim=0)
    expected_mu = (mus * precisions).sum(dim=0) / total_precision
    torch.testing.assert_close(mu, expected_mu, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(logvar, -torch.log(total_precision), rtol=1e-12, atol=1e-12)


def test_hand_computed_two_experts():
    # Experts N(2, 1) and N(-1, 0.5) plus N(0, 1): P = 1 + 1 + 2 = 4, mu = (2*1 - 1*2) / 4 = 0.
    mus = torch.tensor([[[2.0]], [[-1.0]]], dtype=torch.float64)
    logvars = torch.log(torch.tensor([[[1.0]], [[0.5]]], dtype=torch.float64))
    mu, logvar = product_of_experts(mus, logvars)
    assert mu.item() == pytest.approx(0.0, abs=1e-15)
    assert logvar.item() == pytest.approx(-math.log(4.0), abs=1e-15)


def test_normalised_product_density_equals_fused_gaussian_on_grid():
    mus = torch.tensor([[[1.3]], [[-0.4]], [[2.2]]], dtype=torch.float64)
    logvars = torch.tensor([[[0.5]], [[-1.0]], [[1.2]]], dtype=torch.float64)
    mu, logvar = product_of_experts(mus, logvars)

    grid = torch.linspace(-12.0, 12.0, 48001, dtype=torch.float64)
    standard = torch.distributions.Normal(0.0, 1.0)
    experts = torch.distributions.Normal(
        mus.reshape(-1, 1), torch.exp(0.5 * logvars).reshape(-1, 1)
    )
    log_product = standard.log_prob(grid) + experts.log_prob(grid).sum(dim=0)
    spacing = grid[1] - grid[0]
    log_normaliser = torch.logsumexp(log_product, dim=0) + torch.log(spacing)
    fused = torch.distributions.Normal(mu.reshape(()), torch.exp(0.5 * logvar).reshape(()))
    torch.testing.assert_close(
        (log_product - log_normaliser)[::100], fused.log_prob(grid)[::100], rtol=0, atol=1e-9
    )


@pytest.mark.parametrize("bad_value", [math.nan, math.inf, -math.inf])
def test_masked_modality_has_no_effect_even_if_non_finite(bad_value):
    mus, logvars = _random_experts()
    mask = torch.tensor(
        [[True, True, False, True], [False, True, True, False], [True, False, True, True]]
    )
    poisoned_mus, poisoned_logvars = mus.clone(), logvars.clone()
    poisoned_mus[~mask] = bad_value
    poisoned_logvars[~mask] = bad_value
    poisoned_mus.requires_grad_(True)
    poisoned_logvars.requires_grad_(True)

    mu, logvar = product_of_experts(poisoned_mus, poisoned_logvars, mask)
    for b in range(mus.shape[1]):
        present = mask[:, b]
        expected_mu, expected_logvar = product_of_experts(
            mus[present, b : b + 1], logvars[present, b : b + 1]
        )
        torch.testing.assert_close(mu[b : b + 1], expected_mu, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(logvar[b : b + 1], expected_logvar, rtol=1e-12, atol=1e-12)

    (mu.sum() + logvar.sum()).backward()
    assert torch.isfinite(poisoned_mus.grad).all() and torch.isfinite(poisoned_logvars.grad).all()
    assert (poisoned_mus.grad[~mask] == 0).all() and (poisoned_logvars.grad[~mask] == 0).all()


def test_all_masked_gives_standard_normal():
    mus, logvars = _random_experts(dtype=torch.float32)
    mus[0, 0] = math.nan
    mask = torch.zeros(mus.shape[:2], dtype=torch.bool)
    mu, logvar = product_of_experts(mus, logvars, mask)
    assert mu.dtype == torch.float32 and logvar.dtype == torch.float32
    assert (mu == 0).all() and (logvar == 0).all()


def test_float32_follows_inputs_and_matches_float64():
    mus, logvars = _random_experts(dtype=torch.float64)
    mu64, logvar64 = product_of_experts(mus, logvars)
    mu32, logvar32 = product_of_experts(mus.float(), logvars.float())
    assert mu32.dtype == torch.float32
    torch.testing.assert_close(mu32, mu64.float(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(logvar32, logvar64.float(), rtol=1e-5, atol=1e-5)


def test_shape_errors():
    mus, logvars = _random_experts()
    with pytest.raises(ValueError):
        product_of_experts(mus, logvars[:, :, :2])
    with pytest.raises(ValueError):
        product_of_experts(mus, logvars, torch.ones(2, 4, dtype=torch.bool))
