"""Synthetic stand-in for printed-lattice specimens: strut images + stress-strain curves.

README "Lattice specimens and your own data".

Binary features (known DAG in the parameters, default ``family -> defect <- thickness``):

* ``family``: 0 = bending-dominated cell (BCC-like: in projection, the two diagonals of every cell),
  1 = stretching-dominated cell (octet-like: in projection, cell edges plus both diagonals).
* ``thickness``: 0 = thin struts, 1 = thick struts.
* ``defect``: 1 = print defects (missing struts and pores in the image; lower stiffness and strength).

Stress-strain law (Gibson-Ashby style; the ``plateau_densification`` law of ``core/physics.py``):

* relative density ``rho`` from family and thickness (times a small per-specimen jitter);
* modulus ``E = C_E * E_s * rho**2`` (bending) or ``C_E * E_s * rho`` (stretching);
* plateau stress ``sigma_pl = C_pl * sigma_ys * rho**1.5`` (bending) or ``C_pl * sigma_ys * rho``;
* densification strain ``eps_D = 1 - 1.4 * rho``;
* defects multiply ``E`` and ``sigma_pl`` by factors below 1;
* ``sigma(eps) = min(E eps, sigma_pl) * exp(k * relu(eps - eps_D))`` plus Gaussian measurement noise.

Everything here is pure (numpy / pandas, no file I/O); ``lattice_raw_tables`` builds the raw manifest
tables that ``causal_pima.datasets.SpecimenManifestDataset`` writes to ``data/01_raw/lattice/``.
Units: stress in MPa, lengths in mm, forces in N.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from causal_pima.data.scm import BinarySCM, true_dag_record

LATTICE_FEATURES = ("family", "thickness", "defect")

# Default ground truth: a collider. Configuration index c = family + 2 * thickness, so the table reads
# (bending, thin), (stretching, thin), (bending, thick), (stretching, thick): thin struts and the
# octet-like family (more, shorter struts) print defects more often.
DEFAULT_LATTICE_DAG: dict[str, dict] = {
    "family": {"parents": [], "p_one": [0.5]},
    "thickness": {"parents": [], "p_one": [0.5]},
    "defect": {"parents": ["family", "thickness"], "p_one": [0.25, 0.75, 0.1, 0.3]},
}


@dataclass(frozen=True)
class LatticeConfig:
    """Generator parameters; build from a params dict with ``LatticeConfig(**params)``.

    Image lengths are fractions of the unit-cell size; stresses in MPa.
    """

    # --- images
    image_height: int = 64
    image_width: int = 64
    cells_across: float = 3.0  # unit cells across the shorter image side
    strut_width_thin: float = 0.09  # strut width / cell size
    strut_width_thick: float = 0.15
    background: float = 0.08
    strut_intensity: float = 0.9
    image_noise: float = 0.03  # std of Gaussian pixel noise (image clipped to [0, 1])
    random_phase: bool = False  # shift the tiling by a random fraction of a cell
    missing_struts_mean: float = 1.0  # a defective specimen misses 1 + Poisson(mean) struts ...
    pores_mean: float = 1.5  # ... and has 1 + Poisson(mean) pores on its struts
    pore_radius: float = 0.12  # pore radius / cell size
    # --- relative density by family and thickness
    density_bending_thin: float = 0.12
    density_bending_thick: float = 0.24
    density_stretching_thin: float = 0.18
    density_stretching_thick: float = 0.36
    density_jitter: float = 0.03  # std of log(per-specimen density factor)
    # --- Gibson-Ashby law
    solid_modulus: float = 2000.0  # E_s, MPa (a printed polymer)
    solid_yield_stress: float = 60.0  # sigma_ys, MPa
    modulus_coefficient_bending: float = 1.0
    modulus_coefficient_stretching: float = 1.0 / 3.0
    plateau_coefficient_bending: float = 0.3
    plateau_coefficient_stretching: float = 0.3
    densification_coefficient: float = 1.4  # eps_D = 1 - coefficient * rho
    densification_stiffness: float = 12.0  # k: stress grows by e every 1/k strain past eps_D
    defect_modulus_factor: float = 0.7
    defect_plateau_factor: float = 0.75
    # --- measurement
    stress_noise: float = 0.02  # std of additive stress noise / the specimen's plateau stress
    max_strain: float = 0.75  # every test runs at least to this strain ...
    max_strain_overshoot: float = 0.05  # ... and ends up to this fraction beyond it
    n_curve_points: int = 301  # raw points per curve, evenly spaced in strain

    def __post_init__(self) -> None:
        problems = []
        if self.image_height < 8 or self.image_width < 8:
            problems.append(
                f"image size must be >= 8 pixels, got {self.image_height}x{self.image_width}"
            )
        if self.cells_across <= 0:
            problems.append(f"cells_across must be > 0, got {self.cells_across}")
        if not 0 < self.strut_width_thin < self.strut_width_thick < 1:
            problems.append(
                "need 0 < strut_width_thin < strut_width_thick < 1, got "
                f"{self.strut_width_thin}, {self.strut_width_thick}"
            )
        for name in (
            "density_bending_thin",
            "density_bending_thick",
            "density_stretching_thin",
            "density_stretching_thick",
        ):
            value = getattr(self, name)
            if not 0 < value < 1 / self.densification_coefficient:
                problems.append(
                    f"{name} must be in (0, 1/densification_coefficient) so that eps_D > 0, got {value}"
                )
        for name in ("defect_modulus_factor", "defect_plateau_factor"):
            if not 0 < getattr(self, name) <= 1:
                problems.append(f"{name} must be in (0, 1], got {getattr(self, name)}")
        for name in (
            "image_noise",
            "missing_struts_mean",
            "pores_mean",
            "pore_radius",
            "density_jitter",
            "stress_noise",
            "max_strain_overshoot",
        ):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.max_strain <= 0:
            problems.append(f"max_strain must be > 0, got {self.max_strain}")
        if self.n_curve_points < 2:
            problems.append(f"n_curve_points must be >= 2, got {self.n_curve_points}")
        if problems:
            raise ValueError("invalid LatticeConfig: " + "; ".join(problems))

    def relative_density(self, family: np.ndarray, thickness: np.ndarray) -> np.ndarray:
        """Nominal relative density ``[N]`` of each (family, thickness) pair (0/1 arrays ``[N]``)."""
        table = np.array(
            [
                [self.density_bending_thin, self.density_bending_thick],
                [self.density_stretching_thin, self.density_stretching_thick],
            ]
        )
        return table[np.asarray(family, dtype=np.int64), np.asarray(thickness, dtype=np.int64)]


@dataclass(frozen=True)
class LatticeSpecimens:
    """Output of :func:`generate_lattice`.

    Attributes:
        features: ``[N, 3]`` int8 columns ``family, thickness, defect``.
        images: float32 ``[N, 1, H, W]`` in ``[0, 1]``.
        strains, stresses: ``N`` float64 arrays ``[L_i]`` each (raw test data, strain increasing).
        parameters: ``[N]`` rows with the noise-free law parameters ``relative_density, modulus,
            plateau_stress, densification_strain, densification_stiffness``.
    """

    features: pd.DataFrame
    images: np.ndarray
    strains: list[np.ndarray]
    stresses: list[np.ndarray]
    parameters: pd.DataFrame


def sample_lattice_features(
    n_specimens: int, rng: np.random.Generator, dag: Mapping[str, Mapping] | None = None
) -> pd.DataFrame:
    """Draw the binary features from the DAG config (``BinarySCM.from_config`` format).

    Returns:
        int8 DataFrame ``[N, 3]`` with columns ``family, thickness, defect`` (in that order).
    """
    scm = BinarySCM.from_config(DEFAULT_LATTICE_DAG if dag is None else dag)
    if sorted(scm.features) != sorted(LATTICE_FEATURES):
        raise ValueError(
            f"the lattice DAG must have exactly the features {list(LATTICE_FEATURES)}, "
            f"got {list(scm.features)}"
        )
    return scm.sample(int(n_specimens), rng)[list(LATTICE_FEATURES)]


def plateau_densification_stress(
    strain: np.ndarray,
    modulus: np.ndarray,
    plateau_stress: np.ndarray,
    densification_strain: np.ndarray,
    densification_stiffness: np.ndarray,
) -> np.ndarray:
    """``min(E eps, sigma_pl) * exp(k * relu(eps - eps_D))``, numpy twin of the physics law.

    Args:
        strain: ``[L]`` or ``[N, L]``.
        modulus, plateau_stress, densification_strain, densification_stiffness: ``[N]``.

    Returns:
        ``[N, L]`` stress.
    """
    eps = np.atleast_2d(np.asarray(strain, dtype=np.float64))

    def column(values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=np.float64).reshape(-1, 1)

    elastic_plastic = np.minimum(column(modulus) * eps, column(plateau_stress))
    overshoot = np.maximum(eps - column(densification_strain), 0.0)
    return elastic_plastic * np.exp(column(densification_stiffness) * overshoot)


def lattice_law_parameters(
    features: pd.DataFrame, density_factor: np.ndarray, config: LatticeConfig
) -> pd.DataFrame:
    """Noise-free Gibson-Ashby parameters of each specimen.

    Args:
        features: ``[N]`` rows with 0/1 columns ``family, thickness, defect``.
        density_factor: ``[N]`` multiplicative jitter on the nominal relative density.

    Returns:
        DataFrame ``[N, 5]``: ``relative_density, modulus, plateau_stress, densification_strain,
        densification_stiffness``.
    """
    family, thickness, defect = _feature_arrays(features)
    density = config.relative_density(family, thickness) * np.asarray(
        density_factor, dtype=np.float64
    )
    stretching = family == 1
    modulus = config.solid_modulus * np.where(
        stretching,
        config.modulus_coefficient_stretching * density,
        config.modulus_coefficient_bending * density**2,
    )
    plateau = config.solid_yield_stress * np.where(
        stretching,
        config.plateau_coefficient_stretching * density,
        config.plateau_coefficient_bending * density**1.5,
    )
    modulus = modulus * np.where(defect == 1, config.defect_modulus_factor, 1.0)
    plateau = plateau * np.where(defect == 1, config.defect_plateau_factor, 1.0)
    return pd.DataFrame(
        {
            "relative_density": density,
            "modulus": modulus,
            "plateau_stress": plateau,
            "densification_strain": 1.0 - config.densification_coefficient * density,
            "densification_stiffness": np.full(len(density), config.densification_stiffness),
        }
    )


def render_lattice_curves(
    parameters: pd.DataFrame, rng: np.random.Generator, config: LatticeConfig
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Noisy raw stress-strain tests, one per row of :func:`lattice_law_parameters`.

    Each test runs from strain 0 to ``max_strain * (1 + U(0, max_strain_overshoot))`` with
    ``n_curve_points`` evenly spaced points; the noise std is ``stress_noise * plateau_stress``.

    Returns:
        ``(strains, stresses)``: lists of ``N`` float64 arrays ``[n_curve_points]``.
    """
    n = len(parameters)
    end_strain = config.max_strain * (1.0 + rng.uniform(0.0, config.max_strain_overshoot, size=n))
    unit = np.linspace(0.0, 1.0, config.n_curve_points)
    strain = end_strain[:, None] * unit[None, :]  # [N, L]
    stress = plateau_densification_stress(
        strain,
        parameters["modulus"].to_numpy(),
        parameters["plateau_stress"].to_numpy(),
        parameters["densification_strain"].to_numpy(),
        parameters["densification_stiffness"].to_numpy(),
    )
    noise_std = config.stress_noise * parameters["plateau_stress"].to_numpy()[:, None]
    stress = stress + noise_std * rng.standard_normal(stress.shape)
    return list(strain), list(stress)


