"""Benchmark nodes: every run calls the project's library (``core.causal_fit``, ``core.readout``,
``data``, ``evaluation.report``) in memory, the same functions the pipelines' nodes use.

The pipeline (``pipeline.py``) runs, per (configuration, seed), :func:`generate_data` (circles) or
:func:`generate_lattice_data` (the lattice stand-in) once and :func:`pretrain` once per set of
modalities, then :func:`run_method` once per method (one row each, a failure caught into the row's
``error``), and :func:`gather_rows` concatenates every row into the results table.
:func:`benchmark_rows` runs the same functions in this process, without Kedro.

The methods are listed once, in ``methods.py`` (:data:`~causal_pima.pipelines.benchmark.methods.METHODS`:
the pretraining each starts from, its runner in :data:`RUNNERS` and its prior settings).

Ground truth is used only inside the evaluation of each run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from causal_pima.core.batching import as_numpy
from causal_pima.core.budget import epochs_for_budget
from causal_pima.core.causal_fit import plan_fit, pretrain_from_data, run_fit
from causal_pima.core.evaluate import encode_dataset, evaluate
from causal_pima.core.model import CausalPIMA, PoEVAE
from causal_pima.core.node_count import candidate_node_counts, fit_node_count
from causal_pima.core.outcomes import joint_outcomes
from causal_pima.core.readout import (
    cross_modal_curves,
    cross_modal_predictor,
    has_cross_modal,
    model_metrics,
    posterior_table,
)
from causal_pima.core.training_config import InitConfig, PretrainConfig
from causal_pima.data.circles import OPTIONAL_MODALITIES
from causal_pima.data.circles_set import generate_features, render_specimens
from causal_pima.data.lattice import generate_raw
from causal_pima.data.processing import (
    build_model_input,
    fit_curve_scaler,
    split_specimens,
    validate_specimens,
)
from causal_pima.data.scm import BinarySCM
from causal_pima.data.specimens import raw_specimen_set
from causal_pima.datasets.specimen_manifest import png_pixels
from causal_pima.evaluation.report import (
    cross_modal_summary,
    discovery_metrics,
    evaluation_report,
    scalar_metrics,
    split_node_marginals,
    true_labels,
)
from causal_pima.evaluation.two_stage import (
    learned_dag_record,
    predict_outcomes,
    two_stage_structure,
)
from causal_pima.model_input import model_config_from_data, specimen_tensors
from causal_pima.pipelines.benchmark.methods import (
    METHODS,
    UNTRAINED,
    BenchmarkMethod,
    pretraining_modalities,
)
from causal_pima.pipelines.benchmark.reference import failed_rows
from causal_pima.pipelines.benchmark.run_info import header_line
from causal_pima.pipelines.benchmark.shape import (
    LATTICE,
    lattice_extra_modalities_problem,
    shape_from_parameters,
)
from causal_pima.pipelines.benchmark.shape import configuration_parameters as parameter_groups

logger = logging.getLogger(__name__)


def _processed(raw, features: pd.DataFrame, processing_params: Mapping[str, Any], seed: int):
    """``data_processing``'s four steps on a raw specimen set, the split drawn with ``seed``."""
    report = validate_specimens(raw, features, processing_params)
    split = split_specimens(report, {**processing_params, "seed": seed})
    scaler = fit_curve_scaler(raw, split, processing_params)
    return build_model_input(raw, features, split, scaler, report)


def extra_modalities(benchmark: Mapping[str, Any]) -> tuple[str, ...]:
    """``benchmark.extra_modalities`` (default none): modalities besides image and curve that the circles
    data sets are generated with and the shared multimodal pretraining trains on (``methods.TAKES_EXTRA_MODALITIES``)."""
    return tuple(benchmark.get("extra_modalities") or ())


