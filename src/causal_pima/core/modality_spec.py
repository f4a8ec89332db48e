"""Modalities as data: one :class:`ModalitySpec` per kind of measurement, registered in :data:`MODALITY_SPECS`.

A spec says everything the model, batching, read-outs and figures need about a modality: its name
(the key of a batch ``{name: [B, ...]}``), the model-input array that holds it, its per-specimen
shape read from a :class:`~causal_pima.core.model_config.NetworkConfig`, the network fields a data
shape sets, its encoder and decoder factories, its log-likelihood (a Gaussian with a learned noise
scale) and the initial noise scale. The model loops over the registry in its order (image, curve):
the order fixes the state-dict and parameter order, so it never changes for existing modalities.

Adding a modality: a spec here (and its :class:`NetworkConfig` size fields); the data side
(generator, processing, manifest column group) supplies the array named ``array_key``
(docs/architecture.md "Where to add").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from torch import Tensor, nn

from causal_pima.core.elbo import gaussian_log_likelihood
from causal_pima.core.networks import ImageDecoder, ImageEncoder, VectorDecoder, VectorEncoder

# the factories take a ``core.model_config.NetworkConfig`` (not imported: model_config imports this module)
NetworkConfig = Any

IMAGE, CURVE, SCALAR = "image", "curve", "scalar"

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ModalitySpec:
    """One modality of the model (see the module docstring).

    Attributes:
        name: the batch key, the ``encoders`` / ``decoders`` / ``log_noise`` key and the
            ``recon_<name>`` loss term.
        array_key: the model-input array ``[N, *shape]`` that holds it (``images``, ``curves``).
        shape: the per-specimen shape from a network config, ``None`` when the config leaves the
            modality out (``image_shape: null``, ``curve_length: 0``).
        config_fields: the network-config fields for a per-specimen shape read from the data
            (``None``: the modality is not used).
        encoder: ``config -> module`` mapping ``[B, *shape]`` to ``(mu, logvar)`` each ``[B, D]``.
        decoder: ``config -> module`` mapping ``[B, D]`` to likelihood means ``[B, *shape]``.
        noise_init: ``config -> initial observation noise scale`` (learned).
        log_likelihood: ``(x [B, ...], mean, log_scale) -> [B]``.
        physics_capable: a physics expert may model it (``PhysicsConfig.physics_modality``).
        may_be_missing: specimens may lack it: a row with a NaN marks it missing for that specimen
            (left out of the product of experts and of the reconstruction).
        display: how figures draw one specimen: ``"image"`` (``[C, H, W]``) or ``"profile"``
            (a line over the values' grid or index).
        tabular: a table of numbers per specimen ``[N, S]``: ingestion reads it from manifest
            columns (``column_groups``), processing standardises each column with the training
            split's mean and standard deviation (stored as ``<array_key>_mean`` / ``_std``).
        manifest_column: the specimen manifest's column naming each specimen's file of this modality
            (a path; an empty cell: not measured), ``None`` for a modality without files. The manifest
            dataset (``datasets.specimen_manifest``) reads and writes these files in the folder
            ``<array_key>/`` and returns them under ``array_key``.
        file_format: how the manifest dataset reads and writes such a file: ``"image"`` (PNG / TIFF /
            JPEG / NPY, read lazily) or ``"table"`` (a CSV table).
    """

    name: str
    array_key: str
    shape: Callable[[NetworkConfig], Shape | None]
    config_fields: Callable[[Shape | None], dict[str, Any]]
    encoder: Callable[[NetworkConfig], nn.Module]
    decoder: Callable[[NetworkConfig], nn.Module]
    noise_init: Callable[[NetworkConfig], float]
    log_likelihood: Callable[[Tensor, Tensor, Tensor], Tensor] = gaussian_log_likelihood
    physics_capable: bool = False
    may_be_missing: bool = False
    display: str = "profile"
    tabular: bool = False
    manifest_column: str | None = None
    file_format: str | None = None


# The specs' functions are module-level (not lambdas): a model holding its specs is pickled by
# ParallelRunner and MLflow, and pickle finds functions by name.
def _image_shape(c: NetworkConfig) -> Shape | None:
    return tuple(int(v) for v in c.image_shape) if c.image_shape is not None else None


def _image_fields(shape: Shape | None) -> dict[str, Any]:
    return {"image_shape": list(shape) if shape is not None else None}


def _image_encoder(c: NetworkConfig) -> nn.Module:
    return ImageEncoder(c.image_shape, c.latent_dim, c.image_channels, c.image_hidden_dim)


def _image_decoder(c: NetworkConfig) -> nn.Module:
    return ImageDecoder(c.image_shape, c.latent_dim, c.image_channels, c.image_hidden_dim)


def _image_noise(c: NetworkConfig) -> float:
    return c.image_noise_init


def _curve_shape(c: NetworkConfig) -> Shape | None:
    return (int(c.curve_length),) if c.curve_length else None


def _curve_fields(shape: Shape | None) -> dict[str, Any]:
    return {"curve_length": int(shape[0]) if shape is not None else 0}


def _curve_encoder(c: NetworkConfig) -> nn.Module:
    return VectorEncoder(c.curve_length, c.latent_dim, c.curve_hidden_dims)


def _curve_decoder(c: NetworkConfig) -> nn.Module:
    return VectorDecoder(c.curve_length, c.latent_dim, c.curve_hidden_dims)


def _curve_noise(c: NetworkConfig) -> float:
    return c.curve_noise_init


def _scalar_shape(c: NetworkConfig) -> Shape | None:
    return (int(c.scalar_count),) if c.scalar_count else None


def _scalar_fields(shape: Shape | None) -> dict[str, Any]:
    return {"scalar_count": int(shape[0]) if shape is not None else 0}


def _scalar_encoder(c: NetworkConfig) -> nn.Module:
    return VectorEncoder(c.scalar_count, c.latent_dim, c.scalar_hidden_dims)


def _scalar_decoder(c: NetworkConfig) -> nn.Module:
    return VectorDecoder(c.scalar_count, c.latent_dim, c.scalar_hidden_dims)


def _scalar_noise(c: NetworkConfig) -> float:
    return c.scalar_noise_init


# image and curve may be missing too: a manifest row with an empty image / curve path cell (a specimen not
# measured that way) gets a NaN row, fused from its other modalities
IMAGE_SPEC = ModalitySpec(name=IMAGE, array_key="images", shape=_image_shape, config_fields=_image_fields,
                          encoder=_image_encoder, decoder=_image_decoder, noise_init=_image_noise, may_be_missing=True,
                          display="image", manifest_column="image", file_format="image")

CURVE_SPEC = ModalitySpec(name=CURVE, array_key="curves", shape=_curve_shape, config_fields=_curve_fields,
                          encoder=_curve_encoder, decoder=_curve_decoder, noise_init=_curve_noise, physics_capable=True,
                          may_be_missing=True, manifest_column="curve", file_format="table")

# per-specimen measurements, a table of numbers (measured density, mass, ...): standardised by processing,
# from a manifest's column group (ingestion column_groups.scalar) or the circles generator (render.scalars)
SCALAR_SPEC = ModalitySpec(name=SCALAR, array_key="scalars", shape=_scalar_shape, config_fields=_scalar_fields,
                           encoder=_scalar_encoder, decoder=_scalar_decoder, noise_init=_scalar_noise,
                           may_be_missing=True, tabular=True)

# the registry, in the model's order (state-dict and parameter order follow it)
MODALITY_SPECS: Mapping[str, ModalitySpec] = MappingProxyType(
    {spec.name: spec for spec in (IMAGE_SPEC, CURVE_SPEC, SCALAR_SPEC)}
)


def modality_spec(name: str) -> ModalitySpec:
    """The spec registered as ``name``; raises ``ValueError`` naming the known modalities."""
    if name not in MODALITY_SPECS:
        raise ValueError(f"unknown modality {name!r}; known: {list(MODALITY_SPECS)}")
    return MODALITY_SPECS[name]


def tabular_specs() -> dict[str, ModalitySpec]:
    """The specs whose values are a table of numbers (``tabular``), by name."""
    return {m: spec for m, spec in MODALITY_SPECS.items() if spec.tabular}


def file_specs() -> dict[str, ModalitySpec]:
    """The specs whose values are files named in a specimen manifest (``manifest_column``), by name, in
    the registry's order."""
    return {m: spec for m, spec in MODALITY_SPECS.items() if spec.manifest_column is not None}


def array_keys(modalities: tuple[str, ...] | list[str] | None = None) -> dict[str, str]:
    """``{modality: model-input array}`` for ``modalities`` (all registered ones by default)."""
    names = list(MODALITY_SPECS) if modalities is None else list(modalities)
    return {m: modality_spec(m).array_key for m in names}


__all__ = ["CURVE", "IMAGE", "SCALAR", "MODALITY_SPECS", "ModalitySpec", "array_keys", "file_specs", "modality_spec",
           "tabular_specs"]
