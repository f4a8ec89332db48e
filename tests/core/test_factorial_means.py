"""Tests for core.factorial_means and the prior's ``mean_structure: factorial`` update."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from causal_pima.core.factorial_means import factorial_design, factorial_means, shrunk_variances
from causal_pima.core.outcomes import joint_outcomes
from causal_pima.core.prior import GaussianMixturePrior, SufficientStatistics


def outcomes(n_nodes: int) -> torch.Tensor:
    return torch.as_tensor(joint_outcomes(n_nodes), dtype=torch.float64)


def test_design_columns() -> None:
    design = factorial_design(outcomes(3))
    assert design.shape == (8, 1 + 3 + 3)
    assert torch.equal(design[:, 0], torch.ones(8, dtype=torch.float64))
    assert torch.equal(design[:, 1:4], outcomes(3))
    assert torch.equal(design[5, 4:], torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))  # 5 = bits 0, 2: only n0 n2
    assert factorial_design(outcomes(3), interaction_order=1).shape == (8, 4)


def test_exact_factorial_targets_are_kept_and_an_empty_component_is_placed_exactly() -> None:
    """Targets that are exactly order-2 factorial need no deviation and no interaction shrinkage beyond the
    ridge: with lambda = 0 every mean is exact, the empty component's too."""
    rng = np.random.default_rng(0)
    n_nodes, dim = 4, 3
    coefficients = torch.as_tensor(rng.normal(size=(1 + 4 + 6, dim)))
    truth = factorial_design(outcomes(n_nodes)) @ coefficients  # [16, 3]
    s0 = torch.as_tensor(rng.integers(5, 50, size=16), dtype=torch.float64)
    s0[9] = 0.0  # outcome 9 has no specimen
    targets = torch.where(s0[:, None] > 0, truth, torch.full_like(truth, 123.0))
    means, part = factorial_means(s0, targets, torch.ones(16, dim, dtype=torch.float64), outcomes(n_nodes), 10.0, 0.0)
    torch.testing.assert_close(means, truth)
    torch.testing.assert_close(part[9], truth[9])


def test_deviation_shrinks_by_the_pseudo_count() -> None:
    """With additive targets except one component's deviation e, that component's mean keeps S0 / (S0 + kappa)
    of e when the others pin the factorial part (many components, equal weights)."""
    n_nodes = 5
    truth = (outcomes(n_nodes) @ torch.arange(1.0, 6.0, dtype=torch.float64)).unsqueeze(1)  # additive, [32, 1]
    targets = truth.clone()
    targets[7] += 4.0
    s0 = torch.full((32,), 1e6, dtype=torch.float64)  # every weight kappa / sigma^2: the factorial fit is unweighted
    s0[7] = 30.0
    means, part = factorial_means(s0, targets, torch.ones(32, 1, dtype=torch.float64), outcomes(n_nodes), 10.0, 1e9,
                                  interaction_order=1)
    shrink = 30.0 / 40.0
    # the additive fit moves by the deviation's leverage; the component keeps shrink of its residual
    assert float(means[7] - part[7]) == pytest.approx(shrink * float(targets[7] - part[7]), rel=1e-9)
    assert 0.0 < float(means[7] - truth[7]) < 3.5  # part of the deviation of 4 is shrunk away
    torch.testing.assert_close(means[torch.arange(32) != 7], targets[torch.arange(32) != 7], atol=1e-3, rtol=0)


def test_free_limit_for_well_populated_components() -> None:
    """S0 >> kappa: each component keeps its own data mean (the free model) to within kappa / S0."""
    rng = np.random.default_rng(1)
    targets = torch.as_tensor(rng.normal(size=(8, 2)))
    s0 = torch.full((8,), 1e5, dtype=torch.float64)
    means, _ = factorial_means(s0, targets, torch.ones(8, 2, dtype=torch.float64), outcomes(3), 10.0, 10.0)
    torch.testing.assert_close(means, targets, atol=1e-3, rtol=0)


