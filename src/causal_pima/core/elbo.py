"""Loss terms of causalPIMA (docs/model.md "Model and ELBO").

``ELBO(x) = sum_m E_q[log p(x_m | z)] + logsumexp_k(log pi_k - KL_k)``; the second term equals
``max_gamma -sum_k gamma_k KL_k - KL(gamma || pi)``, attained at the responsibilities.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


def gaussian_log_likelihood(x: Tensor, mean: Tensor, log_scale: Tensor | float) -> Tensor:
    """``log N(x; mean, exp(log_scale)^2)`` summed over all non-batch dims.

    Args:
        x: ``[B, ...]`` observations.
        mean: broadcastable to ``x``.
        log_scale: log standard deviation, float or tensor broadcastable to ``x``.

    Returns:
        ``[B]``.
    """
    log_scale = torch.as_tensor(log_scale, dtype=x.dtype, device=x.device)
    standardised = (x - mean) * torch.exp(-log_scale)
    log_density = -0.5 * standardised**2 - log_scale - _HALF_LOG_TWO_PI
    log_density = log_density.expand(torch.broadcast_shapes(log_density.shape, x.shape))
    return log_density.reshape(x.shape[0], -1).sum(dim=-1)


def prior_term(log_pi: Tensor, kl: Tensor) -> Tensor:
    """``logsumexp_k(log pi_k - KL_bk)``: ``[K]``, ``[B, K]`` -> ``[B]``."""
    return torch.logsumexp(log_pi - kl, dim=-1)


def elbo_terms(
    reconstruction: Mapping[str, Tensor],
    log_pi: Tensor,
    kl: Tensor,
    adj: Tensor | None = None,
    l1_weight: float = 0.0,
) -> dict[str, Tensor]:
    """Every term of the objective, as batch means (0-dim tensors).

    Args:
        reconstruction: modality name -> ``[B]`` reconstruction log-likelihoods.
        log_pi: ``[K]`` log mixture weights.
        kl: ``[B, K]`` KL of each posterior to each component.
        adj: ``[d, d]`` adjacency for the L1 penalty, or ``None``.
        l1_weight: ``lambda`` of the penalty ``lambda * sum |A_ij|``.

    Returns:
        ``{"recon_<name>": ..., "prior": ..., "elbo": sum of recon + prior, "l1": ..., "loss": -elbo + l1}``.
    """
    terms: dict[str, Tensor] = {}
    elbo = torch.zeros((), dtype=kl.dtype, device=kl.device)
    for name, log_likelihood in reconstruction.items():
        terms[f"recon_{name}"] = log_likelihood.mean()
        elbo = elbo + terms[f"recon_{name}"]
    terms["prior"] = prior_term(log_pi, kl).mean()
    terms["elbo"] = elbo + terms["prior"]
    if adj is None:
        terms["l1"] = torch.zeros((), dtype=kl.dtype, device=kl.device)
    else:
        terms["l1"] = l1_weight * adj.abs().sum()
    terms["loss"] = -terms["elbo"] + terms["l1"]
    return terms
