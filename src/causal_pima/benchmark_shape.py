"""The benchmark's shape as the session's parameter files give it (issue 21, item 4: no module state).

One function, :func:`file_benchmark_shape`, reads it: the ``benchmark`` group of the parameter files
of the session's conf source and environment (:func:`causal_pima.session_parameters.file_parameters`;
outside a session the project holding the working directory and ``$KEDRO_ENV``, else the loader's
default environment ``local``), ``--params`` left out. Its callers:

- ``pipeline_registry.register_pipelines`` builds the benchmark pipeline from it (passed in, never
  remembered);
- :class:`BenchmarkShapeHook` computes it again when a benchmark run starts and stops the run when the
  run-time lists (``--params``) differ or the files' lists had invalid entries
  (:func:`causal_pima.pipelines.benchmark.shape.shape_problems`): the same function of the same
  session's files, so the same shape the pipeline was built with;
- ``python -m causal_pima.benchmark_shape [--env ENV] [--rows]`` prints the namespaces, one a line,
  for a job array over ``kedro run --namespaces``.

The shape itself (a pure function of the group) is :mod:`causal_pima.pipelines.benchmark.shape`.
This module imports no torch: ``settings.py`` imports it for the hook.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from causal_pima.pipelines.benchmark.shape import (
    BenchmarkShape,
    BenchmarkShapeError,
    group_namespaces,
    shape_from_parameters,
    shape_problems,
)
from causal_pima.session_parameters import file_parameters

logger = logging.getLogger(__name__)


def read_benchmark_parameters(conf_source: str | Path | None = None, env: str | None = None) -> tuple[Mapping[str, Any] | None, str]:
    """The ``benchmark`` group as the parameter files give it (no ``--params``), and where it was read.

    ``conf_source`` / ``env``: default the session's (recorded by
    :class:`causal_pima.session_parameters.SessionParametersHook`), else the project's ``conf``
    folder and ``$KEDRO_ENV`` (``None``: the loader's ``default_run_env``).
    """
    parameters, source = file_parameters(conf_source, env)
    return parameters.get("benchmark"), source


def file_benchmark_shape(conf_source: str | Path | None = None, env: str | None = None) -> BenchmarkShape:
    """The benchmark's shape from the parameter files (:func:`read_benchmark_parameters`)."""
    return shape_from_parameters(*read_benchmark_parameters(conf_source, env))


def is_benchmark_run(pipeline) -> bool:
    """Whether a run's pipeline has benchmark nodes (namespace ``benchmark.*``)."""
    return any(n.namespace and n.namespace.split(".")[0] == "benchmark" for n in pipeline.nodes)


class BenchmarkShapeHook:
    """Stops a benchmark run whose shape lists changed after its pipeline was created (``--params``)
    or had invalid entries.

    ``built_shape``: the shape the run's pipeline was built with, computed when the run starts
    (default :func:`file_benchmark_shape`, what the pipeline registry builds from).
    """

    def __init__(self, built_shape: Callable[[], BenchmarkShape] = file_benchmark_shape) -> None:
        self._built_shape = built_shape

    @hook_impl(tryfirst=True)  # before kedro-mlflow opens a run
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        if not is_benchmark_run(pipeline):
            return
        parameters = catalog["parameters"].load() if "parameters" in catalog else {}
        problems = shape_problems(self._built_shape(), parameters)
        if problems:
            raise BenchmarkShapeError("The benchmark cannot run:\n- " + "\n- ".join(problems))
        if "ParallelRunner" in str(run_params.get("runner")) and os.environ.get("OMP_NUM_THREADS") != "1":
            logger.warning(
                "ParallelRunner without OMP_NUM_THREADS=1: every worker process trains with as many torch threads as "
                "there are cores, so the workers compete for them (4.5x slower in one measurement on 2 shared cores). Run "
                "OMP_NUM_THREADS=1 kedro run --pipelines benchmark --runner ParallelRunner (the same numbers as a "
                "sequential run with OMP_NUM_THREADS=1; another thread count changes the last digits)."
            )


def main(argv: list[str] | None = None) -> int:
    """``python -m causal_pima.benchmark_shape [--env ENV] [--rows]``: one namespace per line
    (per configuration and seed; with ``--rows`` per row), for a job array over ``kedro run --namespaces``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m causal_pima.benchmark_shape", description=main.__doc__)
    parser.add_argument("--env", default=None, help="configuration environment (as kedro run --env)")
    parser.add_argument("--conf-source", default=None, help="configuration folder (default: the project's conf/)")
    parser.add_argument("--rows", action="store_true", help="one namespace per (configuration, seed, method)")
    args = parser.parse_args(argv)
    shape = file_benchmark_shape(args.conf_source, args.env)
    for problem in shape.problems:
        print(f"left out: {problem}", file=sys.stderr)
    groups = group_namespaces(shape)
    lines = [f"{g}.{m}" for g in groups for m in shape.methods] if args.rows else groups
    print("\n".join(lines))
    return 1 if shape.problems else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