def test_shrunk_variances_formula() -> None:
    s0 = torch.tensor([10.0, 30.0, 0.0], dtype=torch.float64)
    own = torch.tensor([[1.0], [3.0], [99.0]], dtype=torch.float64)
    pooled = (10 * 1.0 + 30 * 3.0) / 40.0
    expected = torch.tensor([[(10 * 1.0 + 5 * pooled) / 15], [(30 * 3.0 + 5 * pooled) / 35], [pooled]], dtype=torch.float64)
    torch.testing.assert_close(shrunk_variances(s0, own, 5.0), expected)


def test_factorial_mixture_recovered_from_samples_with_rare_and_empty_outcomes() -> None:
    """Samples of a 4-node factorial mixture in which outcome 15 is empty and three outcomes hold 2 samples
    each: the factorial update places every component (the empty one within 0.3 of its true mean, spread
    0.3), and the rare ones closer to their true means than their own 2-sample means are."""
    rng = np.random.default_rng(3)
    n_nodes, dim, spread = 4, 5, 0.3
    coefficients = rng.normal(size=(1 + 4 + 6, dim)) * np.r_[np.ones(5), np.full(6, 0.2)][:, None]
    true_means = factorial_design(outcomes(n_nodes)).numpy() @ coefficients  # [16, 5]
    counts = np.full(16, 200)
    counts[[3, 6, 12]] = 2
    counts[15] = 0
    outcome = np.repeat(np.arange(16), counts)
    z = true_means[outcome] + spread * rng.normal(size=(len(outcome), dim))
    gamma = torch.nn.functional.one_hot(torch.as_tensor(outcome), 16).double()
    stats = SufficientStatistics.from_batch(gamma, torch.as_tensor(z), torch.zeros(len(z), dim, dtype=torch.float64))
    prior = GaussianMixturePrior(n_nodes, dim, "factorial", pseudo_count=10.0, interaction_pseudo_count=10.0).double()
    prior.update(stats)
    prior.update(stats)
    means = prior.means.numpy()
    error = np.linalg.norm(means - true_means, axis=1)
    assert error[15] < 0.3
    own_means = np.stack([z[outcome == k].mean(0) for k in (3, 6, 12)])
    own_error = np.linalg.norm(own_means - true_means[[3, 6, 12]], axis=1)
    assert error[[3, 6, 12]].mean() < own_error.mean()
    assert np.all(error[counts == 200] < 0.1)  # 200 samples: within 0.1 of the truth
    # every variance is near spread^2 (the empty component's is the pooled one)
    np.testing.assert_allclose(prior.variances.numpy(), spread**2, rtol=0.35)


def test_refusals() -> None:
    with pytest.raises(ValueError, match="pseudo_count must be > 0"):
        factorial_means(torch.ones(2), torch.zeros(2, 1), torch.ones(2, 1), outcomes(1), 0.0, 1.0)
    with pytest.raises(ValueError, match="interaction_order"):
        factorial_design(outcomes(2), interaction_order=3)
    with pytest.raises(ValueError, match="mean_structure"):
        GaussianMixturePrior(2, 3, "cubic")


def test_free_prior_places_an_empty_component_at_the_factorial_part() -> None:
    """After a free update an empty component keeps the placeholder (0, 1); ``place_empty`` puts it where
    the other outcomes' additive structure says (exact for additive means) with their pooled variance."""
    n_nodes, dim = 3, 2
    true_means = outcomes(n_nodes) @ torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, -1.0]], dtype=torch.float64) + 5.0
    counts = torch.tensor([20.0, 30.0, 10.0, 0.0, 40.0, 25.0, 15.0, 35.0], dtype=torch.float64)
    variances = torch.tensor([0.5, 2.0], dtype=torch.float64)
    stats = SufficientStatistics(s0=counts, s1=counts[:, None] * true_means,
                                 s2=counts[:, None] * (true_means**2 + variances))
    prior = GaussianMixturePrior(n_nodes, dim, "free", interaction_pseudo_count=1e6).double()
    prior.update(stats)
    torch.testing.assert_close(prior.means[3], torch.zeros(2, dtype=torch.float64))  # the placeholder
    prior.place_empty(counts)
    torch.testing.assert_close(prior.means[3], true_means[3], atol=1e-3, rtol=0)
    torch.testing.assert_close(prior.variances[3], variances)
    torch.testing.assert_close(prior.means[counts > 0], true_means[counts > 0])  # the others untouched
