"""Renderer for the synthetic circles data: an RGB disc image and an emission spectrum per specimen.

README "Circles configurations (true graphs)". Binary features (a missing column means 0 for every specimen):

* ``radius``: small (0) or large (1) disc; image and spectrum (line height scales with disc area).
* ``shift``: disc centre left (0) or right (1) of the image centre; image only.
* ``hue``: red (0) or blue (1) disc; image colour and spectrum line centre.
* ``glow``: a second emission line at a fixed wavelength; spectrum only, the image ignores it.
* ``lift``: disc centre at mid-height (0) or raised by ``lift_offset`` (1); image only.
* ``ring``: filled disc (0) or a ring whose hole has ``ring_fraction`` of the disc's radius (1); image
  only (the spectrum's line height still follows the disc's outer radius).
* ``frame``: no frame (0) or a grey frame ``frame_width`` pixels wide along the image border (1),
  painted over the disc; image only.
* ``broad``: the emission lines' width is ``line_width`` (0) or ``broad_factor`` times it (1); spectrum
  only (the line's height is unchanged, so its area grows).

With ``scalars`` on, each specimen also gets per-specimen scalar measurements (the ``scalar``
modality, :func:`render_scalars`): ``mass = 1 + radius`` and ``density = 1 + density_step * hue``, each
plus Gaussian noise of std ``scalar_noise``; a fraction ``scalar_missing`` of the specimens has none
(a NaN row). They are drawn from their own random stream, so the images and spectra do not change.

Per-specimen nuisance jitter is uniform and bounded (``+-jitter``, ``+-hue_jitter``), so the features
stay exactly recoverable from the image while the clusters are not points. The random numbers of the
image are drawn before those of the spectrum and never depend on the feature values: the same rng
state gives identical images whatever ``glow`` is, and ``lift = 0`` (or no ``lift`` column) renders
exactly what the renderer drew before ``lift`` existed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

KNOWN_FEATURES = ("radius", "shift", "hue", "glow", "lift", "ring", "frame", "broad")

# Hue of the two disc colours, as a fraction of the colour circle (HSV): red 0, blue 2/3.
_HUE_RED = 0.0
_HUE_BLUE = 2.0 / 3.0


@dataclass(frozen=True)
class CirclesRenderConfig:
    """Rendering parameters; build from a params dict with ``CirclesRenderConfig(**params)``.

    Lengths are fractions of the image size; wavelengths, line centres and widths are in nm; heights
    are in spectrum units (the nominal large disc has line height 1).
    """

    image_size: int = 32
    n_wavelengths: int = 64
    wavelength_min: float = 400.0
    wavelength_max: float = 700.0
    radius_small: float = 0.16
    radius_large: float = 0.27
    shift_offset: float = 0.17  # disc centre at 0.5 -+ shift_offset of the width
    lift_offset: float = 0.17  # lift = 1: disc centre raised to 0.5 - lift_offset of the height
    ring_fraction: float = 0.55  # ring = 1: a hole of this fraction of the disc radius
    frame_width: int = 2  # frame = 1: border pixels painted grey
    frame_level: float = 0.5  # the frame's grey level (all three channels)
    broad_factor: float = 1.8  # broad = 1: emission lines this many times wider
    jitter: float = 0.02  # uniform +-jitter on centre x, centre y and radius
    hue_jitter: float = 0.04  # uniform +-hue_jitter on the hue (fraction of the colour circle)
    saturation: float = 0.85
    image_noise: float = 0.01  # std of Gaussian pixel noise (image clipped to [0, 1])
    line_centre_red: float = 620.0
    line_centre_blue: float = 470.0
    line_width: float = 18.0  # Gaussian std of both emission lines
    glow_centre: float = 545.0
    glow_height: float = 0.6
    baseline: float = 0.05
    spectrum_noise: float = 0.02
    scalars: bool = False  # also measure SCALAR_NAMES per specimen (render_scalars)
    scalar_noise: float = 0.05  # std of the Gaussian noise on each scalar
    density_step: float = 0.5  # hue = 1 raises the density by this much
    scalar_missing: float = 0.0  # fraction of specimens without scalars (a NaN row)

    def __post_init__(self) -> None:
        problems = []
        if self.image_size < 4:
            problems.append(f"image_size must be >= 4, got {self.image_size}")
        if self.n_wavelengths < 2:
            problems.append(f"n_wavelengths must be >= 2, got {self.n_wavelengths}")
        if not self.wavelength_min < self.wavelength_max:
            problems.append(
                f"wavelength_min ({self.wavelength_min}) must be < wavelength_max ({self.wavelength_max})"
            )
        if not 0.0 < self.radius_small < self.radius_large:
            problems.append(
                f"need 0 < radius_small < radius_large, got {self.radius_small}, {self.radius_large}"
            )
        if self.jitter >= self.radius_small:
            problems.append(f"jitter ({self.jitter}) must be < radius_small ({self.radius_small})")
        if not 0.0 <= self.saturation <= 1.0:
            problems.append(f"saturation must be in [0, 1], got {self.saturation}")
        if self.line_width <= 0.0:
            problems.append(f"line_width must be > 0, got {self.line_width}")
        for name in (
            "jitter",
            "hue_jitter",
            "image_noise",
            "spectrum_noise",
            "glow_height",
            "lift_offset",
            "scalar_noise",
        ):
            if getattr(self, name) < 0.0:
                problems.append(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 < self.ring_fraction < 1.0:
            problems.append(f"ring_fraction must be in (0, 1), got {self.ring_fraction}")
        if not 1 <= self.frame_width <= self.image_size // 4:
            problems.append(f"frame_width must be in [1, image_size / 4], got {self.frame_width}")
        if not 0.0 <= self.frame_level <= 1.0:
            problems.append(f"frame_level must be in [0, 1], got {self.frame_level}")
        if self.broad_factor <= 0.0:
            problems.append(f"broad_factor must be > 0, got {self.broad_factor}")
        if not 0.0 <= self.scalar_missing < 1.0:
            problems.append(f"scalar_missing must be in [0, 1), got {self.scalar_missing}")
        if problems:
            raise ValueError("invalid CirclesRenderConfig: " + "; ".join(problems))


def render_circles(
    features: pd.DataFrame,
    rng: np.random.Generator,
    config: CirclesRenderConfig = CirclesRenderConfig(),  # noqa: B008 (frozen, immutable default)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Render one image and one spectrum per row of a binary feature table.

    Args:
        features: ``[N, <= 8]`` 0/1 columns drawn from ``KNOWN_FEATURES``; missing ones are 0.
        rng: source of all jitter and noise (deterministic given its state).
        config: rendering parameters.

    Returns:
        images: float32 ``[N, 3, H, W]`` in ``[0, 1]``, ``H = W = config.image_size``.
        spectra: float32 ``[N, L]``, ``L = config.n_wavelengths``.
        wavelengths: float32 ``[L]``, evenly spaced from ``wavelength_min`` to ``wavelength_max``.
    """
    values = _feature_values(features)
    n = len(features)
    size = config.image_size

    # Image random numbers first (never depend on glow), then the spectrum's.
    centre_jitter = rng.uniform(-config.jitter, config.jitter, size=(n, 2))
    radius_jitter = rng.uniform(-config.jitter, config.jitter, size=n)
    hue_offset = rng.uniform(-config.hue_jitter, config.hue_jitter, size=n)
    pixel_noise = rng.standard_normal((n, 3, size, size), dtype=np.float32)
    line_noise = rng.standard_normal((n, config.n_wavelengths))

    radius = (
        np.where(values["radius"] == 1, config.radius_large, config.radius_small) + radius_jitter
    )
    centre_x = 0.5 + np.where(values["shift"] == 1, 1.0, -1.0) * config.shift_offset
    centre_x = centre_x + centre_jitter[:, 0]
    centre_y = 0.5 - values["lift"] * config.lift_offset + centre_jitter[:, 1]  # row 0 is the top
    hue = np.where(values["hue"] == 1, _HUE_BLUE, _HUE_RED) + hue_offset

    coverage = _disc_coverage(centre_x * size, centre_y * size, radius * size, size)  # [N, H, W]
    if values["ring"].any():  # ring = 0 rows are left exactly as they were (x - 0 = x)
        hole = _disc_coverage(centre_x * size, centre_y * size, config.ring_fraction * radius * size, size)
        coverage = coverage - values["ring"].astype(np.float32)[:, None, None] * hole
    colour = _hue_to_rgb(hue, config.saturation).astype(np.float32)  # [N, 3]
    images = coverage[:, None, :, :] * colour[:, :, None, None]
    if values["frame"].any():  # frame = 0 rows are left exactly as they were
        border = np.zeros((size, size), dtype=bool)
        width = config.frame_width
        border[:width, :] = border[-width:, :] = border[:, :width] = border[:, -width:] = True
        framed = (values["frame"] == 1)[:, None, None, None] & border[None, None, :, :]  # [N, 1, H, W]
        images = np.where(framed, np.float32(config.frame_level), images)
    images += np.float32(config.image_noise) * pixel_noise
    np.clip(images, 0.0, 1.0, out=images)

    wavelengths = np.linspace(config.wavelength_min, config.wavelength_max, config.n_wavelengths)
    # The line tracks the colour: hue jitter moves it along the red -> blue axis (linear in hue).
    nm_per_hue = (config.line_centre_red - config.line_centre_blue) / (_HUE_BLUE - _HUE_RED)
    centre_nm = np.where(values["hue"] == 1, config.line_centre_blue, config.line_centre_red)
    centre_nm = centre_nm - nm_per_hue * hue_offset
    height = (radius / config.radius_large) ** 2  # disc area, nominal large disc -> 1
    # broad = 0 gives the factor 1.0 exactly, so those rows are unchanged
    width = (config.line_width * np.where(values["broad"] == 1, config.broad_factor, 1.0))[:, None]  # [N, 1]
    spectra = config.baseline + height[:, None] * _gaussian(wavelengths, centre_nm, width)
    glow = config.glow_height * _gaussian(wavelengths, np.full(n, config.glow_centre), width)
    spectra = spectra + values["glow"][:, None] * glow + config.spectrum_noise * line_noise

    return images, spectra.astype(np.float32), wavelengths.astype(np.float32)


