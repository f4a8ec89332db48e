"""Modalities as specs (issue 21, item 1): the registry, and a model with image, curve and scalar whose
specimens without scalars are fused from the other two exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from causal_pima.core.modality_spec import MODALITY_SPECS, array_keys, modality_spec, tabular_specs
from causal_pima.core.model import CausalPIMA, PoEVAE, observed_rows
from causal_pima.core.model_config import NetworkConfig, PriorConfig
from causal_pima.core.prediction import cross_modal_errors, reconstruction_rmse

SHAPES = {"image": (3, 8, 8), "curve": (12,), "scalar": (2,)}
SMALL = {"latent_dim": 4, "image_channels": (4, 8), "image_hidden_dim": 16, "curve_hidden_dims": (16,), "scalar_hidden_dims": (8,)}


def _network(modalities=("image", "curve", "scalar")) -> NetworkConfig:
    fields = {}
    for name, spec in MODALITY_SPECS.items():
        fields.update(spec.config_fields(SHAPES[name] if name in modalities else None))
    return NetworkConfig(**SMALL, **fields, modality_names=tuple(modalities))


def _batch(n: int = 6) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {name: torch.rand(n, *shape, generator=g) for name, shape in SHAPES.items()}


def test_registry_round_trip_shape_to_config_to_shape_and_unknown_names():
    assert list(MODALITY_SPECS) == ["image", "curve", "scalar"]  # the model's (and state dict's) order
    assert array_keys() == {"image": "images", "curve": "curves", "scalar": "scalars"}
    assert list(tabular_specs()) == ["scalar"]
    for name, spec in MODALITY_SPECS.items():
        assert spec.name == name
        assert spec.shape(NetworkConfig(**spec.config_fields(SHAPES[name]))) == SHAPES[name]
        assert spec.shape(NetworkConfig(**{**spec.config_fields(SHAPES[name]), **spec.config_fields(None)})) is None
    assert [m for m, s in MODALITY_SPECS.items() if s.physics_capable] == ["curve"]
    with pytest.raises(ValueError, match=r"unknown modality 'sound'; known: \['image', 'curve', 'scalar'\]"):
        modality_spec("sound")
    with pytest.raises(ValueError, match="unknown modality 'sound'"):
        PoEVAE(NetworkConfig(modality_names=("image", "sound")))


def test_three_modality_model_has_one_encoder_decoder_and_noise_per_modality_and_keeps_the_two_modality_keys():
    torch.manual_seed(0)
    three = PoEVAE(_network())
    torch.manual_seed(0)
    two = PoEVAE(_network(("image", "curve")))
    assert three.modalities == ("image", "curve", "scalar")
    assert list(three.encoders) == list(three.decoders) == ["image", "curve", "scalar"]
    assert sorted(three.log_noise) == ["curve", "image", "scalar"]
    assert three.encoders["scalar"].body[0].in_features == 2 and three.decoders["scalar"].body[-1].out_features == 2
    assert float(three.log_noise["scalar"].detach()) == pytest.approx(math.log(0.3))
    assert three.modality_values() == {"image": 192, "curve": 12, "scalar": 2}
    # the image and curve networks keep their state-dict names and, built first, their initial weights
    extra = set(three.state_dict()) - set(two.state_dict())
    assert set(two.state_dict()) < set(three.state_dict())
    assert extra and all(k.split(".")[1] == "scalar" for k in extra)
    for key, value in two.state_dict().items():
        assert torch.equal(value, three.state_dict()[key]), key


def test_specimens_without_scalars_get_exactly_the_image_and_curve_posterior():
    torch.manual_seed(0)
    model = PoEVAE(_network()).eval()
    batch = _batch()
    batch["scalar"][[1, 4]] = float("nan")  # specimens 1 and 4 have no scalars
    mu, logvar = model.encode(batch)
    mu2, logvar2 = model.encode({"image": batch["image"], "curve": batch["curve"]})
    assert torch.equal(mu[[1, 4]], mu2[[1, 4]]) and torch.equal(logvar[[1, 4]], logvar2[[1, 4]])
    # the others are fused with their scalars: a different posterior
    assert (mu[[0, 2, 3, 5]] - mu2[[0, 2, 3, 5]]).abs().amax(1).min() > 1e-4
    # the missing rows add nothing to the reconstruction, and the loss and its gradients stay finite
    recon = model.reconstruction_log_likelihood(batch, mu)
    assert recon["scalar"][[1, 4]].tolist() == [0.0, 0.0] and bool((recon["scalar"][[0, 2, 3, 5]] != 0).all())
    model.train()
    loss = model.pretraining_loss(batch, sample=False)["loss"]
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_read_outs_skip_the_specimens_without_scalars():
    torch.manual_seed(0)
    model = CausalPIMA(network=_network(), prior=PriorConfig(n_nodes=2)).eval()
    batch = _batch(8)
    batch["scalar"][[0, 5]] = float("nan")
    rmse = reconstruction_rmse(model, batch)
    assert set(rmse) == {"image", "curve", "scalar"} and np.isfinite(list(rmse.values())).all()
    kept = [i for i in range(8) if i not in (0, 5)]
    only_observed = reconstruction_rmse(model, {m: v[kept] for m, v in batch.items()})
    assert rmse["scalar"] == pytest.approx(only_observed["scalar"], rel=1e-6)
    pairs = cross_modal_errors(model, batch)
    assert set(pairs) == {f"{t}_from_{s}" for s in SHAPES for t in SHAPES if s != t}
    assert pairs["scalar_from_image"]["n_specimens"] == 6 and pairs["curve_from_image"]["n_specimens"] == 8
    scalar = batch["scalar"][kept].double()
    assert pairs["scalar_from_image"]["mean_rmse"] == pytest.approx(float((scalar - scalar.mean(0)).pow(2).mean().sqrt()))


def test_specs_and_a_model_holding_them_pickle():
    """ParallelRunner and MLflow pickle models; a spec's functions must be found by name (no lambdas)."""
    import pickle

    assert pickle.loads(pickle.dumps(dict(MODALITY_SPECS))) == dict(MODALITY_SPECS)
    torch.manual_seed(0)
    model = PoEVAE(NetworkConfig(image_shape=(3, 8, 8), curve_length=6, scalar_count=2, latent_dim=2,
                                 image_channels=(4,), image_hidden_dim=8, curve_hidden_dims=(8,), scalar_hidden_dims=(8,),
                                 modality_names=("image", "curve", "scalar")))
    copy = pickle.loads(pickle.dumps(model))
    batch = {"image": torch.rand(3, 3, 8, 8), "curve": torch.randn(3, 6), "scalar": torch.randn(3, 2)}
    assert all(torch.equal(a, b) for a, b in zip(model.encode(batch), copy.encode(batch), strict=True))


