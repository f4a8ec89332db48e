"""Benchmark methods side by side, from the results of separate runs (``make benchmark-tables``).

The full benchmark (``kedro run --env causal_pima_only --pipelines benchmark``) and the peer method's
run (``--env peer``) write their rows to separate folders; this table sets them beside each other,
one line per configuration: for every method, how many seeds recovered the CPDAG exactly, the CPDAG
SHD (mean +- std) and the node accuracy (mean, its minimum over the seeds in brackets), then which
method is ahead (no worse on both means and better on one; ``-``: none)::

    python -m causal_pima.side_by_side OUT.md data/08_reporting/benchmark data/08_reporting/benchmark_peer

Each run folder holds ``results.csv`` (the rows) and ``results.md`` (its first line, ``Run: date,
commit, machine...``, is quoted above the table). ``--per-seed cpdag_shd,node_accuracy`` writes instead
one line per configuration and method with those metrics seed by seed (``0 / 1 / 2 / 3 / 4``; ``-``: a
failed or missing seed) and the mean wall time per row; ``--configurations`` keeps some, in that order. A failed row (non-empty ``error``) counts as a seed
that did not recover the graph and is named below the table. Pure pandas; the README includes the
file between ``benchmark-table`` markers (``readme_tables``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from causal_pima.pipelines.benchmark.reference import failed_rows


def method_cells(rows: pd.DataFrame) -> dict[str, object]:
    """One method's cells on one configuration: ``exact`` ('k/n'), ``cpdag_shd`` and ``node_accuracy``
    (text), and the means used to call who is ahead (``shd_mean``, ``accuracy_mean``; NaN when every
    seed failed)."""
    good = rows[~failed_rows(rows)]
    shd, accuracy = good["cpdag_shd"].astype(float), good["node_accuracy"].astype(float)
    exact = int((shd == 0).sum())
    if good.empty:
        return {"exact": f"0/{len(rows)}", "cpdag_shd": "failed", "node_accuracy": "failed",
                "shd_mean": float("nan"), "accuracy_mean": float("nan")}
    spread = f" +- {shd.std(ddof=1):.2g}" if len(shd) > 1 else ""
    return {"exact": f"{exact}/{len(rows)}", "cpdag_shd": f"{shd.mean():.2g}{spread}",
            "node_accuracy": f"{accuracy.mean():.3f} ({accuracy.min():.3f})",
            "shd_mean": float(shd.mean()), "accuracy_mean": float(accuracy.mean())}


def ahead(cells: dict[str, dict[str, object]]) -> str:
    """The method that dominates every other: CPDAG SHD mean no higher and node accuracy mean no lower,
    and better on at least one of the two (differences within 1e-9 are ties); ``-`` when none does
    (e.g. one has the lower SHD, the other the higher accuracy) or there is no rival."""
    names = [m for m, c in cells.items() if c["shd_mean"] == c["shd_mean"]]  # not NaN

    def dominates(a: dict, b: dict) -> bool:
        shd, accuracy = b["shd_mean"] - a["shd_mean"], a["accuracy_mean"] - b["accuracy_mean"]
        return shd >= -1e-9 and accuracy >= -1e-9 and (shd > 1e-9 or accuracy > 1e-9)

    for name in names:
        others = [cells[m] for m in names if m != name]
        if others and all(dominates(cells[name], other) for other in others):
            return name
    return "-"


def side_by_side_table(results: pd.DataFrame, headers: Sequence[str] = ()) -> str:
    """Markdown: ``headers`` (one line each), then one line per configuration (first-seen order) with
    every method's cells (first-seen order) and who is ahead, then the failed rows, if any.

    Args:
        results: rows of every run (``configuration``, ``seed``, ``method``, ``cpdag_shd``,
            ``node_accuracy``, optionally ``error``); a (configuration, seed, method) twice is refused.
    """
    duplicated = results.duplicated(["configuration", "seed", "method"])
    if duplicated.any():
        first = results[duplicated].iloc[0]
        raise ValueError(f"row {first['configuration']} seed {first['seed']} {first['method']} appears in more than one run")
    methods = list(dict.fromkeys(results["method"]))
    head = "| configuration | " + " | ".join(f"{m}: CPDAG SHD 0 | {m}: CPDAG SHD | {m}: node accuracy (min)" for m in methods)
    lines = [*(h for h in headers), "", head + " | ahead |", "|---|" + "---|---|---|" * len(methods) + "---|"]
    for configuration, rows in results.groupby("configuration", sort=False):
        cells = {m: method_cells(rows[rows["method"] == m]) for m in methods if (rows["method"] == m).any()}
        text = [f"{cells[m]['exact']} | {cells[m]['cpdag_shd']} | {cells[m]['node_accuracy']}" if m in cells else "- | - | -"
                for m in methods]
        lines.append(f"| {configuration} | " + " | ".join(text) + f" | {ahead(cells)} |")
    failed = results[failed_rows(results)]
    for _, row in failed.iterrows():
        lines.append(f"\nFailed: {row['configuration']} seed {row['seed']} {row['method']}: {row['error']}")
    return "\n".join(lines).lstrip("\n") + "\n"


def _seed_value(value: object, integral: bool) -> str:
    if value is None or value != value:  # NaN: a failed row
        return "-"
    return f"{float(value):.0f}" if integral else f"{float(value):.3f}"


def per_seed_table(results: pd.DataFrame, metrics: Sequence[str], configurations: Sequence[str] = (),
                   headers: Sequence[str] = ()) -> str:
    """Markdown: ``headers``, then one line per configuration (``configurations`` order, default first
    seen) and method with each of ``metrics`` seed by seed over the seeds of the whole table, and the
    mean ``wall_seconds`` of its rows. A failed row (non-empty ``error``) or a missing seed shows ``-``."""
    unknown = [m for m in metrics if m not in results]
    if unknown:
        raise ValueError(f"no column {unknown} in the results; columns: {list(results.columns)}")
    rows = results.copy()
    rows.loc[failed_rows(rows), list(metrics)] = float("nan")
    seeds = sorted(rows["seed"].unique())
    # counts (CPDAG SHD, n_nodes) as integers, fractions with 3 decimals
    integral = {m: bool((rows[m].dropna() == rows[m].dropna().round()).all()) for m in metrics}
    names = list(configurations) or list(dict.fromkeys(rows["configuration"]))
    missing = [c for c in names if c not in set(rows["configuration"])]
    if missing:
        raise ValueError(f"configurations {missing} are not in the results")
    seed_text = " / ".join(str(s) for s in seeds)
    lines = [*headers, "", "| configuration | method | " + " | ".join(f"{m} (seeds {seed_text})" for m in metrics)
             + " | wall s per row |", "|---|---|" + "---|" * len(metrics) + "---:|"]
    for configuration in names:
        for method, group in rows[rows["configuration"] == configuration].groupby("method", sort=False):
            by_seed = group.set_index("seed")
            cells = [" / ".join(_seed_value(by_seed[m].get(s), integral[m]) for s in seeds) for m in metrics]
            lines.append(f"| {configuration} | {method} | " + " | ".join(cells) + f" | {group['wall_seconds'].mean():.0f} |")
    return "\n".join(lines).lstrip("\n") + "\n"


def _header(folder: Path) -> str:
    summary = folder / "results.md"
    first = summary.read_text().splitlines()[0] if summary.exists() else ""
    return f"- `{folder}`: {first}" if first.startswith("Run:") else f"- `{folder}` (no run line in its results.md)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m causal_pima.side_by_side", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the Markdown file to write")
    parser.add_argument("runs", type=Path, nargs="+", help="run folders, each with results.csv and results.md")
    parser.add_argument("--per-seed", default="", help="comma-separated metrics: the per-seed table of them instead")
    parser.add_argument("--configurations", default="", help="comma-separated configurations to keep, in this order")
    args = parser.parse_args(argv)
    missing = [str(run / "results.csv") for run in args.runs if not (run / "results.csv").exists()]
    if missing:
        print(f"side_by_side: no results in {', '.join(missing)} (run that benchmark first)", file=sys.stderr)
        return 2
    results = pd.concat([pd.read_csv(run / "results.csv") for run in args.runs], ignore_index=True)
    headers = [_header(run) for run in args.runs]
    configurations = [c for c in args.configurations.split(",") if c]
    try:
        if args.per_seed:
            text = per_seed_table(results, [m for m in args.per_seed.split(",") if m], configurations, headers)
        else:
            text = side_by_side_table(results[results["configuration"].isin(configurations)] if configurations else results, headers)
    except ValueError as exc:
        print(f"side_by_side: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + ".partial")
    partial.write_text(text)
    partial.replace(args.out)  # never a half-written table
    print(f"side_by_side: {len(results)} rows -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
