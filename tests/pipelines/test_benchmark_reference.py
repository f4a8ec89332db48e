"""The CI benchmark check (issue 22): the comparison with the committed reference, its CLI, the ci profile.

Hand-made rows, no benchmark run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causal_pima.benchmark_check import RESULTS, RUN_INFO
from causal_pima.benchmark_check import main as check_main
from causal_pima.benchmark_shape import read_benchmark_parameters
from causal_pima.pipelines.benchmark.reference import (
    TOLERANCES,
    ReferenceRowsError,
    with_wall_ratio,
    worse_rows,
)
from causal_pima.pipelines.benchmark.shape import shape_from_parameters


def _rows(**changes) -> pd.DataFrame:
    """Three reference-like rows (wall_ratio 100 each); ``changes``: {"<configuration>.<column>": value}."""
    rows = [
        {"configuration": "collider", "seed": 0, "method": "causal_pima", "error": "", "cpdag_shd": 0.0,
         "node_accuracy": 1.0, "ari": 1.0, "wall_ratio": 100.0},
        {"configuration": "chain", "seed": 1, "method": "two_stage", "error": "", "cpdag_shd": 2.0,
         "node_accuracy": 0.86, "ari": 0.85, "wall_ratio": 40.0},
        {"configuration": "glow", "seed": 0, "method": "pima", "error": "", "cpdag_shd": np.nan,
         "node_accuracy": 0.95, "ari": 0.97, "wall_ratio": 110.0},
    ]
    for name, value in changes.items():
        configuration, column = name.split(".")
        next(r for r in rows if r["configuration"] == configuration)[column] = value
    return pd.DataFrame(rows)


def test_equal_or_better_rows_are_not_listed():
    reference = _rows()
    assert worse_rows(reference, reference).empty
    better = _rows(**{"chain.cpdag_shd": 0.0, "chain.node_accuracy": 0.99, "chain.ari": 0.99, "collider.wall_ratio": 50.0,
                      "glow.cpdag_shd": 3.0})  # a metric the reference lacks (pima: no graph) is not compared
    assert worse_rows(better, reference).empty
    # inside the tolerances: node accuracy 0.01 lower, wall ratio exactly 2x
    within = _rows(**{"chain.node_accuracy": 0.85, "collider.wall_ratio": 200.0})
    assert TOLERANCES.node_accuracy == 0.01 and TOLERANCES.wall_ratio_factor == 2.0
    assert worse_rows(within, reference).empty


def test_worse_rows_are_listed_with_the_check_they_fail():
    worse = worse_rows(_rows(**{"collider.cpdag_shd": 1.0, "collider.wall_ratio": 201.0, "chain.ari": 0.83,
                                "glow.node_accuracy": np.nan}), _rows())
    assert worse[["configuration", "seed", "method", "check"]].values.tolist() == [
        ["collider", 0, "causal_pima", "cpdag_shd"],
        ["collider", 0, "causal_pima", "wall_ratio"],
        ["chain", 1, "two_stage", "ari"],
        ["glow", 0, "pima", "node_accuracy"],  # a metric the reference has, missing now
    ]
    assert worse["reference"].tolist()[:3] == [0.0, 100.0, 0.85] and worse["fresh"].tolist()[:3] == [1.0, 201.0, 0.83]
    assert worse["limit"].iloc[0] == "<= reference + 0 = 0" and worse["limit"].iloc[2] == ">= reference - 0.01 = 0.84"


def test_a_failed_row_is_worse_than_a_successful_reference_row():
    worse = worse_rows(_rows(**{"glow.error": "fit: RuntimeError: nan", "glow.ari": np.nan}), _rows())
    assert worse[["configuration", "check", "fresh"]].values.tolist() == [["glow", "error", "fit: RuntimeError: nan"]]
    # both failed: nothing to compare (the reference's metrics are missing)
    failed = _rows(**{"glow.error": "data: ValueError", "glow.node_accuracy": np.nan, "glow.ari": np.nan, "glow.wall_ratio": np.nan})
    assert worse_rows(failed, failed).empty


def test_a_missing_or_extra_row_is_an_error_naming_it():
    reference = _rows()
    with pytest.raises(ReferenceRowsError, match=r"missing from the fresh run: chain seed 1 two_stage$"):
        worse_rows(reference[reference["configuration"] != "chain"], reference)
    extra = pd.concat([reference, _rows().iloc[[0]].assign(seed=5)])
    with pytest.raises(ReferenceRowsError, match="not in the reference .*: collider seed 5 causal_pima"):
        worse_rows(extra, reference)
    with pytest.raises(ReferenceRowsError, match=r"repeat .* \[\('collider', 0, 'causal_pima'\)\]"):
        worse_rows(pd.concat([reference, reference.iloc[[0]]]), reference)


def test_wall_ratio_is_wall_over_the_plain_epoch_and_errors_read_back_empty():
    results = pd.DataFrame({"configuration": ["glow", "chain"], "seed": [0, 0], "method": ["causal_pima"] * 2,
                            "error": [np.nan, "boom"], "wall_seconds": [80.0, 40.0]})
    table = with_wall_ratio(results, 0.5)
    assert table["configuration"].tolist() == ["chain", "glow"] and table["wall_ratio"].tolist() == [80.0, 160.0]
    assert table["error"].tolist() == ["boom", ""]
    with pytest.raises(ValueError, match="plain_epoch_seconds must be > 0"):
        with_wall_ratio(results, 0.0)


def _write_run(folder, rows: pd.DataFrame, epoch: float) -> tuple[str, str]:
    results, info = folder / "results.csv", folder / "run_info.json"
    rows.assign(wall_seconds=rows["wall_ratio"] * epoch).drop(columns="wall_ratio").to_csv(results, index=False)
    info.write_text(json.dumps({"date": "2026-12-08T00:00:00Z", "commit": "abc", "machine": "Linux x86_64, 2 cores",
                                "torch": "2.13.0+cpu", "threads": 1, "plain_epoch_seconds": epoch}))
    return str(results), str(info)


def test_the_cli_writes_a_reference_then_fails_with_the_table_of_worse_rows(tmp_path, capsys):
    reference = tmp_path / "reference"
    results, info = _write_run(tmp_path, _rows(), 0.5)
    (tmp_path / "results.md").write_text("Run: ...\n| table |\n")
    assert check_main(["write-reference", "--results", results, "--run-info", info, "--reference", str(reference),
                       "--summary", str(tmp_path / "results.md"), "--profile-seconds", "600"]) == 0
    assert (reference / "ci_results.md").read_text() == "Run: ...\n| table |\n"
    meta = json.loads((reference / "ci_meta.json").read_text())
    assert meta["commit"] == "abc" and meta["profile_wall_seconds"] == 600 and meta["rows"] == 3
    assert pd.read_csv(reference / "ci_rows.csv")["wall_ratio"].tolist() == [40.0, 100.0, 110.0]
    args = ["--results", results, "--run-info", info, "--reference", str(reference)]
    # a slower machine (every wall time and the epoch 3x) is not a regression
    _write_run(tmp_path, _rows(), 1.5)
    assert check_main(["compare", *args]) == 0 and "OK: none of the 3 rows is worse" in capsys.readouterr().out
    _write_run(tmp_path, _rows(**{"collider.cpdag_shd": 2.0}), 0.5)
    assert check_main(["compare", *args]) == 1
    out = capsys.readouterr().out
    assert "FAILED: 1 of 3 rows are worse" in out and re.search(r"\n +collider +0 causal_pima cpdag_shd +0.0 +2.0 +<= reference \+ 0 = 0\n", out)
    _write_run(tmp_path, _rows().iloc[:2], 0.5)
    assert check_main(["compare", *args]) == 2 and "missing from the fresh run: glow seed 0 pima" in capsys.readouterr().err
    assert check_main(["compare", *args[:4], "--reference", str(tmp_path / "none")]) == 2
    assert "make benchmark-reference writes it" in capsys.readouterr().err


def test_the_ci_profile_names_the_required_configurations():
    benchmark, source = read_benchmark_parameters(env="ci")
    shape = shape_from_parameters(benchmark, source)
    assert not shape.problems and "ci" in source
    assert set(shape.configurations) >= {"collider", "chain", "xor", "glow", "five", "lattice"}
    assert all(len(shape.seeds_of(c)) >= 2 for c in shape.configurations)
    assert "causal_pima" in shape.methods and set(shape.methods) & {"pima", "image_only", "two_stage"}
    assert benchmark["n_specimens"] < 6000 and benchmark["lattice_n_specimens"] < 2000  # reduced sizes
    # its rows and tables in their own folder (never the full benchmark's), where the check reads them
    from causal_pima import settings

    root = Path(__file__).resolve().parents[2]
    catalog = settings.CONFIG_LOADER_CLASS(conf_source=str(root / "conf"), env="ci", **settings.CONFIG_LOADER_ARGS)["catalog"]
    assert catalog["benchmark.results"]["dataset"]["filepath"] == str(RESULTS)
    assert catalog["benchmark.run_info"]["filepath"] == str(RUN_INFO)
    assert catalog["benchmark.{configuration}.{seed}.{method}.row"]["filepath"].startswith("data/07_model_output/benchmark_ci/")


def test_every_benchmark_environment_writes_all_its_outputs_in_its_own_folders():
    """An environment that moves some of the benchmark's outputs must move all of them: one left at
    the base path would overwrite the full benchmark's (conf/peer once wrote run_info.json there)."""
    from causal_pima import settings

    root = Path(__file__).resolve().parents[2]
    outputs = ("benchmark.{configuration}.{seed}.{method}.row", "benchmark.results", "benchmark.summary", "benchmark.run_info")

    def path_of(entry: dict) -> str:
        return entry.get("filepath") or entry["dataset"]["filepath"]

    base = settings.CONFIG_LOADER_CLASS(conf_source=str(root / "conf"), env="base", **settings.CONFIG_LOADER_ARGS)["catalog"]
    moved = 0
    for env in sorted(p.name for p in (root / "conf").iterdir() if (p / "catalog.yml").exists() and p.name != "base"):
        own = settings.CONFIG_LOADER_CLASS(conf_source=str(root / "conf"), env=env, **settings.CONFIG_LOADER_ARGS)["catalog"]
        if all(path_of(own[key]) == path_of(base[key]) for key in outputs):
            continue  # the environment does not touch the benchmark
        moved += 1
        for key in outputs:
            assert path_of(own[key]) != path_of(base[key]), f"conf/{env}/catalog.yml leaves {key} at the full benchmark's path"
            assert f"benchmark_{env}/" in path_of(own[key]), f"conf/{env}: {key} outside benchmark_{env}/"
    assert moved >= 5  # ci, peer, auto_d, small_n_300, small_n_600
