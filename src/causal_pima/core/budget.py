"""Training budgets that follow the data (docs/model.md "Training budgets").

A schedule counted in epochs gives a small data set few gradient steps: 20 epochs of 240 specimens in
batches of 64 are 80 steps, against 760 for 4,800 specimens in batches of 128. ``min_steps`` makes the
budget at least that many steps: the number of epochs is raised to
``ceil(min_steps / batches_per_epoch)``, never lowered. Pretraining keeps the epoch with the best
validation ELBO, so a longer budget cannot select a worse model on validation data.
"""

from __future__ import annotations

import logging
import math

logger = logging.getLogger(__name__)


def batches_per_epoch(n_rows: int, batch_size: int) -> int:
    """Gradient steps of one epoch over ``n_rows`` specimens (the last batch may be smaller)."""
    if n_rows < 1 or batch_size < 1:
        raise ValueError(f"need n_rows >= 1 and batch_size >= 1, got {n_rows}, {batch_size}")
    return math.ceil(n_rows / batch_size)


def epochs_for_budget(epochs: int, min_steps: int, n_rows: int, batch_size: int, phase: str = "training") -> int:
    """``max(epochs, ceil(min_steps / batches_per_epoch))``; a raised count is logged naming ``phase``."""
    if epochs < 0 or min_steps < 0:
        raise ValueError(f"epochs and min_steps must be >= 0, got {epochs}, {min_steps}")
    per_epoch = batches_per_epoch(n_rows, batch_size)
    needed = math.ceil(min_steps / per_epoch)
    if needed > epochs:
        logger.info("%s: %d epochs instead of %d (min_steps %d at %d batches of %d per epoch, %d specimens)",
                    phase, needed, epochs, min_steps, per_epoch, batch_size, n_rows)
        return needed
    return epochs
