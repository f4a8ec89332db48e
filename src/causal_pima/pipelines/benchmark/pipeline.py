"""``benchmark``: one modular pipeline per (configuration, seed, method), then the table.

Generated from ``benchmark.configurations``, ``.seeds``, ``.seeds_by_configuration`` and ``.methods``
(read from the parameter files when the pipeline is registered and passed in: ``shape.py``,
``causal_pima.benchmark_shape``). A configuration is a
circles configuration or ``lattice`` (the lattice stand-in); each reads its own parameter groups
(``shape.configuration_parameters``): ``circles``, ``data_processing``, ``model``, ``pretraining``,
``causal_pima``, or ``lattice_synthetic``, ``lattice_ingestion``, ``data_processing_lattice``,
``model_lattice``, ``pretraining_lattice``, ``causal_pima_lattice``. For configuration ``c`` and
seed ``s``, namespace ``benchmark.c.seed_s``:

- ``generate_data`` -> ``benchmark.c.seed_s.data`` (generation, for the lattice ingestion, and
  processing, once);
- ``pretrain_image_curve`` / ``pretrain_image`` -> ``benchmark.c.seed_s.pretrained_image_curve`` /
  ``..._image`` (once per set of modalities: causal_pima, pima and two_stage share the multimodal
  networks, on image + curve and the run-time ``benchmark.extra_modalities``, image_only has its own;
  only those the methods need);
- per method ``m``, namespace ``benchmark.c.seed_s.m``: ``run_method`` -> ``benchmark.c.seed_s.m.row``
  (one row, a failure caught into its ``error``; saved by the catalog's
  ``benchmark.{configuration}.{seed}.{method}.row`` factory, one JSON file per row);

then ``benchmark.report.gather_rows`` (every row -> ``benchmark.results``),
``benchmark.report.describe_run`` (``benchmark.run_info``: the run's date, commit, machine, torch,
threads and a plain-VAE epoch timed in it) and ``benchmark.report.summarise_benchmark``
(``benchmark.summary``, ``benchmark.metrics``).

Independent rows run at once with ``--runner ParallelRunner``; ``--namespaces benchmark.c`` or
``benchmark.c.seed_s`` runs some rows only (a cluster job each), ``--namespaces benchmark.report``
the table from the rows already written.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from functools import partial
from typing import Any

from kedro.pipeline import Pipeline, node

from causal_pima.pipelines.benchmark import nodes
from causal_pima.pipelines.benchmark.methods import METHODS
from causal_pima.pipelines.benchmark.run_info import describe_run
from causal_pima.pipelines.benchmark.shape import (
    LATTICE,
    REPORT,
    BenchmarkShape,
    configuration_parameters,
    shape_from_parameters,
)


def group_namespace(configuration: str, seed: int) -> str:
    """``benchmark.<configuration>.seed_<seed>``: the data, pretraining and rows of one configuration and seed."""
    return f"benchmark.{configuration}.seed_{int(seed)}"


def row_namespace(configuration: str, seed: int, method: str) -> str:
    """``benchmark.<configuration>.seed_<seed>.<method>``: one row."""
    return f"{group_namespace(configuration, seed)}.{method}"


def row_dataset(configuration: str, seed: int, method: str) -> str:
    return f"{row_namespace(configuration, seed, method)}.row"


class _Bound:
    """``func`` with keyword arguments fixed, named and signed like ``func`` without them.

    Not a ``functools.partial``: ``multiprocessing`` pickles a partial without its ``__dict__``, so the
    ``__name__`` that ``update_wrapper`` gives it is lost in ``ParallelRunner``'s worker processes.
    """

    def __init__(self, func, **kwargs: Any) -> None:
        self.func = func
        self.kwargs = kwargs
        self.__name__ = func.__name__
        self.__qualname__ = func.__qualname__
        self.__module__ = func.__module__
        self.__doc__ = func.__doc__
        # typing.get_type_hints (kedro's parameter validation reads them) resolves these in func's globals
        self.__wrapped__ = func
        self.__annotations__ = {k: v for k, v in getattr(func, "__annotations__", {}).items() if k not in kwargs}

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(partial(self.func, **self.kwargs))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **self.kwargs, **kwargs)

    def __repr__(self) -> str:
        return f"{self.__name__}({', '.join(f'{k}={v!r}' for k, v in self.kwargs.items())})"




def _params(*pipelines: Pipeline) -> set[str]:
    """The parameters the nodes read, left without a namespace prefix."""
    return {name for p in pipelines for name in p.inputs() if name.startswith("params:")}


def _row_pipeline(configuration: str, seed: int, method: str) -> Pipeline:
    """Namespace ``<method>``: ``run_method`` (inputs ``data`` and the pretrained networks it uses) -> ``row``."""
    pretrained = f"pretrained_{METHODS[method].pretraining}"
    fit = f"params:{configuration_parameters(configuration)['causal_pima']}"
    run = node(_Bound(nodes.run_method, configuration=configuration, seed=seed, method=method),
               ["data", pretrained, fit, "params:benchmark"], "row", name="run_method")
    return Pipeline([run], namespace=method, inputs={"data", pretrained}, parameters=_params(Pipeline([run])))


def _data_node(configuration: str, seed: int):
    """``generate_data``: circles of ``configuration`` (``benchmark.n_specimens`` of them), or the lattice stand-in."""
    groups = {role: f"params:{name}" for role, name in configuration_parameters(configuration).items()}
    if configuration == LATTICE:
        return node(_Bound(nodes.generate_lattice_data, seed=seed),
                    [groups["generator"], groups["ingestion"], groups["data_processing"], "params:benchmark"], "data",
                    name="generate_data")
    return node(_Bound(nodes.generate_data, configuration=configuration, seed=seed),
                [groups["generator"], groups["data_processing"], "params:benchmark"], "data", name="generate_data")


def group_pipeline(configuration: str, seed: int, methods: tuple[str, ...]) -> Pipeline:
    """Namespace ``benchmark.<configuration>.seed_<seed>``: data once, each pretraining the methods
    need once, then one row pipeline per method."""
    groups = configuration_parameters(configuration)
    steps = [_data_node(configuration, seed)]
    for name in dict.fromkeys(METHODS[m].pretraining for m in methods):
        steps.append(node(_Bound(nodes.pretrain, seed=seed, pretraining=name),
                          ["data", f"params:{groups['model']}", f"params:{groups['pretraining']}", "params:benchmark"],
                          f"pretrained_{name}", name=f"pretrain_{name}"))
    inner = Pipeline([Pipeline(steps), *(_row_pipeline(configuration, seed, m) for m in methods)])
    return Pipeline(inner, namespace=group_namespace(configuration, seed), parameters=_params(inner))


def report_pipeline(rows: list[str], configurations: tuple[str, ...] = ()) -> Pipeline:
    """Namespace ``benchmark.report``: ``gather_rows`` (the rows, in order) -> ``benchmark.results``;
    ``describe_run`` (date, commit, machine, torch, threads and one plain-VAE epoch timed in this run) ->
    ``benchmark.run_info``; then ``summarise_benchmark`` -> ``benchmark.summary``, ``benchmark.metrics``
    (with the lattice among the ``configurations`` it also reads ``params:lattice_synthetic``, for the
    stand-in's size)."""
    local = [f"row_{i}" for i in range(len(rows))]
    summary_inputs = {"results": "results", "benchmark": "params:benchmark", "run_info": "run_info"}
    if LATTICE in configurations:
        summary_inputs["lattice_synthetic"] = f"params:{configuration_parameters(LATTICE)['generator']}"
    steps = [
        node(nodes.gather_rows, local, "results", name="gather_rows"),
        node(describe_run, None, "run_info", name="describe_run"),
        node(nodes.summarise_benchmark, summary_inputs, ["summary", "metrics"], name="summarise_benchmark"),
    ]
    outputs = {name: f"benchmark.{name}" for name in ("results", "run_info", "summary", "metrics")}
    return Pipeline(steps, namespace=f"benchmark.{REPORT}", inputs=dict(zip(local, rows, strict=True)), outputs=outputs,
                    parameters=_params(Pipeline(steps)))


def benchmark_pipeline(shape: BenchmarkShape) -> Pipeline:
    """The benchmark's nodes for ``shape`` (see the module docstring)."""
    groups = [group_pipeline(c, s, shape.methods) for c, s in shape.groups()]
    rows = [row_dataset(c, s, m) for c, s in shape.groups() for m in shape.methods]
    return Pipeline([*groups, report_pipeline(rows, shape.configurations)])


def create_pipeline(benchmark: Mapping[str, Any] | BenchmarkShape, **kwargs: Any) -> Pipeline:
    """The benchmark pipeline for ``benchmark``: its shape, or a ``benchmark`` parameter group to make it
    from (``shape.shape_from_parameters``). The pipeline registry passes the shape of the session's
    parameter files (``causal_pima.benchmark_shape.file_benchmark_shape``); nothing is read or kept here."""
    shape = benchmark if isinstance(benchmark, BenchmarkShape) else shape_from_parameters(benchmark, "the benchmark argument")
    return benchmark_pipeline(shape)
