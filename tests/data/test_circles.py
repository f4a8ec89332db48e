"""Tests for the circles renderer (causal_pima.data.circles): features must be readable from the output."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from causal_pima.data.circles import KNOWN_FEATURES, CirclesRenderConfig, render_circles

CONFIG = CirclesRenderConfig()
SIZE = CONFIG.image_size


def _all_outcomes_batch(repeats: int = 8, glow: int | None = None) -> pd.DataFrame:
    """``8 * repeats`` specimens, every (radius, shift, hue) outcome ``repeats`` times; glow alternates."""
    rows = list(itertools.product([0, 1], repeat=3)) * repeats
    table = pd.DataFrame(rows, columns=["radius", "shift", "hue"])
    table["glow"] = np.arange(len(table)) % 2 if glow is None else glow
    return table


def _disc_statistics(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per image: disc area (pixels), centroid column, mean red and mean blue over the disc."""
    disc = images.max(axis=1) > 0.5  # [N, H, W]
    area = disc.sum(axis=(1, 2))
    columns = np.arange(SIZE)[None, None, :] + 0.5
    centroid_x = (disc * columns).sum(axis=(1, 2)) / area
    red = (images[:, 0] * disc).sum(axis=(1, 2)) / area
    blue = (images[:, 2] * disc).sum(axis=(1, 2)) / area
    return area, centroid_x, red, blue


def test_shapes_dtypes_and_ranges():
    features = _all_outcomes_batch()
    images, spectra, wavelengths = render_circles(features, np.random.default_rng(0))
    assert images.shape == (64, 3, 32, 32) and images.dtype == np.float32
    assert spectra.shape == (64, 64) and spectra.dtype == np.float32
    assert wavelengths.shape == (64,) and wavelengths.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert wavelengths[0] == 400.0 and wavelengths[-1] == 700.0
    assert np.all(np.diff(wavelengths) > 0)
    # dark background: the corners are never part of a disc
    assert images[:, :, :3, :3].mean() < 0.01
    assert np.median(images) < 0.02


def test_radius_shift_and_hue_recovered_from_pixels_for_every_specimen():
    features = _all_outcomes_batch()
    images, _, _ = render_circles(features, np.random.default_rng(1))
    area, centroid_x, red, blue = _disc_statistics(images)

    # nominal areas: pi (0.16 * 32)^2 = 82 px and pi (0.27 * 32)^2 = 234 px
    small, large = area[features["radius"] == 0], area[features["radius"] == 1]
    assert 55 <= small.min() and small.max() <= 115
    assert 190 <= large.min() and large.max() <= 280
    np.testing.assert_array_equal(area > 150, features["radius"] == 1)

    # nominal centres: 0.33 * 32 = 10.6 px (left) and 0.67 * 32 = 21.4 px (right)
    np.testing.assert_array_equal(centroid_x > SIZE / 2, features["shift"] == 1)
    # position jitter is at most 0.02 * 32 = 0.64 px, plus pixelisation of the centroid
    assert np.all(np.abs(centroid_x - np.where(features["shift"] == 1, 21.44, 10.56)) < 1.5)

    np.testing.assert_array_equal(blue > red, features["hue"] == 1)
    assert np.all(np.abs(red - blue) > 0.5)


def _centroid_row(images: np.ndarray) -> np.ndarray:
    """Per image: centroid row of the disc (pixels from the top)."""
    disc = images.max(axis=1) > 0.5  # [N, H, W]
    rows = np.arange(SIZE)[None, :, None] + 0.5
    return (disc * rows).sum(axis=(1, 2)) / disc.sum(axis=(1, 2))


def test_all_four_image_features_recovered_from_pixels_for_every_specimen():
    rows = list(itertools.product([0, 1], repeat=4)) * 8
    features = pd.DataFrame(rows, columns=["radius", "shift", "hue", "lift"])
    images, _, _ = render_circles(features, np.random.default_rng(7))
    area, centroid_x, red, blue = _disc_statistics(images)
    centroid_y = _centroid_row(images)

    np.testing.assert_array_equal(area > 150, features["radius"] == 1)
    np.testing.assert_array_equal(centroid_x > SIZE / 2, features["shift"] == 1)
    np.testing.assert_array_equal(blue > red, features["hue"] == 1)
    # nominal centre rows: 0.5 * 32 = 16 px, raised 0.33 * 32 = 10.56 px; jitter +-0.64 px
    np.testing.assert_array_equal(centroid_y < 13.3, features["lift"] == 1)
    assert np.all(np.abs(centroid_y - np.where(features["lift"] == 1, 10.56, 16.0)) < 1.5)
    # a raised large disc still lies wholly inside the image: same area range as before
    assert 190 <= area[features["radius"] == 1].min() and area.max() <= 280


