"""A benchmark run compared with a committed reference: which rows got worse (the CI check, issue 22).

Rows are matched on (configuration, seed, method). A fresh row is worse than its reference row when

- it failed (``error`` not empty) and the reference did not;
- its CPDAG SHD is higher than the reference's by more than ``Tolerances.cpdag_shd``;
- its node accuracy or ARI is lower by more than ``Tolerances.node_accuracy`` / ``.ari``;
- its ``wall_ratio`` (``wall_seconds`` over one plain-VAE epoch timed in the same run,
  ``run_info.time_plain_epoch``) is more than ``Tolerances.wall_ratio_factor`` times the reference's;
- a metric the reference has is missing.

A metric the reference does not have (``pima`` has no graph) is not compared. Better or equal rows are
never listed: the check is "no worse than the reference", not "right".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

KEY = ["configuration", "seed", "method"]
WORSE_COLUMNS = [*KEY, "check", "reference", "fresh", "limit"]


@dataclass(frozen=True)
class Tolerances:
    """How much worse than the reference a row may be before the check fails."""

    cpdag_shd: float = 0.0  # higher by more than this (an integer metric: any increase)
    node_accuracy: float = 0.01  # lower by more than this (4 of the 400 test specimens at N = 2000)
    ari: float = 0.01  # lower by more than this
    wall_ratio_factor: float = 2.0  # wall / plain-VAE epoch more than this times the reference's


TOLERANCES = Tolerances()


class ReferenceRowsError(ValueError):
    """The fresh run and the reference do not hold the same rows."""


def failed_rows(results: pd.DataFrame) -> pd.Series:
    """``[rows]`` bool: the rows whose ``error`` is not empty (a CSV reads an empty error back as NaN;
    a table without the column has no failed row)."""
    if "error" not in results:
        return pd.Series(False, index=results.index)
    return results["error"].notna() & (results["error"].astype(str) != "")


def with_wall_ratio(results: pd.DataFrame, plain_epoch_seconds: float) -> pd.DataFrame:
    """``results`` with ``wall_ratio = wall_seconds / plain_epoch_seconds`` and ``error`` as text ('' for
    none: a CSV reads an empty error back as NaN), sorted by configuration, seed and method."""
    if not plain_epoch_seconds or plain_epoch_seconds <= 0:
        raise ValueError(f"plain_epoch_seconds must be > 0, got {plain_epoch_seconds!r}")
    table = results.copy()
    table["error"] = table["error"].fillna("").astype(str) if "error" in table else ""
    table["wall_ratio"] = table["wall_seconds"] / float(plain_epoch_seconds)
    return table.sort_values(KEY, kind="stable").reset_index(drop=True)


def _keys(table: pd.DataFrame, name: str) -> list[tuple]:
    missing = [c for c in KEY if c not in table]
    if missing:
        raise ReferenceRowsError(f"the {name} rows have no column(s) {missing}")
    keys = [tuple(k) for k in table[KEY].itertuples(index=False)]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        raise ReferenceRowsError(f"the {name} rows repeat (configuration, seed, method) {duplicated}")
    return keys


def _row_name(key: tuple) -> str:
    configuration, seed, method = key
    return f"{configuration} seed {seed} {method}"


def worse_rows(fresh: pd.DataFrame, reference: pd.DataFrame, tolerances: Tolerances = TOLERANCES) -> pd.DataFrame:
    """The checks that a fresh row fails against its reference row, one line per (row, check):
    ``configuration, seed, method, check, reference, fresh, limit`` (empty when no row got worse).

    ``fresh``, ``reference``: one row per (configuration, seed, method) with ``error``,
    ``cpdag_shd``, ``node_accuracy``, ``ari`` and ``wall_ratio`` (:func:`with_wall_ratio`).
    Raises :class:`ReferenceRowsError` naming every row that one table has and the other has not.
    """
    fresh_keys, reference_keys = _keys(fresh, "fresh"), _keys(reference, "reference")
    absent = [k for k in reference_keys if k not in set(fresh_keys)]
    extra = [k for k in fresh_keys if k not in set(reference_keys)]
    if absent or extra:
        parts = []
        if absent:
            parts.append("missing from the fresh run: " + ", ".join(map(_row_name, absent)))
        if extra:
            parts.append("not in the reference (update it: make benchmark-reference): " + ", ".join(map(_row_name, extra)))
        raise ReferenceRowsError("; ".join(parts))
    by_key = dict(zip(fresh_keys, fresh.to_dict("records"), strict=True))
    lines: list[dict[str, Any]] = []
    for key, ref in zip(reference_keys, reference.to_dict("records"), strict=True):
        lines += [{**dict(zip(KEY, key, strict=True)), **line} for line in _row_checks(ref, by_key[key], tolerances)]
    return pd.DataFrame(lines, columns=WORSE_COLUMNS)


def _error(row: Mapping[str, Any]) -> str:
    value = row.get("error")
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def _number(row: Mapping[str, Any], column: str) -> float:
    value = row.get(column)
    return float("nan") if value is None else float(value)


def _row_checks(ref: Mapping[str, Any], new: Mapping[str, Any], tolerances: Tolerances) -> list[dict[str, Any]]:
    """The failed checks of one fresh row ``new`` against its reference row ``ref``."""
    if _error(new) and not _error(ref):
        return [{"check": "error", "reference": "", "fresh": _error(new), "limit": "no error"}]
    # (column, the worst value allowed from the reference value, whether higher is worse, limit text)
    checks = [
        ("cpdag_shd", lambda r: r + tolerances.cpdag_shd, True, f"<= reference + {tolerances.cpdag_shd:g}"),
        ("node_accuracy", lambda r: r - tolerances.node_accuracy, False, f">= reference - {tolerances.node_accuracy:g}"),
        ("ari", lambda r: r - tolerances.ari, False, f">= reference - {tolerances.ari:g}"),
        ("wall_ratio", lambda r: r * tolerances.wall_ratio_factor, True, f"<= {tolerances.wall_ratio_factor:g} x reference"),
    ]
    failed = []
    for column, bound, higher_is_worse, limit in checks:
        reference_value, fresh_value = _number(ref, column), _number(new, column)
        if np.isnan(reference_value):
            continue  # the reference has no such metric (no graph for pima, a failed reference row)
        allowed = bound(reference_value)
        if np.isnan(fresh_value) or (fresh_value > allowed if higher_is_worse else fresh_value < allowed):
            failed.append({"check": column, "reference": reference_value, "fresh": fresh_value,
                           "limit": f"{limit} = {allowed:.4g}"})
    return failed