def test_specimens_without_an_image_or_a_curve_get_exactly_the_posterior_of_their_other_experts():
    """An empty image / curve path cell in a manifest gives a NaN row (issue 21): that expert is left out of the
    product of experts and that reconstruction term is 0, by the same mask as the scalars' NaN rows."""
    assert MODALITY_SPECS["image"].may_be_missing and MODALITY_SPECS["curve"].may_be_missing
    torch.manual_seed(0)
    model = PoEVAE(_network()).eval()
    batch = _batch()
    batch["image"][1] = float("nan")  # specimen 1 has no image
    batch["curve"][[2, 4]] = float("nan")  # specimens 2 and 4 have no curve
    mu, logvar = model.encode(batch)
    no_image = model.encode({"curve": batch["curve"], "scalar": batch["scalar"]})
    no_curve = model.encode({"image": batch["image"], "scalar": batch["scalar"]})
    assert torch.equal(mu[1], no_image[0][1]) and torch.equal(logvar[1], no_image[1][1])
    assert torch.equal(mu[[2, 4]], no_curve[0][[2, 4]]) and torch.equal(logvar[[2, 4]], no_curve[1][[2, 4]])
    complete = model.encode(_batch())
    assert torch.equal(mu[[0, 3, 5]], complete[0][[0, 3, 5]])  # the others are fused from all three
    recon = model.reconstruction_log_likelihood(batch, mu)
    assert recon["image"][1] == 0.0 and recon["curve"][[2, 4]].tolist() == [0.0, 0.0]
    assert bool((recon["image"][[0, 2, 3, 4, 5]] != 0).all()) and bool((recon["curve"][[0, 1, 3, 5]] != 0).all())
    model.train()
    loss = model.pretraining_loss(batch, sample=False)["loss"]
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_observed_rows_flags_exactly_the_rows_with_a_nan_whatever_else_the_batch_holds():
    x = torch.arange(24, dtype=torch.float32).reshape(4, 2, 3)
    assert observed_rows(x).tolist() == [True, True, True, True]  # the one-reduction path
    x[1, 0, 2] = float("nan")
    x[2, 1, 0] = float("inf")  # infinite, not missing
    x[3, 0, 0] = -float("inf")  # with the +inf above the batch sum is NaN: the row-wise check decides
    assert observed_rows(x).tolist() == [True, False, True, True]
    assert observed_rows(torch.full((2, 3), float("inf"))).tolist() == [True, True]
