"""Tests for the causalPIMA model: loss terms, fusion masks, configuration and checkpoints
(docs/model.md "Model and ELBO")."""

from __future__ import annotations

import io
import json

import pytest
import torch
from torch.distributions import Normal

from causal_pima.core.elbo import prior_term
from causal_pima.core.evaluate import objective
from causal_pima.core.model import CausalPIMA, PoEVAE
from causal_pima.core.model_config import ModelConfig
from causal_pima.core.networks import CurveEncoder

from .conftest import SMALL_MODEL, small_config, small_model

pytestmark = pytest.mark.usefixtures("one_thread")


def _make_prior_interesting(model: CausalPIMA, seed: int = 3) -> None:
    """Distinct component means/variances and a DAG with edges, so every prior term is non-trivial."""
    generator = torch.Generator().manual_seed(seed)
    k, d = model.prior.means.shape
    with torch.no_grad():
        model.prior.means.copy_(torch.randn(k, d, generator=generator))
        model.prior.variances.copy_(torch.rand(k, d, generator=generator) + 0.2)
        model.dag.node_scores.copy_(torch.tensor([0.0, 1.0, 2.0]))
        model.dag.edge_weights.copy_(torch.randn(3, 3, generator=generator) * 2.0)
        model.dag.biases.copy_(torch.tensor([0.3, -0.4, 0.1]))
        model.dag.temperature.fill_(0.5)


# ---------------------------------------------------------------------------- loss terms
@pytest.mark.parametrize("prior", ["standard", "mixture"])
def test_forward_terms_finite_and_loss_is_minus_elbo(model, batch, prior):
    _make_prior_interesting(model)
    torch.manual_seed(0)
    terms = objective(model, prior)(batch)
    assert {"recon_image", "recon_curve", "elbo", "loss"} <= set(terms)
    for name, value in terms.items():
        assert value.dim() == 0, name
        assert torch.isfinite(value), name
    assert terms["loss"].item() == -terms["elbo"].item()
    # the loss is differentiable w.r.t. the networks
    terms["loss"].backward()
    grad = model.encoders["image"].head[-1].weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_mixture_loss_adds_l1_penalty_on_adjacency(model, batch):
    _make_prior_interesting(model)
    terms = objective(model, "mixture")(batch, l1_weight=0.1, sample=False)
    expected_l1 = 0.1 * model.dag.adjacency().abs().sum()
    assert expected_l1.item() > 0.1
    assert terms["l1"].item() == expected_l1.item()
    assert terms["loss"].item() == (-terms["elbo"] + terms["l1"]).item()
    # the ELBO itself does not contain the penalty
    assert terms["elbo"].item() == objective(model, "mixture")(batch, sample=False)["elbo"].item()


def test_kl_weight_changes_only_the_loss(model, batch):
    full = objective(model, "standard")(batch, sample=False)
    warm = objective(model, "standard")(batch, sample=False, kl_weight=0.25)
    assert warm["elbo"].item() == full["elbo"].item()
    recon = warm["recon_image"] + warm["recon_curve"]
    assert warm["loss"].item() == (-(recon - 0.25 * warm["kl"])).item()


def test_mixture_elbo_equals_hand_computation(model, batch):
    _make_prior_interesting(model)
    terms = objective(model, "mixture")(batch, sample=False)
    with torch.no_grad():
        mu, logvar = model.encode(batch)
        means = model.decode(mu)
        kl = model.prior.kl(mu, logvar.exp())
        prior = prior_term(model.log_weights(), kl).mean()
    # reconstruction terms checked against torch.distributions (independent formula)
    for m in ("image", "curve"):
        scale = model.log_noise[m].exp()
        expected = Normal(means[m], scale).log_prob(batch[m]).reshape(len(mu), -1).sum(-1).mean()
        torch.testing.assert_close(terms[f"recon_{m}"].detach(), expected, rtol=1e-5, atol=1e-3)
    # the ELBO is exactly the recon terms plus the prior term, added in the same order
    elbo = torch.zeros(()) + terms["recon_image"] + terms["recon_curve"] + prior
    assert terms["prior"].item() == prior.item()
    assert terms["elbo"].item() == elbo.item()