# the scalar measurements of render_scalars, in column order
SCALAR_NAMES = ("mass", "density")
# the modalities the generator renders besides image and curve -> the CirclesRenderConfig flag that turns each on
# (the benchmark's extra_modalities set these flags)
OPTIONAL_MODALITIES = {"scalar": "scalars"}


def render_scalars(features: pd.DataFrame, rng: np.random.Generator, config: CirclesRenderConfig) -> np.ndarray:
    """Per-specimen scalar measurements, float32 ``[N, 2]`` (columns :data:`SCALAR_NAMES`).

    ``mass = 1 + radius`` (a large disc weighs twice a small one), ``density = 1 + density_step * hue``,
    each plus ``N(0, scalar_noise^2)``; a random fraction ``scalar_missing`` of the rows is NaN (the
    specimen has no scalars). ``features`` as in :func:`render_circles`.
    """
    values = _feature_values(features)
    n = len(features)
    noise = rng.standard_normal((n, len(SCALAR_NAMES)))
    missing = rng.random(n) < config.scalar_missing
    scalars = np.stack([1.0 + values["radius"], 1.0 + config.density_step * values["hue"]], axis=1)
    scalars = scalars + config.scalar_noise * noise
    scalars[missing] = np.nan
    return scalars.astype(np.float32)


