"""The model's configuration (docs/model.md "Model and ELBO"), split as the model is:
:class:`NetworkConfig` (architecture, likelihoods, input shapes), :class:`PriorConfig` (mixture and DAG)
and :class:`PhysicsConfig` (the curve expert and the curve grid / standardisation it needs).
:class:`ModelConfig` is the flat view of all three (the ``model:`` parameters plus data statistics, and
the ``config`` of a causalPIMA checkpoint). Plain dataclasses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

from causal_pima.core.modality_spec import CURVE, IMAGE, MODALITY_SPECS, modality_spec

MODALITIES = tuple(MODALITY_SPECS)

_Config = TypeVar("_Config", bound="_DictConfig")


class _DictConfig:
    """``from_dict`` / ``to_dict`` for the config dataclasses (lists in, tuples kept, lists out)."""

    _TUPLE_FIELDS = ()

    @classmethod
    def from_dict(cls: type[_Config], values: Mapping[str, Any]) -> _Config:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model parameter(s) {unknown}; known: {sorted(known)}")
        kwargs = dict(values)
        for key in cls._TUPLE_FIELDS:
            if kwargs.get(key) is not None:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)

    @classmethod
    def from_values(cls: type[_Config], values: Mapping[str, Any]) -> _Config:
        """The fields of this config taken from a larger flat dict (other keys are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls.from_dict({k: v for k, v in values.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out


@dataclass
class NetworkConfig(_DictConfig):
    """Encoders, decoders and observation noise of the PoE VAE, and the input shapes.

    ``image_shape`` is ``(C, H, W)``; set ``curve_length`` to 0 for an image-only model and
    ``image_shape`` to ``None`` for a curve-only model. ``scalar_count`` (0: none) is the number of
    per-specimen scalar measurements (the ``scalar`` modality, named in ``modality_names``).
    """

    _TUPLE_FIELDS = ("image_shape", "image_channels", "curve_hidden_dims", "modality_names", "scalar_hidden_dims")

    image_shape: tuple[int, int, int] | None = (3, 32, 32)
    curve_length: int = 64
    latent_dim: int = 8
    image_channels: tuple[int, ...] = (16, 32, 32)
    image_hidden_dim: int = 128
    curve_hidden_dims: tuple[int, ...] = (128, 128)
    # weight of each modality's log-likelihood in the training loss (never in the reported ELBO):
    # w_m = (V_max / V_m) ** modality_balance with V_m the modality's number of values: 0 gives all
    # weights 1, 1 makes every modality count as much as the largest (docs/model.md)
    modality_balance: float = 0.75
    # initial observation noise scales (learned): images in [0, 1], curves standardised
    image_noise_init: float = 0.1
    curve_noise_init: float = 0.3
    noise_min: float = 1e-3
    modality_names: tuple[str, ...] = field(default=(IMAGE, CURVE))
    # the scalar modality (a standardised table of numbers per specimen): its size comes from the data
    scalar_count: int = 0
    scalar_hidden_dims: tuple[int, ...] = (32, 32)
    scalar_noise_init: float = 0.3

    @property
    def modalities(self) -> tuple[str, ...]:
        """The named modalities whose spec finds a shape in this config, in the registry's order."""
        for name in self.modality_names:
            modality_spec(name)  # an unknown name is refused, naming the known ones
        present = tuple(m for m, spec in MODALITY_SPECS.items() if m in self.modality_names and spec.shape(self) is not None)
        if not present:
            raise ValueError("the model needs at least one modality (image_shape or curve_length)")
        return present


@dataclass
class PriorConfig(_DictConfig):
    """The Gaussian-mixture prior over the ``2 ** n_nodes`` outcomes and its mixture weights."""

    n_nodes: int = 3
    mean_structure: str = "free"
    # mean_structure "factorial": specimens' worth of belief in the factorial part of a component's
    # mean and variance, and the ridge on the pairwise interactions (core.factorial_means)
    mean_pseudo_count: float = 10.0
    interaction_pseudo_count: float = 10.0
    # "dag": mixture weights are the Markov factorisation of the learned DAG (causalPIMA);
    # "free": K free weights updated in closed form, no DAG (the PIMA baseline)
    mixture_weights: str = "dag"
    # conditionals of the DAG: "logistic" (additive in the parents) or "table" (any table over the
    # parents, interactions included; core.dag)
    conditionals: str = "table"
    variance_floor: float = 1e-3
    init_temperature: float = 1.0


@dataclass
class PhysicsConfig(_DictConfig):
    """Curve likelihood inside the mixture ELBO.

    ``curve_decoder``: "neural" (the decoder from z) or "physics" (a parametric law per mixture
    component, PIMA-style mixture of experts; docs/model.md "Physics expert"). The physics expert needs the
    curve grid and the standardisation used for the curves (data statistics).
    """

    _TUPLE_FIELDS = ("curve_grid", "curve_mean", "curve_std")

    curve_decoder: str = "neural"
    physics_law: str = "plateau_densification"
    physics_ranges: dict[str, list[float]] | None = None
    curve_grid: tuple[float, ...] | None = None
    curve_mean: tuple[float, ...] | None = None
    curve_std: tuple[float, ...] | None = None
    curve_asinh_scale: float = 0.0  # curves' asinh scale (0: linear); docs/model.md "Curve scale"
    # the modality the physics expert models (its spec is physics_capable)
    physics_modality: str = CURVE


@dataclass
class ModelConfig(PhysicsConfig, PriorConfig, NetworkConfig):
    """Flat view of :class:`NetworkConfig`, :class:`PriorConfig` and :class:`PhysicsConfig`.

    The form of the ``model:`` parameters (plus data statistics) and of the ``config`` saved with a
    causalPIMA checkpoint. Its fields are those of the three parts (each defined once, there);
    :attr:`network`, :attr:`prior` and :attr:`physics` give the parts.
    """

    _TUPLE_FIELDS = NetworkConfig._TUPLE_FIELDS + PhysicsConfig._TUPLE_FIELDS

    @classmethod
    def from_parts(cls, network: NetworkConfig, prior: PriorConfig, physics: PhysicsConfig | None = None) -> ModelConfig:
        parts = (network, prior, physics if physics is not None else PhysicsConfig())
        return cls(**{f.name: getattr(part, f.name) for part in parts for f in fields(part)})

    def _part(self, cls: type[_Config]) -> _Config:
        return cls(**{f.name: getattr(self, f.name) for f in fields(cls)})

    @property
    def network(self) -> NetworkConfig:
        return self._part(NetworkConfig)

    @property
    def prior(self) -> PriorConfig:
        return self._part(PriorConfig)

    @property
    def physics(self) -> PhysicsConfig:
        return self._part(PhysicsConfig)
