"""What the data can decide at their size: outcomes too rare to place, and outcomes the data do not
separate (docs/model.md "What the data cannot decide").

With ``K = 2**d`` outcomes and a few hundred specimens many joint outcomes hold a handful of specimens
or none. Their components are placed by the factorial part of the mixture (``mean_structure:
factorial``) or not at all, and their codes and conditional probabilities rest on little evidence. This
report names them, from the fitted model's soft counts on the training specimens (never labels):

* ``sparse_outcomes``: outcomes whose soft count is below ``min_count``, with their node values and counts;
* ``unseparated_pairs``: two outcomes with at least ``min_count`` specimens each whose components lie
  closer than ``min_separation`` pooled standard deviations (``sqrt(sum_D (m_k - m_l)^2 / v_kl)`` with
  ``v_kl`` the mean of their variances per dimension): one cluster of the data split over two
  outcomes, or two outcomes the data cannot tell apart;
* warnings, one sentence each, which join the fit's diagnostics and the metrics report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import Tensor

from causal_pima.core.mixture_update import soft_outcome_counts
from causal_pima.core.model import CausalPIMA
from causal_pima.core.outcomes import joint_outcomes, node_names

# outcomes listed by name in a warning (the report lists all)
LISTED = 8


def separations(means: np.ndarray, variances: np.ndarray) -> np.ndarray:
    """``[K, K]`` distances between components in pooled standard deviations (module docstring)."""
    difference = (means[:, None, :] - means[None, :, :]) ** 2  # [K, K, D]
    pooled = 0.5 * (variances[:, None, :] + variances[None, :, :])
    return np.sqrt((difference / pooled).sum(-1))


def _outcome_text(outcome: int, n_nodes: int) -> str:
    bits = joint_outcomes(n_nodes)[outcome]
    return f"{outcome} (" + ", ".join(f"{name}={int(b)}" for name, b in zip(node_names(n_nodes), bits, strict=True)) + ")"


def outcome_support(
    model: CausalPIMA,
    data: Mapping[str, Tensor],
    min_count: float = 5.0,
    min_separation: float = 2.0,
    initial_clusters: int | None = None,
) -> dict[str, Any]:
    """The outcome-support report of a fitted model on ``data`` (the training specimens).

    Args:
        min_count: an outcome with a smaller soft count is sparse.
        min_separation: two populated components closer than this (pooled standard deviations) are
            not separated.
        initial_clusters: clusters the initialisation found (fewer than ``K``: named in a warning).

    Returns:
        ``{"outcome_counts" [K], "min_count", "sparse_outcomes": [{"outcome", "nodes", "count"}],
        "unseparated_pairs": [{"outcomes", "separation"}], "warnings": [sentences]}``.
    """
    n_nodes = model.prior.n_nodes
    n_outcomes = 2**n_nodes
    counts = soft_outcome_counts(model, data).cpu().numpy()  # S0 [K], float64
    names = node_names(n_nodes)
    bits = joint_outcomes(n_nodes)
    sparse = [
        {"outcome": int(k), "nodes": {name: int(b) for name, b in zip(names, bits[k], strict=True)}, "count": float(counts[k])}
        for k in np.argsort(counts, kind="stable") if counts[k] < min_count
    ]
    populated = np.flatnonzero(counts >= min_count)
    distance = separations(model.prior.means.double().cpu().numpy(), model.prior.variances.double().cpu().numpy())
    pairs = [
        {"outcomes": [int(a), int(b)], "separation": float(distance[a, b])}
        for i, a in enumerate(populated) for b in populated[i + 1:] if distance[a, b] < min_separation
    ]
    warnings = []
    if sparse:
        listed = ", ".join(f"{_outcome_text(s['outcome'], n_nodes)} {s['count']:.1f}" for s in sparse[:LISTED])
        more = f" and {len(sparse) - LISTED} more" if len(sparse) > LISTED else ""
        warnings.append(
            f"{len(sparse)} of {n_outcomes} outcomes hold fewer than {min_count:g} training specimens, too few for the data "
            f"to place them or to decide their conditional probabilities: {listed}{more} (soft counts)"
        )
    for pair in pairs[:LISTED]:
        a, b = pair["outcomes"]
        warnings.append(
            f"outcomes {_outcome_text(a, n_nodes)} and {_outcome_text(b, n_nodes)} are not separated (means "
            f"{pair['separation']:.2f} standard deviations apart): one cluster of the data split over two outcomes, or two "
            "outcomes the data cannot tell apart"
        )
    if initial_clusters is not None and initial_clusters < n_outcomes:
        warnings.append(
            f"the initial clustering found {initial_clusters} clusters for {n_outcomes} outcomes: "
            f"{n_outcomes - initial_clusters} outcomes started without specimens"
        )
    return {
        "outcome_counts": [float(c) for c in counts],
        "min_count": float(min_count),
        "sparse_outcomes": sparse,
        "unseparated_pairs": pairs,
        "warnings": warnings,
    }