def render_lattice_images(
    features: pd.DataFrame,
    density_factor: np.ndarray,
    rng: np.random.Generator,
    config: LatticeConfig,
) -> np.ndarray:
    """Grayscale images of a 2-D projection of the strut tiling.

    The projected tiling is a union of infinite line families cut into struts at the nodes (cell
    corners): both diagonal families for bending cells, plus the horizontal and vertical families for
    stretching cells. Struts are anti-aliased (coverage falls linearly across one pixel at the edge)
    and ``strut_width * cell * sqrt(density_factor)`` wide (density ~ width**2). Defective specimens
    lose ``1 + Poisson(missing_struts_mean)`` struts and get ``1 + Poisson(pores_mean)`` round pores on
    their remaining struts.

    Args:
        features: ``[N]`` rows with 0/1 columns ``family, thickness, defect``.
        density_factor: ``[N]`` per-specimen density jitter (also used by the curves).

    Returns:
        float32 ``[N, 1, H, W]`` in ``[0, 1]``.
    """
    family, thickness, defect = _feature_arrays(features)
    height, width = config.image_height, config.image_width
    cell = min(height, width) / config.cells_across
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    x, y = cols.ravel(), rows.ravel()  # [P] pixel centres
    images = np.empty((len(features), 1, height, width), dtype=np.float32)
    for i in range(len(features)):
        phase = rng.uniform(0.0, cell, size=2) if config.random_phase else np.zeros(2)
        relative_width = config.strut_width_thick if thickness[i] else config.strut_width_thin
        strut_width = relative_width * cell * math.sqrt(float(density_factor[i]))
        families = _LINE_FAMILIES[: 4 if family[i] else 2]
        # Pixel coordinates in cell units, relative to the node at the tiling's origin.
        u, v = (x - phase[0]) / cell, (y - phase[1]) / cell
        missing: set[tuple[int, int, int]] = set()
        pores = np.empty((0, 3))
        if defect[i]:
            missing, pores = _print_defects(families, phase, cell, height, width, rng, config)
        coverage = np.zeros(x.shape)
        for line_family in families:
            distance, strut = _nearest_strut(line_family, u, v)
            line_coverage = np.clip(0.5 * strut_width + 0.5 - distance * cell, 0.0, 1.0)
            for missing_family, k, j in missing:
                if missing_family == line_family:
                    line_coverage[(strut[0] == k) & (strut[1] == j)] = 0.0
            coverage = np.maximum(coverage, line_coverage)
        if len(pores):
            coverage *= 1.0 - _disc_coverage(pores, x, y)
        image = config.background + (config.strut_intensity - config.background) * coverage
        image = image + config.image_noise * rng.standard_normal(image.shape)
        images[i, 0] = np.clip(image, 0.0, 1.0).reshape(height, width)
    return images


