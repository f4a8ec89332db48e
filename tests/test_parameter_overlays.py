"""One parameter set per stage; a data set states only its differences (issue 10, item 2).

``conf/base/parameters_lattice.yml`` builds ``<stage>_lattice`` with the ``overlay`` resolver from the
circles group and ``lattice_overrides.<stage>``. These tests pin that the lattice's stage groups are
the circles groups plus exactly the listed overrides (so the two data sets cannot drift apart
silently), that ``kedro run --params`` reaches them as documented, and that a new data set name
needs only its differences.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf

from causal_pima.parameter_schemas import validate_parameters
from causal_pima.pipelines.parameters import SHARED_STAGES, overlay, stage_parameters
from causal_pima.settings import CONFIG_LOADER_ARGS

ROOT = Path(__file__).resolve().parents[1]

# Every way the lattice differs from the circles stages. Changing a lattice value means changing it
# here too; a shared value changes in the circles file and reaches both data sets.
LATTICE_OVERRIDES = {
    "data_processing": {},
    "model": {"curve_decoder": "physics"},
    "pretraining": {"epochs": 40, "batch_size": 64},
    "causal_pima": {"epochs": 20, "batch_size": 64},
}


def _load(conf: Path, runtime_params: dict | None = None) -> dict:
    """The parameters exactly as ``kedro run`` loads them (KedroContext.params reads this loader)."""
    return OmegaConfigLoader(str(conf), runtime_params=runtime_params, **CONFIG_LOADER_ARGS)["parameters"]


@pytest.fixture(scope="module")
def conf(tmp_path_factory) -> Path:
    """conf/base of the project, without the developer's conf/local."""
    conf = tmp_path_factory.mktemp("conf")
    shutil.copytree(ROOT / "conf" / "base", conf / "base")
    (conf / "local").mkdir()
    return conf


@pytest.fixture(scope="module")
def params(conf) -> dict:
    return _load(conf)


def _merged(base: dict, overrides: dict) -> dict:
    out = dict(base)
    for key, value in overrides.items():
        out[key] = _merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


# ---------------------------------------------------------------------------- the guard against drift
def test_lattice_stages_are_the_circles_stages_plus_exactly_the_listed_overrides(params):
    assert params["lattice_overrides"] == LATTICE_OVERRIDES
    for stage in SHARED_STAGES:
        assert params[f"{stage}_lattice"] == _merged(params[stage], LATTICE_OVERRIDES[stage]), stage


def test_the_lattice_file_copies_no_stage(params):
    raw = yaml.safe_load((ROOT / "conf" / "base" / "parameters_lattice.yml").read_text())
    for stage in SHARED_STAGES:
        assert raw[f"{stage}_lattice"] == f"${{overlay:{stage},lattice_overrides.{stage}}}"
        # an override equal to the circles value would be a copy that can drift
        for key, value in raw["lattice_overrides"][stage].items():
            assert params[stage].get(key, "absent") != value, f"lattice_overrides.{stage}.{key} repeats the circles value"


def test_each_stage_is_defined_in_one_file():
    homes = {}
    for path in sorted((ROOT / "conf" / "base").glob("parameters_*.yml")):
        for group in yaml.safe_load(path.read_text()):
            homes.setdefault(group, []).append(path.name)
    assert homes["data_processing"] == ["parameters_data_processing.yml"]
    assert homes["model"] == homes["pretraining"] == ["parameters_pretraining.yml"]
    assert homes["causal_pima"] == ["parameters_causal_pima.yml"]


def test_the_merged_groups_validate_and_are_what_the_stages_read(params):
    models = validate_parameters(params, [f"{stage}_lattice" for stage in SHARED_STAGES])
    assert models["causal_pima_lattice"].epochs == 20 and models["model_lattice"].curve_decoder == "physics"
    assert stage_parameters("causal_pima", "lattice") == {"params:causal_pima": "params:causal_pima_lattice"}
    assert stage_parameters("causal_pima", "circles") == {"params:causal_pima": "params:causal_pima"}


# ---------------------------------------------------------------------------- kedro run --params
def test_a_lattice_override_on_the_command_line_changes_the_lattice_alone(conf, params):
    loaded = _load(conf, {"causal_pima_lattice": {"seed": 1}})
    assert loaded["causal_pima_lattice"] == {**params["causal_pima_lattice"], "seed": 1}
    assert loaded["causal_pima"] == params["causal_pima"]


def test_a_circles_override_reaches_the_lattice_unless_the_lattice_sets_that_key(conf, params):
    loaded = _load(conf, {"causal_pima": {"epochs": 3, "learning_rate": 5e-4}})
    assert loaded["causal_pima"]["epochs"] == 3
    assert loaded["causal_pima_lattice"]["epochs"] == 20  # lattice_overrides.causal_pima.epochs wins
    assert loaded["causal_pima_lattice"]["learning_rate"] == 5e-4  # shared: follows the circles group
    assert loaded["causal_pima_lattice"] == {**params["causal_pima_lattice"], "learning_rate": 5e-4}


@pytest.mark.parametrize("lattice_first", [False, True])
def test_command_line_overrides_of_both_groups_combine_in_either_order(conf, params, lattice_first):
    groups = {"causal_pima": {"learning_rate": 5e-4, "structure": {"steps": 7}}, "causal_pima_lattice": {"seed": 1, "init": {"oversample": 5}}}
    runtime = dict(reversed(groups.items())) if lattice_first else groups
    loaded = _load(conf, runtime)
    expected = _merged(params["causal_pima_lattice"], {"learning_rate": 5e-4, "seed": 1, "init": {"oversample": 5}, "structure": {"steps": 7}})
    assert loaded["causal_pima_lattice"] == expected


