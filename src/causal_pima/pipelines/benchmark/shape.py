"""The benchmark's shape: which (configuration, seed, method) rows its pipeline has.

``benchmark.configurations``, ``benchmark.seeds``, ``benchmark.seeds_by_configuration`` and
``benchmark.methods`` decide the pipeline's nodes (one namespace per configuration and seed, one row
node per method), so they are read when the pipeline is created, before any run parameter exists
(Kedro's "dynamic pipelines"): :func:`shape_from_parameters` makes the shape from the ``benchmark``
group of the parameter files, which :mod:`causal_pima.benchmark_shape` reads for the pipeline
registry (and passes to ``pipeline.create_pipeline``), for the hook that refuses a run whose lists
changed (:func:`shape_problems`) and for the namespaces of a job array. This module reads no file
and keeps no state.

``kedro run --params benchmark.seeds=...`` therefore cannot change the shape; the hook stops such a
run before any node runs, saying to edit the file or use a ``conf/<env>`` override with ``--env``.
The other benchmark values (``n_specimens``, ``pretraining``, ``causal_pima``) are read by the nodes
at run time and may come from ``--params``.

A configuration is a name of ``circles.configurations`` (circles generated with that true graph), or
``lattice``: the lattice stand-in (``causal_pima.data.lattice``, parameters ``lattice_synthetic``).
Each reads its own parameter groups (:func:`configuration_parameters`). Every configuration runs on
``benchmark.seeds`` unless ``benchmark.seeds_by_configuration`` gives it its own list
(``{lattice: [0, 1, 2]}``).

This module imports no torch: ``settings.py`` imports it (through the hook).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from causal_pima.pipelines.benchmark.methods import METHODS
from causal_pima.pipelines.parameters import DEFAULT_DATASET, SHARED_STAGES, stage_parameters
from causal_pima.run_refusal import RunRefusedError

SHAPE_KEYS = ("configurations", "seeds", "seeds_by_configuration", "methods")
# configuration names that mean a stand-in data set instead of a circles configuration: name -> data set
LATTICE = "lattice"
STAND_INS = {LATTICE: "lattice"}
# the generator groups: circles (its configuration and seed replaced per row), or the stand-in's
GENERATORS = {DEFAULT_DATASET: "circles", "lattice": "lattice_synthetic"}
INGESTION = {"lattice": "lattice_ingestion"}  # stand-ins brought to the raw specimen form as ingestion does
# the gather and summary nodes' namespace (benchmark.report.*), so no configuration may be named so
REPORT = "report"
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # a name that can be one level of a node namespace


def lattice_extra_modalities_problem(extra_modalities) -> str:
    """Why ``benchmark.extra_modalities`` cannot run with the lattice stand-in (its specimens have an image
    and a curve only): the parameter schema refuses such a run before any node runs."""
    return (f"benchmark.extra_modalities = {list(extra_modalities)} with {LATTICE!r} in benchmark.configurations: the "
            f"{LATTICE} stand-in has no {' / '.join(extra_modalities)} modality (image and curve only); allowed: "
            "benchmark.extra_modalities = [] with the lattice, or configurations without it (conf/scalar: "
            "kedro run --env scalar --pipelines benchmark)")


def configuration_dataset(configuration: str) -> str:
    """The data set a configuration's rows use: ``lattice`` for the stand-in, else ``circles``."""
    return STAND_INS.get(configuration, DEFAULT_DATASET)


def configuration_parameters(configuration: str) -> dict[str, str]:
    """The parameter group each step of a configuration reads, by role: ``generator`` (``circles``, or
    ``lattice_synthetic``), ``ingestion`` (stand-ins only: ``lattice_ingestion``) and the shared stages
    ``data_processing``, ``model``, ``pretraining``, ``causal_pima`` (``<stage>`` for circles,
    ``<stage>_lattice`` for the lattice, as the data sets' own pipelines read them)."""
    dataset = configuration_dataset(configuration)
    groups = {"generator": GENERATORS[dataset]}
    if dataset in INGESTION:
        groups["ingestion"] = INGESTION[dataset]
    for stage in SHARED_STAGES:
        groups[stage] = stage_parameters(stage, dataset)[f"params:{stage}"].removeprefix("params:")
    return groups


@dataclass(frozen=True)
class BenchmarkShape:
    """The lists the pipeline is built from; ``problems``: entries left out, and why.

    ``seeds_by_configuration``: ``(configuration, seeds)`` pairs for the listed configurations that do
    not run on ``seeds`` (in configuration order; an entry for a configuration that is not listed makes
    no rows and is left out).
    """

    configurations: tuple[str, ...]
    seeds: tuple[int, ...]
    methods: tuple[str, ...]
    problems: tuple[str, ...] = ()
    source: str = ""
    seeds_by_configuration: tuple[tuple[str, tuple[int, ...]], ...] = ()

    def seeds_of(self, configuration: str) -> tuple[int, ...]:
        """The seeds ``configuration`` runs on: its own list, else ``seeds``."""
        return dict(self.seeds_by_configuration).get(configuration, self.seeds)

    def groups(self) -> list[tuple[str, int]]:
        """Every (configuration, seed), in table order: one namespace ``benchmark.<c>.seed_<s>`` each."""
        return [(c, s) for c in self.configurations for s in self.seeds_of(c)]

    @property
    def n_rows(self) -> int:
        return len(self.groups()) * len(self.methods)

    def lists(self) -> dict[str, Any]:
        """The shape as the parameter files give it (``seeds_by_configuration`` as a dict of lists)."""
        return {
            "configurations": list(self.configurations),
            "seeds": list(self.seeds),
            "seeds_by_configuration": {c: list(seeds) for c, seeds in self.seeds_by_configuration},
            "methods": list(self.methods),
        }


