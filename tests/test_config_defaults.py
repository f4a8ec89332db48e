"""One source per parameter default (issue 21, item 3).

The core config dataclasses hold the defaults; the pydantic schemas of ``parameter_schemas`` that a
dataclass backs (``__dataclass__``, made by ``_with_dataclass_fields``) take them from it, and
conf/base gives the runs' values. Checked here: no hand-written schema class writes a default for a
field its dataclass defaults; every schema default equals the dataclass's (but :data:`SCHEMA_OWN_DEFAULTS`);
every conf/base value of a dataclass field equals the dataclass default (but :data:`CONF_DIFFERS`). And
the prior's settings have one home, ``causal_pima.prior``: ``model.<prior key>`` is refused, naming it.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import numpy as np
import pytest
from kedro.config import OmegaConfigLoader

from causal_pima import parameter_schemas
from causal_pima.config_loader import CONFIG_LOADER_ARGS
from causal_pima.core.model_config import PriorConfig
from causal_pima.core.training_config import FitChecks
from causal_pima.model_input import model_config_from_data
from causal_pima.parameter_schemas import (
    SCHEMAS,
    InvalidParametersError,
    _inner_model,
    validate_parameters,
)

ROOT = Path(__file__).resolve().parents[1]

# schema fields whose default differs from their dataclass's on purpose: dotted key -> the schema's default
SCHEMA_OWN_DEFAULTS = {
    # null = one node per label column, resolved from the data (core.readout.resolve_n_nodes) before a
    # PriorConfig exists; the config itself needs an integer
    "causal_pima.prior.n_nodes": None,
}
# conf/base values that differ from the dataclass default on purpose: dotted key -> why
CONF_DIFFERS = {
    # null: one node per label column (as SCHEMA_OWN_DEFAULTS); a bare PriorConfig needs an integer
    "causal_pima.prior.n_nodes": "resolved from the data",
    # a library call states its own budget (0: none); the runs' budgets are the parameter files' (docs/model.md
    # "Training budgets": 750 pretraining and 500 fit gradient steps)
    "pretraining.min_steps": "the runs' budget",
    "causal_pima.min_steps": "the runs' budget",
}


def dataclass_defaults(cls) -> dict:
    """``{field: default}`` of a dataclass's fields with a plain default (factories, nested configs, left out)."""
    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def backed_schemas(schema, path=()):
    """``(dotted path, schema)`` for ``schema`` and every nested schema that a dataclass backs."""
    if getattr(schema, "__dataclass__", None) is not None:
        yield path, schema
    for name, info in schema.model_fields.items():
        inner = _inner_model(info.annotation)
        if inner is not None:
            yield from backed_schemas(inner, (*path, name))


def all_backed_schemas():
    seen = {}
    for group, schema in SCHEMAS.items():
        for path, backed in backed_schemas(schema, (group,)):
            seen[".".join(path)] = backed
    return seen


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def test_every_config_dataclass_that_a_group_passes_through_backs_its_schema():
    backed = {path: schema.__dataclass__.__name__ for path, schema in all_backed_schemas().items()}
    assert backed == {
        "circles.render": "CirclesRenderConfig", "lattice_synthetic.config": "LatticeConfig",
        "lattice_ingestion": "IngestionConfig", "model": "ModelConfig", "pretraining": "PretrainConfig",
        "causal_pima": "FitConfig", "causal_pima.prior": "PriorConfig", "causal_pima.init": "InitConfig",
        "causal_pima.structure": "StructureConfig", "causal_pima.node_count": "NodeCountConfig", "data_processing": "ProcessingConfig",
    }


def test_the_fit_checks_defaults_are_the_core_dataclass_values_not_literals_in_the_schema():
    fields = parameter_schemas.CausalPimaParams.model_fields
    for name, default in dataclass_defaults(FitChecks).items():
        assert fields[name].default == default, name
    source = inspect.getsource(parameter_schemas._CausalPima)
    assert "= FitChecks.collapse_weight" in source and "0.99" not in source