def generate_lattice(
    features: pd.DataFrame, rng: np.random.Generator, config: LatticeConfig | None = None
) -> LatticeSpecimens:
    """Images and raw stress-strain curves for a feature table.

    Random numbers come from three independent children of ``rng`` (density jitter, images, curves),
    so changing an image setting does not change the curves and vice versa.
    """
    config = LatticeConfig() if config is None else config
    density_rng, image_rng, curve_rng = rng.spawn(3)
    density_factor = np.exp(config.density_jitter * density_rng.standard_normal(len(features)))
    parameters = lattice_law_parameters(features, density_factor, config)
    strains, stresses = render_lattice_curves(parameters, curve_rng, config)
    images = render_lattice_images(features, density_factor, image_rng, config)
    features = features[list(LATTICE_FEATURES)].astype(np.int8).reset_index(drop=True)
    return LatticeSpecimens(features, images, strains, stresses, parameters)


def lattice_raw_tables(
    specimens: LatticeSpecimens,
    specimen_ids: list[str] | None = None,
    curve_format: str = "stress_strain",
    gauge_length: float = 20.0,
    cross_section_area: float = 400.0,
) -> dict:
    """The raw manifest tables, in the format ``SpecimenManifestDataset.save`` takes.

    Args:
        specimens: output of :func:`generate_lattice`.
        specimen_ids: ``N`` unique ids; default ``lattice_00000, lattice_00001, ...``.
        curve_format: ``"stress_strain"`` (curve columns ``strain, stress``) or
            ``"force_displacement"`` (columns ``displacement`` in mm and ``force`` in N, with
            ``gauge_length`` (mm) and ``cross_section_area`` (mm^2) as manifest columns).
        gauge_length, cross_section_area: specimen geometry used for ``force_displacement``.

    Returns:
        ``{"manifest": DataFrame [N] (specimen_id + label columns [+ geometry]),
        "images": {id: float32 [H, W]}, "curves": {id: DataFrame}}``.
    """
    n = len(specimens.features)
    ids = [f"lattice_{i:05d}" for i in range(n)] if specimen_ids is None else list(specimen_ids)
    if len(ids) != n or len(set(ids)) != n:
        raise ValueError(f"need {n} unique specimen ids, got {len(ids)} ({len(set(ids))} unique)")
    if curve_format not in ("stress_strain", "force_displacement"):
        raise ValueError(
            f"curve_format must be 'stress_strain' or 'force_displacement', got {curve_format!r}"
        )
    manifest = pd.DataFrame({"specimen_id": ids})
    for column in LATTICE_FEATURES:
        manifest[column] = specimens.features[column].to_numpy(dtype=np.int8)
    curves = {}
    for specimen_id, strain, stress in zip(ids, specimens.strains, specimens.stresses, strict=True):
        if curve_format == "stress_strain":
            curves[specimen_id] = pd.DataFrame({"strain": strain, "stress": stress})
        else:
            curves[specimen_id] = pd.DataFrame(
                {"displacement": strain * gauge_length, "force": stress * cross_section_area}
            )
    if curve_format == "force_displacement":
        manifest["gauge_length"] = float(gauge_length)
        manifest["cross_section_area"] = float(cross_section_area)
    images = {specimen_id: specimens.images[i, 0] for i, specimen_id in enumerate(ids)}
    return {"manifest": manifest, "images": images, "curves": curves}


