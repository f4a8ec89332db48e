"""Tests for core.budget: epochs raised to a minimum number of gradient steps."""

from __future__ import annotations

import logging

import pytest

from causal_pima.core.budget import batches_per_epoch, epochs_for_budget


def test_batches_per_epoch_counts_the_last_partial_batch() -> None:
    assert batches_per_epoch(4800, 128) == 38
    assert batches_per_epoch(128, 128) == 1
    assert batches_per_epoch(129, 128) == 2


@pytest.mark.parametrize(
    ("epochs", "min_steps", "n_rows", "batch_size", "expected"),
    [
        (20, 750, 4800, 128, 20),  # the default circles run: 760 steps already
        (20, 750, 480, 128, 188),  # N = 600: 4 batches per epoch
        (20, 750, 240, 128, 375),  # N = 300: 2 batches per epoch
        (40, 750, 1600, 64, 40),  # the lattice stand-in: 1000 steps already
        (15, 0, 240, 128, 15),  # no minimum
    ],
)
def test_epochs_for_budget_known_answers(epochs: int, min_steps: int, n_rows: int, batch_size: int, expected: int) -> None:
    assert epochs_for_budget(epochs, min_steps, n_rows, batch_size) == expected
    assert epochs_for_budget(epochs, min_steps, n_rows, batch_size) * batches_per_epoch(n_rows, batch_size) >= min_steps


def test_a_raised_budget_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="causal_pima.core.budget"):
        epochs_for_budget(20, 750, 480, 128, "pretraining")
    assert "pretraining: 188 epochs instead of 20 (min_steps 750 at 4 batches of 128 per epoch, 480 specimens)" in caplog.text


def test_refusals() -> None:
    with pytest.raises(ValueError, match="n_rows >= 1"):
        batches_per_epoch(0, 128)
    with pytest.raises(ValueError, match="min_steps must be >= 0"):
        epochs_for_budget(10, -1, 100, 10)
