"""Parameter validation before a run (issue 9, item 3): causal_pima.parameter_schemas and its hook."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf

from causal_pima.parameter_schemas import (
    SCHEMAS,
    InvalidParametersError,
    StageOverridesParams,
    parameter_groups,
    schema_for,
    split_counts,
    validate_parameters,
)
from causal_pima.settings import CONFIG_LOADER_ARGS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def defaults(tmp_path_factory) -> dict:
    """The parameters of conf/base exactly as a run loads them (conf/local left out)."""
    conf = tmp_path_factory.mktemp("conf")
    shutil.copytree(ROOT / "conf" / "base", conf / "base")
    (conf / "local").mkdir()
    return OmegaConfigLoader(str(conf), **CONFIG_LOADER_ARGS)["parameters"]  # the overlay resolver


def _with(params: dict, key: str, value) -> dict:
    params = copy.deepcopy(params)
    *parents, last = key.split(".")
    node = params
    for part in parents:
        node = node[part]
    node[last] = value
    return params


def _problems(params: dict, groups=None) -> list[str]:
    with pytest.raises(InvalidParametersError) as caught:
        validate_parameters(params, groups)
    assert str(caught.value).startswith("Invalid parameters; the run was stopped before any node ran")
    return caught.value.problems


def test_default_parameter_files_validate_cleanly(defaults):
    models = validate_parameters(defaults)
    assert set(models) == set(defaults), "every parameter group of conf/base has a schema"
    assert {schema_for(g) for g in defaults} == {*SCHEMAS.values(), StageOverridesParams}
    assert models["causal_pima_lattice"].physics_learning_rate == defaults["causal_pima_lattice"]["physics_learning_rate"]


# (key, value, the problem line): the examples first, then one per kind of check
BAD = [
    ("causal_pima.epochs", 0, "causal_pima.epochs = 0: must be greater than 0 (allowed: an integer > 0)"),
    ("circles.n_specimens", 0, "circles.n_specimens = 0: must be greater than 0 (allowed: an integer > 0)"),
    ("pretraining.epochs", 0, "pretraining.epochs = 0: must be greater than 0 (allowed: an integer > 0)"),
    ("pretraining.epochs", -3, "pretraining.epochs = -3: must be greater than 0 (allowed: an integer > 0)"),
    ("pretraining.learning_rate", 0.0, "pretraining.learning_rate = 0.0: must be greater than 0 (allowed: a number > 0)"),
    ("causal_pima.learning_rate", -1e-3, "causal_pima.learning_rate = -0.001: must be greater than 0 (allowed: a number > 0)"),
    ("circles.n_specimens", 300.7, "circles.n_specimens = 300.7: must be a valid integer (allowed: an integer > 0)"),
    ("data_processing.split.val", 0.0, "data_processing.split.val = 0.0: must be greater than 0 (allowed: a number in (0, 1))"),
    ("pretraining.batch_size", 0, "pretraining.batch_size = 0: must be greater than 0 (allowed: an integer > 0)"),
    ("causal_pima.batch_size", 0, "causal_pima.batch_size = 0: must be greater than 0 (allowed: an integer > 0)"),
    ("causal_pima.epochs", "ten", "causal_pima.epochs = 'ten': must be a valid integer (allowed: an integer > 0)"),
    ("causal_pima_lattice.epochs", 0, "causal_pima_lattice.epochs = 0: must be greater than 0 (allowed: an integer > 0)"),
    ("pretraining_lattice.learning_rate", "1e-3", "pretraining_lattice.learning_rate = '1e-3': must be a valid number (allowed: a number > 0)"),
    ("lattice_synthetic.n_specimens", 2000.0, "lattice_synthetic.n_specimens = 2000.0: must be a valid integer (allowed: an integer > 0)"),
    ("circles.seed", True, "circles.seed = True: must be a valid integer (allowed: an integer in [0, 2**32 - 1])"),
    ("circles.seed", 10**20, "circles.seed = 100000000000000000000: must be less than or equal to 4294967295 (allowed: an integer in [0, 2**32 - 1])"),
    ("pretraining.seed", -1, "pretraining.seed = -1: must be greater than or equal to 0 (allowed: an integer in [0, 2**32 - 1])"),
    ("causal_pima.learning_rate", float("nan"), "causal_pima.learning_rate = nan: must be a finite number (allowed: a number > 0)"),
    ("causal_pima.on_collapse", "ignore", "causal_pima.on_collapse = 'ignore': must be 'raise' or 'warn' (allowed: one of 'raise', 'warn')"),
    ("causal_pima.resume", "yes", "causal_pima.resume = 'yes': must be a valid boolean (allowed: true or false)"),
    ("causal_pima.prior.conditionals", "tables", "causal_pima.prior.conditionals = 'tables': must be 'logistic' or 'table'"),
    ("causal_pima.init.assigner", "pca", "causal_pima.init.assigner = 'pca': must be"),
    ("causal_pima.prior.n_nodes", "three", "causal_pima.prior.n_nodes = 'three': allowed: null, auto or an integer > 0"),
    ("causal_pima.prior.n_nodes", 0, "causal_pima.prior.n_nodes = 0: allowed: null, auto or an integer > 0"),
    ("compute.device", "gpu", "compute.device = 'gpu': allowed: auto, cpu, cuda or cuda:N"),
    ("causal_pima.prior.n_nodes", 30, "causal_pima.prior.n_nodes = 30: allowed: at most log2(max_components = 4096) = 12 nodes: 30 nodes are 2**30 = 1073741824 mixture components, about 4,096.0 GiB"),
    ("causal_pima.node_count.d_max", 0, "causal_pima.node_count.d_max = 0: must be greater than 0 (allowed: an integer > 0)"),
    ("causal_pima.node_count.d_min", 7, "causal_pima.node_count.d_max = 6: allowed: an integer >= d_min (7)"),
    ("causal_pima.node_count.d_max", 12, "causal_pima.node_count.d_max = 12: allowed: an integer <= 10"),
    ("causal_pima.node_count.tolerance", -1.0, "causal_pima.node_count.tolerance = -1.0: must be greater than or equal to 0"),
    ("circles.render.image_size", 36, "circles.render.image_size = 36: allowed: a multiple of 8 (the image encoder halves it 3 times, model.image_channels = [16, 32, 32]), e.g. 32"),
    ("lattice_ingestion.image_size", 7, "lattice_ingestion.image_size = 7: allowed: a multiple of 8"),
    ("data_processing.curve_asinh_scale", 1e-320, "data_processing.curve_asinh_scale = 1e-320: must be greater than or equal to 0.00000000000000000001 (allowed: null or a number in [1e-20, 1e20])"),
    ("data_processing.curve_asinh_scale", 1e308, "data_processing.curve_asinh_scale = 1e+308: must be less than or equal to 100000000000000000000 (allowed: null or a number in [1e-20, 1e20])"),
    ("causal_pima.structure.steps", 0, "causal_pima.structure.steps = 0: must be greater than 0 (allowed: an integer > 0)"),
    ("causal_pima.collapse_weight", 1.5, "causal_pima.collapse_weight = 1.5: must be less than or equal to 1 (allowed: a number in (0, 1])"),
    ("model.latent_dim", 0, "model.latent_dim = 0: must be greater than 0 (allowed: an integer > 0)"),
    ("model.modalities", ["image", "spectrum"], "model.modalities.1 = 'spectrum': must be 'image', 'curve' or 'scalar'"),
    ("model_lattice.curve_decoder", "phys", "model_lattice.curve_decoder = 'phys': must be 'neural' or 'physics'"),
    ("model.modality_balance", 2.0, "model.modality_balance = 2.0: must be less than or equal to 1 (allowed: a number in [0, 1])"),
    ("data_processing.curve_scaling", "max", "data_processing.curve_scaling = 'max': must be 'global' or 'pointwise'"),
    ("data_processing.image_range", [1.0, 0.0], "data_processing.image_range = [1.0, 0.0]: allowed: [low, high] with low < high"),
    ("data_processing.split.train", 0.9, "data_processing.split: the fractions {'train': 0.9, 'val': 0.1, 'test': 0.1} sum to 1.1; allowed: fractions > 0 that sum to 1"),
    ("lattice_ingestion.channels", 2, "lattice_ingestion.channels = 2: must be 1 or 3 (allowed: one of 1, 3)"),
    ("lattice_ingestion.on_error", "ignore", "lattice_ingestion.on_error = 'ignore': must be 'raise' or 'skip'"),
    ("lattice_ingestion.min_strain", 0.9, "lattice_ingestion: invalid IngestionConfig: need min_strain < max_strain, got 0.9 and 0.7"),
    ("lattice_ingestion.max_image_pixels", 0, "lattice_ingestion.max_image_pixels = 0: must be greater than 0 (allowed: an integer > 0)"),
    ("lattice_ingestion.max_image_pixels", 1.5e7, "lattice_ingestion.max_image_pixels = 15000000.0: must be a valid integer (allowed: an integer > 0)"),
    ("lattice_synthetic.curve_format", "csv", "lattice_synthetic.curve_format = 'csv': must be 'stress_strain' or 'force_displacement'"),
    ("lattice_synthetic.config.image_height", 4, "lattice_synthetic.config.image_height = 4: must be greater than or equal to 8 (allowed: an integer >= 8)"),
    ("circles.configuration", "nope", "circles.configuration = 'nope': allowed: one of ['chain', 'collider'"),
    ("circles.render.jitter", 0.5, "circles.render: invalid CirclesRenderConfig: jitter (0.5) must be < radius_small (0.16)"),
    ("circles.configurations.collider.hue.p_one", [0.1, 0.9], "circles.configurations.collider: not a valid causal graph: feature 'hue': conditional probability table has wrong size"),
    ("circles.configurations.collider.hue.p_one", [0.1, 0.5, 1.5, 0.9], "circles.configurations.collider.hue.p_one.2 = 1.5: must be less than or equal to 1 (allowed: a list of 2 ** len(parents) numbers in [0, 1]"),
    ("benchmark.methods", ["causal_pima", "magic"], "benchmark.methods.1 = 'magic': must be"),
    ("benchmark.configurations", ["collider", "nope"], "benchmark.configurations = ['collider', 'nope']: ['nope'] not defined; allowed: names from circles.configurations"),
    ("benchmark.causal_pima", {"epochs": 0}, "benchmark.causal_pima.epochs = 0: must be greater than 0 (allowed: an integer > 0)"),
    ("benchmark.seeds", [], "benchmark.seeds = []: List should have at least 1 item after validation, not 0 (allowed: a non-empty list of integers in [0, 2**32 - 1])"),
]


@pytest.mark.parametrize(("key", "value", "problem"), BAD, ids=[f"{k}={v!r}" for k, v, _ in BAD])
def test_an_invalid_value_is_refused_naming_key_value_and_range(defaults, key, value, problem):
    problems = _problems(_with(defaults, key, value))
    assert len(problems) == 1, problems
    assert problems[0].startswith(problem), problems[0]


def test_unknown_keys_are_refused_with_the_allowed_keys(defaults):
    (problem,) = _problems(_with(defaults, "causal_pima.epoch", 5))
    assert problem.startswith("causal_pima.epoch = 5: unknown parameter; allowed keys here: batch_size, ")
    assert "epochs" in problem
    (problem,) = _problems(_with(defaults, "causal_pima.structure.step", 5))
    assert problem.startswith("causal_pima.structure.step = 5: unknown parameter; allowed keys here: complexity, ")


def test_every_problem_is_listed_and_only_the_requested_groups_are_checked(defaults):
    params = _with(_with(defaults, "causal_pima.epochs", 0), "pretraining.batch_size", -1)
    assert [p.split(" =")[0] for p in _problems(params)] == ["causal_pima.epochs", "pretraining.batch_size"]
    assert set(validate_parameters(params, ["circles", "model"])) == {"circles", "model"}


@pytest.mark.parametrize(
    ("groups", "n", "problem"),
    [
        (["circles", "data_processing"], 3, "data_processing.split: with 3 specimens (circles.n_specimens) the fractions {'train': 0.8, 'val': 0.1, 'test': 0.1} give {'train': 1, 'val': 1, 'test': 1}"),
        (["circles", "data_processing"], 2, "data_processing.split: with 2 specimens (circles.n_specimens) the fractions {'train': 0.8, 'val': 0.1, 'test': 0.1} give an empty subset"),
        (["circles"], 3, "data_processing.split: with 3 specimens (circles.n_specimens)"),
        (["benchmark"], 3, "data_processing.split: with 3 specimens (benchmark.n_specimens)"),
        (["lattice_synthetic"], 3, "data_processing_lattice.split: with 3 specimens (lattice_synthetic.n_specimens)"),
    ],
)
def test_a_split_must_leave_every_subset_non_empty_for_the_configured_size(defaults, groups, n, problem):
    params = defaults
    for key in ("circles.n_specimens", "benchmark.n_specimens", "lattice_synthetic.n_specimens"):
        params = _with(params, key, n)
    (found,) = _problems(params, groups)
    assert found.startswith(problem), found
    assert found.endswith("allowed: at least {'train': 2, 'val': 1, 'test': 1} specimens per split")
    validate_parameters(_with(params, "circles.n_specimens", 5), ["circles", "data_processing"])  # 3 / 1 / 1
    # processing alone cannot know how many specimens a stored data set has: checked at processing time
    validate_parameters(params, ["data_processing"])


@pytest.mark.parametrize(("n", "counts"), [(5, (3, 1, 1)), (10, (8, 1, 1)), (6000, (4800, 600, 600)), (2, None)])
def test_split_counts_are_the_data_processing_node_s(n, counts):
    expected = dict(zip(("train", "val", "test"), counts, strict=True)) if counts else None
    assert split_counts({"train": 0.8, "val": 0.1, "test": 0.1}, n) == expected


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ("causal_pima.epochs=ten", "causal_pima.epochs = 'ten': must be a valid integer"),
        ("circles.n_specimens=300.7", "circles.n_specimens = 300.7: must be a valid integer"),
        ("circles.n_specimens=2e3", "circles.n_specimens = 2000.0: must be a valid integer"),
        ("causal_pima.learning_rate=0", "causal_pima.learning_rate = 0: must be greater than 0"),
        ("data_processing.split.val=0.0", "data_processing.split.val = 0.0: must be greater than 0"),
    ],
)
def test_command_line_overrides_are_checked_as_kedro_parses_them(defaults, override, problem):
    # kedro run --params parses every value with OmegaConf.from_dotlist (kedro.framework.cli.utils._split_params)
    runtime = OmegaConf.to_container(OmegaConf.from_dotlist([override]))
    merged = OmegaConf.to_container(OmegaConf.merge(defaults, runtime))
    (found,) = _problems(merged)
    assert found.startswith(problem), found


def test_good_command_line_overrides_pass(defaults):
    runtime = OmegaConf.to_container(
        OmegaConf.from_dotlist(["causal_pima.epochs=3", "causal_pima.learning_rate=1e-4", "circles.configuration=chain", "causal_pima.prior.n_nodes=null"])
    )
    validate_parameters(OmegaConf.to_container(OmegaConf.merge(defaults, runtime)))
    runtime = OmegaConf.to_container(
        OmegaConf.from_dotlist(["causal_pima.prior.n_nodes=auto", "causal_pima.node_count.d_max=4"])
    )
    validate_parameters(OmegaConf.to_container(OmegaConf.merge(defaults, runtime)))


def test_parameter_groups_from_pipeline_inputs():
    assert parameter_groups(["params:circles", "params:circles.render", "params:causal_pima_lattice", "lattice.train_set"]) == {
        "circles",
        "causal_pima_lattice",
    }
    assert schema_for("causal_pima_lattice") is SCHEMAS["causal_pima"]
    assert schema_for("lattice_ingestion") is SCHEMAS["lattice_ingestion"]
    assert schema_for("somebody_elses") is None
    assert schema_for("lattice_overrides") is StageOverridesParams
    assert schema_for("circles_overrides") is None  # circles is the base, it has no overrides


def test_a_problem_in_an_overlaid_group_names_where_it_comes_from(defaults):
    (problem,) = _problems(_with(defaults, "causal_pima_lattice.epochs", 0))
    assert problem == (
        "causal_pima_lattice.epochs = 0: must be greater than 0 (allowed: an integer > 0) "
        "(causal_pima_lattice is causal_pima overlaid with lattice_overrides.causal_pima)"
    )


def test_a_data_set_s_overrides_name_only_shared_stages(defaults):
    params = _with(defaults, "lattice_overrides.causal_pim", {"epochs": 3})
    (problem,) = _problems(params, ["causal_pima_lattice"])  # checked with the groups built from it
    assert problem.startswith("lattice_overrides.causal_pim = {'epochs': 3}: unknown parameter; allowed keys here: ")
    assert "causal_pima, data_processing, model, pretraining" in problem


# ---------------------------------------------------------------------------- in a Kedro session
def test_a_session_with_an_invalid_parameter_stops_before_writing_anything(project):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    raw = project / "data" / "01_raw" / "circles"
    raw.mkdir(parents=True)
    (raw / "features.csv").write_text("specimen_id,radius\n0,1\n")
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (project / "data").rglob("*") if p.is_file()}

    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params={"circles": {"n_specimens": 0}}) as session:
        with pytest.raises(InvalidParametersError) as caught:
            session.run(pipeline_names=["circles"])
    assert caught.value.problems == ["circles.n_specimens = 0: must be greater than 0 (allowed: an integer > 0)"]
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in (project / "data").rglob("*") if p.is_file()}
    assert after == before
    # the hook runs before kedro-mlflow's: no MLflow run was opened (left RUNNING) either
    if (project / "mlflow.db").exists():
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
        assert [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])] == []


def test_a_command_line_group_that_no_stage_reads_is_refused(project):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    runtime = {"circle": {"n_specimens": 10}, "causal_pima": {"epochs": 0}}
    with KedroSession.create(project_path=project, runtime_params=runtime) as session:
        with pytest.raises(InvalidParametersError) as caught:
            session.run(pipeline_names=["circles"])
    # causal_pima is not read by the circles pipeline but was given on the command line: checked too
    assert caught.value.problems == [
        "causal_pima.epochs = 0: must be greater than 0 (allowed: an integer > 0)",
        "circle (from --params): unknown parameter group; no stage of this run reads it",
    ]


def test_a_misspelt_data_set_group_on_the_command_line_is_refused(project):
    """Issue 23, item 8: causal_pima_latice.seed=1 (for causal_pima_lattice) used to be accepted and unused."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    with KedroSession.create(project_path=project, runtime_params={"causal_pima_latice": {"seed": 1}}) as session:
        with pytest.raises(InvalidParametersError) as caught:
            session.run(pipeline_names=["circles"])
    assert caught.value.problems == [
        "causal_pima_latice (from --params): no data set of the parameter files has this group, so nothing would read it; "
        "did you mean causal_pima_lattice?"
    ]
    assert not (project / "data").exists()
