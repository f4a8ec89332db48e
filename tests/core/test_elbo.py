"""Tests for the ELBO terms (docs/model.md "Model and ELBO")."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal

from causal_pima.core.elbo import elbo_terms, gaussian_log_likelihood, prior_term
from causal_pima.core.prior import gaussian_kl, responsibilities

F64 = torch.float64


def _log_pi_and_kl(batch=6, n_components=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    log_pi = torch.log_softmax(torch.randn(n_components, generator=generator, dtype=F64), dim=0)
    kl = torch.rand(batch, n_components, generator=generator, dtype=F64) * 5.0
    return log_pi, kl


def _variational_objective(gamma, log_pi, kl):
    """-sum_k gamma_k KL_k - KL(gamma || pi), per specimen [B]."""
    entropy_term = torch.where(gamma > 0, gamma * (torch.log(gamma) - log_pi), 0.0)
    return -(gamma * kl).sum(-1) - entropy_term.sum(-1)


def test_prior_term_is_the_maximum_of_the_variational_objective():
    log_pi, kl = _log_pi_and_kl()
    value = prior_term(log_pi, kl)
    assert value.shape == (6,)
    gamma = responsibilities(log_pi, kl)
    torch.testing.assert_close(
        _variational_objective(gamma, log_pi, kl), value, rtol=1e-12, atol=1e-12
    )

    torch.manual_seed(2)  # Dirichlet sampling uses the global generator
    for concentration in (0.1, 1.0, 10.0):
        dirichlet = torch.distributions.Dirichlet(torch.full((8,), concentration, dtype=F64))
        for _ in range(20):
            other = dirichlet.sample((6,))
            assert (_variational_objective(other, log_pi, kl) < value).all()
    # one-hot choices (the vertices of the simplex) are lower too
    for k in range(8):
        one_hot = torch.zeros(6, 8, dtype=F64)
        one_hot[:, k] = 1.0
        assert (_variational_objective(one_hot, log_pi, kl) < value).all()


def test_prior_term_hand_value():
    # two equally likely components, KL 0 and log 2: log(0.5 + 0.5 * 0.5) = log 0.75
    log_pi = torch.log(torch.tensor([0.5, 0.5], dtype=F64))
    kl = torch.tensor([[0.0, math.log(2.0)]], dtype=F64)
    assert prior_term(log_pi, kl).item() == pytest.approx(math.log(0.75), abs=1e-15)


def test_prior_term_gradcheck_wrt_mu_var_and_log_pi():
    generator = torch.Generator().manual_seed(3)
    means = torch.randn(4, 2, generator=generator, dtype=F64)
    variances = torch.rand(4, 2, generator=generator, dtype=F64) + 0.3
    mu = torch.randn(3, 2, generator=generator, dtype=F64).requires_grad_(True)
    var = (torch.rand(3, 2, generator=generator, dtype=F64) + 0.3).requires_grad_(True)
    log_pi = torch.log_softmax(torch.randn(4, generator=generator, dtype=F64), 0).requires_grad_(
        True
    )

    def composed(mu, var, log_pi):
        return prior_term(log_pi, gaussian_kl(mu, var, means, variances))

    assert torch.autograd.gradcheck(composed, (mu, var, log_pi))


def test_gaussian_log_likelihood_matches_normal_log_prob():
    generator = torch.Generator().manual_seed(4)
    x = torch.rand(5, 3, 4, 4, generator=generator, dtype=F64)
    mean = torch.rand(5, 3, 4, 4, generator=generator, dtype=F64)
    log_scale = torch.tensor([-1.0, 0.0, 0.5], dtype=F64).reshape(3, 1, 1)
    expected = Normal(mean, log_scale.exp()).log_prob(x).sum(dim=(1, 2, 3))
    result = gaussian_log_likelihood(x, mean, log_scale)
    assert result.shape == (5,)
    torch.testing.assert_close(result, expected, rtol=1e-12, atol=1e-12)

    curves = torch.randn(7, 30, generator=generator, dtype=F64)
    expected = Normal(torch.zeros(()), math.exp(-2.0)).log_prob(curves.float()).sum(-1)
    result = gaussian_log_likelihood(curves.float(), torch.zeros(()), -2.0)
    assert result.dtype == torch.float32
    torch.testing.assert_close(result, expected, rtol=1e-5, atol=1e-3)
    # a scalar mean and scale still sum over every element of x
    assert gaussian_log_likelihood(curves, torch.zeros(()), 0.0).shape == (7,)


def test_elbo_terms_combination():
    log_pi, kl = _log_pi_and_kl(batch=4, n_components=4)
    reconstruction = {
        "image": torch.tensor([-10.0, -12.0, -8.0, -10.0], dtype=F64),
        "curve": torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=F64),
    }
    adj = torch.tensor([[0.0, -1.5], [0.0, 0.0]], dtype=F64)
    terms = elbo_terms(reconstruction, log_pi, kl, adj=adj, l1_weight=0.1)
    assert set(terms) == {"recon_image", "recon_curve", "prior", "elbo", "l1", "loss"}
    assert all(value.dim() == 0 for value in terms.values())
    prior = prior_term(log_pi, kl).mean().item()
    assert terms["recon_image"].item() == pytest.approx(-10.0)
    assert terms["recon_curve"].item() == pytest.approx(2.5)
    assert terms["prior"].item() == pytest.approx(prior, rel=1e-12)
    assert terms["elbo"].item() == pytest.approx(-7.5 + prior, rel=1e-12)
    assert terms["l1"].item() == pytest.approx(0.15, rel=1e-12)
    assert terms["loss"].item() == pytest.approx(7.5 - prior + 0.15, rel=1e-12)

    no_penalty = elbo_terms(reconstruction, log_pi, kl)
    assert no_penalty["l1"].item() == 0.0 and no_penalty["l1"].dtype == F64
    assert no_penalty["loss"].item() == pytest.approx(-no_penalty["elbo"].item(), rel=1e-12)


def test_elbo_terms_backpropagate_to_all_inputs():
    log_pi, kl = _log_pi_and_kl(batch=3, n_components=2)
    log_pi.requires_grad_(True)
    kl.requires_grad_(True)
    recon = torch.tensor([-1.0, -2.0, -3.0], dtype=F64, requires_grad=True)
    adj = torch.tensor([[0.0, 0.5], [0.0, 0.0]], dtype=F64, requires_grad=True)
    elbo_terms({"image": recon}, log_pi, kl, adj=adj, l1_weight=0.2)["loss"].backward()
    torch.testing.assert_close(recon.grad, torch.full((3,), -1.0 / 3.0, dtype=F64))
    assert adj.grad[0, 1].item() == pytest.approx(0.2)
    assert log_pi.grad.abs().sum() > 0 and kl.grad.abs().sum() > 0


def test_gaussian_log_likelihood_with_one_scale_matches_normal_log_prob_and_its_gradients():
    """One learned scale for every value (each modality's noise) against torch.distributions, values and gradients."""
    generator = torch.Generator().manual_seed(5)
    x = torch.rand(6, 3, 4, 4, generator=generator, dtype=F64)
    mean = torch.rand(6, 3, 4, 4, generator=generator, dtype=F64, requires_grad=True)
    log_scale = torch.tensor(-0.7, dtype=F64, requires_grad=True)
    result = gaussian_log_likelihood(x, mean, log_scale)
    mean_ref, scale_ref = mean.detach().clone().requires_grad_(), log_scale.detach().clone().requires_grad_()
    expected = Normal(mean_ref, scale_ref.exp()).log_prob(x).sum(dim=(1, 2, 3))
    torch.testing.assert_close(result, expected, rtol=1e-12, atol=1e-12)
    weights = torch.arange(1.0, 7.0, dtype=F64)
    (result * weights).sum().backward()
    (expected * weights).sum().backward()
    torch.testing.assert_close(mean.grad, mean_ref.grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(log_scale.grad, scale_ref.grad, rtol=1e-12, atol=1e-10)