def test_standard_prior_kl_matches_torch_distributions(model, batch):
    terms = objective(model, "standard")(batch, sample=False)
    with torch.no_grad():
        mu, logvar = model.encode(batch)
    q = Normal(mu, (0.5 * logvar).exp())
    expected = torch.distributions.kl_divergence(q, Normal(0.0, 1.0)).sum(-1).mean()
    torch.testing.assert_close(terms["kl"].detach(), expected, rtol=1e-5, atol=1e-5)


def test_objective_rejects_unknown_prior(model):
    with pytest.raises(ValueError, match="prior must be"):
        objective(model, "gaussian")
    with pytest.raises(ValueError, match="prior must be"):  # a plain PoE VAE has no mixture objective
        objective(PoEVAE(model.network_config), "mixture")


# ---------------------------------------------------------------------------- masks
def test_masking_a_modality_equals_encoding_without_it(model, batch):
    b = len(batch["image"])
    with torch.no_grad():
        image_only = model.encode({"image": batch["image"]})
        curve_only = model.encode({"curve": batch["curve"]})
        both = model.encode(batch)
        hidden = model.encode(batch, mask={"curve": torch.zeros(b, dtype=torch.bool)})
        # per-specimen: even rows lose the curve, odd rows keep both
        keep_curve = torch.arange(b) % 2 == 1
        mixed = model.encode(batch, mask={"curve": keep_curve})
        swapped = model.encode(batch, mask={"image": torch.zeros(b, dtype=torch.bool)})
    for got, want in zip(hidden, image_only, strict=True):
        assert torch.equal(got, want)
    for got, want in zip(swapped, curve_only, strict=True):
        assert torch.equal(got, want)
    for got, only, full in zip(mixed, image_only, both, strict=True):
        assert torch.equal(got[~keep_curve], only[~keep_curve])
        assert torch.equal(got[keep_curve], full[keep_curve])
    assert not torch.allclose(both[0], image_only[0])


def test_masked_modality_is_still_reconstructed(model, batch):
    b = len(batch["image"])
    terms = objective(model, "standard")(batch, sample=False, mask={"curve": torch.zeros(b, dtype=torch.bool)})
    assert "recon_curve" in terms and torch.isfinite(terms["recon_curve"])
    # and the encoder output cannot depend on a hidden modality, even NaN input
    poisoned = dict(batch, curve=torch.full_like(batch["curve"], float("nan")))
    with torch.no_grad():
        mu, logvar = model.encode(poisoned, mask={"curve": torch.zeros(b, dtype=torch.bool)})
    assert torch.isfinite(mu).all() and torch.isfinite(logvar).all()


def test_modality_dropout_mask_fraction(model, circles_train):
    b = 4000
    big = {"image": torch.zeros(b, 3, 16, 16), "curve": torch.zeros(b, 32)}
    torch.manual_seed(0)
    p = 0.3
    mask = model.modality_dropout_mask(big, p)
    assert set(mask) == {"image", "curve"}
    image, curve = mask["image"], mask["curve"]
    assert image.shape == curve.shape == (b,) and image.dtype == torch.bool
    # every specimen keeps at least one modality; a dropped one keeps exactly one
    assert (image | curve).all()
    dropped = ~(image & curve)
    assert abs(dropped.float().mean().item() - p) < 0.03  # binomial sd 0.007
    # the kept modality is chosen at random
    assert abs((~curve).float().mean().item() - p / 2) < 0.03
    assert abs((~image).float().mean().item() - p / 2) < 0.03
    assert model.modality_dropout_mask(big, 0.0) is None
    assert model.modality_dropout_mask({"image": big["image"]}, 0.5) is None
    assert model.modality_dropout_mask(big, 1.0) is not None
    full = model.modality_dropout_mask(big, 1.0)
    assert (full["image"] ^ full["curve"]).all()


# ---------------------------------------------------------------------------- checkpoints
def test_checkpoint_round_trip_gives_identical_outputs(model, batch):
    _make_prior_interesting(model)
    with torch.no_grad():
        model.log_noise["curve"].fill_(-0.7)
    checkpoint = model.checkpoint()
    json.dumps(checkpoint["config"])  # JSON-like config, no pickled objects
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    buffer.seek(0)
    restored = CausalPIMA.from_checkpoint(torch.load(buffer, weights_only=True))
    assert restored.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(restored.state_dict()[key], value), key
    for prior in ("standard", "mixture"):
        a = objective(model, prior)(batch, sample=False)
        b = objective(restored, prior)(batch, sample=False)
        assert a.keys() == b.keys()
        for key in a:
            assert a[key].item() == b[key].item(), (prior, key)
    pa, pb = model.posterior(batch), restored.posterior(batch)
    for key in pa:
        assert torch.equal(pa[key], pb[key]), key


