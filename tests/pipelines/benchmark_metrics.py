"""Valid range of every metric that the benchmark table reports, and the check the tests run on it
(moved here from ``pipelines/benchmark/nodes.py``: only the tests use them)."""

from __future__ import annotations

import numpy as np
import pandas as pd

METRIC_RANGES = {
    "shd": (0, None), "cpdag_shd": (0, None), "shd_within_class": (0, None), "shd_real": (0, None),
    "directed_precision": (0, 1), "directed_recall": (0, 1), "directed_f1": (0, 1),
    "skeleton_precision": (0, 1), "skeleton_recall": (0, 1), "skeleton_f1": (0, 1),
    "node_accuracy": (0.5, 1), "ari": (-1, 1), "nmi": (0, 1), "interventional_tv": (0, 1),
    "test_elbo": (None, None), "wall_seconds": (0, None),
}


def check_metric_ranges(results: pd.DataFrame) -> list[str]:
    """Problems with metrics outside their valid range (empty when every value is valid)."""
    problems = []
    for metric, (low, high) in METRIC_RANGES.items():
        if metric not in results:
            continue
        values = results[metric].dropna().to_numpy(dtype=float)
        if not np.isfinite(values).all():
            problems.append(f"{metric} has non-finite values")
        if low is not None and (values < low - 1e-9).any():
            problems.append(f"{metric} below {low}: {values.min()}")
        if high is not None and (values > high + 1e-9).any():
            problems.append(f"{metric} above {high}: {values.max()}")
    return problems
