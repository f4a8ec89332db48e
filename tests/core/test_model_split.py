"""The split configs and objectives reproduce the pre-split model exactly.

``data/pre_split_model.pt`` was written by the code before the split (one ``ModelConfig``, one
``forward`` with ``prior="standard"|"mixture"``): three old-format checkpoints (neural curve decoder
with table conditionals and additive means, physics curve expert, free mixture weights), a seeded
batch and the old forward's loss terms for every objective, with and without a latent sample and
an encoder mask.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from causal_pima.core.model import NETWORK_PREFIXES, CausalPIMA, PoEVAE
from causal_pima.core.model_config import ModelConfig, NetworkConfig, PhysicsConfig, PriorConfig

GOLDEN = torch.load(Path(__file__).parent / "data" / "pre_split_model.pt", weights_only=True)
KINDS = sorted(GOLDEN["models"])


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key].detach(), b[key].detach()), key


@pytest.mark.parametrize("kind", KINDS)
def test_old_checkpoint_loads_to_identical_state(kind):
    old = GOLDEN["models"][kind]["checkpoint"]
    model = CausalPIMA.from_checkpoint(old)
    # fields added since carry their defaults (curve_asinh_scale 0: the linear curve scale those models used;
    # the factorial means' pseudo-counts, unused by their free means; the physics expert's modality, the curve;
    # no scalar modality)
    assert model.config.to_dict() == {**old["config"], "curve_asinh_scale": 0.0, "mean_pseudo_count": 10.0,
                                      "interaction_pseudo_count": 10.0, "physics_modality": "curve", "scalar_count": 0,
                                      "scalar_hidden_dims": [32, 32], "scalar_noise_init": 0.3}
    _same(model.checkpoint()["state_dict"], old["state_dict"])  # the loaded parameters: bit for bit
    # the posterior computed from them: to float32 rounding (the convolutions' SIMD path, and so the last
    # bits, differ between CPUs: the golden file was written on another machine than some that test it)
    posterior, golden = model.posterior(GOLDEN["batch"]), GOLDEN["models"][kind]["posterior"]
    assert posterior.keys() == golden.keys()
    for key in golden:
        torch.testing.assert_close(posterior[key].detach(), golden[key].detach(), rtol=1e-5, atol=1e-6, msg=key)


@pytest.mark.parametrize("kind", KINDS)
def test_split_objectives_give_the_old_forward_terms_exactly(kind):
    golden = GOLDEN["models"][kind]
    model = CausalPIMA.from_checkpoint(golden["checkpoint"])
    batch = GOLDEN["batch"]
    for key, old_terms in golden["terms"].items():
        prior, sample, masked = key.split("/")
        mask = golden["mask"] if masked == "mask" else None
        sample = sample == "True"
        torch.manual_seed(11)
        if prior == "standard":
            terms = model.pretraining_loss(batch, kl_weight=0.25, mask=mask, sample=sample)
        else:
            terms = model.mixture_loss(batch, l1_weight=0.1, mask=mask, sample=sample)
        _same(terms, old_terms)


@pytest.mark.parametrize("kind", KINDS)
def test_network_checkpoint_holds_the_networks_only_and_pretrains_identically(kind):
    golden = GOLDEN["models"][kind]
    full = CausalPIMA.from_checkpoint(golden["checkpoint"])
    networks = full.network_checkpoint()
    assert networks["config"] == full.config.network.to_dict()
    assert set(networks["state_dict"]) == {k for k in full.state_dict() if k.startswith(NETWORK_PREFIXES)}
    assert not any(k.startswith(("prior.", "dag.", "physics.", "free_log_weights")) for k in networks["state_dict"])
    vae = PoEVAE.from_checkpoint(networks)
    assert not isinstance(vae, CausalPIMA)
    assert PoEVAE.from_checkpoint(golden["checkpoint"]).network_config == vae.network_config  # any checkpoint
    torch.manual_seed(11)
    _same(vae.pretraining_loss(GOLDEN["batch"], kl_weight=0.25), golden["terms"]["standard/True/nomask"])
    with pytest.raises(ValueError, match="networks only"):
        CausalPIMA.from_checkpoint(networks)


@pytest.mark.parametrize("kind", KINDS)
def test_from_pretrained_keeps_the_networks_and_builds_a_fresh_prior(kind):
    golden = GOLDEN["models"][kind]
    old = golden["checkpoint"]
    prior = PriorConfig(n_nodes=2, conditionals="table")
    for pretrained in (old, CausalPIMA.from_checkpoint(old).network_checkpoint()):
        torch.manual_seed(5)
        physics = None if pretrained is old else PhysicsConfig.from_values(old["config"])
        model = CausalPIMA.from_pretrained(pretrained, prior, physics)
        # what the Kedro layer's model_from_pretrained built before: the flat config merged with the prior
        torch.manual_seed(5)
        reference = CausalPIMA(ModelConfig.from_dict({**old["config"], **prior.to_dict()}))
        reference.load_state_dict({k: v for k, v in old["state_dict"].items() if k.startswith(NETWORK_PREFIXES)}, strict=False)
        assert model.config == reference.config
        _same(model.state_dict(), reference.state_dict())


def test_flat_config_is_the_union_of_its_parts_each_field_defined_once():
    parts = (NetworkConfig, PriorConfig, PhysicsConfig)
    names = [f for cls in parts for f in cls.__dataclass_fields__]
    assert len(names) == len(set(names))
    assert set(ModelConfig.__dataclass_fields__) == set(names)
    flat = GOLDEN["models"]["physics"]["checkpoint"]["config"]
    config = ModelConfig.from_dict(flat)
    assert ModelConfig.from_parts(config.network, config.prior, config.physics) == config
    assert config.network == NetworkConfig.from_values(flat)
    assert config.prior == PriorConfig.from_values(flat)
    assert config.physics.curve_grid == tuple(flat["curve_grid"])
    # built from the parts, the model equals one built from the flat config
    torch.manual_seed(0)
    a = CausalPIMA(config)
    torch.manual_seed(0)
    b = CausalPIMA(network=config.network, prior=config.prior, physics=config.physics)
    assert a.config == b.config
    _same(a.state_dict(), b.state_dict())
    with pytest.raises(TypeError):
        CausalPIMA(config, prior=config.prior)
    assert not hasattr(PoEVAE(config.network), "mixture_loss")  # a plain PoE VAE has only the pretraining objective