def test_lift_zero_renders_exactly_as_without_the_column():
    """Configurations without ``lift`` render bit-identically to before ``lift`` existed."""
    features = _all_outcomes_batch(repeats=2)
    for got, expected in zip(
        render_circles(features.assign(lift=0), np.random.default_rng(9)),
        render_circles(features, np.random.default_rng(9)),
        strict=True,
    ):
        np.testing.assert_array_equal(got, expected)


def test_lift_changes_image_only():
    lowered = _all_outcomes_batch(repeats=2, glow=0).assign(lift=0)
    images_off, spectra_off, _ = render_circles(lowered, np.random.default_rng(6))
    images_on, spectra_on, _ = render_circles(lowered.assign(lift=1), np.random.default_rng(6))
    np.testing.assert_array_equal(spectra_on, spectra_off)
    assert np.all(_centroid_row(images_off) - _centroid_row(images_on) > 4.0)


def test_glow_changes_spectrum_only():
    without_glow = _all_outcomes_batch(repeats=2, glow=0)
    with_glow = without_glow.assign(glow=1)
    images_off, spectra_off, wavelengths = render_circles(without_glow, np.random.default_rng(5))
    images_on, spectra_on, _ = render_circles(with_glow, np.random.default_rng(5))

    np.testing.assert_array_equal(images_on, images_off)
    difference = spectra_on - spectra_off  # exactly the glow line, noise is shared
    assert np.all(np.abs(wavelengths[difference.argmax(axis=1)] - CONFIG.glow_centre) < 5.0)
    np.testing.assert_allclose(difference.max(axis=1), CONFIG.glow_height, atol=0.01)
    assert np.abs(difference[:, wavelengths < 460]).max() < 0.03  # far from the glow line


def test_spectrum_line_follows_hue_and_grows_with_radius():
    features = _all_outcomes_batch(glow=0)
    _, spectra, wavelengths = render_circles(features, np.random.default_rng(2))
    line = spectra - CONFIG.baseline
    peak_wavelength = wavelengths[line.argmax(axis=1)]
    expected_centre = np.where(features["hue"] == 1, 470.0, 620.0)
    # hue jitter moves the line by up to 0.04 * 225 = 9 nm; grid step 4.8 nm, and noise on a small
    # disc's flat-topped peak can move the argmax one grid point further: 9 + 1.5 * 4.8 < 17
    assert np.all(np.abs(peak_wavelength - expected_centre) < 17.0)

    height = line.max(axis=1)
    # nominal heights: large 1, small (0.16 / 0.27)^2 = 0.35; radius jitter +-0.02 and noise 0.02
    large, small = height[features["radius"] == 1], height[features["radius"] == 0]
    assert 0.8 <= large.min() and large.max() <= 1.25
    assert 0.2 <= small.min() and small.max() <= 0.55
    assert abs(large.mean() - 1.0) < 0.06 and abs(small.mean() - 0.351) < 0.05

    # away from all lines the spectrum is baseline + noise
    background = spectra[:, wavelengths < 420]
    assert abs(background.mean() - CONFIG.baseline) < 0.01
    assert 0.01 < background.std() < 0.03


def test_missing_features_default_to_zero():
    partial = pd.DataFrame({"radius": [1, 1, 0]})
    full = partial.assign(shift=0, hue=0, glow=0)
    for got, expected in zip(
        render_circles(partial, np.random.default_rng(3)),
        render_circles(full, np.random.default_rng(3)),
        strict=True,
    ):
        np.testing.assert_array_equal(got, expected)


def test_same_seed_same_arrays_different_seed_different():
    features = _all_outcomes_batch(repeats=1)
    first = render_circles(features, np.random.default_rng(11))
    again = render_circles(features, np.random.default_rng(11))
    other = render_circles(features, np.random.default_rng(12))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    assert not np.array_equal(first[1], other[1])


def test_unknown_column_and_non_binary_values_raise():
    with pytest.raises(
        ValueError, match=r"unknown feature column 'size'.*radius.*shift.*hue.*glow.*lift.*ring.*frame.*broad"
    ):
        render_circles(pd.DataFrame({"radius": [0], "size": [1]}), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"'hue' must hold only 0/1"):
        render_circles(pd.DataFrame({"hue": [0, 2]}), np.random.default_rng(0))
    assert KNOWN_FEATURES == ("radius", "shift", "hue", "glow", "lift", "ring", "frame", "broad")