# ---------------------------------------------------------------------------- configuration
def test_config_dict_round_trip():
    config = small_config(mean_structure="additive", mixture_weights="free")
    values = config.to_dict()
    assert values["image_channels"] == [8, 8]
    json.dumps(values)
    assert ModelConfig.from_dict(values) == config


def test_from_dict_rejects_unknown_key_naming_it():
    with pytest.raises(ValueError, match="laten_dim"):
        ModelConfig.from_dict({**SMALL_MODEL, "laten_dim": 3})


def test_image_only_config_has_no_curve_networks(batch):
    for overrides in ({"curve_length": 0}, {"modality_names": ("image",)}):
        model = small_model(0, **overrides)
        assert model.modalities == ("image",)
        assert set(model.encoders) == set(model.decoders) == set(model.log_noise) == {"image"}
        assert not any(isinstance(module, CurveEncoder) for module in model.modules())
        terms = objective(model, "mixture")(batch)  # a curve in the batch is ignored
        assert "recon_curve" not in terms and torch.isfinite(terms["loss"])
    with pytest.raises(ValueError, match="at least one modality"):
        _ = small_config(curve_length=0, image_shape=None).modalities


def test_free_mixture_weights_use_free_log_weights(batch):
    model = small_model(0, mixture_weights="free")
    assert not model.uses_dag
    _make_prior_interesting(model)
    log_w = torch.log_softmax(torch.tensor([2.0, 0.5, -1.0, 0.0, 1.0, -2.0, 0.3, 0.1]), 0)
    model.free_log_weights.copy_(log_w)
    assert torch.equal(model.log_weights(), log_w)
    terms = objective(model, "mixture")(batch, l1_weight=1.0, sample=False)
    with torch.no_grad():
        mu, logvar = model.encode(batch)
        expected = prior_term(log_w, model.prior.kl(mu, logvar.exp())).mean()
    assert terms["prior"].item() == expected.item()
    assert terms["l1"].item() == 0.0  # no DAG, no penalty, even with edges in the unused DAG
    terms["loss"].backward()
    assert all(p.grad is None for p in model.dag.parameters())
    gamma = model.posterior(batch)["gamma"]
    torch.testing.assert_close(gamma, torch.softmax(log_w - model.prior.kl(mu, logvar.exp()), -1))
    # the DAG model on the same state gives a different prior term
    dag_model = small_model(0)
    dag_model.load_state_dict(model.state_dict())
    assert dag_model.uses_dag
    assert dag_model.mixture_loss(batch, sample=False)["prior"].item() != terms["prior"].item()
    # free weights survive a checkpoint
    restored = CausalPIMA.from_checkpoint(model.checkpoint())
    assert not restored.uses_dag and torch.equal(restored.log_weights(), log_w)


def test_unknown_mixture_weights_rejected():
    with pytest.raises(ValueError, match="mixture_weights"):
        small_model(0, mixture_weights="learned")


@pytest.mark.parametrize("balance", [0.0, 0.75, 1.0])
def test_modality_balance_weights_the_loss_and_never_the_elbo(batch, balance):
    model = small_model(modality_balance=balance)
    # 3 x 16 x 16 = 768 image values, 32 curve points: the curve weight is 24 ** balance
    assert model.loss_weights() == pytest.approx({"image": 1.0, "curve": 24.0**balance})
    model.eval()
    for prior in ("standard", "mixture"):
        torch.manual_seed(0)
        terms = objective(model, prior)(batch)
        expected_elbo = terms["recon_image"] + terms["recon_curve"] + (-terms["kl"] if prior == "standard" else terms["prior"])
        torch.testing.assert_close(terms["elbo"], expected_elbo)
        weighted = terms["recon_image"] + 24.0**balance * terms["recon_curve"]
        expected_loss = -(weighted - terms["kl"]) if prior == "standard" else -(weighted + terms["prior"]) + terms["l1"]
        torch.testing.assert_close(terms["loss"], expected_loss)


def test_modality_balance_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match="modality_balance must be in"):
        small_model(modality_balance=1.5)
