"""Physics expert: constitutive laws, bounded parameters, Gaussian mixture-of-experts curve term."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from causal_pima.core.physics import (
    PHYSICS_LAWS,
    BilinearLaw,
    PhysicsCurveExpert,
    PlateauDensificationLaw,
    initial_parameters_from_curves,
)
from causal_pima.data.lattice import plateau_densification_stress

GRID = torch.linspace(0.0, 0.7, 15)


def test_bilinear_law_by_hand():
    # yield at (0.02, 2): elastic slope 100; hardening slope 5 afterwards
    theta = torch.tensor([[0.02, 2.0, 5.0]])
    strain = torch.tensor([0.0, 0.01, 0.02, 0.1])
    expected = torch.tensor([[0.0, 1.0, 2.0, 2.0 + 5.0 * 0.08]])
    torch.testing.assert_close(BilinearLaw(strain, theta), expected)


def test_plateau_densification_law_by_hand():
    # E = 100, plateau 2 (reached at 0.02), densification at 0.5 with k = 10
    theta = torch.tensor([[100.0, 2.0, 0.5, 10.0]])
    strain = torch.tensor([0.0, 0.01, 0.3, 0.6])
    expected = torch.tensor([[0.0, 1.0, 2.0, 2.0 * math.e]])
    torch.testing.assert_close(PlateauDensificationLaw(strain, theta), expected)


def test_plateau_law_matches_the_lattice_generator():
    theta = np.array([[28.8, 0.75, 0.83, 12.0], [240.0, 6.5, 0.5, 12.0]])
    strain = np.linspace(0.0, 0.75, 31)
    generator = plateau_densification_stress(strain, *theta.T)
    law = PlateauDensificationLaw(torch.tensor(strain), torch.tensor(theta))
    np.testing.assert_allclose(law.numpy(), generator, rtol=1e-12)


def test_law_rejects_wrong_theta_shape():
    with pytest.raises(ValueError, match=r"expects theta of shape \[K, 3\]"):
        BilinearLaw(GRID, torch.ones(2, 4))


@pytest.mark.parametrize("law", sorted(PHYSICS_LAWS))
@pytest.mark.parametrize("raw_value", [-1e4, -50.0, 0.0, 50.0, 1e4])
def test_parameters_stay_in_range_for_extreme_unconstrained_values(law, raw_value):
    expert = PhysicsCurveExpert(3, law, GRID)
    with torch.no_grad():
        expert.raw_parameters.fill_(raw_value)
    for name, values in expert.physical_parameters().items():
        low, high = PHYSICS_LAWS[law].default_ranges[name]
        assert torch.isfinite(values).all()
        assert bool((values >= low).all()) and bool((values <= high).all()), (name, values)
        if raw_value == 1e4:
            torch.testing.assert_close(values, torch.full((3,), float(high)))
        if raw_value == -1e4:
            torch.testing.assert_close(values, torch.full((3,), float(low)))
    assert torch.isfinite(expert.predict()).all()


def test_custom_ranges_and_initial_parameters():
    expert = PhysicsCurveExpert(
        2,
        "plateau_densification",
        GRID,
        parameter_ranges={"modulus": (10.0, 1000.0)},
        initial_parameters={"modulus": [30.0, 240.0], "densification_strain": [0.5]},
    )
    parameters = expert.physical_parameters()
    assert list(parameters) == list(PlateauDensificationLaw.parameter_names)
    torch.testing.assert_close(
        parameters["modulus"], torch.tensor([30.0, 240.0]), rtol=1e-4, atol=0
    )
    torch.testing.assert_close(parameters["densification_strain"], torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match="unknown parameter 'stiffness'"):
        PhysicsCurveExpert(2, "bilinear", GRID, parameter_ranges={"stiffness": (0, 1)})
    with pytest.raises(ValueError, match="unknown physics law"):
        PhysicsCurveExpert(2, "linear", GRID)
    with pytest.raises(ValueError, match="low < high"):
        PhysicsCurveExpert(2, "bilinear", GRID, parameter_ranges={"hardening_slope": (5, 1)})



def _expert_term(expert: PhysicsCurveExpert, y: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """Mixture-of-experts curve term ``sum_k gamma_bk log N(y_b; f(theta_k), sigma^2)`` ``[B]``."""
    return (gamma * expert.log_likelihood(y)).sum(dim=-1)

@pytest.mark.parametrize("law", sorted(PHYSICS_LAWS))
def test_mixture_of_experts_term_gives_gradients_to_every_parameter(law):
    torch.manual_seed(0)
    initial = {
        # yield, plateau and densification all inside the grid for every component
        "bilinear": {"yield_strain": [0.02, 0.05], "yield_stress": [1.0, 3.0]},
        "plateau_densification": {
            "modulus": [100.0, 50.0],
            "plateau_stress": [2.0, 1.0],
            "densification_strain": [0.4, 0.55],
            "densification_stiffness": [8.0, 12.0],
        },
    }[law]
    # the default 64-point grid resolves yield strains of 0.02 (step 0.011): the modulus only gets a
    # gradient from grid points in the elastic region
    grid = torch.linspace(0.0, 0.7, 64)
    y = torch.randn(5, grid.numel()) * 2.0 + 1.0
    gamma = torch.softmax(torch.randn(5, 2), dim=1)
    expert = PhysicsCurveExpert(2, law, grid, initial_parameters=initial)
    term = _expert_term(expert, y, gamma)
    assert term.shape == (5,)
    term.sum().backward()
    assert torch.isfinite(expert.raw_parameters.grad).all()
    assert bool((expert.raw_parameters.grad.abs() > 0).all()), expert.raw_parameters.grad
    assert expert.log_noise_scale.grad.abs() > 0


def test_log_likelihood_is_gaussian_in_standardised_units():
    torch.manual_seed(1)
    curve_mean = torch.linspace(0.5, 2.0, GRID.numel())
    curve_std = torch.linspace(1.0, 3.0, GRID.numel())
    expert = PhysicsCurveExpert(
        3,
        "plateau_densification",
        GRID,
        curve_mean=curve_mean,
        curve_std=curve_std,
        initial_noise_scale=0.7,
    )
    stress = torch.rand(4, GRID.numel()) * 5.0
    y = (stress - curve_mean) / curve_std
    prediction = (expert.predict() - curve_mean) / curve_std  # [K, L]
    expected = (
        torch.distributions.Normal(prediction[None], torch.tensor(0.7))
        .log_prob(y[:, None, :])
        .sum(-1)
    )
    torch.testing.assert_close(expert.log_likelihood(y), expected, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(expert.noise_scale(), torch.tensor(0.7))

    gamma = torch.softmax(torch.randn(4, 3), dim=1)
    torch.testing.assert_close(
        _expert_term(expert, y, gamma), (gamma * expected).sum(-1), rtol=1e-5, atol=1e-4
    )


def test_fits_a_plateau_curve_by_gradient():
    """A few hundred Adam steps recover plateau and densification strain of a noise-free curve.

    (Its modulus is not identifiable on this coarse grid: no grid point lies in the elastic part.)
    """
    torch.manual_seed(2)
    truth = torch.tensor([[120.0, 3.0, 0.5, 10.0]])
    stress = PlateauDensificationLaw(GRID, truth)
    expert = PhysicsCurveExpert(
        1,
        "plateau_densification",
        GRID,
        initial_parameters={"modulus": [40.0], "plateau_stress": [1.0]},
    )
    optimiser = torch.optim.Adam(expert.parameters(), lr=0.05)
    for _ in range(400):
        optimiser.zero_grad()
        loss = -_expert_term(expert, stress, torch.ones(1, 1)).sum()
        loss.backward()
        optimiser.step()
    fitted = expert.physical_parameters()
    assert fitted["plateau_stress"].item() == pytest.approx(3.0, rel=0.05)
    assert fitted["densification_strain"].item() == pytest.approx(0.5, abs=0.03)


def test_initial_parameters_from_curves_recover_noise_free_laws():
    grid = torch.linspace(0.0, 0.7, 64, dtype=torch.float64)
    truth = torch.tensor(
        [[28.8, 0.75, 0.83, 12.0], [240.0, 6.5, 0.5, 12.0], [115.0, 2.1, 0.6, 20.0]],
        dtype=torch.float64,
    )
    estimate = initial_parameters_from_curves(
        "plateau_densification", grid, PlateauDensificationLaw(grid, truth)
    )
    np.testing.assert_allclose(estimate["modulus"], 0.95 * truth[:, 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(estimate["plateau_stress"], truth[:, 1].numpy(), rtol=1e-6)
    # densification past the grid's end (0.83 > 0.7): the top of its range (minus a margin)
    np.testing.assert_allclose(estimate["densification_strain"], [0.9992, 0.5, 0.6], atol=0.015)
    np.testing.assert_allclose(estimate["densification_stiffness"][1:], [12.0, 20.0], rtol=1e-6)

    bilinear_truth = torch.tensor([[0.02, 2.0, 5.0], [0.05, 1.0, 0.0]], dtype=torch.float64)
    estimate = initial_parameters_from_curves("bilinear", grid, BilinearLaw(grid, bilinear_truth))
    np.testing.assert_allclose(estimate["hardening_slope"], [5.0, 1e-3 * 500.0], atol=1e-6)
    # the elastic line is 5% shallow, so the yield point moves out a little
    np.testing.assert_allclose(estimate["yield_strain"], [0.02, 0.05], rtol=0.06)
    expert = PhysicsCurveExpert(2, "bilinear", grid, initial_parameters=estimate)
    np.testing.assert_allclose(
        expert.physical_parameters()["yield_stress"].detach().numpy(),
        estimate["yield_stress"],
        rtol=1e-4,
    )
