"""``side_by_side``: methods of separate benchmark runs on one line per configuration (known answers)."""

from __future__ import annotations

import pandas as pd
import pytest

from causal_pima.side_by_side import ahead, main, method_cells, per_seed_table, side_by_side_table


def _rows(method: str, configuration: str, shds: list[float], accuracies: list[float], errors: list[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame({"configuration": configuration, "seed": range(len(shds)), "method": method, "cpdag_shd": shds,
                         "node_accuracy": accuracies, "error": errors or [""] * len(shds)})


def test_method_cells_known_answers():
    cells = method_cells(_rows("peer", "collider", [0, 2, 4], [1.0, 0.9, 0.8]))
    assert cells["exact"] == "1/3" and cells["cpdag_shd"] == "2 +- 2" and cells["node_accuracy"] == "0.900 (0.800)"
    assert cells["shd_mean"] == 2.0 and cells["accuracy_mean"] == pytest.approx(0.9)
    # a failed seed counts in n and never as exact; its metrics are not averaged
    failed = method_cells(_rows("peer", "collider", [0, float("nan")], [1.0, float("nan")], ["", "fit: ValueError: x"]))
    assert failed["exact"] == "1/2" and failed["node_accuracy"] == "1.000 (1.000)"
    assert method_cells(_rows("peer", "c", [float("nan")], [float("nan")], ["data: boom"]))["cpdag_shd"] == "failed"


def test_ahead_is_dominance_on_both_metrics():
    a = {"shd_mean": 0.0, "accuracy_mean": 1.0}
    assert ahead({"causal_pima": a, "peer": {"shd_mean": 3.0, "accuracy_mean": 0.85}}) == "causal_pima"
    assert ahead({"causal_pima": a, "peer": {"shd_mean": 0.0, "accuracy_mean": 0.85}}) == "causal_pima"  # a tie on SHD
    assert ahead({"causal_pima": a, "peer": dict(a)}) == "-"  # a tie on both
    assert ahead({"causal_pima": {"shd_mean": 12.0, "accuracy_mean": 0.85}, "peer": {"shd_mean": 11.0, "accuracy_mean": 0.76}}) == "-"
    assert ahead({"causal_pima": {"shd_mean": 12.0, "accuracy_mean": 0.85}, "peer": {"shd_mean": 8.0, "accuracy_mean": 0.9}}) == "peer"
    assert ahead({"causal_pima": a, "peer": {"shd_mean": float("nan"), "accuracy_mean": float("nan")}}) == "-"  # no rival


def test_table_from_two_runs():
    results = pd.concat([_rows("causal_pima", "collider", [0, 0], [1.0, 0.99]), _rows("causal_pima", "six", [12, 10], [0.85, 0.8]),
                         _rows("peer", "collider", [3, 1], [0.85, 0.9]), _rows("peer", "six", [8, 9], [0.9, 0.8])], ignore_index=True)
    text = side_by_side_table(results, ["- run a", "- run b"])
    lines = text.splitlines()
    assert lines[:2] == ["- run a", "- run b"]
    assert lines[3].startswith("| configuration | causal_pima: CPDAG SHD 0 | causal_pima: CPDAG SHD |") and lines[3].endswith("| ahead |")
    assert lines[5] == "| collider | 2/2 | 0 +- 0 | 0.995 (0.990) | 0/2 | 2 +- 1.4 | 0.875 (0.850) | causal_pima |"
    assert lines[6] == "| six | 0/2 | 11 +- 1.4 | 0.825 (0.800) | 0/2 | 8.5 +- 0.71 | 0.850 (0.800) | peer |"
    with pytest.raises(ValueError, match="row collider seed 0 peer appears in more than one run"):
        side_by_side_table(pd.concat([results, results.iloc[[4]]], ignore_index=True))


def test_cli_writes_the_table_and_names_a_missing_run(tmp_path, capsys):
    for name, method in (("full", "causal_pima"), ("peer", "peer")):
        (tmp_path / name).mkdir()
        _rows(method, "collider", [0], [1.0]).to_csv(tmp_path / name / "results.csv", index=False)
    (tmp_path / "full" / "results.md").write_text("Run: 2026-12-08T00:00:00Z, commit abc\n\ntable\n")
    out = tmp_path / "table" / "side_by_side.md"
    assert main([str(out), str(tmp_path / "full"), str(tmp_path / "peer")]) == 0
    text = out.read_text()
    assert f"- `{tmp_path / 'full'}`: Run: 2026-12-08T00:00:00Z, commit abc" in text and "(no run line in its results.md)" in text
    assert "| collider | 1/1 | 0 | 1.000 (1.000) | 1/1 | 0 | 1.000 (1.000) | - |" in text
    assert main([str(out), str(tmp_path / "none")]) == 2 and "none/results.csv" in capsys.readouterr().err


def test_per_seed_table_known_answer():
    results = pd.concat([_rows("causal_pima", "six", [13, 11, 12], [0.81, 0.9, 0.835]),
                         _rows("causal_pima", "five", [0, 0, float("nan")], [1.0, 0.999, float("nan")], ["", "", "fit: boom"])],
                        ignore_index=True).assign(wall_seconds=[140, 150, 130, 100, 100, 10])
    text = per_seed_table(results, ["cpdag_shd", "node_accuracy"], ["five", "six"], ["- run"])
    lines = text.splitlines()
    assert lines[0] == "- run" and lines[2] == ("| configuration | method | cpdag_shd (seeds 0 / 1 / 2) | "
                                                "node_accuracy (seeds 0 / 1 / 2) | wall s per row |")
    assert lines[4] == "| five | causal_pima | 0 / 0 / - | 1.000 / 0.999 / - | 70 |"  # the failed seed shows '-'
    assert lines[5] == "| six | causal_pima | 13 / 11 / 12 | 0.810 / 0.900 / 0.835 | 140 |"
    with pytest.raises(ValueError, match="no column \\['ari'\\]"):
        per_seed_table(results, ["ari"])
    with pytest.raises(ValueError, match="configurations \\['eight'\\] are not in the results"):
        per_seed_table(results, ["cpdag_shd"], ["eight"])
