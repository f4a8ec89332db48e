"""Interventional error: total variation between learned and true ``P(features | do(X = v))``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from causal_pima.core.outcomes import joint_outcomes, outcome_index
from causal_pima.data.scm import BinarySCM


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """Total variation distance ``0.5 * sum |p - q|`` between two distributions on one space."""
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    if p.shape != q.shape:
        raise ValueError(f"shapes differ: {p.shape} vs {q.shape}")
    return float(0.5 * np.abs(p - q).sum())


def marginal(joint: np.ndarray, features: Sequence[str], keep: Sequence[str]) -> np.ndarray:
    """Marginal of a joint over binary ``features`` (bit j = features[j]) onto ``keep``.

    Returns ``[2**len(keep)]``, bit ``i`` of the outcome index = ``keep[i]`` (in the order given).
    """
    joint = np.asarray(joint, dtype=float)
    features = list(features)
    if joint.shape != (2 ** len(features),):
        raise ValueError(f"joint has shape {joint.shape}, expected ({2 ** len(features)},)")
    cols = [features.index(f) for f in keep]
    idx = outcome_index(joint_outcomes(len(features))[:, cols])
    return np.bincount(idx, weights=joint, minlength=2 ** len(cols))


def interventional_tv(learned: BinarySCM, true: BinarySCM) -> dict:
    """TV between learned and true interventional distributions, for every true single-node do.

    For every feature ``X`` of ``true`` and ``v`` in {0, 1}: the total variation between learned
    and true ``P(others | do(X = v))`` over all other features (``X`` itself is fixed by the
    intervention and marginalised out). With a single feature the distributions are on one point
    and the TV is 0.

    Both models must have the same features (in any order), so that no feature's error can be
    left out: complete a partial learned model first (:func:`~causal_pima.evaluation.matching.map_learned_graph`
    makes a true feature without a learned node an independent fair coin).

    Returns:
        ``{"mean": float, "per_intervention": {f"{X}={v}": tv}}``; the mean is over all
        ``2 * m`` interventions.

    Raises:
        ValueError: if the feature sets differ (the missing and extra features are named).
    """
    missing = sorted(set(true.features) - set(learned.features))
    extra = sorted(set(learned.features) - set(true.features))
    if missing or extra:
        raise ValueError(
            f"the learned SCM must have the true features: missing {missing}, "
            f"learned features not in the true SCM {extra}"
        )
    per: dict[str, float] = {}
    for x in true.features:
        others = [f for f in true.features if f != x]
        for v in (0, 1):
            p_true = marginal(true.interventional(x, v), true.features, others)
            p_learned = marginal(learned.interventional(x, v), learned.features, others)
            per[f"{x}={v}"] = total_variation(p_learned, p_true)
    return {"mean": float(np.mean(list(per.values()))), "per_intervention": per}
