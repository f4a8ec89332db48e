"""Parametric physics experts for stress-strain curves (docs/model.md "Physics expert").

Each mixture component ``k`` owns physical parameters ``theta_k`` of a constitutive law, kept inside
their valid ranges by a sigmoid between bounds; the expert predicts the curve ``f(strain; theta_k)`` on
the shared strain grid, and its curve term for a specimen is the responsibility-weighted Gaussian
log-likelihood ``sum_k gamma_k log N(y; f(strain; theta_k), sigma^2)`` with one learned noise scale.

Laws (``strain [L]``, ``theta [K, P]`` -> stress ``[K, L]``):

* ``bilinear`` (the law used by PIMA): linear elastic up to the yield point, then linear hardening.
  ``theta = (yield_strain, yield_stress, hardening_slope)``.
* ``plateau_densification`` (cellular solids, Gibson-Ashby): linear elastic, a flat plateau, then an
  exponential stiffening once the cells close up. ``theta = (modulus, plateau_stress,
  densification_strain, densification_stiffness)``. It is the law the synthetic lattice stand-in is
  drawn from (``causal_pima.data.lattice``).

Pure PyTorch, no kedro, no file I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from causal_pima.core.curve_scale import to_model_scale


def bilinear_law(strain: Tensor, theta: Tensor) -> Tensor:
    """Bilinear elastic / linear-hardening stress.

    ``sigma = sigma_y * min(eps / eps_y, 1) + H * relu(eps - eps_y)``: slope ``sigma_y / eps_y`` up to
    the yield point ``(eps_y, sigma_y)``, slope ``H`` beyond it.

    Args:
        strain: ``[L]`` strains.
        theta: ``[K, 3]`` columns ``(yield_strain > 0, yield_stress, hardening_slope)``.

    Returns:
        ``[K, L]`` stress.
    """
    yield_strain, yield_stress, hardening = theta[:, 0:1], theta[:, 1:2], theta[:, 2:3]
    eps = strain[None, :]
    elastic = yield_stress * torch.clamp(eps / yield_strain, max=1.0)
    return elastic + hardening * torch.relu(eps - yield_strain)


def plateau_densification_law(strain: Tensor, theta: Tensor) -> Tensor:
    """Elastic / plateau / densification stress of a cellular solid.

    ``sigma = min(E eps, sigma_pl) * exp(k * relu(eps - eps_D))``: slope ``E`` up to the plateau
    ``sigma_pl``, flat until the densification strain ``eps_D``, then stiffening by a factor ``e``
    every ``1 / k`` of strain. Same formula as ``causal_pima.data.lattice.plateau_densification_stress``.

    Args:
        strain: ``[L]`` strains.
        theta: ``[K, 4]`` columns ``(modulus, plateau_stress, densification_strain,
            densification_stiffness)``.

    Returns:
        ``[K, L]`` stress.
    """
    modulus, plateau, densification_strain, stiffness = (theta[:, i : i + 1] for i in range(4))
    eps = strain[None, :]
    elastic_plastic = torch.minimum(modulus * eps, plateau)
    return elastic_plastic * torch.exp(stiffness * torch.relu(eps - densification_strain))


@dataclass(frozen=True)
class PhysicsLaw:
    """A constitutive law with named parameters and default valid ranges.

    Attributes:
        name: registry key.
        parameter_names: order of the columns of ``theta``.
        default_ranges: ``{name: (low, high)}``; the unconstrained parameter is mapped into it.
        log_scaled: parameters mapped on a log scale (positive, spanning decades: moduli, stresses),
            i.e. ``exp(log low + (log high - log low) * sigmoid(u))``.
    """

    name: str
    parameter_names: tuple[str, ...]
    default_ranges: Mapping[str, tuple[float, float]]
    log_scaled: frozenset[str]

    def __call__(self, strain: Tensor, theta: Tensor) -> Tensor:
        """``f(strain [L], theta [K, P]) -> stress [K, L]``."""
        if theta.ndim != 2 or theta.shape[1] != len(self.parameter_names):
            raise ValueError(
                f"law {self.name!r} expects theta of shape [K, {len(self.parameter_names)}] "
                f"({', '.join(self.parameter_names)}), got {tuple(theta.shape)}"
            )
        return _LAW_FUNCTIONS[self.name](strain, theta)


_LAW_FUNCTIONS = {
    "bilinear": bilinear_law,
    "plateau_densification": plateau_densification_law,
}

# Default ranges are in the stand-in's units (stress in MPa, strain dimensionless); override them
# through the parameters for other data.
BilinearLaw = PhysicsLaw(
    name="bilinear",
    parameter_names=("yield_strain", "yield_stress", "hardening_slope"),
    default_ranges={
        "yield_strain": (1e-3, 0.2),
        "yield_stress": (1e-2, 100.0),
        "hardening_slope": (0.0, 500.0),
    },
    log_scaled=frozenset({"yield_stress"}),
)

PlateauDensificationLaw = PhysicsLaw(
    name="plateau_densification",
    parameter_names=(
        "modulus",
        "plateau_stress",
        "densification_strain",
        "densification_stiffness",
    ),
    default_ranges={
        "modulus": (1.0, 5000.0),
        "plateau_stress": (1e-2, 100.0),
        "densification_strain": (0.2, 1.0),
        "densification_stiffness": (1.0, 40.0),
    },
    log_scaled=frozenset({"modulus", "plateau_stress"}),
)

PHYSICS_LAWS: dict[str, PhysicsLaw] = {
    law.name: law for law in (BilinearLaw, PlateauDensificationLaw)
}


class PhysicsCurveExpert(nn.Module):
    """Per-component parametric curves with a Gaussian noise model (PIMA's physics expert).

    Args:
        n_components: ``K``, one parameter set per mixture component (joint outcome).
        law: a key of ``PHYSICS_LAWS`` or a ``PhysicsLaw``.
        grid: ``[L]`` strain grid shared by all curves.
        parameter_ranges: ``{name: (low, high)}`` overriding the law's defaults (all or some).
        curve_mean, curve_std: optional ``[L]`` per-grid-point standardisation of the observed curves.
            When given, ``y`` passed to the likelihoods is ``(stress - curve_mean) / curve_std``; the
            law still predicts physical stress, which is standardised the same way before comparing.
            The log-likelihood is then in standardised units (it differs from the physical one by the
            constant ``sum_l log curve_std_l``).
        curve_asinh_scale: the curves' asinh scale (0: linear): the observed curves are
            ``(asinh(stress / c) - curve_mean) / curve_std`` (``core.curve_scale``), and so are the
            predictions before comparing.
        initial_noise_scale: initial ``sigma`` (in the units of ``y``).
        min_noise_scale: floor on ``sigma`` (keeps the likelihood bounded).
        initial_parameters: optional ``{name: [K] values}`` inside the ranges; the others start at
            random positions inside their ranges (``generator`` or torch's global RNG).
        generator: torch generator for the random initial positions.
    """

    def __init__(
        self,
        n_components: int,
        law: str | PhysicsLaw,
        grid: Tensor | np.ndarray | Sequence[float],
        parameter_ranges: Mapping[str, Sequence[float]] | None = None,
        curve_mean: Tensor | np.ndarray | Sequence[float] | None = None,
        curve_std: Tensor | np.ndarray | Sequence[float] | None = None,
        curve_asinh_scale: float = 0.0,
        initial_noise_scale: float = 1.0,
        min_noise_scale: float = 1e-3,
        initial_parameters: Mapping[str, Tensor | np.ndarray | Sequence[float]] | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if n_components < 1:
            raise ValueError(f"n_components must be >= 1, got {n_components}")
        self.law = _resolve_law(law)
        self.n_components = int(n_components)
        names = self.law.parameter_names

        grid_tensor = torch.as_tensor(np.asarray(grid, dtype=np.float32))
        if grid_tensor.ndim != 1 or grid_tensor.numel() < 1:
            raise ValueError(f"grid must be 1-D [L], got shape {tuple(grid_tensor.shape)}")
        self.register_buffer("grid", grid_tensor)
        n_points = grid_tensor.numel()

        lower, upper = _parameter_bounds(self.law, parameter_ranges)
        log_mask = torch.tensor([name in self.law.log_scaled for name in names])
        self.register_buffer("lower", lower)
        self.register_buffer("upper", upper)
        self.register_buffer("log_scaled", log_mask)

        if (curve_mean is None) != (curve_std is None):
            raise ValueError("give both curve_mean and curve_std, or neither")
        if curve_mean is not None:
            mean = torch.as_tensor(np.asarray(curve_mean, dtype=np.float32)).reshape(-1)
            std = torch.as_tensor(np.asarray(curve_std, dtype=np.float32)).reshape(-1)
            if mean.numel() != n_points or std.numel() != n_points:
                raise ValueError(
                    f"curve_mean and curve_std must have the grid's length {n_points}, "
                    f"got {mean.numel()} and {std.numel()}"
                )
            if not bool((std > 0).all()):
                raise ValueError("curve_std must be > 0 at every grid point")
        else:
            mean = torch.zeros(n_points)
            std = torch.ones(n_points)
        self.register_buffer("curve_mean", mean)
        self.register_buffer("curve_std", std)
        if not curve_asinh_scale >= 0:
            raise ValueError(f"curve_asinh_scale must be >= 0 (0 = linear), got {curve_asinh_scale}")
        self.curve_asinh_scale = float(curve_asinh_scale)

        # Unconstrained parameters [K, P]; theta = bounds-mapped sigmoid of these.
        raw = torch.randn(self.n_components, len(names), generator=generator) * 0.5
        for name, values in (initial_parameters or {}).items():
            if name not in names:
                raise ValueError(f"unknown parameter {name!r} of law {self.law.name!r}: {names}")
            column = names.index(name)
            raw[:, column] = self._to_unconstrained(
                torch.as_tensor(np.asarray(values, dtype=np.float32)).reshape(-1), column
            )
        self.raw_parameters = nn.Parameter(raw)

        if initial_noise_scale <= min_noise_scale:
            raise ValueError(
                f"initial_noise_scale ({initial_noise_scale}) must exceed min_noise_scale "
                f"({min_noise_scale})"
            )
        self.min_noise_scale = float(min_noise_scale)
        self.log_noise_scale = nn.Parameter(
            torch.tensor(math.log(initial_noise_scale - min_noise_scale))
        )

    # ------------------------------------------------------------------ parameters

    def theta(self) -> Tensor:
        """Physical parameters ``[K, P]``, each column inside ``[lower, upper]`` (closed)."""
        position = torch.sigmoid(self.raw_parameters)  # [K, P] in [0, 1]
        linear = self.lower + (self.upper - self.lower) * position
        log_lower = torch.log(torch.where(self.log_scaled, self.lower, torch.ones_like(self.lower)))
        log_upper = torch.log(torch.where(self.log_scaled, self.upper, torch.ones_like(self.upper)))
        logarithmic = torch.exp(log_lower + (log_upper - log_lower) * position)
        theta = torch.where(self.log_scaled, logarithmic, linear)
        # Rounding (float32 sums, exp of log) can leave the bounds by one ulp; clamp keeps them exact.
        return torch.minimum(torch.maximum(theta, self.lower), self.upper)

    def physical_parameters(self) -> dict[str, Tensor]:
        """``{name: [K]}`` in physical units, in the law's parameter order."""
        theta = self.theta()
        return {name: theta[:, j] for j, name in enumerate(self.law.parameter_names)}

    def noise_scale(self) -> Tensor:
        """Scalar ``sigma`` (units of ``y``), ``min_noise_scale + exp(log_noise_scale)``."""
        return self.min_noise_scale + torch.exp(self.log_noise_scale)

    # ------------------------------------------------------------------ predictions and likelihood

    def predict(self) -> Tensor:
        """Physical stress of every component on the grid, ``[K, L]``."""
        return self.law(self.grid, self.theta())

    def predict_standardised(self) -> Tensor:
        """``predict()`` on the observed curves' scale (``core.curve_scale.to_model_scale``), ``[K, L]``."""
        return to_model_scale(self.predict(), self.curve_mean, self.curve_std, self.curve_asinh_scale)

    def log_likelihood(self, y: Tensor) -> Tensor:
        """Gaussian log-likelihood of each curve under each component.

        Args:
            y: ``[B, L]`` observed curves (standardised if ``curve_mean`` / ``curve_std`` were given).

        Returns:
            ``[B, K]``: ``sum_l log N(y_bl; f_kl, sigma^2)``.
        """
        if y.ndim != 2 or y.shape[1] != self.grid.numel():
            raise ValueError(f"y must be [B, {self.grid.numel()}], got {tuple(y.shape)}")
        prediction = self.predict_standardised()  # [K, L]
        sigma = self.noise_scale()
        residual = (y[:, None, :] - prediction[None, :, :]) / sigma  # [B, K, L]
        n_points = y.shape[1]
        return -0.5 * (residual**2).sum(dim=-1) - n_points * (
            torch.log(sigma) + 0.5 * math.log(2.0 * math.pi)
        )

    @torch.no_grad()
    def set_physical_parameters(self, values: Mapping[str, Tensor | np.ndarray | Sequence[float]]) -> None:
        """Set some or all parameters to physical values (``{name: [K] or scalar}``, clipped into range)."""
        names = self.law.parameter_names
        for name, value in values.items():
            if name not in names:
                raise ValueError(f"unknown parameter {name!r} of law {self.law.name!r}: {names}")
            column = names.index(name)
            tensor = torch.as_tensor(np.asarray(value, dtype=np.float32)).reshape(-1)
            self.raw_parameters[:, column] = self._to_unconstrained(tensor, column).to(self.raw_parameters.dtype)

    def _to_unconstrained(self, values: Tensor, column: int) -> Tensor:
        """Inverse of the bounds map for one parameter column (values clipped just inside the range)."""
        low, high = float(self.lower[column]), float(self.upper[column])
        if values.numel() not in (1, self.n_components):
            raise ValueError(
                f"initial values for {self.law.parameter_names[column]!r} need 1 or "
                f"{self.n_components} entries, got {values.numel()}"
            )
        if bool(self.log_scaled[column]):
            position = (torch.log(values) - math.log(low)) / (math.log(high) - math.log(low))
        else:
            position = (values - low) / (high - low)
        position = position.clamp(1e-4, 1.0 - 1e-4).expand(self.n_components)
        return torch.log(position) - torch.log1p(-position)


def _plateau_estimates(
    strain: np.ndarray, stress: np.ndarray, beyond: np.ndarray, modulus: np.ndarray, default_k: float,
    densification_default: float,
) -> dict[str, np.ndarray]:
    """``plateau_densification`` estimates ``{name: [K]}`` from ``stress [K, L]`` on ``strain [L]`` (see
    :func:`initial_parameters_from_curves`); ``beyond``: the grid indices past three positive steps."""
    plateau = np.empty(len(stress))
    densification = np.empty(len(stress))
    stiffness = np.full(len(stress), default_k)
    for k, curve in enumerate(stress):
        tail = curve[beyond]
        floor = tail.min()
        plateau[k] = np.median(tail[tail <= floor + 0.25 * abs(floor)])
        above = np.flatnonzero(tail > 1.5 * plateau[k])
        if above.size >= 2 and plateau[k] > 0:
            strains_above = strain[beyond][above]
            slope = np.polyfit(strains_above, np.log(tail[above] / plateau[k]), 1)[0]
            stiffness[k] = slope if slope > 0 else default_k
        densification[k] = (
            strain[beyond][above[0]] - math.log(1.5) / stiffness[k] if above.size else densification_default
        )
    return {
        "modulus": modulus,
        "plateau_stress": plateau,
        "densification_strain": densification,
        "densification_stiffness": stiffness,
    }


def _bilinear_estimates(
    strain: np.ndarray, stress: np.ndarray, beyond: np.ndarray, modulus: np.ndarray
) -> dict[str, np.ndarray]:
    """``bilinear`` estimates ``{name: [K]}``: a line through the points past three grid steps gives the
    hardening slope; it meets the elastic line at the yield point."""
    slope, intercept = np.polyfit(strain[beyond], stress[:, beyond].T, 1)  # [K] each
    yield_strain = intercept / np.maximum(modulus - slope, 1e-12)
    return {
        "yield_strain": yield_strain,
        "yield_stress": modulus * yield_strain,
        "hardening_slope": slope,
    }


def initial_parameters_from_curves(
    law: str | PhysicsLaw,
    grid: Tensor | np.ndarray | Sequence[float],
    curves: Tensor | np.ndarray,
    parameter_ranges: Mapping[str, Sequence[float]] | None = None,
) -> dict[str, np.ndarray]:
    """Rough per-component parameter estimates from curves, e.g. each cluster's mean curve.

    Meant as ``initial_parameters`` of :class:`PhysicsCurveExpert`: the law has kinks, so a parameter
    only gets a gradient from grid points on its side of the kink (the modulus only from points in the
    elastic part), and a random start can leave it stuck. Estimates:

    * modulus: the largest secant ``stress / strain`` over the first three positive grid points, times
      0.95 (so that the first point starts in the elastic part);
    * plateau (``plateau_densification``): median of the points within 25% of the lowest stress past
      three grid steps; densification strain where the stress first exceeds 1.5 x plateau, shifted by
      ``ln(1.5) / k``; ``k`` from the log-slope of the points past it (else the range's geometric mean);
    * ``bilinear``: a straight line fitted to the points past three grid steps gives the hardening
      slope; it meets the elastic line at the yield point.

    Args:
        law: a key of ``PHYSICS_LAWS`` or a ``PhysicsLaw``.
        grid: ``[L]`` strains, increasing, starting at or below the first positive strain.
        curves: ``[K, L]`` physical stress.
        parameter_ranges: as for :class:`PhysicsCurveExpert`; estimates are clipped inside them.

    Returns:
        ``{name: float64 [K]}`` inside the ranges.
    """
    law = _resolve_law(law)
    lower, upper = (b.double().numpy() for b in _parameter_bounds(law, parameter_ranges))
    strain = np.asarray(grid, dtype=np.float64).reshape(-1)
    stress = np.asarray(curves, dtype=np.float64)
    stress = stress.reshape(1, -1) if stress.ndim == 1 else stress
    if stress.shape[1] != strain.size:
        raise ValueError(f"curves must be [K, {strain.size}], got {stress.shape}")
    positive = np.flatnonzero(strain > 0)
    if positive.size < 5:
        raise ValueError("need at least 5 positive grid strains to estimate parameters")
    first = positive[:3]
    modulus = 0.95 * np.max(stress[:, first] / strain[first], axis=1)  # [K]
    beyond = positive[3:]  # past three grid steps

    if law.name == "plateau_densification":
        names = law.parameter_names
        default_k = math.sqrt(
            lower[names.index("densification_stiffness")]
            * upper[names.index("densification_stiffness")]
        )
        estimates = _plateau_estimates(strain, stress, beyond, modulus, default_k, upper[2])
    else:
        estimates = _bilinear_estimates(strain, stress, beyond, modulus)
    # Clip strictly inside the ranges (the sigmoid map cannot reach its bounds).
    margin = 1e-3 * (upper - lower)
    return {
        name: np.clip(estimates[name], lower[j] + margin[j], upper[j] - margin[j])
        for j, name in enumerate(law.parameter_names)
    }


def _resolve_law(law: str | PhysicsLaw) -> PhysicsLaw:
    if isinstance(law, PhysicsLaw):
        return law
    if law not in PHYSICS_LAWS:
        raise ValueError(f"unknown physics law {law!r}; known laws: {sorted(PHYSICS_LAWS)}")
    return PHYSICS_LAWS[law]


def _parameter_bounds(
    law: PhysicsLaw, parameter_ranges: Mapping[str, Sequence[float]] | None
) -> tuple[Tensor, Tensor]:
    """``(lower [P], upper [P])`` from the law's defaults overridden by ``parameter_ranges``."""
    ranges = dict(law.default_ranges)
    for name, bounds in (parameter_ranges or {}).items():
        if name not in law.parameter_names:
            raise ValueError(
                f"unknown parameter {name!r} for law {law.name!r}; known: {list(law.parameter_names)}"
            )
        if len(bounds) != 2:
            raise ValueError(f"range of {name!r} must be [low, high], got {bounds!r}")
        ranges[name] = (float(bounds[0]), float(bounds[1]))
    for name in law.parameter_names:
        low, high = ranges[name]
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ValueError(f"range of {name!r} must be finite with low < high, got {(low, high)}")
        if name in law.log_scaled and low <= 0:
            raise ValueError(
                f"{name!r} is log-scaled, so its range must be positive, got {(low, high)}"
            )
    if law.name == "bilinear" and ranges["yield_strain"][0] <= 0:
        raise ValueError("yield_strain range must be positive (the elastic slope divides by it)")
    lower = torch.tensor([ranges[name][0] for name in law.parameter_names], dtype=torch.float32)
    upper = torch.tensor([ranges[name][1] for name in law.parameter_names], dtype=torch.float32)
    return lower, upper