def with_extra_modalities(circles_params: Mapping[str, Any], modalities: tuple[str, ...]) -> Mapping[str, Any]:
    """The circles parameters with the render flag of each of ``modalities`` on (``data.circles.OPTIONAL_MODALITIES``:
    ``scalar`` -> ``render.scalars``; the rest of ``render``, ``scalar_missing`` included, as configured);
    unchanged for none."""
    if not modalities:
        return circles_params
    unknown = [m for m in modalities if m not in OPTIONAL_MODALITIES]
    if unknown:
        raise ValueError(f"benchmark.extra_modalities = {list(modalities)}: the circles generator cannot render {unknown}; "
                         f"allowed: {list(OPTIONAL_MODALITIES)}")
    render = {**circles_params.get("render", {}), **{OPTIONAL_MODALITIES[m]: True for m in modalities}}
    return {**circles_params, "render": render}


def _circles_data(circles_params: Mapping[str, Any], processing_params: Mapping[str, Any], configuration: str, seed: int, n: int):
    params = {**circles_params, "configuration": configuration, "seed": seed, "n_specimens": n}
    features, true_dag = generate_features(params)
    raw = render_specimens(features, params)
    return (*_processed(raw, features, processing_params, seed), true_dag)


def as_stored(raw_manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The raw stand-in's images as ``lattice.raw_manifest`` stores them: 8-bit PNG, i.e. ``round(255 x)``
    by the dataset's own writer (PNG is lossless from there). Its curves are already as stored: their
    CSV files hold every float64 exactly (``repr``), and read back equal.

    This is what makes the in-memory stand-in equal the files ``kedro run --pipelines lattice_synthetic``
    writes; with another ``image_format`` in the catalog (``npy``, ``tiff``: exact floats) it would
    differ from those files by the quantisation (at most 1/510 per pixel).
    """
    return {**raw_manifest, "images": {i: png_pixels(np.asarray(image)) for i, image in raw_manifest["images"].items()}}


def _lattice_data(synthetic_params: Mapping[str, Any], ingestion_params: Mapping[str, Any],
                  processing_params: Mapping[str, Any], seed: int):
    raw_manifest, true_dag = generate_raw({**synthetic_params, "seed": seed})
    raw, features, rejected = raw_specimen_set(as_stored(raw_manifest), ingestion_params)
    if len(rejected):
        logger.warning("benchmark lattice seed %d: ingestion rejected %d of %d specimens (lattice_ingestion.on_error: skip): %s",
                       seed, len(rejected), len(raw_manifest["manifest"]), rejected["reason"].head(3).tolist())
    return (*_processed(raw, features, processing_params, seed), true_dag)


def _fit(pretrained, model_config, train, val, params, params_name: str) -> tuple[CausalPIMA, dict[str, Any], int]:
    """The fitted model, its learned-DAG record and its node count: one fit, or with ``prior.n_nodes:
    auto`` every candidate of ``node_count`` fitted in turn and one chosen (:mod:`causal_pima.core.node_count`)."""
    if params["prior"].get("n_nodes") != "auto":
        fitted = run_fit(plan_fit(pretrained, train, params, model_config, params_name), train, val)
        return fitted.model, fitted.learned_dag, int(fitted.model.config.n_nodes)
    candidates = candidate_node_counts(params)
    choice, chosen = fit_node_count(pretrained, train, val, params, candidates, model_config, params_name)
    logger.info("benchmark n_nodes: auto chose d = %d of %s\n%s", choice.chosen, list(candidates), choice.table.to_string(index=False))
    return chosen["model"], chosen["learned_dag"], choice.chosen


def _fit_and_evaluate(pretrained, model_config, train, val, test, true_dag, fit_params, prior_overrides,
                      params_name: str = "causal_pima") -> dict[str, Any]:
    params = {**fit_params, "prior": {**fit_params.get("prior", {}), **prior_overrides}}
    fitted_model, learned_dag, n_nodes = _fit(pretrained, model_config, train, val, params, params_name)
    # the model as the pipeline's nodes receive it: loaded back from its checkpoint
    model = CausalPIMA.from_checkpoint(fitted_model.checkpoint())
    splits = {name: (data["specimen_id"], specimen_tensors(data, model.modalities)) for name, data in (("train", train), ("val", val), ("test", test))}
    posteriors = posterior_table(model, splits)
    true_scm = BinarySCM.from_config(true_dag["scm"])
    marginals, outcome = split_node_marginals(posteriors, len(learned_dag["node_names"]))
    test_tensors = specimen_tensors(test, model.modalities)
    cross_modal = None
    if has_cross_modal(model):
        cross_modal = cross_modal_summary(cross_modal_curves(model, test_tensors), test, cross_modal_predictor(model))[0]
    discovery = discovery_metrics(marginals, outcome, learned_dag, true_labels(test, true_scm), true_scm)
    # the benchmark leaves the fit diagnostics out of its rows (as before): no learned_dag diagnostics here
    return {**evaluation_report(discovery, model_metrics(model, test_tensors), {}, cross_modal), "n_nodes": n_nodes,
            "true_n_nodes": len(true_dag["features"])}


@torch.no_grad()
def _two_stage(pretrained: PoEVAE, train, test, true_dag, seed: int) -> dict[str, Any]:
    model = pretrained
    n_nodes = len(true_dag["features"])
    train_mu, _ = encode_dataset(model, specimen_tensors(train, model.modalities))
    test_mu, _ = encode_dataset(model, specimen_tensors(test, model.modalities))
    result = two_stage_structure(train_mu.double().numpy(), n_nodes, seed=seed)
    outcome = predict_outcomes(train_mu.double().numpy(), result.outcome, test_mu.double().numpy())
    marginals = joint_outcomes(n_nodes)[outcome].astype(float)
    true_scm = BinarySCM.from_config(true_dag["scm"])
    metrics = discovery_metrics(marginals, outcome, learned_dag_record(result), true_labels(test, true_scm), true_scm)
    terms = evaluate(model, specimen_tensors(test, model.modalities), "standard")
    return {**metrics, "test_elbo": float(terms["elbo"])}


def _run_causal_pima(method: BenchmarkMethod, data: Mapping[str, Any], pretrained: Mapping[str, Any],
                     fit_params: Mapping[str, Any], benchmark: Mapping[str, Any], configuration: str, seed: int) -> dict[str, Any]:
    """A causalPIMA fit from the pretrained networks with the method's prior settings, then its evaluation."""
    fit = {**fit_params, **benchmark.get("causal_pima", {}), "resume": False, "seed": seed}
    overrides = {"n_nodes": len(data["true_dag"]["features"]), **method.prior}
    return _fit_and_evaluate(pretrained["model"].checkpoint(), pretrained["config"], data["train"], data["val"],
                             data["test"], data["true_dag"], fit, overrides, parameter_groups(configuration)["causal_pima"])


def _run_two_stage(method: BenchmarkMethod, data: Mapping[str, Any], pretrained: Mapping[str, Any],
                   fit_params: Mapping[str, Any], benchmark: Mapping[str, Any], configuration: str, seed: int) -> dict[str, Any]:
    """The two-stage baseline on the pretrained networks' latents."""
    return _two_stage(pretrained["model"], data["train"], data["test"], data["true_dag"], seed)


def _peer(model_config, pretraining: Mapping[str, Any], fit_params: Mapping[str, Any], train, test, true_dag,
          seed: int) -> dict[str, Any]:
    # imported here: the peer libraries are an optional extra ('.[peer]'), the other methods run without them
    from causal_pima.evaluation import peer

    network = model_config.network
    n_nodes = len(true_dag["features"])
    pre = PretrainConfig(**{**dict(pretraining), "seed": seed})
    train_rows = peer.flatten_specimens(specimen_tensors(train, network.modalities), network)
    test_rows = peer.flatten_specimens(specimen_tensors(test, network.modalities), network)
    epochs = epochs_for_budget(pre.epochs, pre.min_steps, len(train_rows), pre.batch_size, "peer VAE")
    vae, _ = peer.train_peer_vae(network, train_rows, epochs, pre.batch_size, pre.learning_rate, seed)
    train_latents, test_latents = peer.peer_latents(vae, train_rows), peer.peer_latents(vae, test_rows)
    assigner = (fit_params.get("init") or {}).get("assigner", InitConfig.assigner)
    observations = {m: as_numpy(t) for m, t in specimen_tensors(train, network.modalities).items()}
    found = peer.peer_structure(train_latents, n_nodes, assigner, observations, seed)
    outcome = found.predict_outcomes(test_latents)
    true_scm = BinarySCM.from_config(true_dag["scm"])
    marginals = joint_outcomes(n_nodes)[outcome].astype(float)
    metrics = discovery_metrics(marginals, outcome, learned_dag_record(found.result), true_labels(test, true_scm), true_scm)
    return {**metrics, "peer_epochs": epochs}


def _run_peer(method: BenchmarkMethod, data: Mapping[str, Any], pretrained: Mapping[str, Any],
              fit_params: Mapping[str, Any], benchmark: Mapping[str, Any], configuration: str, seed: int) -> dict[str, Any]:
    """The peer pipeline from libraries (``evaluation.peer``): its own VAE of the pretraining's model
    config, trained with the pretraining's epochs, batches and learning rate; codes by the fit's
    ``init.assigner``."""
    return _peer(pretrained["config"], pretrained["pretraining"], fit_params, data["train"], data["test"], data["true_dag"], seed)


# BenchmarkMethod.runner -> the function computing a row's metrics
RUNNERS = {"causal_pima": _run_causal_pima, "two_stage": _run_two_stage, "peer": _run_peer}


def _failure(stage: str, exc: BaseException) -> str:
    return f"{stage}: {type(exc).__name__}: {exc}" if stage else f"{type(exc).__name__}: {exc}"


def _data_or_error(configuration: str, seed: int, make) -> dict[str, Any]:
    try:
        train, val, test, true_dag = make()
    except Exception as exc:  # recorded in the rows, not hidden
        logger.exception("benchmark %s seed %d: data generation failed", configuration, seed)
        return {"error": _failure("data", exc)}
    return {"train": train, "val": val, "test": test, "true_dag": true_dag}


def generate_data(
    circles_params: Mapping[str, Any],
    processing_params: Mapping[str, Any],
    benchmark: Mapping[str, Any],
    configuration: str,
    seed: int,
) -> dict[str, Any]:
    """The processed circles data of one (configuration, seed): ``train``, ``val``, ``test``, ``true_dag``;
    with ``benchmark.extra_modalities`` (``[scalar]``) generated with those modalities too (:func:`with_extra_modalities`).

    A failure is returned as ``{"error": ...}`` (and ends up in every row of this configuration and
    seed) instead of stopping the other rows.
    """
    seed = int(seed)
    return _data_or_error(configuration, seed, lambda: _circles_data(
        with_extra_modalities(circles_params, extra_modalities(benchmark)), processing_params, configuration, seed,
        int(benchmark["n_specimens"])))


def generate_lattice_data(
    synthetic_params: Mapping[str, Any],
    ingestion_params: Mapping[str, Any],
    processing_params: Mapping[str, Any],
    benchmark: Mapping[str, Any],
    seed: int,
) -> dict[str, Any]:
    """The processed lattice stand-in of one seed, as :func:`generate_data` returns circles.

    The stand-in (``lattice_synthetic``: ``n_specimens``, ``dag``, ``config``...; ``seed`` replaced by
    the run's) is generated in memory by the ``lattice_synthetic`` pipeline's node, its images taken
    as the catalog stores them (:func:`as_stored`), ingested by the ``lattice`` pipeline's node
    (``lattice_ingestion``: images cropped and resized, curves resampled onto the strain grid), then
    processed as ``data_processing`` does (``data_processing_lattice``, split seed = the run's): the
    same sets as ``kedro run --pipelines lattice_synthetic`` then ``lattice`` on that seed
    (``tests/pipelines/test_benchmark_lattice.py``). ``true_dag`` is the record the stand-in writes
    (``features``, ``edges``, ``scm``). ``benchmark.n_specimens`` does not apply here;
    ``benchmark.lattice_n_specimens``, when set, replaces ``lattice_synthetic.n_specimens``.
    """
    seed = int(seed)
    if extra_modalities(benchmark):  # refused before the run by the parameter schema; here for benchmark_rows
        return {"error": "data: " + lattice_extra_modalities_problem(extra_modalities(benchmark))}
    size = benchmark.get("lattice_n_specimens")
    if size is not None:
        synthetic_params = {**synthetic_params, "n_specimens": int(size)}
    return _data_or_error(LATTICE, seed, lambda: _lattice_data(synthetic_params, ingestion_params, processing_params, seed))


def pretrain(
    data: Mapping[str, Any],
    model_params: Mapping[str, Any],
    pretraining_params: Mapping[str, Any],
    benchmark: Mapping[str, Any],
    seed: int,
    pretraining: str,
) -> dict[str, Any]:
    """The networks of the shared pretraining ``pretraining`` (a key of ``methods.PRETRAININGS``) for one
    (configuration, seed), shared by the methods that start from it, trained on its modalities
    (``methods.pretraining_modalities``: ``image_curve`` with ``benchmark.extra_modalities`` after image
    and curve): ``model`` (a ``PoEVAE``), ``config`` (its ``ModelConfig``), ``pretraining`` (the
    pretraining parameters used, the run's seed in) and ``seconds`` (the wall time, counted in each of
    those methods' rows). The ``methods.UNTRAINED`` pretrainings (for methods that train their own
    networks) size the networks only: no ``model``. A failure is ``{"error": ...}``."""
    if "error" in data:
        return {"error": data["error"]}
    modalities = pretraining_modalities(pretraining, extra_modalities(benchmark))
    pre = {**pretraining_params, **benchmark.get("pretraining", {}), "seed": int(seed)}
    start = time.perf_counter()
    try:
        config = model_config_from_data(data["train"], {**model_params, "modalities": list(modalities)})
        trained = {} if pretraining in UNTRAINED else {"model": pretrain_from_data(config, data["train"], data["val"], pre)[0]}
    except Exception as exc:  # recorded in the rows, not hidden
        logger.exception("benchmark seed %d: pretraining on %s failed", seed, modalities)
        return {"error": _failure("pretraining", exc), "seconds": time.perf_counter() - start}
    return {**trained, "config": config, "pretraining": pre, "seconds": time.perf_counter() - start}


def run_method(
    data: Mapping[str, Any],
    pretrained: Mapping[str, Any],
    fit_params: Mapping[str, Any],
    benchmark: Mapping[str, Any],
    configuration: str,
    seed: int,
    method: str,
) -> dict[str, Any]:
    """One benchmark row: ``configuration``, ``seed``, ``method``, ``error`` (empty when the run
    succeeded), every scalar metric and ``wall_seconds`` (the pretraining the method uses plus its
    own fit and evaluation, so the methods are compared on equal terms; a method that trains its own
    networks starts from an untrained ``pretrained`` and so counts its own training only).

    Any exception (here, or in the data or pretraining this row uses) is caught into ``error``: a
    failed run is a result too, recorded, not hidden.
    """
    if method not in METHODS:
        raise ValueError(f"unknown benchmark method {method!r}; choose from {list(METHODS)}")
    runner = RUNNERS[METHODS[method].runner]
    seed = int(seed)
    row: dict[str, Any] = {"configuration": configuration, "seed": seed, "method": method, "error": ""}
    pre_seconds = float(pretrained.get("seconds", 0.0))
    start = time.perf_counter()
    try:
        if "error" in data or "error" in pretrained:
            row["error"] = data.get("error") or pretrained["error"]
        else:
            row.update(scalar_metrics(runner(METHODS[method], data, pretrained, fit_params, benchmark, configuration, seed)))
    except Exception as exc:  # a failed run is a result too: recorded, not hidden
        logger.exception("benchmark %s seed %d %s failed", configuration, seed, method)
        row["error"] = _failure("", exc)
    row["wall_seconds"] = pre_seconds + time.perf_counter() - start
    if row["error"]:
        logger.warning("benchmark %s seed %d %s: FAILED: %s", configuration, seed, method, row["error"])
    else:
        logger.info("benchmark %s seed %d %s: %s", configuration, seed, method,
                    {k: round(v, 3) for k, v in row.items() if isinstance(v, float)})
    return row


def gather_rows(*rows: Mapping[str, Any]) -> pd.DataFrame:
    """The results table: one row per (configuration, seed, method), in the order given."""
    return pd.DataFrame([dict(row) for row in rows])


def benchmark_rows(parameters: Mapping[str, Any]) -> pd.DataFrame:
    """The whole benchmark in this process, without Kedro: the same functions as the pipeline's nodes,
    on the same parameter groups (``parameters``: every group, as ``kedro run`` loads them; the
    benchmark's shape from ``parameters["benchmark"]``), in the same order: data and pretraining once
    per configuration and seed, then one row per method. The pipeline's table equals this one except
    for ``wall_seconds``."""
    benchmark = parameters["benchmark"]
    shape = shape_from_parameters(benchmark)
    if shape.problems:
        raise ValueError("the benchmark cannot run: " + "; ".join(shape.problems))
    rows = []
    for configuration, seed in shape.groups():
        groups = {role: parameters[name] for role, name in parameter_groups(configuration).items()}
        if configuration == LATTICE:
            data = generate_lattice_data(groups["generator"], groups["ingestion"], groups["data_processing"], benchmark, seed)
        else:
            data = generate_data(groups["generator"], groups["data_processing"], benchmark, configuration, seed)
        pretrained = {
            name: pretrain(data, groups["model"], groups["pretraining"], benchmark, seed, name)
            for name in dict.fromkeys(METHODS[m].pretraining for m in shape.methods)
        }
        rows += [run_method(data, pretrained[METHODS[m].pretraining], groups["causal_pima"], benchmark, configuration, seed, m)
                 for m in shape.methods]
    return gather_rows(*rows)


# Columns of the summary table: mean +- std over seeds, except EXACT_COLUMN. Metrics a run does not
# have (no graph for pima, no glow feature outside the glow configuration) show '-'.
SUMMARY_METRICS = (
    "n_nodes", "n_nodes_right", "cpdag_shd", "cpdag_exact", "shd_real", "shd_within_class", "skeleton_f1", "node_accuracy",
    "node_accuracy_glow", "ari", "interventional_tv", "test_elbo", "wall_seconds",
)
# "k/n": k of the n seeds learned a graph in the true Markov equivalence class (CPDAG SHD 0); a run
# without a graph (failed, or free mixture weights) counts in n, not in k.
EXACT_COLUMN = "cpdag_exact"
# "k/n": k of the n seeds fitted as many nodes as the data have true features (causal_pima_auto_d chooses it)
NODE_COUNT_COLUMN = "n_nodes_right"
DERIVED = {EXACT_COLUMN: "cpdag_shd", NODE_COUNT_COLUMN: "n_nodes"}  # column -> the row column it counts


def _seeds_text(seeds: list) -> str:
    return f"{len(seeds)} seed(s) {seeds}"


def _data_sets_text(results: pd.DataFrame, benchmark: Mapping[str, Any], lattice_synthetic: Mapping[str, Any] | None) -> str:
    """``circles: 5 seed(s) [0, 1, 2, 3, 4], N = 6000; on the lattice stand-in: 3 seed(s) [0, 1, 2], N = 2000
    (...)``: what the rows ran on (configurations as listed, else as in the table; the circles' extra
    modalities named when ``benchmark.extra_modalities`` lists any)."""
    configurations = list(benchmark.get("configurations") or dict.fromkeys(results.get("configuration", pd.Series(dtype=str))))
    default = list(benchmark.get("seeds") or [])
    own = {str(c): list(s) for c, s in (benchmark.get("seeds_by_configuration") or {}).items()}
    circles = {c: own.get(c, default) for c in configurations if c != LATTICE}
    parts = []
    if circles or LATTICE not in configurations:
        # the seeds most circles configurations run on (benchmark.seeds unless every one has its own)
        common = default if not circles or any(c not in own for c in circles) else next(iter(circles.values()))
        other = [f"{c}: {seeds}" for c, seeds in circles.items() if seeds != common]
        extra = extra_modalities(benchmark)
        parts.append(f"circles: {_seeds_text(common)}" + (f" ({', '.join(other)})" if other else "") + f", N = {benchmark.get('n_specimens')}"
                     + (f", with the modalities {list(extra)} (benchmark.extra_modalities)" if extra else ""))
    if LATTICE in configurations:
        override = benchmark.get("lattice_n_specimens")
        n = override or (lattice_synthetic or {}).get("n_specimens")
        source = "benchmark.lattice_n_specimens" if override else "lattice_synthetic.n_specimens"
        size = f"N = {n} ({source};" if n is not None else "N = lattice_synthetic.n_specimens ("
        parts.append(f"the lattice stand-in: {_seeds_text(own.get(LATTICE, default))}, {size} benchmark.n_specimens does not apply)")
    return "; on ".join(parts)


def summarise_benchmark(results: pd.DataFrame, benchmark: Mapping[str, Any], lattice_synthetic: Mapping[str, Any] | None = None,
                        run_info: Mapping[str, Any] | None = None) -> tuple[str, dict]:
    """Markdown table of mean +- std per configuration and method (every seed counted, bad ones
    included), and the same numbers for MLflow (``cpdag_exact`` as the fraction ``k / n``).

    ``lattice_synthetic``: the stand-in's parameters, for its ``n_specimens`` in the header line (the
    pipeline passes them when ``lattice`` is a configuration). ``run_info``: the run's record
    (``run_info.describe_run``): date, commit, machine, torch and threads, the table's first line."""
    columns = [m for m in SUMMARY_METRICS if m in results or DERIVED.get(m) in results]
    grouped = results.groupby(["configuration", "method"], sort=False)
    failed = results[failed_rows(results)]
    lines = [header_line(run_info), ""] if run_info else []
    lines += [
        f"Benchmark on {_data_sets_text(results, benchmark, lattice_synthetic)}; "
        f"mean +- std over seeds ('-': not applicable); {EXACT_COLUMN}: seeds with CPDAG SHD 0 / all seeds; "
        f"shd_within_class: SHD of graphs in the true equivalence class, shd_real: SHD of the others; failed runs: {len(failed)}.",
        "",
        "| configuration | method | " + " | ".join(columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    mlflow_metrics: dict[str, dict[str, float]] = {}
    for (configuration, method), group in grouped:
        cells = []
        for metric in columns:
            text, value = _summary_cell(group, metric)
            cells.append(text)
            if value is not None:
                mlflow_metrics[f"{configuration}.{method}.{metric}"] = {"step": 0, "value": value}
        lines.append(f"| {configuration} | {method} | " + " | ".join(cells) + " |")
    for _, run in failed.iterrows():
        lines.append(f"\nFAILED: {run['configuration']} seed {run['seed']} {run['method']}: {run['error']}")
    return "\n".join(lines) + "\n", mlflow_metrics


def _summary_cell(group: pd.DataFrame, metric: str) -> tuple[str, float | None]:
    """Table text and MLflow value of one metric over the seeds of one (configuration, method)."""
    if metric == EXACT_COLUMN:
        learned = group["cpdag_shd"].dropna()
        if learned.empty:
            return "-", None
        exact = int((learned == 0).sum())
        return f"{exact}/{len(group)}", exact / len(group)
    if metric == NODE_COUNT_COLUMN:
        # rows without the true count (two_stage, rows written before the column existed) are not compared
        if "true_n_nodes" not in group or group[["n_nodes", "true_n_nodes"]].isna().any(axis=1).all():
            return "-", None
        right = int((group["n_nodes"] == group["true_n_nodes"]).sum())
        return f"{right}/{len(group)}", right / len(group)
    values = group[metric].dropna()
    if values.empty:
        return "-", None
    mean, std = float(values.mean()), float(values.std(ddof=0))
    return f"{mean:.3g} +- {std:.2g}", mean
