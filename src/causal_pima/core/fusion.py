"""Product-of-experts fusion of per-modality Gaussian posteriors (docs/model.md "Model and ELBO").

Each modality ``m`` gives an expert ``N(mu_m, diag exp(logvar_m))``; together with the standard-normal
prior expert their product is again Gaussian with precision ``P = 1 + sum_m exp(-logvar_m)`` and mean
``P^-1 sum_m mu_m exp(-logvar_m)``. A missing modality is simply left out of both sums.
"""

from __future__ import annotations

import torch
from torch import Tensor


def product_of_experts(
    mus: Tensor, logvars: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Fuse Gaussian experts, including the standard-normal prior expert.

    Args:
        mus: ``[M, B, D]`` expert means, one per modality.
        logvars: ``[M, B, D]`` expert log-variances.
        mask: ``[M, B]`` bool, True where modality ``m`` is present for specimen ``b``; ``None`` means
            all present. Masked experts have exactly no effect, even when their inputs are NaN or inf.

    Returns:
        ``(mu, logvar)``, each ``[B, D]``: the fused mean and ``logvar = -log P``.
    """
    if mus.shape != logvars.shape or mus.dim() != 3:
        raise ValueError(
            f"mus and logvars must both be [M, B, D], got {tuple(mus.shape)} and {tuple(logvars.shape)}"
        )
    if mask is None:
        mask = torch.ones(mus.shape[:2], dtype=torch.bool, device=mus.device)
    if mask.shape != mus.shape[:2]:
        raise ValueError(f"mask must be [M, B] = {tuple(mus.shape[:2])}, got {tuple(mask.shape)}")
    present = mask.to(torch.bool).unsqueeze(-1)  # [M, B, 1]

    # Replace masked inputs *before* any arithmetic so that NaN/inf there cannot leak into values or
    # gradients (torch.where only, no multiplication by the mask).
    safe_mus = torch.where(present, mus, torch.zeros((), dtype=mus.dtype, device=mus.device))
    log_precisions = torch.where(
        present, -logvars, torch.full((), -torch.inf, dtype=logvars.dtype, device=logvars.device)
    )

    # Log precisions of all experts, prior expert first (log 1 = 0): [M + 1, B, D].
    prior_log_precision = torch.zeros_like(log_precisions[:1])
    all_log_precisions = torch.cat([prior_log_precision, log_precisions], dim=0)

    log_total_precision = torch.logsumexp(all_log_precisions, dim=0)  # log P, [B, D]
    # Precision weights exp(-logvar_m) / P; the prior expert has mean 0 and drops out of the mean.
    expert_weights = torch.softmax(all_log_precisions, dim=0)[1:]  # [M, B, D]
    mu = (expert_weights * safe_mus).sum(dim=0)
    return mu, -log_total_precision