def shape_from_parameters(benchmark: Mapping[str, Any] | None, source: str = "") -> BenchmarkShape:
    """The shape from a ``benchmark`` parameter group. Never raises: an entry that cannot be a row
    is left out and named in ``problems`` (the run then stops on them, not the pipeline registry)."""
    problems: list[str] = []
    if not isinstance(benchmark, Mapping):
        return BenchmarkShape((), (), (), (f"no benchmark parameter group (got {type(benchmark).__name__})",), source)

    def entries(key: str, default: tuple = ()) -> list:
        value = benchmark.get(key, default)
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            problems.append(f"benchmark.{key} = {value!r}: must be a list")
            return []
        return list(value)

    configurations: list[str] = []
    for name in entries("configurations"):
        if not isinstance(name, str) or not _NAME.match(name) or name == REPORT:
            problems.append(f"benchmark.configurations: {name!r} cannot name a namespace (letters, digits, _ and -; not {REPORT!r})")
        elif name not in configurations:
            configurations.append(name)

    def seed_list(values: list, key: str) -> list[int]:
        seeds: list[int] = []
        for seed in values:
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                problems.append(f"{key}: {seed!r} is not an integer >= 0")
            elif seed not in seeds:
                seeds.append(seed)
        return seeds

    seeds = seed_list(entries("seeds"), "benchmark.seeds")
    own_seeds: dict[str, tuple[int, ...]] = {}
    by_configuration = benchmark.get("seeds_by_configuration") or {}
    if not isinstance(by_configuration, Mapping):
        problems.append(f"benchmark.seeds_by_configuration = {by_configuration!r}: must be a mapping {{configuration: [seeds]}}")
        by_configuration = {}
    for name, values in by_configuration.items():
        key = f"benchmark.seeds_by_configuration.{name}"
        if name not in configurations:
            continue  # no rows: an environment may list fewer configurations (a misspelt name: parameter_schemas)
        if isinstance(values, str | bytes) or not isinstance(values, list | tuple):
            problems.append(f"{key} = {values!r}: must be a list")
        elif listed := seed_list(list(values), key):
            own_seeds[name] = tuple(listed)
        else:
            problems.append(f"{key}: lists no seed (leave the configuration out of benchmark.configurations instead)")
    methods: list[str] = []
    for method in entries("methods", tuple(METHODS)):
        if method not in METHODS:
            problems.append(f"benchmark.methods: {method!r} is not one of {list(METHODS)}")
        elif method not in methods:
            methods.append(method)
    return BenchmarkShape(tuple(configurations), tuple(seeds), tuple(methods), tuple(problems), source,
                          tuple((c, own_seeds[c]) for c in configurations if c in own_seeds))


def shape_problems(built: BenchmarkShape, parameters: Mapping[str, Any]) -> list[str]:
    """Why a run of the pipeline built as ``built`` cannot run with these (run-time) parameters."""
    problems = list(built.problems)
    running = shape_from_parameters(parameters.get("benchmark"))
    running_lists, built_lists = running.lists(), built.lists()
    for key in SHAPE_KEYS:
        if running_lists[key] != built_lists[key]:
            problems.append(
                f"benchmark.{key} = {running_lists[key]} in this run, but the benchmark pipeline was built with "
                f"{built_lists[key]} from {built.source or 'the parameter files'}"
            )
    if problems:
        problems.append(
            "benchmark.configurations, .seeds, .seeds_by_configuration and .methods make the pipeline's nodes and are "
            "read from the parameter "
            "files when the pipeline is created: --params cannot change them. Edit conf/base/parameters_benchmark.yml, "
            "or put the group in conf/<env>/parameters_benchmark.yml and run with --env <env>; to run some rows "
            "only, use --namespaces benchmark.<configuration> or benchmark.<configuration>.seed_<seed>."
        )
    return problems


class BenchmarkShapeError(ValueError, RunRefusedError):
    """The benchmark's shape lists at run time differ from those its pipeline was built with."""


# ---------------------------------------------------------------------------- namespaces for cluster jobs
def group_namespaces(shape: BenchmarkShape) -> list[str]:
    """``benchmark.<configuration>.seed_<seed>`` for every configuration and its seeds, in table order."""
    return [f"benchmark.{c}.seed_{s}" for c, s in shape.groups()]