def test_config_from_params_and_validation():
    config = CirclesRenderConfig(**{"image_size": 48, "n_wavelengths": 40, "glow_height": 0.8})
    images, spectra, wavelengths = render_circles(
        _all_outcomes_batch(repeats=1), np.random.default_rng(0), config
    )
    assert (
        images.shape == (8, 3, 48, 48) and spectra.shape == (8, 40) and wavelengths.shape == (40,)
    )
    with pytest.raises(ValueError, match="radius_small < radius_large"):
        CirclesRenderConfig(radius_small=0.3, radius_large=0.2)
    with pytest.raises(TypeError):
        CirclesRenderConfig(**{"colour": "red"})


def test_ring_recovered_from_the_centre_pixel_for_every_specimen_and_ring_zero_is_unchanged():
    rows = list(itertools.product([0, 1], repeat=5)) * 4
    features = pd.DataFrame(rows, columns=["radius", "shift", "hue", "lift", "ring"])
    images, spectra, _ = render_circles(features, np.random.default_rng(11))
    # the disc centre (nominal x 0.33 / 0.67, y 0.5 / 0.33 of the image, jitter <= 0.64 px) lies in
    # the hole of a ring (hole radius >= 0.55 * 0.14 * 32 = 2.5 px) and inside a filled disc
    cx = np.where(features["shift"] == 1, 0.67, 0.33) * SIZE
    cy = np.where(features["lift"] == 1, 0.33, 0.5) * SIZE
    centre = images[np.arange(len(rows)), :, cy.astype(int), cx.astype(int)].max(axis=1)
    np.testing.assert_array_equal(centre < 0.2, features["ring"] == 1)
    assert centre[features["ring"] == 0].min() > 0.8
    # ring = 0 renders exactly as without the column, and the ring never touches the spectrum
    without = render_circles(features.drop(columns="ring"), np.random.default_rng(11))
    filled = render_circles(features.assign(ring=0), np.random.default_rng(11))
    for got, expected in zip(filled, without, strict=True):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(spectra, without[1])


def test_frame_recovered_from_the_corner_pixels_and_frame_zero_is_unchanged():
    """``frame`` shows in the image only: every framed specimen's corner pixels are grey (0.5 +- noise),
    every other specimen's are background (< 0.1); frame = 0 renders exactly as without the column."""
    rows = list(itertools.product([0, 1], repeat=6)) * 3
    features = pd.DataFrame(rows, columns=["radius", "shift", "hue", "lift", "ring", "frame"])
    images, spectra, _ = render_circles(features, np.random.default_rng(12))
    corners = images[:, :, [0, 0, -1, -1], [0, -1, 0, -1]].mean(axis=(1, 2))  # [N]
    np.testing.assert_array_equal(corners > 0.3, features["frame"] == 1)
    assert np.all(np.abs(corners[features["frame"] == 1] - CONFIG.frame_level) < 0.05)
    without = render_circles(features.drop(columns="frame"), np.random.default_rng(12))
    unframed = render_circles(features.assign(frame=0), np.random.default_rng(12))
    for got, expected in zip(unframed, without, strict=True):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(spectra, without[1])  # the frame never touches the spectrum


def test_broad_recovered_from_the_line_width_and_broad_zero_is_unchanged():
    """``broad`` shows in the spectrum only: the emission line's width at half its height is about
    ``broad_factor`` times larger (line_width 18 nm: FWHM 42 vs 76 nm); the image is unchanged."""
    rows = list(itertools.product([0, 1], repeat=4)) * 6
    features = pd.DataFrame(rows, columns=["radius", "hue", "glow", "broad"])
    images, spectra, wavelengths = render_circles(features, np.random.default_rng(13))
    line = spectra - CONFIG.baseline
    above_half = line >= 0.5 * line.max(axis=1, keepdims=True)
    step = wavelengths[1] - wavelengths[0]
    width = above_half.sum(axis=1) * step  # nm above half height (both lines where glow = 1)
    narrow = (features["broad"] == 0) & (features["glow"] == 0)
    wide = (features["broad"] == 1) & (features["glow"] == 0)
    assert width[narrow].max() < 55 and width[wide].min() > 60
    without = render_circles(features.drop(columns="broad"), np.random.default_rng(13))
    np.testing.assert_array_equal(images, without[0])
    np.testing.assert_array_equal(spectra[features["broad"] == 0], without[1][features["broad"] == 0])
