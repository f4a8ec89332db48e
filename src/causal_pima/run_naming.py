"""MLflow runs that can be told apart (issue 11, item 2).

kedro-mlflow names every run after its pipeline (``__default__``), tags it with the session's run
parameters as they are (``runner`` holds ``<kedro.runner.sequential_runner.SequentialRunner object at
0x...>``) and logs every parameter group a node reads, so the three circles configurations were all
logged although one is used. :class:`RunNamingHook` runs after kedro-mlflow has started the run and

- names it ``<data set>/<configuration> seed=<seed> (<pipelines>)``, e.g. ``circles/collider seed=0
  (__default__)`` (unless ``tracking.run.name`` is set in ``mlflow.yml``);
- tags it ``pipeline``, ``dataset``, ``configuration``, ``seed``, ``data_seed``, ``env`` and
  ``mlflow.source.git.commit`` (+ ``git_dirty``) where the project is a git checkout, so the runs
  table filters on them (``tags.dataset = 'circles' and tags.configuration = 'chain'``);
- replaces the ``runner`` tag by the runner's class name;
- with ``n_nodes: auto``, adds the chosen node count to the name (``... seed=0 d=3 (__default__)``) and
  the tag ``n_nodes.<data set>`` when the run ends;
- keeps kedro-mlflow from logging the configurations that the run does not use
  (``circles.configurations.<name>.*`` for every other name; the benchmark's configurations are used);
- tags the experiment ``mlflow.experimentKind = custom_model_development``, so that MLflow 3's UI opens
  it in the model-training view (runs, metrics, models) rather than the GenAI view (traces).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from causal_pima.git_state import git_tags
from causal_pima.pipelines import node_dataset

logger = logging.getLogger(__name__)

EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
STAGES = ("causal_pima", "pretraining", "data_processing")  # the seed of the latest stage a pipeline reads

# parameter-name prefixes that kedro-mlflow's before_node_run must not log in the current run
_skipped_params: tuple[str, ...] = ()


# ---------------------------------------------------------------------------- what the run is
def parameter_groups(pipeline) -> set[str]:
    """The top-level parameter groups a pipeline reads (``params:circles.seed`` -> ``circles``)."""
    groups = set()
    for name in pipeline.inputs():
        if name.startswith("params:"):
            groups.add(name[len("params:"):].split(".")[0])
        elif name == "parameters":
            groups.add("*")
    return groups


def datasets_of(pipeline) -> list[str]:
    """The data sets a pipeline works on: the first part of its nodes' dataset names (``circles``,
    ``lattice``, ``benchmark``; :func:`causal_pima.pipelines.node_dataset`)."""
    return sorted({name for name in map(node_dataset, pipeline.nodes) if name})


def _group(parameters: Mapping[str, Any], stage: str, dataset: str) -> Mapping[str, Any] | None:
    for name in (f"{stage}_{dataset}", stage):
        value = parameters.get(name)
        if isinstance(value, Mapping):
            return value
    return None


def describe_run(pipeline_names: Iterable[str], datasets: list[str], groups: set[str],
                 parameters: Mapping[str, Any]) -> dict[str, str]:
    """The tags that tell a run apart: ``pipeline``, ``dataset``, ``configuration``, ``seed``, ``data_seed``
    (a key is left out where it does not apply)."""
    tags: dict[str, str] = {"pipeline": "+".join(pipeline_names) or "__default__"}
    dataset = "+".join(datasets)
    if dataset:
        tags["dataset"] = dataset
    main = datasets[0] if datasets else ""
    benchmark = parameters.get("benchmark") if "benchmark" in groups else None
    if isinstance(benchmark, Mapping):
        configurations = [str(c) for c in benchmark.get("configurations") or []]
        if configurations:
            tags["configuration"] = "+".join(configurations)
        # every seed a row uses: the shared list and the per-configuration lists (the lattice's own seeds)
        own = benchmark.get("seeds_by_configuration") or {}
        used = [s for c in configurations for s in own.get(c, benchmark.get("seeds") or [])]
        seeds = [str(s) for s in sorted({int(s) for s in used})]
        if seeds:
            tags["seed"] = ",".join(seeds)
        return tags
    # the data set's own generator group (circles), else a group the pipeline reads that names one
    data_groups = [main] + sorted(g for g in groups if g != main)
    for name in data_groups:
        group = parameters.get(name)
        if isinstance(group, Mapping) and isinstance(group.get("configuration"), str):
            tags["configuration"] = group["configuration"]
            if "seed" in group:
                tags["data_seed"] = str(group["seed"])
            break
    for stage in STAGES:
        group = _group(parameters, stage, main)
        if group is not None and "seed" in group and (stage in groups or f"{stage}_{main}" in groups):
            tags["seed"] = str(group["seed"])
            break
    else:
        if "data_seed" in tags:
            tags["seed"] = tags["data_seed"]
    return tags


def run_name(tags: Mapping[str, str]) -> str:
    """``circles/collider seed=0 (__default__)``; ``lattice seed=0 (lattice)``; the benchmark's many
    configurations and seeds are counted."""
    head = tags.get("dataset") or tags["pipeline"]
    configuration = tags.get("configuration")
    if configuration:
        many = configuration.split("+")
        head += "/" + (configuration if len(many) <= 3 else f"{len(many)} configurations")
    seed = tags.get("seed")
    if seed is not None:
        seeds = seed.split(",")
        head += f" seed={seed}" if len(seeds) <= 3 else f" seeds={seeds[0]}..{seeds[-1]}"
    return f"{head} ({tags['pipeline']})"


def unused_configuration_prefixes(parameters: Mapping[str, Any], groups: set[str], sep: str = ".") -> tuple[str, ...]:
    """``<group>.configurations.<name>`` for every configuration of a group the run reads that it does
    not use (the group's ``configuration``, and all of ``benchmark.configurations`` in a benchmark run)."""
    used_by_benchmark: set[str] = set()
    benchmark = parameters.get("benchmark")
    if "benchmark" in groups and isinstance(benchmark, Mapping):
        used_by_benchmark = {str(c) for c in benchmark.get("configurations") or []}
    prefixes = []
    for name, group in parameters.items():
        if not isinstance(group, Mapping) or not isinstance(group.get("configurations"), Mapping):
            continue
        used = {str(group.get("configuration"))} | used_by_benchmark
        prefixes += [f"{name}{sep}configurations{sep}{c}" for c in group["configurations"] if str(c) not in used]
    return tuple(sorted(prefixes))


def is_skipped(name: str, prefixes: Iterable[str] | None = None, sep: str = ".") -> bool:
    prefixes = _skipped_params if prefixes is None else prefixes
    return any(name == p or name.startswith(p + sep) for p in prefixes)


def runner_name(value: Any) -> str:
    """``SequentialRunner`` from ``<kedro.runner.sequential_runner.SequentialRunner object at 0x...>``."""
    if value is None or str(value) == "None":  # no runner given: Kedro runs a SequentialRunner
        return "SequentialRunner"
    text = str(value)
    match = re.match(r"<([\w.]+) object at 0x[0-9a-fA-F]+>", text)
    return match.group(1).rsplit(".", 1)[-1] if match else text


# ---------------------------------------------------------------------------- kedro-mlflow's parameter logging
def _filtered_log_param(original, name: str, value: Any):
    if is_skipped(name):
        return None
    return original(name, value)


def _install_param_filter() -> None:
    """Wrap kedro-mlflow's hook instance's ``_log_param`` (once) so that skipped names are not logged."""
    try:
        from kedro_mlflow.framework.hooks.mlflow_hook import mlflow_hook
    except ImportError:  # pragma: no cover - kedro-mlflow is a declared dependency
        return
    current = mlflow_hook.__dict__.get("_log_param")
    if isinstance(current, functools.partial) and current.func is _filtered_log_param:
        return
    mlflow_hook._log_param = functools.partial(_filtered_log_param, type(mlflow_hook)._log_param.__get__(mlflow_hook))


class RunNamingHook:
    """Names and tags kedro-mlflow's run; see the module docstring."""

    def __init__(self) -> None:
        self._configured_name: str | None = None
        self._project_path: Path | None = None
        self._env: str | None = None

    @hook_impl(trylast=True)  # after kedro-mlflow's, which sets context.mlflow
    def after_context_created(self, context) -> None:
        self._project_path = Path(context.project_path)
        loader = context.config_loader  # the env the configuration was read from (--env, else default_run_env)
        self._env = context.env or getattr(loader, "env", None) or getattr(loader, "default_run_env", None) or None
        mlflow_config = getattr(context, "mlflow", None)  # set by kedro-mlflow's after_context_created
        run = getattr(getattr(mlflow_config, "tracking", None), "run", None)
        self._configured_name = getattr(run, "name", None)

    @hook_impl(trylast=True)  # after kedro-mlflow's before_pipeline_run, which starts the run
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        global _skipped_params
        try:
            parameters = catalog["parameters"].load()  # no "Loading data" log line
        except Exception:  # noqa: BLE001 - a catalog without parameters: nothing to describe
            parameters = {}
        groups = parameter_groups(pipeline)
        _skipped_params = unused_configuration_prefixes(parameters, groups)
        _install_param_filter()
        try:
            import mlflow
        except ImportError:  # pragma: no cover
            return
        active = mlflow.active_run()
        if active is None:  # tracking disabled for this pipeline
            return
        names = run_params.get("pipeline_names") or [run_params.get("pipeline_name") or "__default__"]
        tags = describe_run(names if not isinstance(names, str) else [names], datasets_of(pipeline), groups, parameters)
        env = run_params.get("env") or self._env
        if env:
            tags["env"] = str(env)
        tags["runner"] = runner_name(run_params.get("runner"))
        project = self._project_path or (Path(run_params["project_path"]) if run_params.get("project_path") else None)
        if project is not None:
            tags.update(git_tags(project))
        if not self._configured_name:
            tags["mlflow.runName"] = run_name(tags)
        # kedro-mlflow tags the run with Kedro's run parameters, among them "run_id", which holds Kedro's
        # session id, not the MLflow run's id: kept under a name that says what it is (issue 23, item 7)
        try:
            client = mlflow.MlflowClient()
            session_id = client.get_run(active.info.run_id).data.tags.get("run_id")
            if session_id is not None:
                tags["kedro_session_id"] = session_id
            mlflow.set_tags(tags)
            if session_id is not None:
                client.delete_tag(active.info.run_id, "run_id")
            experiment = client.get_experiment(active.info.experiment_id)
            if EXPERIMENT_KIND_TAG not in experiment.tags:  # a view chosen in the UI is kept
                client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        except Exception as exc:  # noqa: BLE001 - never fail a run over its name
            logger.warning("could not name or tag the MLflow run: %s", exc)
            return
        logger.info("MLflow run '%s' (%s)", tags.get("mlflow.runName", active.info.run_name), active.info.run_id)

    @hook_impl(tryfirst=True)  # before kedro-mlflow's after_pipeline_run ends the MLflow run
    def after_pipeline_run(self, run_params: dict[str, Any], run_result: Any, pipeline, catalog) -> None:
        """With ``n_nodes: auto``: the chosen d joins the run's name (``... seed=0 d=3 (__default__)``) and
        its tags (``n_nodes.<data set>``), read from each ``<data set>.node_count_selection`` the run wrote."""
        chosen = {}
        for name in sorted(o for o in pipeline.all_outputs() if o.endswith(SELECTION_SUFFIX)):
            try:
                table = catalog.load(name)
                chosen[name[: -len(SELECTION_SUFFIX)]] = int(table.loc[table["chosen"].astype(bool), "n_nodes"].iloc[0])
            except Exception as exc:  # noqa: BLE001 - never fail a finished run over its name
                logger.warning("the MLflow run's name leaves out the chosen node count: %s could not be read (%s)", name, exc)
        if not chosen:
            return
        try:
            import mlflow

            active = mlflow.active_run()
            if active is None:
                return
            tags = {f"n_nodes.{data_set}": str(d) for data_set, d in chosen.items()}
            if not self._configured_name:
                tags["mlflow.runName"] = name_with_node_counts(mlflow.get_run(active.info.run_id).info.run_name, chosen)
            mlflow.set_tags(tags)
        except Exception as exc:  # noqa: BLE001
            logger.warning("could not add the chosen node count to the MLflow run: %s", exc)


SELECTION_SUFFIX = ".node_count_selection"


def name_with_node_counts(name: str, chosen: Mapping[str, int]) -> str:
    """``circles/collider seed=0 (__default__)`` -> ``circles/collider seed=0 d=3 (__default__)``; with several
    data sets ``circles d=3, lattice d=2``."""
    text = " ".join(f"d={d}" for d in chosen.values()) if len(chosen) == 1 else ", ".join(f"{s} d={d}" for s, d in chosen.items())
    head, paren, tail = name.rpartition(" (")
    return f"{head} {text}{paren}{tail}" if paren else f"{name} {text}"