def test_the_overrides_group_can_be_changed_on_the_command_line(conf, params):
    loaded = _load(conf, {"lattice_overrides": {"causal_pima": {"epochs": 7}}})
    assert loaded["causal_pima_lattice"] == {**params["causal_pima_lattice"], "epochs": 7}


# ---------------------------------------------------------------------------- the resolver
@pytest.fixture
def resolve():
    def resolve(config: dict, runtime: dict | None = None) -> dict:
        if not OmegaConf.has_resolver("overlay"):
            OmegaConf.register_new_resolver("overlay", overlay)
        return OmegaConf.to_container(OmegaConf.unsafe_merge(OmegaConf.create(config), OmegaConf.create(runtime or {})), resolve=True)

    return resolve


def test_overlay_merges_dicts_key_by_key_and_replaces_other_values_whole(resolve):
    config = {
        "stage": {"a": 1, "sub": {"x": 1, "y": 2}, "items": [1, 2, 3], "table": {"k": 1}},
        "d_overrides": {"stage": {"sub": {"y": 3}, "items": [9], "table": None, "new": {"z": 0}}},
        "stage_d": "${overlay:stage,d_overrides.stage}",
        "stage_e": "${overlay:stage_d,e_overrides}",  # an overlaid group can be the base of another
        "e_overrides": {"a": 5},
    }
    out = resolve(config)
    assert out["stage_d"] == {"a": 1, "sub": {"x": 1, "y": 3}, "items": [9], "table": None, "new": {"z": 0}}
    assert out["stage_e"] == {**out["stage_d"], "a": 5}
    out = resolve(config, {"stage_d": {"sub": {"x": 0}}, "stage": {"a": 2}})
    assert out["stage_d"]["sub"] == {"x": 0, "y": 3} and out["stage_d"]["a"] == 2 and out["stage_e"]["a"] == 5


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"o": {}, "s_d": "${overlay:nothing,o}"}, "the group to overlay 'nothing' must be a parameter group (a mapping); found nothing"),
        ({"s": {"a": 1}, "s_d": "${overlay:s,nothing}"}, "the overrides 'nothing' must be a parameter group (a mapping); found nothing"),
        ({"s": {"a": 1}, "o": 3, "s_d": "${overlay:s,o}"}, "the overrides 'o' must be a parameter group (a mapping); found 3"),
    ],
)
def test_overlay_of_something_that_is_not_a_group_is_an_error_naming_it(resolve, config, message):
    with pytest.raises(Exception, match=r"overlay") as caught:
        resolve(config)
    assert message in str(caught.value)


# ---------------------------------------------------------------------------- a new data set name
def test_a_new_data_set_writes_only_its_differences(conf, params, tmp_path):
    """The README recipe: parameters_<name>.yml with <name>_overrides and four overlay lines."""
    own = tmp_path / "conf"
    shutil.copytree(conf, own)
    (own / "base" / "parameters_mydata.yml").write_text(
        "mydata_overrides:\n"
        "  data_processing: {curve_scaling: pointwise}\n"
        "  model: {curve_decoder: physics}\n"
        "  pretraining: {}\n"
        "  causal_pima: {epochs: 30, prior: {n_nodes: 4}}\n"
        + "".join(f"{stage}_mydata: ${{overlay:{stage},mydata_overrides.{stage}}}\n" for stage in SHARED_STAGES)
    )
    loaded = _load(own)
    assert loaded["pretraining_mydata"] == params["pretraining"]
    assert loaded["causal_pima_mydata"] == _merged(params["causal_pima"], {"epochs": 30, "prior": {"n_nodes": 4}})
    models = validate_parameters(loaded, [f"{stage}_mydata" for stage in SHARED_STAGES])
    assert models["causal_pima_mydata"].prior.n_nodes == 4
    assert {k: v for k, v in loaded.items() if not k.endswith("mydata") and k != "mydata_overrides"} == params


def test_a_new_manifest_data_set_name_registers_its_pipelines(monkeypatch):
    from causal_pima import pipeline_registry
    from causal_pima.manifest_datasets import ManifestDataset

    found = pipeline_registry.project_manifest_datasets()  # the catalog's: lattice (tests/test_registry.py: mydata from a catalog file)
    monkeypatch.setattr(pipeline_registry, "project_manifest_datasets",
                        lambda: [*found, ManifestDataset("mydata", "data/01_raw/mydata", "physics")])
    registered = pipeline_registry.register_pipelines()
    assert registered["mydata"].inputs() == {
        "mydata.raw_manifest", "mydata.true_dag", "mydata.fit_checkpoint", "params:lattice_ingestion",
        *(f"params:{stage}_mydata" for stage in SHARED_STAGES),
        "params:compute", "params:distributed",  # shared by every data set (parameters_compute.yml)
    }
    assert registered["mydata_ingestion"].all_outputs() == {"mydata.raw_specimens", "mydata.features", "mydata.rejected", "mydata.overview"}
    assert {n.name for n in registered["lattice"].nodes}.isdisjoint({n.name for n in registered["mydata"].nodes})
    # the lattice's own pipelines are unchanged by the generalisation
    assert registered["lattice_ingestion"].inputs() == {"lattice.raw_manifest", "params:lattice_ingestion"}
