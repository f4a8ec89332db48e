"""Tests for the Gaussian-mixture prior and its closed-form update (docs/model.md "Model and ELBO")."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from causal_pima.core.outcomes import joint_outcomes
from causal_pima.core.prior import (
    GaussianMixturePrior,
    SufficientStatistics,
    gaussian_kl,
    responsibilities,
)

F64 = torch.float64


def _batch(batch=64, latent=3, n_components=4, seed=0, dtype=F64):
    """Random fused posteriors and responsibilities (fixed, as in one E-step)."""
    generator = torch.Generator().manual_seed(seed)
    mu = torch.randn(batch, latent, generator=generator, dtype=dtype) * 2.0
    var = torch.rand(batch, latent, generator=generator, dtype=dtype) * 0.5 + 0.05
    logits = torch.randn(batch, n_components, generator=generator, dtype=dtype) * 2.0
    gamma = torch.softmax(logits, dim=-1)
    return mu, var, gamma


def _expected_prior_objective(prior, mu, var, gamma):
    """sum_b sum_k gamma_bk (-KL_bk): the part of the ELBO the mixture update maximises."""
    return (gamma * -prior.kl(mu, var)).sum().item()


def _prior64(n_nodes, latent, structure="free", **kwargs):
    return GaussianMixturePrior(n_nodes, latent, mean_structure=structure, **kwargs).double()


def test_gaussian_kl_matches_torch_distributions():
    generator = torch.Generator().manual_seed(1)
    mu, var = (
        torch.randn(5, 3, generator=generator, dtype=F64),
        torch.rand(5, 3, generator=generator, dtype=F64) + 0.1,
    )
    means = torch.randn(4, 3, generator=generator, dtype=F64)
    variances = torch.rand(4, 3, generator=generator, dtype=F64) + 0.1
    q = Independent(Normal(mu.unsqueeze(1), var.sqrt().unsqueeze(1)), 1)
    p = Independent(Normal(means.unsqueeze(0), variances.sqrt().unsqueeze(0)), 1)
    expected = kl_divergence(q, p)
    kl = gaussian_kl(mu, var, means, variances)
    assert kl.shape == (5, 4)
    torch.testing.assert_close(kl, expected, rtol=1e-12, atol=1e-12)
    assert (
        gaussian_kl(mu.float(), var.float(), means.float(), variances.float()).dtype
        == torch.float32
    )


def test_gaussian_kl_gradcheck_all_arguments():
    generator = torch.Generator().manual_seed(2)
    inputs = (
        torch.randn(3, 2, generator=generator, dtype=F64),
        torch.rand(3, 2, generator=generator, dtype=F64) + 0.2,
        torch.randn(4, 2, generator=generator, dtype=F64),
        torch.rand(4, 2, generator=generator, dtype=F64) + 0.2,
    )
    inputs = tuple(x.requires_grad_(True) for x in inputs)
    assert torch.autograd.gradcheck(gaussian_kl, inputs)


def test_responsibilities_are_softmax():
    log_pi = torch.log(torch.tensor([0.5, 0.25, 0.25], dtype=F64))
    kl = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 2.0]], dtype=F64)
    gamma = responsibilities(log_pi, kl)
    torch.testing.assert_close(gamma[0], torch.tensor([0.5, 0.25, 0.25], dtype=F64))
    unnormalised = torch.tensor([0.5 * torch.e**-1.0, 0.25, 0.25 * torch.e**-2.0], dtype=F64)
    torch.testing.assert_close(gamma[1], unnormalised / unnormalised.sum())


def test_sufficient_statistics_from_batch_zeros_and_sum():
    mu, var, gamma = _batch(batch=10, latent=2, n_components=4)
    stats = SufficientStatistics.from_batch(gamma, mu, var)
    torch.testing.assert_close(stats.s0, gamma.sum(0))
    torch.testing.assert_close(stats.s1[2], (gamma[:, 2:3] * mu).sum(0))
    torch.testing.assert_close(stats.s2[3], (gamma[:, 3:4] * (var + mu**2)).sum(0))
    total = SufficientStatistics.zeros(4, 2, dtype=F64) + stats
    torch.testing.assert_close(total.s1, stats.s1, rtol=0, atol=0)
    summed = sum([stats, stats])
    torch.testing.assert_close(summed.s0, 2 * stats.s0)


def test_unknown_mean_structure_is_rejected_by_name():
    with pytest.raises(ValueError, match="banana"):
        GaussianMixturePrior(2, 3, mean_structure="banana")


def test_initial_buffers_and_properties():
    prior = GaussianMixturePrior(3, 5, mean_structure="additive")
    assert (prior.n_components, prior.latent_dim, prior.n_nodes) == (8, 5, 3)
    assert (prior.means == 0).all() and (prior.variances == 1).all()
    assert prior.offset.shape == (5,) and prior.deltas.shape == (3, 5)
    assert "outcomes" not in prior.state_dict()
    assert "offset" not in GaussianMixturePrior(3, 5).state_dict()


def test_free_update_maximises_expected_prior_term():
    mu, var, gamma = _batch()
    prior = _prior64(2, 3)
    before = _expected_prior_objective(prior, mu, var, gamma)
    prior.update(SufficientStatistics.from_batch(gamma, mu, var))
    best = _expected_prior_objective(prior, mu, var, gamma)
    assert best > before
    for buffer in (prior.means, prior.variances):
        for k in range(4):
            for e in range(3):
                for step in (1e-3, -1e-3):
                    original = buffer[k, e].item()
                    buffer[k, e] = original + step
                    assert _expected_prior_objective(prior, mu, var, gamma) < best
                    buffer[k, e] = original


def test_additive_update_is_monotone_and_converges_to_a_maximum():
    # The additive update is block coordinate ascent (least squares uses the current variances), so
    # each update increases the objective and its fixed point is a maximum.
    mu, var, gamma = _batch(n_components=8, seed=3)
    prior = _prior64(3, 3, "additive")
    stats = SufficientStatistics.from_batch(gamma, mu, var)
    objective = _expected_prior_objective(prior, mu, var, gamma)
    for _ in range(30):
        prior.update(stats)
        new_objective = _expected_prior_objective(prior, mu, var, gamma)
        assert new_objective >= objective - 1e-9
        objective = new_objective
    best = objective
    for buffer, is_mean_parameter in (
        (prior.offset, True),
        (prior.deltas, True),
        (prior.variances, False),
    ):
        flat = buffer.view(-1)
        for index in range(flat.numel()):
            for step in (1e-3, -1e-3):
                original = flat[index].item()
                flat[index] = original + step
                if is_mean_parameter:
                    _refresh_means(prior)
                assert _expected_prior_objective(prior, mu, var, gamma) < best
                flat[index] = original
                _refresh_means(prior)



@torch.no_grad()
def _refresh_means(prior: GaussianMixturePrior) -> None:
    """``means = offset + outcomes @ deltas`` after editing ``offset`` / ``deltas`` by hand (additive)."""
    prior.means.copy_(prior.offset + prior.outcomes.to(prior.deltas.dtype) @ prior.deltas)

@pytest.mark.parametrize("structure", ["free", "additive"])
def test_statistics_of_two_halves_give_the_same_update(structure):
    mu, var, gamma = _batch(batch=100, n_components=8, seed=4)
    whole, halves = _prior64(3, 3, structure), _prior64(3, 3, structure)
    whole.update(SufficientStatistics.from_batch(gamma, mu, var))
    halves.update(
        SufficientStatistics.from_batch(gamma[:37], mu[:37], var[:37])
        + SufficientStatistics.from_batch(gamma[37:], mu[37:], var[37:])
    )
    torch.testing.assert_close(halves.means, whole.means, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(halves.variances, whole.variances, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("structure", ["free", "additive"])
def test_variance_floor_respected(structure):
    # every specimen sits exactly on its component's mean with a tiny posterior variance
    outcomes = torch.as_tensor(joint_outcomes(2), dtype=F64)
    mu = (outcomes @ torch.tensor([[1.0, -2.0], [3.0, 0.5]], dtype=F64)).repeat(5, 1)
    var = torch.full_like(mu, 1e-8)
    gamma = torch.eye(4, dtype=F64).repeat(5, 1)
    prior = _prior64(2, 2, structure, variance_floor=0.01)
    prior.update(SufficientStatistics.from_batch(gamma, mu, var))
    assert (prior.variances == 0.01).all()


def test_near_empty_component_keeps_old_values():
    mu, var, gamma = _batch(n_components=4, seed=5)
    gamma = gamma.clone()
    gamma[:, 2] = 1e-7  # total count 6.4e-6 < min_count
    prior = _prior64(2, 3, min_count=1e-3)
    with torch.no_grad():
        prior.means[2] = torch.tensor([0.3, -0.1, 2.0], dtype=F64)
        prior.variances[2] = torch.tensor([0.7, 1.3, 0.2], dtype=F64)
    old_means, old_variances = prior.means.clone(), prior.variances.clone()
    prior.update(SufficientStatistics.from_batch(gamma, mu, var))
    assert torch.equal(prior.means[2], old_means[2]) and torch.equal(
        prior.variances[2], old_variances[2]
    )
    assert not torch.equal(prior.means[0], old_means[0])
    assert torch.isfinite(prior.means).all() and torch.isfinite(prior.variances).all()

    # additive: the empty outcome's variance is kept; its mean follows the shared offset / deltas
    additive = _prior64(2, 3, "additive")
    additive.update(SufficientStatistics.from_batch(gamma, mu, var))
    assert (additive.variances[2] == 1.0).all()
    expected = additive.offset + additive.deltas[1]  # outcome 2 = node 1 only
    torch.testing.assert_close(additive.means[2], expected, rtol=1e-12, atol=1e-12)


def test_additive_recovers_planted_offset_and_deltas():
    n_nodes, latent = 3, 4
    generator = torch.Generator().manual_seed(6)
    offset = torch.randn(latent, generator=generator, dtype=F64)
    deltas = torch.randn(n_nodes, latent, generator=generator, dtype=F64) * 3.0
    outcomes = torch.as_tensor(joint_outcomes(n_nodes), dtype=F64)
    labels = torch.randint(0, 8, (200,), generator=generator)
    labels[:8] = torch.arange(8)  # every outcome present
    mu = offset + outcomes[labels] @ deltas  # noise-free
    var = torch.rand(200, latent, generator=generator, dtype=F64) * 0.1 + 0.01
    gamma = torch.nn.functional.one_hot(labels, 8).to(F64)
    prior = _prior64(n_nodes, latent, "additive")
    prior.update(SufficientStatistics.from_batch(gamma, mu, var))
    torch.testing.assert_close(prior.offset, offset, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(prior.deltas, deltas, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(prior.means, offset + outcomes @ deltas, rtol=1e-10, atol=1e-10)


def test_additive_with_too_few_usable_components_keeps_old_means():
    mu, var, gamma = _batch(n_components=8, seed=7)
    gamma = gamma.clone()
    gamma[:, 3:] = 0.0  # only 3 usable components < d + 1 = 4 unknowns
    prior = _prior64(3, 3, "additive")
    with torch.no_grad():
        prior.offset.fill_(0.5)
    _refresh_means(prior)
    old_means = prior.means.clone()
    prior.update(SufficientStatistics.from_batch(gamma, mu, var))
    assert torch.equal(prior.means, old_means) and (prior.offset == 0.5).all()
    assert not torch.equal(
        prior.variances[:3], torch.ones(3, 3, dtype=F64)
    )  # variances still updated
    assert (prior.variances[3:] == 1.0).all()


def test_additive_unidentified_node_keeps_old_delta():
    # node 2 is 0 in every usable component: its delta is not identified and must stay as it was
    mu, var, gamma = _batch(n_components=8, seed=8)
    gamma = gamma.clone()
    gamma[:, 4:] = 0.0
    prior = _prior64(3, 3, "additive")
    with torch.no_grad():
        prior.deltas[2] = torch.tensor([1.0, 2.0, 3.0], dtype=F64)
    prior.update(SufficientStatistics.from_batch(gamma, mu, var))
    torch.testing.assert_close(prior.deltas[2], torch.tensor([1.0, 2.0, 3.0], dtype=F64))
    assert torch.isfinite(prior.means).all()


def test_float32_prior_follows_inputs():
    mu, var, gamma = _batch(dtype=torch.float32)
    for structure in ("free", "additive"):
        prior = GaussianMixturePrior(2, 3, mean_structure=structure)
        prior.update(SufficientStatistics.from_batch(gamma, mu, var))
        assert prior.means.dtype == torch.float32 and torch.isfinite(prior.variances).all()
        assert prior.kl(mu, var).dtype == torch.float32
        assert prior.kl(mu.double(), var.double()).dtype == torch.float64
