"""The benchmark summary table on a hand-made results table (no training)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from causal_pima.pipelines.benchmark.nodes import SUMMARY_METRICS, summarise_benchmark
from tests.pipelines.benchmark_metrics import check_metric_ranges

BENCHMARK = {"seeds": [0, 1, 2], "n_specimens": 100}


def _results() -> pd.DataFrame:
    nan = np.nan
    rows = []
    # glow / causal_pima: CPDAG SHD 0, 0, 2 -> 2 of 3 seeds in the true class
    for seed, (cpdag, shd, glow) in enumerate([(0, 0, 1.0), (0, 2, 0.9), (2, 1, 0.5)]):
        rows.append({"configuration": "glow", "seed": seed, "method": "causal_pima", "error": "", "cpdag_shd": cpdag,
                     "shd": shd, "shd_within_class": shd if cpdag == 0 else 0, "shd_real": shd if cpdag else 0,
                     "skeleton_f1": 1.0, "node_accuracy": 0.9, "node_accuracy_glow": glow, "ari": 0.8,
                     "interventional_tv": 0.1, "test_elbo": -10.0, "wall_seconds": 5.0})
    # glow / pima: no graph
    for seed in range(3):
        rows.append({"configuration": "glow", "seed": seed, "method": "pima", "error": "", "cpdag_shd": nan,
                     "node_accuracy": 0.8, "node_accuracy_glow": 0.7, "ari": 0.5, "test_elbo": -11.0, "wall_seconds": 4.0})
    # chain / causal_pima: one failed seed (no metrics) counts in the denominator
    for seed, cpdag in enumerate([0, nan, 1]):
        rows.append({"configuration": "chain", "seed": seed, "method": "causal_pima", "error": "" if seed != 1 else "RuntimeError: x",
                     "cpdag_shd": cpdag, "shd": 2 if seed != 1 else nan, "shd_within_class": 2 if seed == 0 else 0,
                     "shd_real": 2 if seed == 2 else 0, "node_accuracy": 1.0, "wall_seconds": 3.0})
    return pd.DataFrame(rows)


def _table(summary: str) -> dict[tuple[str, str], dict[str, str]]:
    lines = [line for line in summary.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    out = {}
    for line in lines[1:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        out[(cells[0], cells[1])] = dict(zip(header[2:], cells[2:], strict=True))
    return out


def test_summary_columns_exact_counts_and_glow_accuracy():
    summary, mlflow = summarise_benchmark(_results(), BENCHMARK)
    table = _table(summary)
    # rows without node counts (tables from before n_nodes: auto) get no node-count columns
    assert list(table[("glow", "causal_pima")]) == [m for m in SUMMARY_METRICS if m not in ("n_nodes", "n_nodes_right")]
    assert list(SUMMARY_METRICS)[:6] == ["n_nodes", "n_nodes_right", "cpdag_shd", "cpdag_exact", "shd_real", "shd_within_class"]
    row = table[("glow", "causal_pima")]
    assert row["cpdag_exact"] == "2/3"
    assert row["shd_within_class"] == "0.667 +- 0.94"  # seeds: 0, 2, 0
    assert row["shd_real"] == "0.333 +- 0.47"  # seeds: 0, 0, 1
    assert row["node_accuracy_glow"] == "0.8 +- 0.22"
    assert table[("glow", "pima")]["cpdag_exact"] == "-" and table[("glow", "pima")]["shd_real"] == "-"
    assert table[("chain", "causal_pima")]["cpdag_exact"] == "1/3"  # the failed seed is not exact
    assert table[("chain", "causal_pima")]["node_accuracy_glow"] == "-"
    assert mlflow["glow.causal_pima.cpdag_exact"]["value"] == 2 / 3
    assert mlflow["chain.causal_pima.cpdag_exact"]["value"] == 1 / 3
    assert "glow.pima.cpdag_exact" not in mlflow
    assert "FAILED: chain seed 1 causal_pima: RuntimeError: x" in summary
    assert "| shd |" not in summary  # compact: the plain SHD lives in results.csv only


def test_metric_ranges_cover_the_shd_split():
    results = _results()
    assert check_metric_ranges(results) == []
    results.loc[0, "shd_real"] = -1
    assert check_metric_ranges(results) == ["shd_real below 0: -1.0"]


def test_the_node_count_columns_count_the_seeds_with_the_true_number_of_features():
    results = _results()
    results["true_n_nodes"] = 4.0
    results["n_nodes"] = [4.0, 4.0, 5.0, 4.0, 4.0, 4.0, 3.0, np.nan, 3.0]  # glow auto: 2 of 3 right; chain: a failed seed
    table = _table(summarise_benchmark(results, BENCHMARK)[0])
    assert table[("glow", "causal_pima")]["n_nodes_right"] == "2/3"
    assert table[("glow", "causal_pima")]["n_nodes"] == "4.33 +- 0.47"
    assert table[("chain", "causal_pima")]["n_nodes_right"] == "0/3"


def test_rows_without_the_true_node_count_show_no_node_count_column():
    results = _results()
    results["n_nodes"] = 4.0  # two_stage rows, and rows written before true_n_nodes existed: no true count
    table = _table(summarise_benchmark(results, BENCHMARK)[0])
    assert table[("glow", "causal_pima")]["n_nodes_right"] == "-" and table[("glow", "causal_pima")]["n_nodes"] == "4 +- 0"
    results["true_n_nodes"] = np.nan
    assert _table(summarise_benchmark(results, BENCHMARK)[0])[("glow", "causal_pima")]["n_nodes_right"] == "-"