def generate_lattice_raw(
    n_specimens: int = 2000,
    seed: int = 0,
    dag: Mapping[str, Mapping] | None = None,
    config: Mapping | None = None,
    curve_format: str = "stress_strain",
    gauge_length: float = 20.0,
    cross_section_area: float = 400.0,
) -> dict:
    """Kedro-friendly entry point: parameters in, raw manifest tables out (no file I/O).

    Args:
        n_specimens: number of specimens.
        seed: seed of ``np.random.default_rng``; features, images and curves all derive from it.
        dag: ``BinarySCM.from_config`` mapping over ``family, thickness, defect``; default
            ``DEFAULT_LATTICE_DAG``.
        config: keyword arguments of :class:`LatticeConfig`.
        curve_format, gauge_length, cross_section_area: see :func:`lattice_raw_tables`.

    Returns:
        ``{"manifest", "images", "curves"}`` for ``SpecimenManifestDataset.save``.
    """
    feature_rng, specimen_rng = np.random.default_rng(seed).spawn(2)
    features = sample_lattice_features(n_specimens, feature_rng, dag)
    specimens = generate_lattice(features, specimen_rng, LatticeConfig(**dict(config or {})))
    return lattice_raw_tables(
        specimens,
        curve_format=curve_format,
        gauge_length=gauge_length,
        cross_section_area=cross_section_area,
    )


