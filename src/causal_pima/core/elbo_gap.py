"""The gap between the training and the validation ELBO of a fitted model (docs/model.md, "Fit warnings").

A model that describes its training specimens much better than new ones has learned the specimens,
not the features: typical of a few hundred specimens and networks sized for thousands. The check is
on data the fit already holds (training and validation specimens), never on labels.

Both ELBOs are computed the same way, after the fit, in eval mode with one fixed latent-sample seed
(the per-epoch training ELBO of the history is a running mean under dropout and cannot be compared).
Specimens are read in consecutive batches of ``batch_size`` (by default a tenth of the smaller set,
between 2 and 32 specimens, so that a validation set of 30 still gives 10 batches); the batch means
estimate each set's mean ELBO and its standard error, and the per-specimen spread
(``sd(batch means) * sqrt(batch_size)``).
The gap is flagged when it is both *significant* (more than ``z`` standard errors) and *large*
(more than ``max_effect`` of the validation specimens' spread: an effect size, free of the ELBO's
arbitrary offset, so one threshold fits images of any size).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor

from causal_pima.core.batching import n_rows
from causal_pima.core.evaluate import batch_loss_terms
from causal_pima.core.model import CausalPIMA


def batch_mean_elbos(model: CausalPIMA, data: Mapping[str, Tensor], batch_size: int, seed: int) -> tuple[Tensor, Tensor]:
    """``(means [B], sizes [B])``: the mean ELBO of each consecutive batch of ``data`` (eval mode, seeded)."""
    batches = list(batch_loss_terms(model, data, "mixture", seed, batch_size))
    means = torch.tensor([terms["elbo"] for terms, _ in batches], dtype=torch.float64)
    return means, torch.tensor([float(n) for _, n in batches], dtype=torch.float64)


def _mean_and_spread(means: Tensor, sizes: Tensor, batch_size: int) -> tuple[float, float, float]:
    """Specimen-weighted mean ELBO, its standard error and the per-specimen standard deviation."""
    mean = float((means * sizes).sum() / sizes.sum())
    full = means[sizes == batch_size]  # a short last batch has another variance: left out of the spread
    if len(full) < 2:
        return mean, math.nan, math.nan
    sd_batch = float(full.std(unbiased=True))
    return mean, sd_batch / math.sqrt(len(full)), sd_batch * math.sqrt(batch_size)


def elbo_gap(
    model: CausalPIMA,
    train: Mapping[str, Tensor],
    val: Mapping[str, Tensor],
    *,
    batch_size: int | None = None,
    seed: int = 12345,
    max_effect: float = 0.5,
    z: float = 3.0,
) -> dict:
    """The training-minus-validation ELBO gap per specimen, and a warning when it is large.

    Returns:
        ``{"train_elbo", "val_elbo" (nats per specimen), "gap" (train - val), "gap_se", "effect"
        (gap / per-specimen sd of the validation ELBO), "overfit": bool, "warnings": [sentences]}``.
        ``gap_se`` and ``effect`` are ``None`` when a set has fewer than two full batches.
        ``batch_size``: ``None`` is a tenth of the smaller set, clipped to [2, 32].
    """
    if batch_size is None:
        batch_size = min(32, max(2, min(n_rows(train), n_rows(val)) // 10))
    if batch_size < 2:
        raise ValueError(f"batch_size must be at least 2, got {batch_size}")
    train_mean, train_se, _ = _mean_and_spread(*batch_mean_elbos(model, train, batch_size, seed), batch_size)
    val_mean, val_se, val_sd = _mean_and_spread(*batch_mean_elbos(model, val, batch_size, seed), batch_size)
    gap = train_mean - val_mean
    gap_se = math.hypot(train_se, val_se)
    effect = gap / val_sd if val_sd > 0 else math.nan
    measured = math.isfinite(gap_se) and math.isfinite(effect)
    overfit = measured and gap > z * gap_se and effect > max_effect
    report = {
        "train_elbo": train_mean,
        "val_elbo": val_mean,
        "gap": gap,
        "gap_se": gap_se if measured else None,
        "effect": effect if measured else None,
        "overfit": bool(overfit),
        "warnings": [],
    }
    if overfit:
        report["warnings"].append(
            f"the training ELBO exceeds the validation ELBO by {gap:.1f} nats per specimen ({gap / gap_se:.1f} standard "
            f"errors, {effect:.2f} of the validation specimens' spread; warned above {max_effect}): the model describes "
            "its training specimens better than new ones, so its clusters and graph may follow the specimens rather "
            "than the features; with few specimens, try fewer fit epochs or a smaller latent space, or measure more specimens"
        )
    return report
