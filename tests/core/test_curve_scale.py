"""core.curve_scale: the asinh curve transform, its inverse, the standardisation and the automatic scale."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from causal_pima.core.curve_scale import (
    AUTO_ASINH_FRACTION,
    AUTO_SPAN_RATIO,
    auto_asinh_scale,
    auto_transform,
    inverse_transform,
    size_span,
    to_model_scale,
    to_physical,
    transform,
)


def test_linear_scale_returns_its_input_unchanged():
    stress = np.array([[-1.0, 0.0, 2.5]])
    assert transform(stress, 0.0) is stress
    assert inverse_transform(stress, 0.0) is stress
    np.testing.assert_array_equal(to_model_scale(stress, 1.0, 2.0), (stress - 1.0) / 2.0)


def test_asinh_is_linear_near_zero_and_a_log_far_above_the_scale():
    c = 0.5
    small = np.array([1e-6, -1e-6])
    np.testing.assert_allclose(transform(small, c), small / c, rtol=1e-10)
    large = np.array([50.0, 500.0, 5000.0])  # x = s / c = 100 .. 10,000
    # asinh(x) = log(2x) + 1 / (4x^2) + O(x^-4): within 2.5e-5 at x = 100
    np.testing.assert_allclose(transform(large, c), np.log(2 * large / c), atol=2.6e-5)
    # a factor becomes a shift: asinh(3 s / c) - asinh(s / c) -> log 3 for s >> c
    np.testing.assert_allclose(transform(3 * large, c) - transform(large, c), np.log(3.0), atol=2.6e-5)
    # odd: negative noise around zero stays finite and symmetric
    np.testing.assert_allclose(transform(-large, c), -transform(large, c), rtol=0)


@pytest.mark.parametrize("scale", [0.0, 0.03, 1.0, 40.0])
def test_model_scale_round_trips_in_numpy_and_torch(scale):
    rng = np.random.default_rng(0)
    stress = rng.normal(0.0, 1.0, (5, 7)) * np.logspace(-2, 2, 7)  # spans four decades, both signs
    mean, std = rng.normal(0.0, 1.0, 7), rng.uniform(0.5, 2.0, 7)
    y = to_model_scale(stress, mean, std, scale)
    np.testing.assert_allclose(to_physical(y, mean, std, scale), stress, rtol=1e-10, atol=1e-12)
    y_torch = to_model_scale(torch.as_tensor(stress), torch.as_tensor(mean), torch.as_tensor(std), scale)
    assert isinstance(y_torch, torch.Tensor)
    np.testing.assert_allclose(y_torch.numpy(), y, rtol=1e-12, atol=1e-12)
    back = to_physical(y_torch, torch.as_tensor(mean), torch.as_tensor(std), scale)
    np.testing.assert_allclose(back.numpy(), stress, rtol=1e-10, atol=1e-12)


def test_auto_scale_is_a_tenth_of_the_median_curve_rms():
    curves = np.array([[1.0, -1.0, 1.0, -1.0], [2.0, 2.0, 2.0, 2.0], [3.0, 3.0, -3.0, 3.0]])  # RMS 1, 2, 3
    assert AUTO_ASINH_FRACTION == 0.1
    assert auto_asinh_scale(curves) == pytest.approx(0.2, rel=1e-12)


def test_auto_scale_of_all_zero_curves_and_negative_scales_are_refused():
    with pytest.raises(ValueError, match="cannot choose an asinh scale"):
        auto_asinh_scale(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="asinh_scale must be >= 0"):
        transform(np.ones(2), -1.0)
    with pytest.raises(ValueError, match="asinh_scale must be >= 0"):
        inverse_transform(np.ones(2), -1.0)


def test_size_span_and_the_auto_transform_known_answers():
    # 101 curves of constant value 1, 1.1, ..., 11 (RMS = value): percentiles 5 / 95 are 1.5 and 10.5
    curves = np.repeat(np.linspace(1.0, 11.0, 101)[:, None], 4, axis=1)
    assert size_span(curves) == pytest.approx(10.5 / 1.5, rel=1e-12)
    assert AUTO_SPAN_RATIO == 10.0 and auto_transform(curves) == "linear"
    assert auto_transform(curves**2) == "asinh"  # 2.25 .. 110.25: a span of 49
    assert size_span(np.zeros((10, 3))) == float("inf")
