"""core.elbo_gap: the training-minus-validation ELBO gap, exact on hand-made sets, flagged when large."""

from __future__ import annotations

import math

import pytest
import torch

from causal_pima.core.elbo_gap import _mean_and_spread, batch_mean_elbos, elbo_gap

from .conftest import small_model

pytestmark = pytest.mark.usefixtures("one_thread")


def _data(circles, n):
    return {k: circles[k][:n] for k in ("image", "curve")}


def test_mean_se_and_spread_of_batch_means_are_the_textbook_ones():
    means = torch.tensor([1.0, 2.0, 3.0, 10.0], dtype=torch.float64)
    sizes = torch.tensor([4.0, 4.0, 4.0, 1.0], dtype=torch.float64)
    mean, se, sd = _mean_and_spread(means, sizes, 4)
    assert mean == pytest.approx((4 + 8 + 12 + 10) / 13)  # specimen-weighted, the short batch included
    # the spread from the three full batches only: sd 1, se 1 / sqrt(3), per specimen 1 * sqrt(4)
    assert se == pytest.approx(1 / math.sqrt(3)) and sd == pytest.approx(2.0)


def test_the_same_specimens_give_no_gap_and_no_warning(circles_val):
    data = _data(circles_val, 96)
    report = elbo_gap(small_model(n_nodes=2), data, data, batch_size=16)
    assert report["gap"] == 0.0 and report["effect"] == 0.0  # same batches, same seed: identical ELBOs
    assert report["train_elbo"] == report["val_elbo"] and not report["overfit"] and report["warnings"] == []
    # the ELBO is the model's own: the batch means average to the mean of the batch ELBOs
    means, sizes = batch_mean_elbos(small_model(n_nodes=2), data, 16, 12345)
    assert sizes.tolist() == [16.0] * 6 and float(means.mean()) == pytest.approx(report["train_elbo"], rel=1e-12)


def test_validation_specimens_the_model_describes_worse_are_flagged(circles_train, circles_val):
    model = small_model(n_nodes=2)
    train = _data(circles_train, 96)
    noisy = {k: v + 0.5 * torch.randn(v.shape, generator=torch.Generator().manual_seed(0)) for k, v in _data(circles_val, 96).items()}
    report = elbo_gap(model, train, noisy, batch_size=16)
    assert report["gap"] > 3 * report["gap_se"] and report["effect"] > 0.5 and report["overfit"]
    assert len(report["warnings"]) == 1 and "exceeds the validation ELBO by" in report["warnings"][0]
    # the threshold is the caller's: the same gap is not flagged when a larger effect is allowed
    relaxed = elbo_gap(model, train, noisy, batch_size=16, max_effect=report["effect"] + 1.0)
    assert relaxed["gap"] == pytest.approx(report["gap"]) and not relaxed["overfit"]


def test_too_few_batches_give_no_spread_and_no_warning(circles_val):
    data = _data(circles_val, 20)  # one full batch of 16 and a short one
    report = elbo_gap(small_model(n_nodes=2), data, data, batch_size=16)
    assert report["gap_se"] is None and report["effect"] is None and not report["overfit"]
    with pytest.raises(ValueError, match="batch_size"):
        elbo_gap(small_model(n_nodes=2), data, data, batch_size=1)


def test_a_small_validation_set_is_still_measured_with_smaller_batches(circles_train, circles_val):
    """30 validation specimens (a 300-specimen data set): batches of 3, so 10 of them, and a spread."""
    model = small_model(n_nodes=2)
    report = elbo_gap(model, _data(circles_train, 96), _data(circles_val, 30))
    means, sizes = batch_mean_elbos(model, _data(circles_val, 30), 3, 12345)
    assert sizes.tolist() == [3.0] * 10 and report["val_elbo"] == pytest.approx(float(means.mean()), rel=1e-12)
    assert report["gap_se"] is not None and report["effect"] is not None