def test_no_schema_writes_a_default_its_dataclass_holds():
    tree = ast.parse(inspect.getsource(parameter_schemas))
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    written = []
    for path, schema in all_backed_schemas().items():
        defaults = dataclass_defaults(schema.__dataclass__)
        for item in classes[schema.__bases__[0].__name__].body:
            if not (isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name) and item.value is not None):
                continue
            value = item.value
            keywords = {k.arg for k in value.keywords} if isinstance(value, ast.Call) and getattr(value.func, "id", "") == "Field" else None
            if item.target.id in defaults and (keywords is None or keywords & {"default", "default_factory"}):
                written.append(f"{path}.{item.target.id} (line {item.lineno})")
    assert written == []


def test_every_schema_default_is_its_dataclass_default():
    differ = {}
    for path, schema in all_backed_schemas().items():
        for name, default in dataclass_defaults(schema.__dataclass__).items():
            if name in schema.model_fields:
                key, given = f"{path}.{name}", schema.model_fields[name].default
                if key in SCHEMA_OWN_DEFAULTS:
                    assert given == SCHEMA_OWN_DEFAULTS[key] != default, key
                elif _plain(given) != _plain(default):
                    differ[key] = (given, default)
    assert differ == {}


def conf_base_parameters() -> dict:
    return OmegaConfigLoader(str(ROOT / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": "base"})["parameters"]


def test_conf_base_values_are_the_dataclass_defaults_but_the_listed_ones():
    params = conf_base_parameters()
    differ, compared = {}, 0
    for path, schema in all_backed_schemas().items():
        group = params
        for key in path.split("."):
            group = group.get(key, {})
        for name, default in dataclass_defaults(schema.__dataclass__).items():
            if name in group:
                compared += 1
                if _plain(group[name]) != _plain(default):
                    differ[f"{path}.{name}"] = group[name]
    assert compared >= 70  # the parameter files state most values (76 when this was written)
    assert sorted(differ) == sorted(CONF_DIFFERS), {k: v for k, v in differ.items() if k not in CONF_DIFFERS}


@pytest.mark.parametrize(("group", "key", "place"), [
    ("model", "n_nodes", "causal_pima.prior.n_nodes"),
    ("model", "conditionals", "causal_pima.prior.conditionals"),
    ("model_lattice", "mixture_weights", "causal_pima_lattice.prior.mixture_weights"),
])
def test_a_prior_key_under_model_is_refused_naming_its_place(group, key, place):
    params = conf_base_parameters()
    value = {"n_nodes": 4, "conditionals": "table", "mixture_weights": "free"}[key]
    with pytest.raises(InvalidParametersError) as error:
        validate_parameters({**params, group: {**params[group], key: value}}, [group])
    assert error.value.problems[0].startswith(
        f"{group}.{key} = {value!r}: a prior setting, whose one place is {place} (issue 21: the prior's settings are no "
        f"longer read from {group}); move it there")
    assert set(parameter_schemas.PRIOR_KEYS) == {f.name for f in dataclasses.fields(PriorConfig)}
    assert not set(parameter_schemas.PRIOR_KEYS) & set(SCHEMAS["model"].model_fields)


def test_a_library_call_with_a_prior_key_among_the_model_parameters_is_refused():
    train = {"images": np.zeros((2, 3, 8, 8), np.float32), "curves": np.zeros((2, 4), np.float32)}
    assert model_config_from_data(train, {"latent_dim": 3}).conditionals == PriorConfig().conditionals == "table"
    with pytest.raises(ValueError, match=r"model parameter\(s\) \['n_nodes'\] are prior settings, whose one place is "
                                         r"causal_pima.prior \(e.g. causal_pima.prior.n_nodes\)"):
        model_config_from_data(train, {"latent_dim": 3, "n_nodes": 2})
