"""causalPIMA with the physics expert for curves (docs/model.md "Physics expert").

The curve enters the mixture ELBO through the outcome: ``logsumexp_k(log pi_k - KL_k + ll_k)`` with
``ll_k = log N(y; f(strain; theta_k), sigma^2)``. Checked here: that identity by hand (float64), the
component scores, gradients into the physical parameters, prediction of the most likely outcome's
law, the checkpoint round trip, the config bridge from a model-input set, the initialisation of the
parameters from per-outcome mean curves, and cross-modal image -> curve prediction of a small model
fitted on a small synthetic lattice set.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch

from causal_pima.core import prior_initialisation
from causal_pima.core.curve_scale import transform
from causal_pima.core.diagnostics import fit_diagnostics
from causal_pima.core.epoch_loop import parameter_groups
from causal_pima.core.mixture_update import mixture_update
from causal_pima.core.model import CausalPIMA
from causal_pima.core.model_config import CURVE, IMAGE
from causal_pima.core.outcomes import outcome_index
from causal_pima.core.physics import PlateauDensificationLaw, initial_parameters_from_curves
from causal_pima.core.prediction import cross_modal_prediction, reconstruction_rmse
from causal_pima.core.prior_initialisation import initialise_physics, initialise_prior
from causal_pima.core.structure import forward_edge_mask
from causal_pima.core.training import fit, pretrain
from causal_pima.core.training_config import FitConfig, InitConfig, PretrainConfig, StructureConfig
from causal_pima.data.lattice import (
    LatticeConfig,
    generate_lattice,
    plateau_densification_stress,
    sample_lattice_features,
)
from causal_pima.data.specimens import resample_curve, strain_grid
from causal_pima.model_input import model_config_from_data, specimen_tensors
from causal_pima.pipelines.data_processing.nodes import (
    build_model_input,
    fit_curve_scaler,
    split_specimens,
    validate_specimens,
)

# every test here runs its tiny networks on one thread (fixture in tests/core/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")

N_SPECIMENS = 400
GRID = strain_grid(64, max_strain=0.7)
PROCESSING = {
    "seed": 0,
    "split": {"train": 0.8, "val": 0.1, "test": 0.1},
    "curve_scaling": "pointwise",
    "curve_std_floor": 1e-3,
    "curve_transform": "linear",  # these tests check the linear scale; the asinh scale: core/test_curve_scale.py and
}                                 # test_initialise_physics_recovers_per_outcome_parameters[0.3]
MODEL_PARAMS = {
    "modalities": [IMAGE, CURVE],
    "latent_dim": 6,
    "image_channels": [8, 16, 16],
    "image_hidden_dim": 64,
    "curve_hidden_dims": [64, 64],
    "curve_decoder": "physics",
    "physics_law": "plateau_densification",
    "physics_ranges": None,
}


# ---------------------------------------------------------------------------- data and models


@pytest.fixture(scope="module")
def lattice_sets() -> tuple[dict, dict, dict]:
    """Train / val / test model-input sets of N = 400 synthetic lattice specimens (seed 0): 32x32
    images registered to the tiling, curves resampled onto 64 strains up to 0.7 and standardised
    per strain point with training statistics, exactly as the data_processing nodes do it."""
    feature_rng, specimen_rng = np.random.default_rng(0).spawn(2)
    features = sample_lattice_features(N_SPECIMENS, feature_rng)
    config = LatticeConfig(image_height=32, image_width=32, random_phase=False)
    specimens = generate_lattice(features, specimen_rng, config)
    curves = np.stack(
        [
            resample_curve(s, t, GRID)
            for s, t in zip(specimens.strains, specimens.stresses, strict=True)
        ]
    )
    raw = {"images": specimens.images, "curves": curves, "grid": GRID}
    labels = pd.DataFrame(
        {"specimen_id": [f"lattice_{i:05d}" for i in range(N_SPECIMENS)]}
        | {c: specimens.features[c].to_numpy() for c in specimens.features.columns}
    )
    report = validate_specimens(raw, labels, PROCESSING)
    split = split_specimens(report, PROCESSING)
    scaler = fit_curve_scaler(raw, split, PROCESSING)
    return build_model_input(raw, labels, split, scaler, report)


def _tensors(specimen_set: dict) -> dict[str, torch.Tensor]:
    return specimen_tensors(specimen_set, (IMAGE, CURVE))


def _outcome(specimen_set: dict) -> torch.Tensor:
    """True joint outcome index of every specimen (bit j = feature j)."""
    return torch.as_tensor(outcome_index(specimen_set["labels"]))


def _physics_model(train_set: dict, seed: int = 0, **overrides) -> CausalPIMA:
    torch.manual_seed(seed)
    return CausalPIMA(model_config_from_data(train_set, {**MODEL_PARAMS, **overrides}))


@torch.no_grad()
def _scrambled_model(lattice_sets, seed: int = 0) -> CausalPIMA:
    """A physics model whose every part is non-trivial: random mixture means / variances, a DAG
    with edges and biases, physical parameters from the true per-outcome mean curves (so that
    different specimens prefer different components), and a noise scale other than its start."""
    train = lattice_sets[0]
    model = _physics_model(train, seed)
    generator = torch.Generator().manual_seed(seed + 100)
    k, d = model.prior.means.shape
    model.prior.means.copy_(torch.randn(k, d, generator=generator))
    model.prior.variances.copy_(0.3 + torch.rand(k, d, generator=generator))
    forward = torch.as_tensor(forward_edge_mask([2, 0, 1]), dtype=torch.float32)
    model.dag.set_structure(
        [2, 0, 1], 0.8 * torch.randn(3, 3, generator=generator) * forward, torch.randn(3, generator=generator)
    )
    train_tensors = _tensors(train)
    initialise_physics(model, train_tensors[CURVE], _outcome(train))
    model.physics.log_noise_scale.fill_(math.log(0.4))
    return model


def _batch(
    specimen_set: dict, n: int = 24, dtype: torch.dtype = torch.float32
) -> dict[str, torch.Tensor]:
    return {k: v[:n].to(dtype) for k, v in _tensors(specimen_set).items()}


def _hand_log_likelihood(model: CausalPIMA, curves: torch.Tensor) -> torch.Tensor:
    """``[B, K]`` Gaussian log-likelihood of each standardised curve under each component's law,
    from the law itself (not through ``PhysicsCurveExpert.log_likelihood``)."""
    physics = model.physics
    law = PlateauDensificationLaw(physics.grid.to(curves.dtype), physics.theta().to(curves.dtype))
    prediction = (law - physics.curve_mean) / physics.curve_std  # [K, L]
    sigma = physics.noise_scale()
    residual = (curves[:, None, :] - prediction[None]) / sigma
    n_points = curves.shape[1]
    return (
        -0.5 * residual.pow(2).sum(-1)
        - n_points * torch.log(sigma)
        - 0.5 * n_points * math.log(2 * math.pi)
    )


def _hand_kl(model: CausalPIMA, mu: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """``[B, K]`` KL(N(mu, var) || N(m_k, v_k)) written out."""
    means, variances = model.prior.means.to(mu.dtype), model.prior.variances.to(mu.dtype)
    diff = mu[:, None, :] - means[None]
    return 0.5 * (
        torch.log(variances[None])
        - torch.log(var[:, None, :])
        + (var[:, None, :] + diff**2) / variances[None]
        - 1.0
    ).sum(-1)


# ---------------------------------------------------------------------------- ELBO and scores


def test_physics_elbo_identity_float64(lattice_sets):
    model = _scrambled_model(lattice_sets).double()
    batch = _batch(lattice_sets[0], dtype=torch.float64)
    terms = model.mixture_loss(batch, sample=False)

    with torch.no_grad():
        mu, logvar = model.encode(batch)
        image_mean = model.decode(mu)[IMAGE]
        log_scale = model.noise_scale(IMAGE)
        recon_image = (
            -0.5 * ((batch[IMAGE] - image_mean) / log_scale.exp()).pow(2)
            - log_scale
            - 0.5 * math.log(2 * math.pi)
        ).sum(dim=(1, 2, 3))
        kl = _hand_kl(model, mu, logvar.exp())
        ll = _hand_log_likelihood(model, batch[CURVE])
        log_pi = model.log_weights()
        per_specimen = torch.logsumexp(log_pi - kl + ll, dim=-1)
        gamma = torch.softmax(log_pi - kl + ll, dim=-1)

    # the batch is informative: several components win, and no single one takes every specimen
    assert len(set(gamma.argmax(-1).tolist())) >= 3
    assert terms["elbo"].dtype == torch.float64
    torch.testing.assert_close(terms["recon_image"], recon_image.mean(), rtol=1e-10, atol=1e-8)
    torch.testing.assert_close(
        terms["elbo"], recon_image.mean() + per_specimen.mean(), rtol=1e-10, atol=1e-8
    )
    torch.testing.assert_close(
        terms["recon_curve"] + terms["prior"], per_specimen.mean(), rtol=1e-10, atol=1e-8
    )
    torch.testing.assert_close(
        terms["recon_curve"], (gamma * ll).sum(-1).mean(), rtol=1e-10, atol=1e-8
    )
    torch.testing.assert_close(
        terms["elbo"], terms["recon_image"] + terms["recon_curve"] + terms["prior"]
    )
    assert float(terms["l1"].detach()) == 0.0
    torch.testing.assert_close(terms["loss"], -terms["elbo"], rtol=0, atol=0)


def test_physics_elbo_adds_the_l1_penalty_to_the_loss_only(lattice_sets):
    model = _scrambled_model(lattice_sets).double()
    batch = _batch(lattice_sets[0], dtype=torch.float64)
    plain = model.mixture_loss(batch, sample=False)
    penalised = model.mixture_loss(batch, sample=False, l1_weight=0.5)
    torch.testing.assert_close(penalised["elbo"], plain["elbo"], rtol=0, atol=0)
    expected_l1 = 0.5 * model.dag.adjacency().abs().sum()
    assert float(expected_l1.detach()) > 0
    torch.testing.assert_close(penalised["loss"], -plain["elbo"] + expected_l1)


def test_physics_elbo_without_a_curve_is_the_plain_mixture_elbo(lattice_sets):
    model = _scrambled_model(lattice_sets).double()
    batch = {IMAGE: _batch(lattice_sets[0], dtype=torch.float64)[IMAGE]}
    terms = model.mixture_loss(batch, sample=False)
    assert "recon_curve" not in terms
    with torch.no_grad():
        mu, logvar = model.encode(batch)
        prior = torch.logsumexp(
            model.log_weights() - _hand_kl(model, mu, logvar.exp()), dim=-1
        ).mean()
    torch.testing.assert_close(terms["prior"], prior, rtol=1e-10, atol=1e-8)
    torch.testing.assert_close(terms["elbo"], terms["recon_image"] + prior, rtol=1e-10, atol=1e-8)


def test_component_log_scores_with_and_without_a_curve(lattice_sets):
    model = _scrambled_model(lattice_sets).double()
    batch = _batch(lattice_sets[0], dtype=torch.float64)
    with torch.no_grad():
        mu, logvar = model.encode(batch)
        var = logvar.exp()
        kl = _hand_kl(model, mu, var)
        ll = _hand_log_likelihood(model, batch[CURVE])
        with_curve = model.component_log_scores(batch, mu, var)
        without_curve = model.component_log_scores({IMAGE: batch[IMAGE]}, mu, var)
    assert with_curve.shape == without_curve.shape == (24, 8)
    torch.testing.assert_close(with_curve, -kl + ll, rtol=1e-10, atol=1e-8)
    torch.testing.assert_close(without_curve, -kl, rtol=1e-10, atol=1e-10)
    # the posterior's responsibilities use the same scores
    gamma = model.posterior(batch)["gamma"]
    torch.testing.assert_close(
        gamma, torch.softmax(model.log_weights() - kl + ll, dim=-1), rtol=1e-8, atol=1e-12
    )


def test_neural_curve_decoder_has_no_physics_scores(lattice_sets):
    model = _physics_model(lattice_sets[0], curve_decoder="neural")
    assert model.physics is None
    batch = _batch(lattice_sets[0])
    with torch.no_grad():
        mu, logvar = model.encode(batch)
        scores = model.component_log_scores(batch, mu, logvar.exp())
    torch.testing.assert_close(scores, -model.prior.kl(mu, logvar.exp()), rtol=0, atol=0)


def test_one_backward_reaches_the_physical_parameters_and_noise(lattice_sets):
    model = _scrambled_model(lattice_sets)
    # every law parameter active on the grid: elastic points, plateau, densification
    with torch.no_grad():
        model.physics.set_physical_parameters(
            {
                "modulus": 100.0,
                "plateau_stress": 2.0,
                "densification_strain": 0.5,
                "densification_stiffness": 8.0,
            }
        )
        model.physics.raw_parameters.add_(0.05 * torch.randn(model.physics.raw_parameters.shape))
    batch = _batch(lattice_sets[0])
    terms = model.mixture_loss(batch, sample=False)
    terms["loss"].backward()
    raw_grad = model.physics.raw_parameters.grad
    noise_grad = model.physics.log_noise_scale.grad
    assert raw_grad is not None and noise_grad is not None
    assert torch.isfinite(raw_grad).all() and torch.isfinite(noise_grad)
    assert float(noise_grad.abs()) > 0
    # the most responsible component gets a gradient on every one of its four parameters
    gamma = model.posterior(batch)["gamma"]
    top = int(gamma.sum(0).argmax())
    assert bool((raw_grad[top].abs() > 0).all()), raw_grad[top]
    # and the networks and DAG still get theirs from the same loss
    assert float(model.encoders[IMAGE].parameters().__next__().grad.abs().sum()) > 0
    assert float(model.dag.biases.grad.abs().sum()) > 0


# ---------------------------------------------------------------------------- predictions and checkpoints


def test_predict_curves_is_the_law_of_the_most_likely_outcome(lattice_sets):
    # float64, so that the argmax computed by hand cannot differ from the model's by rounding
    model = _scrambled_model(lattice_sets).double()
    batch = _batch(lattice_sets[0], n=48, dtype=torch.float64)
    with torch.no_grad():  # components centred on the image-only posteriors of 8 specimens
        mu_image, _ = model.encode({IMAGE: batch[IMAGE]})
        model.prior.means.copy_(mu_image[::6])
        model.prior.variances.copy_(mu_image.var(0).expand(8, -1))
    laws = model.physics.predict_standardised().detach()
    for evidence in ({IMAGE: batch[IMAGE], CURVE: batch[CURVE]}, {IMAGE: batch[IMAGE]}):
        predicted = model.predict_curves(evidence)
        assert predicted.shape == (48, 64)
        gamma = model.posterior(evidence)["gamma"]
        torch.testing.assert_close(predicted, laws[gamma.argmax(-1)], rtol=0, atol=0)
        with torch.no_grad():  # the same outcome from the scores written out
            mu, logvar = model.encode(evidence)
            scores = model.log_weights() - _hand_kl(model, mu, logvar.exp())
            if CURVE in evidence:
                scores = scores + _hand_log_likelihood(model, evidence[CURVE])
        outcome = scores.argmax(-1)
        torch.testing.assert_close(predicted, laws[outcome], rtol=0, atol=0)
        assert len(set(outcome.tolist())) >= 3, outcome  # not one row repeated
    # cross-modal image -> curve prediction is the image-only law
    torch.testing.assert_close(
        cross_modal_prediction(model, batch, IMAGE, CURVE),
        model.predict_curves({IMAGE: batch[IMAGE]}),
        rtol=0,
        atol=0,
    )
    # a curve-only batch works too (the image expert is simply absent)
    curve_only = model.predict_curves({CURVE: batch[CURVE]})
    assert curve_only.shape == (48, 64) and torch.isfinite(curve_only).all()


def test_posterior_ignores_a_masked_out_curve(lattice_sets):
    model = _scrambled_model(lattice_sets)
    batch = _batch(lattice_sets[0], n=8)
    missing = torch.tensor([True, False, True, False, False, False, False, False])
    masked = {IMAGE: batch[IMAGE], CURVE: torch.where(missing[:, None], torch.nan, batch[CURVE])}
    mask = {IMAGE: torch.ones(8, dtype=torch.bool), CURVE: ~missing}
    gamma = model.posterior(masked, mask)["gamma"]
    # a specimen without its curve is scored on its image alone
    image_only = model.posterior({IMAGE: batch[IMAGE][missing]})["gamma"]
    assert torch.isfinite(gamma).all()
    torch.testing.assert_close(gamma[missing], image_only)


def test_checkpoint_round_trip_keeps_physics(lattice_sets):
    model = _scrambled_model(lattice_sets)
    checkpoint = model.checkpoint()
    assert checkpoint["config"]["curve_decoder"] == "physics"
    assert len(checkpoint["config"]["curve_grid"]) == 64
    assert {"physics.raw_parameters", "physics.log_noise_scale"} <= set(checkpoint["state_dict"])
    restored = CausalPIMA.from_checkpoint(checkpoint)
    assert restored.physics is not None
    for name, values in model.physics.physical_parameters().items():
        torch.testing.assert_close(
            restored.physics.physical_parameters()[name], values, rtol=0, atol=0
        )
    torch.testing.assert_close(
        restored.physics.noise_scale(), model.physics.noise_scale(), rtol=0, atol=0
    )
    for buffer in ("grid", "curve_mean", "curve_std", "lower", "upper"):
        torch.testing.assert_close(
            getattr(restored.physics, buffer), getattr(model.physics, buffer), rtol=0, atol=0
        )
    batch = _batch(lattice_sets[2], n=40)
    for evidence in (batch, {IMAGE: batch[IMAGE]}):
        torch.testing.assert_close(
            restored.predict_curves(evidence), model.predict_curves(evidence), rtol=0, atol=0
        )
    torch.testing.assert_close(
        cross_modal_prediction(restored, batch, IMAGE, CURVE),
        cross_modal_prediction(model, batch, IMAGE, CURVE),
    )
    model.eval()  # the restored model is in train mode; sample=False makes both deterministic anyway
    terms, again = model.mixture_loss(batch, sample=False), restored.mixture_loss(batch, sample=False)
    torch.testing.assert_close(again["elbo"], terms["elbo"], rtol=0, atol=0)


# ---------------------------------------------------------------------------- configuration from data


def test_model_config_from_data_fills_the_physics_grid_and_scaling(lattice_sets):
    train = lattice_sets[0]
    physics = model_config_from_data(train, MODEL_PARAMS)
    assert physics.curve_decoder == "physics" and physics.curve_length == 64
    assert physics.image_shape == (1, 32, 32)
    np.testing.assert_allclose(physics.curve_grid, train["grid"], rtol=0, atol=0)
    np.testing.assert_allclose(physics.curve_mean, train["curve_mean"], rtol=0, atol=0)
    np.testing.assert_allclose(physics.curve_std, train["curve_std"], rtol=0, atol=0)
    assert physics.curve_grid[0] == 0.0 and physics.curve_grid[-1] == pytest.approx(0.7)
    # pointwise scaling: one std per strain point, growing with the stress
    assert len(set(physics.curve_std)) > 10
    # the config round-trips through its plain dict (what a checkpoint stores)
    assert type(physics).from_dict(physics.to_dict()) == physics

    neural = model_config_from_data(train, {**MODEL_PARAMS, "curve_decoder": "neural"})
    assert neural.curve_grid is None and neural.curve_mean is None and neural.curve_std is None
    image_only = model_config_from_data(train, {**MODEL_PARAMS, "modalities": [IMAGE]})
    assert image_only.curve_length == 0 and image_only.curve_grid is None
    assert CausalPIMA(image_only).physics is None


def test_physics_model_needs_the_grid(lattice_sets):
    config = model_config_from_data(lattice_sets[0], MODEL_PARAMS)
    config.curve_grid = None
    with pytest.raises(ValueError, match="curve_grid"):
        CausalPIMA(config)


# ---------------------------------------------------------------------------- initialisation from curves

# (modulus, plateau_stress, densification_strain, densification_stiffness) per outcome, MPa; every
# densification strain lies inside the grid (up to 0.7) and every first grid point in the elastic part
TRUE_PARAMETERS = np.array(
    [
        [30.0, 0.8, 0.55, 12.0],
        [60.0, 1.5, 0.50, 10.0],
        [120.0, 2.5, 0.45, 14.0],
        [240.0, 6.0, 0.40, 12.0],
        [20.0, 0.6, 0.60, 16.0],
        [45.0, 1.2, 0.52, 9.0],
        [90.0, 2.0, 0.35, 11.0],
        [180.0, 4.5, 0.30, 13.0],
    ]
)


@pytest.mark.parametrize("asinh_scale", [0.0, 0.3])
def test_initialise_physics_recovers_per_outcome_parameters(lattice_sets, asinh_scale):
    """On the linear scale and on the asinh scale (``curve_transform: asinh``; the curves reach the
    model as ``(asinh(stress / c) - mean) / std`` and the expert predicts on that scale)."""
    n_per = 25
    rng = np.random.default_rng(3)
    outcome = np.repeat(np.arange(8), n_per)
    stress = plateau_densification_stress(GRID, *TRUE_PARAMETERS[outcome].T)
    stress = stress + 0.02 * TRUE_PARAMETERS[outcome, 1:2] * rng.standard_normal(stress.shape)
    transformed = transform(stress, asinh_scale)
    mean, std = transformed.mean(0), np.maximum(transformed.std(0), 1e-3)
    train_set = {
        **lattice_sets[0],
        "curve_mean": mean.astype(np.float32),
        "curve_std": std.astype(np.float32),
        "curve_asinh_scale": np.float64(asinh_scale),
    }
    model = _physics_model(train_set)
    assert model.physics.curve_asinh_scale == pytest.approx(asinh_scale)
    assert CausalPIMA.from_checkpoint(model.checkpoint()).physics.curve_asinh_scale == pytest.approx(asinh_scale)
    standardised = torch.as_tensor(((transformed - mean) / std).astype(np.float32))
    initialise_physics(model, standardised, torch.as_tensor(outcome))
    prediction = model.physics.predict().detach().double()
    torch.testing.assert_close(
        model.physics.predict_standardised().detach().double(),
        (transform(prediction, asinh_scale) - torch.as_tensor(mean)) / torch.as_tensor(std),
        rtol=1e-5, atol=1e-5,
    )

    recovered = model.physics.physical_parameters()
    for j, name in enumerate(PlateauDensificationLaw.parameter_names):
        relative = (
            np.abs(recovered[name].detach().numpy() - TRUE_PARAMETERS[:, j]) / TRUE_PARAMETERS[:, j]
        )
        assert relative.max() < 0.3, (name, recovered[name], TRUE_PARAMETERS[:, j])
    # the estimator's documented modulus: 0.95 x the largest secant of the first three grid points
    np.testing.assert_allclose(
        recovered["modulus"].detach().numpy(), 0.95 * TRUE_PARAMETERS[:, 0], rtol=0.05
    )
    # the laws now fit their own outcome's curves far better than any other component's
    ll = model.physics.log_likelihood(standardised).detach()
    assert bool((ll.argmax(-1) == torch.as_tensor(outcome)).all())


def test_initialise_physics_uses_the_overall_mean_for_an_empty_outcome(lattice_sets):
    train = lattice_sets[0]
    model = _physics_model(train)
    curves = _tensors(train)[CURVE]
    outcome = _outcome(train).clone()
    outcome[outcome == 5] = 0  # nobody is assigned to outcome 5
    initialise_physics(model, curves, outcome)
    physical = (
        curves.double() * model.physics.curve_std.double() + model.physics.curve_mean.double()
    )
    expected = initial_parameters_from_curves(
        "plateau_densification", model.physics.grid, physical.mean(0)
    )
    obtained = model.physics.physical_parameters()
    for name, value in expected.items():
        torch.testing.assert_close(
            obtained[name][5].double(), torch.tensor(value[0]), rtol=1e-3, atol=0
        )
    # a populated outcome gets its own estimate, different from the overall one
    assert (
        abs(float(obtained["plateau_stress"][3].detach()) - float(expected["plateau_stress"][0]))
        > 0.1
    )


# ---------------------------------------------------------------------------- training wiring


def test_parameter_groups_fit_the_physics_expert_at_its_own_rate(lattice_sets):
    model = _physics_model(lattice_sets[0])
    physics_ids = {id(p) for p in model.physics.parameters()}
    assert physics_ids == {id(model.physics.raw_parameters), id(model.physics.log_noise_scale)}

    groups = parameter_groups(model, 1e-3, 2e-2, dag_lr=1e-2, physics_lr=5e-3)
    physics_groups = [g for g in groups if {id(p) for p in g["params"]} & physics_ids]
    assert len(physics_groups) == 1 and physics_groups[0]["lr"] == 5e-3
    assert {id(p) for p in physics_groups[0]["params"]} == physics_ids
    # every trainable parameter is in exactly one group
    grouped = [id(p) for g in groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())

    # pretraining (no DAG / physics rates) leaves the physics expert alone
    pretraining = parameter_groups(model, 1e-3, 2e-2)
    assert not {id(p) for g in pretraining for p in g["params"]} & physics_ids


def test_mixture_update_weights_specimens_by_their_curves(lattice_sets):
    model = _scrambled_model(lattice_sets)
    train = _tensors(lattice_sets[0])
    with torch.no_grad():
        mu, logvar = model.encode(train)
        var = logvar.exp()
        gamma = torch.softmax(
            model.log_weights()
            - _hand_kl(model, mu, var)
            + _hand_log_likelihood(model, train[CURVE]),
            dim=-1,
        )
        gamma_without = torch.softmax(model.log_weights() - _hand_kl(model, mu, var), dim=-1)
    s0 = gamma.sum(0)
    expected_means = (gamma.T @ mu) / s0[:, None]
    assert int((s0 > 1).sum()) >= 6  # the curves spread the specimens over the components
    stats = mixture_update(model, train)
    torch.testing.assert_close(stats.s0, s0, rtol=1e-4, atol=1e-3)
    usable = s0 > 1
    torch.testing.assert_close(
        model.prior.means[usable], expected_means[usable], rtol=1e-4, atol=1e-4
    )
    # and the curves matter: without them the counts would be very different
    assert float((gamma_without.sum(0) - s0).abs().max()) > 10


@pytest.fixture(scope="module")
def pretrained_physics(lattice_sets, one_thread) -> CausalPIMA:
    """The small physics model pretrained as a PoE VAE (20 epochs on 320 specimens)."""
    train, val, _ = (_tensors(s) for s in lattice_sets)
    model = _physics_model(lattice_sets[0], seed=0)
    pretrain(model, train, val, PRETRAIN)
    return model


PRETRAIN = PretrainConfig(
    epochs=20, batch_size=64, learning_rate=1e-3, modality_dropout=0.3, seed=0
)
FIT = FitConfig(epochs=10, batch_size=64, seed=0)


def test_initialise_prior_starts_the_physics_from_cluster_mean_curves(
    pretrained_physics, lattice_sets, monkeypatch
):
    model = copy.deepcopy(pretrained_physics)
    train, val, _ = (_tensors(s) for s in lattice_sets)
    seen = []

    def spy(model_, curves, outcome):
        seen.append(outcome.clone())
        return initialise_physics(model_, curves, outcome)

    monkeypatch.setattr(prior_initialisation, "initialise_physics", spy)
    result = initialise_prior(model, train, val, InitConfig(), StructureConfig(steps=50), seed=0)
    assert len(seen) == 1
    outcome = seen[0]
    assert np.bincount(outcome.numpy(), minlength=8).tolist() == result["cluster_sizes"]
    physical = (
        train[CURVE].double() * model.physics.curve_std.double() + model.physics.curve_mean.double()
    )
    means = torch.stack([physical[outcome == k].mean(0) for k in range(8)])
    expected = initial_parameters_from_curves("plateau_densification", model.physics.grid, means)
    for name, values in model.physics.physical_parameters().items():
        np.testing.assert_allclose(values.detach().numpy(), expected[name], rtol=1e-3)


# ---------------------------------------------------------------------------- a small fitted model


def test_fitted_physics_model_predicts_curves_from_images(pretrained_physics, lattice_sets):
    train, val, test = (_tensors(s) for s in lattice_sets)
    model = copy.deepcopy(pretrained_physics)
    result = fit(model, train, val, FIT)
    history = result["history"]
    assert len(history) == FIT.epochs
    assert all(math.isfinite(h["val_elbo"]) for h in history)
    assert history[-1]["val_elbo"] > history[0]["val_elbo"]

    predicted = cross_modal_prediction(model, test, IMAGE, CURVE)
    assert predicted.shape == test[CURVE].shape
    rmse = float((predicted - test[CURVE]).pow(2).mean().sqrt())
    # baseline: the train mean curve, i.e. 0 in standardised units
    baseline = float(test[CURVE].pow(2).mean().sqrt())
    # seed 0, one thread: rmse 0.60 vs baseline 1.04
    assert rmse < baseline, (rmse, baseline)
    # with the curve itself as evidence the most likely law reproduces it closely
    assert reconstruction_rmse(model, test)[CURVE] < 0.3
    # parameters stayed physical
    for name, values in model.physics.physical_parameters().items():
        low, high = PlateauDensificationLaw.default_ranges[name]
        assert bool(((values >= low) & (values <= high)).all()), name


def test_fit_diagnostics_flag_a_physics_expert_worse_than_the_mean_curve(lattice_sets):
    val = _tensors(lattice_sets[1])
    model = _scrambled_model(lattice_sets)
    healthy = fit_diagnostics(model, val)
    assert not healthy["physics_worse_than_mean"]
    assert healthy["physics_rmse"] < healthy["mean_curve_rmse"]
    with torch.no_grad():  # every law far above the data: a curve law that cannot represent it
        model.physics.curve_mean.add_(50.0)
    broken = fit_diagnostics(model, val)
    assert broken["physics_worse_than_mean"]
    assert any("physics curve expert" in w and "training-mean" in w for w in broken["warnings"])


def test_specimens_without_a_curve_get_no_physics_term_and_the_image_posterior(lattice_sets):
    """A NaN curve row (an empty curve path cell, issue 21): the physics expert's curve term is 0 for that
    specimen, its responsibilities are those of its image alone, and the ELBO is the mean of the two kinds."""
    model = _scrambled_model(lattice_sets).double()
    batch = _batch(lattice_sets[0], dtype=torch.float64)
    missing, kept = [2, 5], [i for i in range(24) if i not in (2, 5)]
    batch[CURVE][missing] = float("nan")
    with torch.no_grad():
        mu, logvar = model.encode(batch)
        scores = model.component_log_scores(batch, mu, logvar.exp())
        image_only = {IMAGE: batch[IMAGE]}
        mu_image, logvar_image = model.encode(image_only)
        assert torch.equal(mu[missing], mu_image[missing]) and torch.equal(logvar[missing], logvar_image[missing])
        torch.testing.assert_close(scores[missing], -_hand_kl(model, mu_image, logvar_image.exp())[missing], rtol=1e-12, atol=1e-12)
        assert torch.equal(model.posterior(batch)["gamma"][missing], model.posterior(image_only)["gamma"][missing])
    elbo = model.mixture_loss(batch, sample=False)["elbo"]
    with_curves = model.mixture_loss({m: v[kept] for m, v in batch.items()}, sample=False)["elbo"]
    without = model.mixture_loss({IMAGE: batch[IMAGE][missing]}, sample=False)["elbo"]
    torch.testing.assert_close(elbo, (22 * with_curves + 2 * without) / 24, rtol=1e-10, atol=1e-8)
