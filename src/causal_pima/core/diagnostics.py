"""Health checks of a fitted model that catch a silent failure (docs/model.md, "Collapse detection").

Two failures are checked on the training or validation specimens, never on labels:

* **mixture collapse**: one joint outcome holds nearly all the mixture weight (``max_k pi_k >=
  collapse_weight``) or nearly all the responsibilities; the other components then describe nothing and
  node accuracy sits at chance;
* **physics expert worse than the mean curve**: the curve law of each specimen's most likely outcome
  predicts its own validation curve worse than the training-mean curve does, so the law cannot
  represent these curves.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from causal_pima.core.batching import as_batches
from causal_pima.core.model import CausalPIMA, observed_rows
from causal_pima.core.training_config import FitChecks


@torch.no_grad()
def fit_diagnostics(model: CausalPIMA, data: Mapping[str, Tensor], collapse_weight: float = FitChecks.collapse_weight) -> dict:
    """Mixture-usage and physics-expert checks of a fitted model on ``data`` (e.g. the validation set).

    Returns:
        ``{"max_mixture_weight", "largest_outcome", "max_responsibility_share" (largest mean
        responsibility of one outcome), "effective_components",
        "physics_rmse", "mean_curve_rmse" (both standardised units, ``None`` without a physics
        expert), "warnings": [sentences], "collapsed": bool, "physics_worse_than_mean": bool}``.
        ``effective_components = exp(entropy of the mean responsibilities)``.
    """
    if not 0.0 < collapse_weight <= 1.0:
        raise ValueError(f"collapse_weight must be in (0, 1], got {collapse_weight}")
    model.eval()
    weights = model.log_weights().exp()
    gamma_sum = torch.zeros_like(weights)
    squared_error, squared_baseline, n_values = 0.0, 0.0, 0
    for batch in as_batches(data, 512, None, device=weights.device):
        posterior = model.posterior(batch)
        gamma_sum += posterior["gamma"].sum(0)
        curves = batch.get(model.physics_modality) if model.physics is not None else None
        if curves is not None:
            predicted = model.physics.predict_standardised()[posterior["gamma"].argmax(1)]
            measured = observed_rows(curves)  # specimens without a curve (NaN rows) are left out
            if not bool(measured.all()):
                predicted, curves = predicted[measured], curves[measured]
            squared_error += float(((predicted - curves) ** 2).sum())
            squared_baseline += float((curves**2).sum())  # standardised: the train mean is 0
            n_values += curves.numel()
    usage = gamma_sum / gamma_sum.sum()
    entropy = -torch.special.xlogy(usage, usage).sum()  # 0 log 0 = 0: an empty outcome adds nothing (finite JSON)
    largest = int(weights.argmax())
    report = {
        "max_mixture_weight": float(weights.max()),
        "largest_outcome": largest,
        "max_responsibility_share": float(usage.max()),
        "effective_components": float(entropy.exp()),
        "physics_rmse": (squared_error / n_values) ** 0.5 if n_values else None,
        "mean_curve_rmse": (squared_baseline / n_values) ** 0.5 if n_values else None,
        "warnings": [],
    }
    report["collapsed"] = max(report["max_mixture_weight"], report["max_responsibility_share"]) >= collapse_weight
    if report["collapsed"]:
        report["warnings"].append(
            f"mixture collapse: outcome {largest} holds {report['max_mixture_weight']:.5f} of the mixture weight "
            f"and {report['max_responsibility_share']:.4f} of the responsibilities (collapse_weight {collapse_weight}); "
            f"effective number of components {report['effective_components']:.2f} of {len(weights)}"
        )
    report["physics_worse_than_mean"] = bool(n_values) and report["physics_rmse"] >= report["mean_curve_rmse"]
    if report["physics_worse_than_mean"]:
        report["warnings"].append(
            f"the physics curve expert ({model.physics.law.name}) predicts the curves worse than the training-mean "
            f"curve (RMSE {report['physics_rmse']:.3f} vs {report['mean_curve_rmse']:.3f}, standardised): "
            "its law cannot represent these curves"
        )
    return report