def _feature_values(features: pd.DataFrame) -> dict[str, np.ndarray]:
    """Validate the feature table; return ``{feature: float64 [N]}`` for every known feature."""
    if not isinstance(features, pd.DataFrame):
        raise TypeError(f"features must be a pandas DataFrame, got {type(features).__name__}")
    values = {}
    for column in features.columns:
        if column not in KNOWN_FEATURES:
            raise ValueError(
                f"unknown feature column {column!r}; the circles renderer knows {list(KNOWN_FEATURES)}"
            )
        column_values = pd.to_numeric(features[column], errors="coerce").to_numpy(dtype=np.float64)
        if not np.isin(column_values, (0.0, 1.0)).all():
            raise ValueError(f"feature column {column!r} must hold only 0/1 values")
        values[column] = column_values
    zeros = np.zeros(len(features), dtype=np.float64)
    return {name: values.get(name, zeros) for name in KNOWN_FEATURES}


def _disc_coverage(
    centre_x: np.ndarray, centre_y: np.ndarray, radius: np.ndarray, size: int
) -> np.ndarray:
    """Soft-edged filled discs, float32 ``[N, size, size]`` in ``[0, 1]``.

    Arguments are in pixels, ``[N]`` each; pixel ``(row, col)`` has its centre at
    ``(row + 0.5, col + 0.5)``. Coverage falls linearly from 1 to 0 across a one-pixel band at the rim
    (a cheap anti-aliasing).
    """
    grid = np.arange(size, dtype=np.float32) + np.float32(0.5)
    dx = grid[None, None, :] - centre_x.astype(np.float32)[:, None, None]
    dy = grid[None, :, None] - centre_y.astype(np.float32)[:, None, None]
    distance = np.sqrt(dx * dx + dy * dy)  # [N, H, W]
    return np.clip(radius.astype(np.float32)[:, None, None] - distance + np.float32(0.5), 0.0, 1.0)


def _hue_to_rgb(hue: np.ndarray, saturation: float) -> np.ndarray:
    """HSV -> RGB at full value: ``hue [N]`` (fraction of the colour circle) -> ``[N, 3]`` in [0, 1]."""
    hue = np.mod(hue, 1.0)[:, None]
    k = np.mod(np.array([5.0, 3.0, 1.0])[None, :] + 6.0 * hue, 6.0)
    return 1.0 - saturation * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def _gaussian(wavelengths: np.ndarray, centres: np.ndarray, width: float | np.ndarray) -> np.ndarray:
    """Unit-height Gaussian lines, ``[len(centres), L]`` (``width``: a number or ``[len(centres), 1]``)."""
    return np.exp(-0.5 * ((wavelengths[None, :] - centres[:, None]) / width) ** 2)
