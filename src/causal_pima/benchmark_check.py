"""The CI benchmark check (README "Benchmark", "The CI profile"): a run of ``--env ci`` against the
committed reference in ``benchmarks/reference/``.

    python -m causal_pima.benchmark_check compare            # exit 1 and the table of worse rows; 2: rows differ
    python -m causal_pima.benchmark_check write-reference    # ci_rows.csv, ci_meta.json, ci_results.md from the last run

``make benchmark-ci`` runs the profile then ``compare``; ``make benchmark-reference`` runs it then
``write-reference`` (the deliberate update: its diff shows in review). The comparison itself is
:func:`causal_pima.pipelines.benchmark.reference.worse_rows`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from causal_pima.pipelines.benchmark.reference import (
    TOLERANCES,
    ReferenceRowsError,
    with_wall_ratio,
    worse_rows,
)

# where the ci environment's catalog (conf/ci/catalog.yml) writes the run, and the committed reference
RESULTS = Path("data/08_reporting/benchmark_ci/results.csv")
RUN_INFO = Path("data/08_reporting/benchmark_ci/run_info.json")
SUMMARY = Path("data/08_reporting/benchmark_ci/results.md")
REFERENCE = Path("benchmarks/reference")
ROWS_FILE, META_FILE, TABLE_FILE = "ci_rows.csv", "ci_meta.json", "ci_results.md"


def _read_run(results: Path, run_info: Path) -> tuple[pd.DataFrame, dict]:
    for path in (results, run_info):
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: run the CI profile first "
                                    "(OMP_NUM_THREADS=1 kedro run --env ci --pipelines benchmark --runner ParallelRunner)")
    info = json.loads(run_info.read_text())
    return with_wall_ratio(pd.read_csv(results), info["plain_epoch_seconds"]), info


def compare(results: Path, run_info: Path, reference: Path) -> int:
    """Print the comparison; 0 when no row is worse, 1 with the table of worse rows, 2 when the rows differ."""
    fresh, info = _read_run(results, run_info)
    if not (reference / ROWS_FILE).is_file() or not (reference / META_FILE).is_file():
        raise FileNotFoundError(f"no reference in {reference} ({ROWS_FILE}, {META_FILE}): make benchmark-reference writes it")
    reference_rows = pd.read_csv(reference / ROWS_FILE)
    meta = json.loads((reference / META_FILE).read_text())
    print(f"fresh run: {info['date']}, commit {info['commit']}, {info['machine']}, torch {info['torch']}, "
          f"{info['threads']} thread(s), plain-VAE epoch {info['plain_epoch_seconds']:.3f} s")
    print(f"reference: {meta['date']}, commit {meta['commit']}, {meta['machine']}, torch {meta['torch']}, "
          f"{meta['threads']} thread(s), plain-VAE epoch {meta['plain_epoch_seconds']:.3f} s ({reference / ROWS_FILE})")
    if info["threads"] != meta["threads"] or info["torch"] != meta["torch"]:
        print("note: another torch version or thread count than the reference's changes the last digits of some metrics")
    try:
        worse = worse_rows(fresh, reference_rows)
    except ReferenceRowsError as exc:
        print(f"benchmark check: ERROR: {exc}", file=sys.stderr)
        return 2
    print(f"tolerances: {TOLERANCES}")
    if worse.empty:
        print(f"benchmark check: OK: none of the {len(fresh)} rows is worse than the reference")
        return 0
    rows = worse[["configuration", "seed", "method"]].drop_duplicates()
    print(f"benchmark check: FAILED: {len(rows)} of {len(fresh)} rows are worse than the reference:\n")
    print(worse.to_string(index=False))
    return 1


def write_reference(results: Path, run_info: Path, summary: Path, reference: Path, profile_seconds: float | None) -> int:
    """Write ``ci_rows.csv`` (the run's rows with ``wall_ratio``), ``ci_meta.json`` (the run's record
    and the profile's wall time) and ``ci_results.md`` (the run's ``results.md``, which the README
    includes) under ``reference``."""
    fresh, info = _read_run(results, run_info)
    if not summary.is_file():
        raise FileNotFoundError(f"{summary} does not exist: run the CI profile first")
    reference.mkdir(parents=True, exist_ok=True)
    fresh.to_csv(reference / ROWS_FILE, index=False)
    meta = {**info, "profile_wall_seconds": profile_seconds, "rows": len(fresh),
            "command": "make benchmark-reference (OMP_NUM_THREADS=1 kedro run --env ci --pipelines benchmark --runner ParallelRunner)"}
    (reference / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    (reference / TABLE_FILE).write_text(summary.read_text())
    print(f"wrote {reference / ROWS_FILE} ({len(fresh)} rows), {reference / META_FILE} (commit {info['commit']}) "
          f"and {reference / TABLE_FILE}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m causal_pima.benchmark_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["compare", "write-reference"])
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"the run's results.csv (default {RESULTS})")
    parser.add_argument("--run-info", type=Path, default=RUN_INFO, help=f"the run's run_info.json (default {RUN_INFO})")
    parser.add_argument("--summary", type=Path, default=SUMMARY, help=f"write-reference: the run's results.md (default {SUMMARY})")
    parser.add_argument("--reference", type=Path, default=REFERENCE, help=f"the reference folder (default {REFERENCE})")
    parser.add_argument("--profile-seconds", type=float, default=None, help="write-reference: the profile's wall time")
    args = parser.parse_args(argv)
    try:
        if args.action == "compare":
            return compare(args.results, args.run_info, args.reference)
        return write_reference(args.results, args.run_info, args.summary, args.reference, args.profile_seconds)
    except FileNotFoundError as exc:
        print(f"benchmark check: ERROR: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
