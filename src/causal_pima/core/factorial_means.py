"""Component means that share strength across outcomes (docs/model.md "Factorial means").

With ``K = 2**d`` components and ``N`` specimens most outcomes of a large ``d`` hold a handful of
specimens or none, and a free mean per component is then noise or undefined. ``mean_structure:
factorial`` puts a hierarchical prior on the means: component ``k`` (code ``n_k``) has

    mu_k = m_k + e_k,   m_k = c + sum_j n_kj a_j + sum_{i<j} n_ki n_kj b_ij   (the factorial part)

with the deviation ``e_k ~ N(0, sigma_k^2 / kappa)`` (a free deviation costs as much as ``kappa``
specimens sitting at ``m_k``) and the pairwise interactions ``b_ij ~ N(0, sigma_bar^2 / lambda)``
(``sigma_bar^2``: the specimen-weighted mean of the component variances, per latent dimension). The
update maximises the mixture's expected log-likelihood plus this log-prior (a MAP block update, still
in closed form, from the same sufficient statistics). Profiling out ``e_k`` leaves a ridge regression
of the components' data means ``t_k = S1_k / S0_k`` on the ``1 + d + d(d-1)/2`` factorial columns with
weights ``(S0_k kappa / (S0_k + kappa)) / sigma_k^2``, one small system per latent dimension; then

    e_k = S0_k / (S0_k + kappa) * (t_k - m_k).

So a component with many specimens keeps its own mean (``S0 >> kappa``: the free model), one with few
is pulled to where the other outcomes place it, and an empty one sits exactly at ``m_k``. The
variances are shrunk the same way towards the pooled variance, ``(S0_k v_k + kappa sigma_bar^2) /
(S0_k + kappa)``, with ``v_k`` the component's own variance about its new mean.

Plain torch; no I/O.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor


def factorial_design(outcomes: Tensor, interaction_order: int = 2) -> Tensor:
    """``[K, 1 + d + C(d, 2)]`` columns: intercept, the ``d`` bits, and (order 2) every product of two bits.

    Args:
        outcomes: ``[K, d]`` 0/1 codes (``core.outcomes.joint_outcomes``).
        interaction_order: 1 (additive) or 2.
    """
    if interaction_order not in (1, 2):
        raise ValueError(f"interaction_order must be 1 or 2, got {interaction_order}")
    columns = [torch.ones_like(outcomes[:, :1]), outcomes]
    if interaction_order == 2:
        pairs = list(itertools.combinations(range(outcomes.shape[1]), 2))
        if pairs:
            columns.append(torch.stack([outcomes[:, i] * outcomes[:, j] for i, j in pairs], dim=1))
    return torch.cat(columns, dim=1)


def factorial_means(
    s0: Tensor,
    targets: Tensor,
    variances: Tensor,
    outcomes: Tensor,
    pseudo_count: float,
    interaction_pseudo_count: float,
    interaction_order: int = 2,
) -> tuple[Tensor, Tensor]:
    """MAP component means under the factorial prior (module docstring), and the factorial part alone.

    Args:
        s0: ``[K]`` soft counts ``S0_k``.
        targets: ``[K, D]`` data means ``S1_k / S0_k`` (any value where ``S0_k = 0``).
        variances: ``[K, D]`` current component variances (the weights of the regression).
        outcomes: ``[K, d]`` codes.
        pseudo_count: ``kappa > 0``, specimens' worth of belief in the factorial part.
        interaction_pseudo_count: ``lambda >= 0``, the ridge on the pairwise interactions.
        interaction_order: 1 (additive part) or 2.

    Returns:
        ``(means, factorial_part)``, each ``[K, D]``.
    """
    if not pseudo_count > 0:
        raise ValueError(f"pseudo_count must be > 0, got {pseudo_count}")
    if interaction_pseudo_count < 0:
        raise ValueError(f"interaction_pseudo_count must be >= 0, got {interaction_pseudo_count}")
    dtype = torch.float64
    s0, targets, variances = s0.to(dtype), targets.to(dtype), variances.to(dtype)
    design = factorial_design(outcomes.to(dtype), interaction_order)  # [K, P]
    n_nodes = outcomes.shape[1]
    total = s0.sum().clamp_min(torch.finfo(dtype).tiny)
    pooled = (s0[:, None] * variances).sum(0) / total  # [D]
    weights = (s0 * pseudo_count / (s0 + pseudo_count))[:, None] / variances  # [K, D]
    targets = torch.where(s0[:, None] > 0, targets, torch.zeros_like(targets))
    n_columns = design.shape[1]
    ridge = torch.zeros(n_columns, dtype=dtype, device=s0.device)
    ridge[1 + n_nodes:] = interaction_pseudo_count
    # one (P x P) system per latent dimension: (B' W B + R / pooled) beta = B' W t
    gram = torch.einsum("kp,kd,kq->dpq", design, weights, design)  # [D, P, P]
    gram = gram + torch.diag_embed(ridge[None, :] / pooled[:, None])
    rhs = torch.einsum("kp,kd,kd->dp", design, weights, targets)  # [D, P]
    coefficients = (torch.linalg.pinv(gram) @ rhs.unsqueeze(-1)).squeeze(-1)  # [D, P]
    factorial_part = design @ coefficients.T  # [K, D]
    shrink = (s0 / (s0 + pseudo_count))[:, None]
    return factorial_part + shrink * (targets - factorial_part), factorial_part


def shrunk_variances(s0: Tensor, own: Tensor, pseudo_count: float) -> Tensor:
    """``(S0_k v_k + kappa sigma_bar^2) / (S0_k + kappa)``: ``[K]``, ``[K, D]`` -> ``[K, D]``; ``own`` may be
    anything where ``S0_k = 0``. ``sigma_bar^2`` is the ``S0``-weighted mean of ``own`` per dimension."""
    dtype = torch.float64
    s0, own = s0.to(dtype), own.to(dtype)
    own = torch.where(s0[:, None] > 0, own, torch.zeros_like(own))
    pooled = (s0[:, None] * own).sum(0) / s0.sum().clamp_min(torch.finfo(dtype).tiny)  # [D]
    return (s0[:, None] * own + pseudo_count * pooled[None, :]) / (s0[:, None] + pseudo_count)