# ---------------------------------------------------------------------------------------- helpers


def generate_raw(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Generate the raw lattice stand-in and its ground-truth DAG record.

    Args:
        params: ``n_specimens``, ``seed``, ``dag`` (``BinarySCM.from_config`` format over
            ``family, thickness, defect``), optional ``configuration`` (a name for the DAG, default
            ``"custom"``), ``config`` (``LatticeConfig`` keyword arguments), ``curve_format``
            (``stress_strain`` | ``force_displacement``), ``gauge_length``, ``cross_section_area``.

    Returns:
        ``(raw_manifest, true_dag)``: the tables for ``SpecimenManifestDataset.save`` and the JSON
        record ``{configuration, features, edges, scm}`` (same layout as the circles true DAG).
    """
    scm = BinarySCM.from_config(params["dag"])
    raw = generate_lattice_raw(
        n_specimens=int(params["n_specimens"]),
        seed=int(params["seed"]),
        dag=params["dag"],
        config=dict(params.get("config") or {}),
        curve_format=params.get("curve_format", "stress_strain"),
        gauge_length=float(params.get("gauge_length", 20.0)),
        cross_section_area=float(params.get("cross_section_area", 400.0)),
    )
    return raw, true_dag_record(scm, str(params.get("configuration", "custom")))


def _feature_arrays(features: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(family, thickness, defect)`` as int64 ``[N]`` 0/1 arrays; raises on a missing / bad column."""
    if not isinstance(features, pd.DataFrame):
        raise TypeError(f"features must be a pandas DataFrame, got {type(features).__name__}")
    arrays = []
    for column in LATTICE_FEATURES:
        if column not in features.columns:
            raise ValueError(f"feature column {column!r} is missing; need {list(LATTICE_FEATURES)}")
        values = pd.to_numeric(features[column], errors="coerce").to_numpy(dtype=np.float64)
        if not np.isin(values, (0.0, 1.0)).all():
            raise ValueError(f"feature column {column!r} must hold only 0/1 values")
        arrays.append(values.astype(np.int64))
    return arrays[0], arrays[1], arrays[2]


# Line families of the projected tiling, in cell units with nodes at integer points:
# 0: diagonals v - u = k, 1: anti-diagonals u + v = k, 2: horizontals v = k, 3: verticals u = k.
_LINE_FAMILIES = (0, 1, 2, 3)


def _nearest_strut(line_family: int, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Distance (cell units) from points ``[P]`` to the nearest line of a family, and that strut.

    A strut is identified by ``(k, j)``: line ``k`` of the family, segment ``j`` between the nodes
    ``j`` and ``j + 1`` along it (numbered by their ``u``, or ``v`` for verticals).

    Returns:
        ``(distance [P], (k [P], j [P]))``.
    """
    if line_family == 0:
        k = np.round(v - u)
        return np.abs(v - u - k) / math.sqrt(2.0), (k, np.floor((u + v - k) / 2.0))
    if line_family == 1:
        k = np.round(u + v)
        return np.abs(u + v - k) / math.sqrt(2.0), (k, np.floor((u - v + k) / 2.0))
    if line_family == 2:
        k = np.round(v)
        return np.abs(v - k), (k, np.floor(u))
    k = np.round(u)
    return np.abs(u - k), (k, np.floor(v))


def _strut_points(line_family: int, k: int, j: int, t: np.ndarray) -> np.ndarray:
    """Points ``[T, 2]`` (u, v) at fractions ``t [T]`` along strut ``(k, j)`` of a family."""
    start, step = {
        0: ((j, j + k), (1.0, 1.0)),
        1: ((j, k - j), (1.0, -1.0)),
        2: ((j, k), (1.0, 0.0)),
        3: ((k, j), (0.0, 1.0)),
    }[line_family]
    return np.asarray(start, dtype=np.float64)[None, :] + t[:, None] * np.asarray(step)[None, :]


def _print_defects(
    families: tuple[int, ...],
    phase: np.ndarray,
    cell: float,
    height: int,
    width: int,
    rng: np.random.Generator,
    config: LatticeConfig,
) -> tuple[set[tuple[int, int, int]], np.ndarray]:
    """Pick missing struts (midpoint inside the image) and pores on the remaining visible struts.

    Returns:
        ``(missing {(family, k, j)}, pores [Q, 3])``, pores as ``(x, y, radius)`` in pixels.
    """

    def random_visible_strut(exclude: set) -> tuple[int, int, int]:
        # Struts are found from random points, so every strut near the image can be hit. The bound
        # only matters for degenerate settings (a cell much larger than the image).
        for _ in range(1000):
            line_family = int(rng.choice(families))
            point_u = (rng.uniform(0, width) - phase[0]) / cell
            point_v = (rng.uniform(0, height) - phase[1]) / cell
            _, (k, j) = _nearest_strut(line_family, np.array([point_u]), np.array([point_v]))
            strut = (line_family, int(k[0]), int(j[0]))
            mid = _strut_points(*strut, np.array([0.5]))[0] * cell + phase
            if 0 < mid[0] < width and 0 < mid[1] < height and strut not in exclude:
                break
        return strut

    n_missing = 1 + rng.poisson(config.missing_struts_mean)
    missing: set[tuple[int, int, int]] = set()
    for _ in range(n_missing):
        missing.add(random_visible_strut(missing))
    n_pores = 1 + rng.poisson(config.pores_mean)
    pores = np.empty((n_pores, 3))
    for p in range(n_pores):
        strut = random_visible_strut(missing)
        centre = _strut_points(*strut, rng.uniform(0.2, 0.8, size=1))[0] * cell + phase
        pores[p] = (centre[0], centre[1], config.pore_radius * cell)
    return missing, pores


def _disc_coverage(discs: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Anti-aliased union of discs ``[Q, 3]`` (x, y, radius) at pixel centres ``x, y [P]``: ``[P]``."""
    distance = np.hypot(x[None, :] - discs[:, 0:1], y[None, :] - discs[:, 1:2])  # [Q, P]
    return np.clip(discs[:, 2:3] + 0.5 - distance, 0.0, 1.0).max(axis=0)
