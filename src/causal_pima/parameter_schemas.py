"""Schemas of every parameter group in ``conf/base/parameters_*.yml`` (pydantic 2).

:func:`validate_parameters` checks the groups a run reads (types, ranges, choices, split fractions
that give non-empty splits) and raises :class:`InvalidParametersError` naming, for every problem,
the parameter's full dotted key, its value and what is allowed. ``validation_hook`` calls it when a
run starts, before any node writes anything. The nodes still receive the plain dicts and build their
own config objects; these schemas only decide whether a run may start.

Conventions:

* integers are strict: ``"ten"``, ``300.7``, ``2e3`` and ``true`` are refused where an integer is
  expected (``kedro run --params`` values arrive parsed by OmegaConf: ``0`` -> int, ``300.7`` ->
  float, ``ten`` -> str); numbers accept integers and floats but not strings, booleans, NaN or inf;
* every model forbids unknown keys (a typo such as ``causal_pima.epoch`` is an error): a new
  parameter must be added here as well as to the YAML file; the default files are checked by
  ``tests/test_parameter_schemas.py``;
* the fields of the core config dataclasses that a group passes through (``IngestionConfig``,
  ``LatticeConfig``, ``CirclesRenderConfig``, ``FitConfig``, ``PretrainConfig``, ``ModelConfig``) are
  taken from the dataclasses themselves, so a field added there is accepted here with its type,
  and the dataclass's own ``__post_init__`` checks run on the given values.

A data set other than ``circles`` reads ``<stage>_<dataset>`` (``causal_pima_lattice``...), checked
with the stage's schema. In the YAML files that group is the stage's circles group with the data set's
``<dataset>_overrides.<stage>`` laid over it (the ``overlay`` resolver of
``causal_pima.pipelines.parameters``), so what is validated is the merged group the nodes receive; a
problem in it also names the two groups it was merged from. ``<dataset>_overrides`` itself is checked
for its stage names only (a stage's keys are checked once merged, where a partial split is complete).
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    model_validator,
)
from pydantic.fields import FieldInfo

from causal_pima.core.dag import CONDITIONALS
from causal_pima.core.initialisation import ASSIGNERS, CLUSTERERS
from causal_pima.core.modality_spec import CURVE, IMAGE, MODALITY_SPECS
from causal_pima.core.model_config import ModelConfig, PriorConfig
from causal_pima.core.physics import PHYSICS_LAWS
from causal_pima.core.prior import MEAN_STRUCTURES
from causal_pima.core.training_config import (
    CLUSTER_SPACES,
    FitChecks,
    FitConfig,
    InitConfig,
    NodeCountConfig,
    PretrainConfig,
    StructureConfig,
)
from causal_pima.data.circles import KNOWN_FEATURES, OPTIONAL_MODALITIES, CirclesRenderConfig
from causal_pima.data.lattice import LATTICE_FEATURES, LatticeConfig
from causal_pima.data.processing import DEFAULT_SPLIT, ProcessingConfig
from causal_pima.data.scm import BinarySCM
from causal_pima.data.specimens import IngestionConfig
from causal_pima.pipelines.benchmark.methods import METHODS
from causal_pima.pipelines.parameters import DEFAULT_DATASET, OVERRIDES_SUFFIX, SHARED_STAGES
from causal_pima.run_refusal import RunRefusedError

SPLITS = ("train", "val", "test")
# fewest specimens per split that the later stages can use (curve statistics need 2 training specimens)
MIN_SPLIT_SIZE = {"train": 2, "val": 1, "test": 1}
BENCHMARK_METHODS = tuple(METHODS)  # the benchmark methods' names, listed in pipelines/benchmark/methods.py
# benchmark.extra_modalities: the registered modalities besides image and curve that the circles generator renders
EXTRA_MODALITIES = tuple(m for m in MODALITY_SPECS if m not in (IMAGE, CURVE) and m in OPTIONAL_MODALITIES)


class FieldProblem(ValueError):
    """Raised by a model validator about one of the model's fields (reported under that field's key)."""

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        self.field, self.value, self.allowed = field, value, allowed
        super().__init__(f"{field} = {value!r}; allowed: {allowed}")


class InvalidParametersError(ValueError, RunRefusedError):
    """One or more parameters are invalid; ``problems`` lists one line per parameter."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__(
            "Invalid parameters; the run was stopped before any node ran or wrote anything "
            "(conf/base/parameters_*.yml, conf/local/ or kedro run --params):\n"
            + "\n".join(f"  - {p}" for p in self.problems)
        )


# ----------------------------------------------------------------------------- value types
def _int(description: str, **constraints: Any) -> Any:
    return Annotated[int, Field(strict=True, description=description, **constraints)]


def _number(description: str, **constraints: Any) -> Any:
    return Annotated[float, Field(strict=True, allow_inf_nan=False, description=description, **constraints)]


def _choice(values: Iterable[Any]) -> Any:
    values = tuple(values)
    return Annotated[Literal[values], Field(description="one of " + ", ".join(repr(v) for v in values))]


Int = _int("an integer")
PositiveInt = _int("an integer > 0", gt=0)
NonNegativeInt = _int("an integer >= 0", ge=0)
Seed = _int("an integer in [0, 2**32 - 1]", ge=0, le=2**32 - 1)  # numpy, torch and scikit-learn all take it
Number = _number("a finite number")
PositiveNumber = _number("a number > 0", gt=0)
NonNegativeNumber = _number("a number >= 0", ge=0)
Probability = _number("a number in [0, 1]", ge=0, le=1)
Bool = Annotated[bool, Field(strict=True, description="true or false")]
Str = Annotated[str, Field(strict=True, description="a string")]


class Schema(BaseModel):
    """Base of every parameter model: unknown keys are refused, values are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _strict_type(annotation: Any) -> Any:
    """The schema type of a config dataclass field annotation (strict scalars, lists for sequences)."""
    origin = typing.get_origin(annotation)
    if annotation is bool:
        return Bool
    if annotation is int:
        return Int
    if annotation is float:
        return Number
    if annotation is str:
        return Str
    if origin in (Union, types.UnionType):
        return Union[tuple(_strict_type(a) if a is not type(None) else type(None) for a in typing.get_args(annotation))]  # noqa: UP007
    if origin in (tuple, list, Sequence, typing.Sequence) or annotation in (tuple, list):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return list[_strict_type(args[0])] if len(args) == 1 else list[Any]
    if origin is dict or annotation is dict:
        args = typing.get_args(annotation)
        return dict[Str, _strict_type(args[1])] if len(args) == 2 else dict[Str, Any]
    return Any


def _with_dataclass_fields(
    schema: type[Schema], dataclass: type, exclude: Iterable[str] = (), check: bool = True,
    own_defaults: Mapping[str, Any] | None = None,
) -> type[Schema]:
    """``schema`` plus every field of ``dataclass`` it does not declare (nor ``exclude``).

    A field that ``schema`` declares (for its range or choices) takes its default from the dataclass
    as well, so each default is written once, in the config the nodes build (a schema field whose
    dataclass default is a factory, a nested config, keeps the schema's own); ``schema`` declares no
    default of its own for such a field (``tests/test_config_defaults.py``). ``own_defaults``: the few
    parameters whose default differs from the config's by design, each with its reason at the call.
    With ``check``, the given values also go through ``dataclass(**values)`` (its own checks). The
    model's ``__dataclass__`` is ``dataclass``.
    """
    hints = typing.get_type_hints(dataclass)
    own_defaults = dict(own_defaults or {})
    extra: dict[str, Any] = {}
    for f in dataclasses.fields(dataclass):
        if f.name in exclude:
            continue
        if f.name in schema.model_fields:
            if f.name in own_defaults or f.default is not dataclasses.MISSING:
                declared = schema.model_fields[f.name]
                default = own_defaults[f.name] if f.name in own_defaults else f.default
                extra[f.name] = (declared.annotation, FieldInfo.merge_field_infos(declared, default=default))
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        extra[f.name] = (_strict_type(hints[f.name]), default)
    validators = {}
    if check:

        def _dataclass_check(self: Schema) -> Schema:
            values = {k: getattr(self, k) for k in self.model_fields_set}
            try:
                dataclass(**values)
            except (TypeError, ValueError) as exc:
                raise ValueError(str(exc)) from None
            return self

        validators["dataclass_check"] = model_validator(mode="after")(_dataclass_check)
    model = create_model(schema.__name__, __base__=schema, __validators__=validators, __module__=__name__, **extra)
    model.__dataclass__ = dataclass
    return model


def _scm_check(features: Iterable[str] | None, what: str):
    def check(config: dict[str, ScmNode]) -> dict[str, ScmNode]:
        if features is not None:
            unknown = sorted(set(config) - set(features))
            if unknown:
                raise ValueError(f"unknown {what} feature(s) {unknown}; known: {list(features)}")
        try:
            BinarySCM.from_config({name: node.model_dump(exclude_unset=True) for name, node in config.items()})
        except ValueError as exc:
            raise ValueError(f"not a valid causal graph: {exc}") from None
        return config

    return check


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, int | float) and not isinstance(value, bool) else value


class ScmNode(Schema):
    """One feature of a true causal graph: ``p_one[c] = P(feature = 1 | parents)``."""

    parents: list[Str] | None = Field(default=None, description="a list of feature names")
    p_one: Annotated[list[Probability], BeforeValidator(_as_list)] = Field(
        description="a list of 2 ** len(parents) numbers in [0, 1] (a root may give one bare number)"
    )


CirclesGraph = Annotated[dict[Str, ScmNode], AfterValidator(_scm_check(KNOWN_FEATURES, "circles"))]
LatticeGraph = Annotated[dict[Str, ScmNode], AfterValidator(_scm_check(None, "lattice"))]


# ----------------------------------------------------------------------------- circles
class _CirclesRender(Schema):
    image_size: PositiveInt
    n_wavelengths: _int("an integer >= 2", ge=2)


CirclesRender = _with_dataclass_fields(_CirclesRender, CirclesRenderConfig)


class CirclesParams(Schema):
    n_specimens: PositiveInt
    seed: Seed = 0
    configuration: Str
    n_figure_images: PositiveInt = 16
    configurations: dict[Str, CirclesGraph]
    render: CirclesRender = Field(default_factory=CirclesRender)

    @model_validator(mode="after")
    def _configuration_is_defined(self) -> CirclesParams:
        if self.configuration not in self.configurations:
            raise FieldProblem("configuration", self.configuration, f"one of {sorted(self.configurations)} (circles.configurations)")
        return self


# ----------------------------------------------------------------------------- lattice
class _LatticeGenerator(Schema):
    image_height: _int("an integer >= 8", ge=8)
    image_width: _int("an integer >= 8", ge=8)
    cells_across: PositiveNumber
    n_curve_points: _int("an integer >= 2", ge=2)
    max_strain: PositiveNumber


LatticeGenerator = _with_dataclass_fields(_LatticeGenerator, LatticeConfig)


class LatticeSyntheticParams(Schema):
    n_specimens: PositiveInt
    seed: Seed = 0
    configuration: Str = "custom"
    dag: LatticeGraph
    curve_format: _choice(("stress_strain", "force_displacement")) = "stress_strain"
    gauge_length: PositiveNumber = 20.0
    cross_section_area: PositiveNumber = 400.0
    n_figure_images: PositiveInt = 16
    n_figure_curves: PositiveInt = 300
    config: LatticeGenerator = Field(default_factory=LatticeGenerator)

    @model_validator(mode="after")
    def _lattice_features(self) -> LatticeSyntheticParams:
        if sorted(self.dag) != sorted(LATTICE_FEATURES):
            raise FieldProblem("dag", sorted(self.dag), f"a graph over exactly the features {list(LATTICE_FEATURES)}")
        return self


class _Ingestion(Schema):
    image_size: PositiveInt
    channels: _choice((1, 3))
    n_grid_points: _int("an integer >= 2", ge=2)
    min_strain: Number
    max_strain: PositiveNumber
    curve_type: _choice(("auto", "stress_strain", "force_displacement"))
    gauge_length: PositiveNumber | None
    cross_section_area: PositiveNumber | None
    strain_scale: PositiveNumber
    min_points: _int("an integer >= 2", ge=2)
    non_increasing_strain: _choice(("reject", "sort"))
    on_error: _choice(("raise", "skip"))
    label_columns: list[Str] | None
    max_image_pixels: PositiveInt
    max_image_bytes: PositiveInt | None = Field(description="null or an integer > 0 (bytes)")


LatticeIngestionParams = _with_dataclass_fields(_Ingestion, IngestionConfig)


# ----------------------------------------------------------------------------- data_processing
class SplitParams(Schema):
    """Split fractions; with ``context={"n_specimens": n}`` every split must get enough specimens."""

    train: _number("a number in (0, 1)", gt=0, lt=1)
    val: _number("a number in (0, 1)", gt=0, lt=1)
    test: _number("a number in (0, 1)", gt=0, lt=1)

    @model_validator(mode="after")
    def _sums_to_one_and_non_empty(self, info: ValidationInfo) -> SplitParams:
        fractions = {s: getattr(self, s) for s in SPLITS}
        total = sum(fractions.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"the fractions {fractions} sum to {total:g}; allowed: fractions > 0 that sum to 1")
        n = (info.context or {}).get("n_specimens")
        if n is not None:
            counts = split_counts(fractions, n)
            if counts is None or any(counts[s] < MIN_SPLIT_SIZE[s] for s in SPLITS):
                key = (info.context or {}).get("n_specimens_key", "n_specimens")
                got = counts if counts is not None else "an empty subset"
                raise ValueError(
                    f"with {n} specimens ({key}) the fractions {fractions} give {got}; "
                    f"allowed: at least {MIN_SPLIT_SIZE} specimens per split"
                )
        return self


def split_counts(fractions: Mapping[str, float], n: int) -> dict[str, int] | None:
    """Split sizes for ``n`` specimens, from ``data_processing.nodes.split_specimens`` itself.

    ``None`` where that node refuses the split (a subset would be empty).
    """
    from causal_pima.pipelines.data_processing.nodes import split_specimens

    try:
        split = split_specimens({"n_specimens": n}, {"split": dict(fractions), "seed": 0})
    except ValueError:
        return None
    sizes = split["split"].value_counts()
    return {s: int(sizes.get(s, 0)) for s in SPLITS}


class _DataProcessing(Schema):
    """``data_processing``; the defaults are ``data.processing.ProcessingConfig``'s."""

    seed: Seed
    split: SplitParams = Field(default_factory=lambda: SplitParams(**DEFAULT_SPLIT))
    image_range: Annotated[list[Number], Field(min_length=2, max_length=2, description="[low, high] with low < high")]
    curve_scaling: _choice(("global", "pointwise"))
    curve_std_floor: PositiveNumber
    curve_transform: _choice(("linear", "asinh", "auto"))
    curve_asinh_scale: _number("null or a number in [1e-20, 1e20]", ge=1e-20, le=1e20) | None = Field(
        description="null or a number in [1e-20, 1e20]")

    @model_validator(mode="after")
    def _image_range_ordered(self) -> _DataProcessing:
        low, high = self.image_range
        if not low < high:
            raise FieldProblem("image_range", self.image_range, "[low, high] with low < high")
        return self


DataProcessingParams = _with_dataclass_fields(_DataProcessing, ProcessingConfig, check=False)


# ----------------------------------------------------------------------------- model and training
# input shapes and the physics expert's grid / standardisation come from the data, never from parameters
_DATA_FIELDS = ("image_shape", "curve_length", "modality_names", "curve_grid", "curve_mean", "curve_std", "curve_asinh_scale")
# every modality's shape fields (core.modality_spec) come from the data too
_DATA_FIELDS += tuple(key for spec in MODALITY_SPECS.values() for key in spec.config_fields(None) if key not in _DATA_FIELDS)
_MODALITIES_TEXT = "a non-empty list of " + ", ".join(f"'{m}'" for m in MODALITY_SPECS)


class _Model(Schema):
    modalities: Annotated[
        list[_choice(tuple(MODALITY_SPECS))], Field(min_length=1, description=_MODALITIES_TEXT)
    ] = ["image", "curve"]
    latent_dim: PositiveInt
    image_channels: Annotated[list[PositiveInt], Field(min_length=1, description="a non-empty list of integers > 0")]
    image_hidden_dim: PositiveInt
    curve_hidden_dims: Annotated[list[PositiveInt], Field(min_length=1, description="a non-empty list of integers > 0")]
    modality_balance: Probability
    image_noise_init: PositiveNumber
    curve_noise_init: PositiveNumber
    noise_min: PositiveNumber
    curve_decoder: _choice(("neural", "physics"))
    physics_law: _choice(PHYSICS_LAWS)
    physics_ranges: dict[Str, Annotated[list[Number], Field(min_length=2, max_length=2)]] | None = Field(
        description="null or {name: [low, high]}"
    )

    @model_validator(mode="after")
    def _unique_modalities(self) -> _Model:
        if len(set(self.modalities)) != len(self.modalities):
            raise FieldProblem("modalities", self.modalities, f"{_MODALITIES_TEXT}, each at most once")
        return self


# the prior's settings have one home, causal_pima.prior (PriorParams): model.<prior key> is refused, naming it
PRIOR_KEYS = tuple(f.name for f in dataclasses.fields(PriorConfig))
ModelParams = _with_dataclass_fields(_Model, ModelConfig, exclude=(*_DATA_FIELDS, *PRIOR_KEYS), check=False)


def moved_prior_key(group: str, key: str) -> str | None:
    """Where ``<group>.<key>`` lives now when it is a prior setting under a model group
    (``model.n_nodes`` -> ``causal_pima.prior.n_nodes``, ``model_lattice.conditionals`` ->
    ``causal_pima_lattice.prior.conditionals``), else ``None``."""
    if key not in PRIOR_KEYS or schema_for(group) is not ModelParams:
        return None
    return f"causal_pima{group.removeprefix('model')}.prior.{key}"


class _Pretraining(Schema):
    epochs: PositiveInt
    batch_size: PositiveInt
    learning_rate: PositiveNumber
    noise_learning_rate: PositiveNumber
    kl_warmup_epochs: NonNegativeInt
    modality_dropout: Probability
    seed: Seed
    min_steps: NonNegativeInt


PretrainingParams = _with_dataclass_fields(_Pretraining, PretrainConfig, check=False)


def _n_nodes_value(value: Any) -> Any:
    if value is None or value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value > 0):
        return value
    raise ValueError("null, auto or an integer > 0")


class _Prior(Schema):
    n_nodes: Annotated[Any, AfterValidator(_n_nodes_value), Field(description="null, auto or an integer > 0")]
    mean_structure: _choice(MEAN_STRUCTURES)
    mean_pseudo_count: PositiveNumber
    interaction_pseudo_count: NonNegativeNumber
    mixture_weights: _choice(("dag", "free"))
    conditionals: _choice(CONDITIONALS)
    variance_floor: PositiveNumber
    init_temperature: PositiveNumber


# n_nodes: the parameter's default is null (one node per label column, resolved from the data by
# core.readout.resolve_n_nodes before a PriorConfig exists); the config itself needs an integer
PriorParams = _with_dataclass_fields(_Prior, PriorConfig, check=False, own_defaults={"n_nodes": None})


class _Init(Schema):
    clusterer: _choice(CLUSTERERS)
    assigner: _choice(ASSIGNERS)
    oversample: PositiveInt
    cluster_on: _choice(CLUSTER_SPACES)
    min_cluster_size: PositiveInt


class _Structure(Schema):
    complexity: NonNegativeNumber | None = Field(description="null (BIC) or a number >= 0")
    edge_threshold: NonNegativeNumber
    max_orders: PositiveInt
    l1_weight: NonNegativeNumber
    tie_tolerance: NonNegativeNumber
    steps: PositiveInt


InitParams = _with_dataclass_fields(_Init, InitConfig, check=False)
StructureParams = _with_dataclass_fields(_Structure, StructureConfig, check=False)


class _NodeCount(Schema):
    """``causal_pima.node_count``: the candidates of ``prior.n_nodes: auto`` (pipelines.causal_pima.node_count);
    the defaults are ``core.training_config.NodeCountConfig``'s."""

    d_min: PositiveInt
    d_max: PositiveInt
    tolerance: NonNegativeNumber
    step_share: Probability
    cluster_slack: NonNegativeInt

    @model_validator(mode="after")
    def _range_ordered(self) -> _NodeCount:
        if self.d_min > self.d_max:
            raise FieldProblem("d_max", self.d_max, f"an integer >= d_min ({self.d_min})")
        if self.d_max > 10:
            raise FieldProblem("d_max", self.d_max, "an integer <= 10 (2**10 outcomes; every candidate is a fit)")
        return self


NodeCountParams = _with_dataclass_fields(_NodeCount, NodeCountConfig, check=False)


class _CausalPima(Schema):
    prior: PriorParams = Field(default_factory=PriorParams)
    epochs: PositiveInt
    batch_size: PositiveInt
    learning_rate: PositiveNumber
    dag_learning_rate: PositiveNumber
    noise_learning_rate: PositiveNumber
    physics_learning_rate: PositiveNumber
    temperature_min: PositiveNumber
    modality_dropout: Probability
    l1_weight: NonNegativeNumber
    seed: Seed
    min_steps: NonNegativeInt
    collapse_weight: _number("a number in (0, 1]", gt=0, le=1) = FitChecks.collapse_weight
    on_collapse: _choice(("raise", "warn")) = FitChecks.on_collapse
    min_outcome_count: PositiveNumber = FitChecks.min_outcome_count
    resume: Bool = False
    node_count: NodeCountParams = Field(default_factory=NodeCountParams)
    init: InitParams = Field(default_factory=InitParams)
    structure: StructureParams = Field(default_factory=StructureParams)
    max_components: PositiveInt = 4096

    @model_validator(mode="after")
    def _components_fit_in_memory(self) -> _CausalPima:
        """2**n_nodes components (the largest candidate with n_nodes: auto) against max_components,
        before anything is allocated (issue 24, item 3): the [batch, K] score matrices alone take
        batch_size x K x 4 bytes each, and a training step holds several."""
        n_nodes = self.prior.n_nodes if self.prior.n_nodes != "auto" else self.node_count.d_max
        if isinstance(n_nodes, int) and 2**n_nodes > self.max_components:
            gib = 2**n_nodes * self.batch_size * 4 * 8 / 2**30  # about eight [batch, K] float32 tensors per step
            raise FieldProblem(
                "prior.n_nodes", self.prior.n_nodes,
                f"at most log2(max_components = {self.max_components}) = {self.max_components.bit_length() - 1} nodes: "
                f"{n_nodes} nodes are 2**{n_nodes} = {2**n_nodes} mixture components, about {gib:,.1f} GiB for one "
                f"training step's [batch_size = {self.batch_size}, K] score matrices alone; raise causal_pima.max_components "
                "if the machine has that memory",
            )
        return self


CausalPimaParams = _with_dataclass_fields(_CausalPima, FitConfig, check=False)


# ----------------------------------------------------------------------------- benchmark
class BenchmarkParams(Schema):
    configurations: Annotated[
        list[Str], Field(min_length=1, description="a non-empty list of circles.configurations names and lattice")
    ]
    seeds: Annotated[list[Seed], Field(min_length=1, description="a non-empty list of integers in [0, 2**32 - 1]")]
    seeds_by_configuration: dict[Str, Annotated[list[Seed], Field(min_length=1, description="a non-empty list of integers in [0, 2**32 - 1]")]] = Field(
        default_factory=dict, description="{configuration: a non-empty list of integers in [0, 2**32 - 1]}"
    )
    methods: Annotated[
        list[_choice(BENCHMARK_METHODS)], Field(min_length=1, description=f"a non-empty list of {list(BENCHMARK_METHODS)}")
    ] = list(BENCHMARK_METHODS)
    n_specimens: PositiveInt
    lattice_n_specimens: PositiveInt | None = Field(default=None, description="null or an integer > 0")
    extra_modalities: Annotated[
        list[_choice(EXTRA_MODALITIES)], Field(description=f"a list of {list(EXTRA_MODALITIES)} (the registered modalities besides image and curve that "
                                                        "the circles generator renders), each at most once")
    ] = []
    pretraining: dict[Str, Any] = Field(default_factory=dict, description="overrides of pretraining")
    causal_pima: dict[Str, Any] = Field(default_factory=dict, description="overrides of causal_pima")


# ----------------------------------------------------------------------------- compute (docs/scaling.md)
def _device_name(value: Any) -> Any:
    if isinstance(value, str) and (value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit())):
        return value
    raise ValueError("auto, cpu, cuda or cuda:N")


class ComputeParams(Schema):
    device: Annotated[Str, AfterValidator(_device_name), Field(description="auto, cpu, cuda or cuda:N")] = "auto"
    mixed_precision: Bool = False
    workers: NonNegativeInt = 0


class DistributedParams(Schema):
    processes: PositiveInt = 1
    backend: _choice(("auto", "gloo", "nccl")) = "auto"
    threads_per_process: PositiveInt | None = None


class ResourcesParams(Schema):
    """``resources``: the limits the processes of a training run are checked against before it starts
    (:func:`resource_problems`); read by the validation hook only, never by a node."""

    max_processes: PositiveInt | None = Field(default=None, description="null (this machine's CPU count) or an integer > 0")
    process_memory_mb: PositiveInt = 540
    worker_memory_mb: PositiveInt = 100


# the groups whose values start processes: a run whose stages read either is checked by resource_problems
PROCESS_GROUPS = ("compute", "distributed")
_MB = 10**6


def machine_cpu_count() -> int:
    """The CPU cores this process may use (``os.sched_getaffinity``), else ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def available_memory_bytes(meminfo: str = "/proc/meminfo") -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` in bytes; ``None`` where there is no such line (not Linux)."""
    try:
        with open(meminfo, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    value, *unit = line.split()[1:]
                    return int(value) * (1024 if unit[:1] == ["kB"] else 1)
    except (OSError, ValueError, IndexError):
        return None
    return None


def resource_problems(
    params: Mapping[str, Any], groups: Iterable[str], cpus: int | None = None, available: int | None = None
) -> list[str]:
    """The processes a training run would start, against this machine's cores and available memory
    (issue 24: resources bounded before they are spent).

    A run whose stages read ``compute`` or ``distributed`` starts ``distributed.processes`` training
    processes (with 1, the Kedro process itself trains), each with ``compute.workers`` DataLoader worker
    processes: ``processes x (1 + workers)`` in all. Refused when that exceeds ``resources.max_processes``
    (null: ``cpus``, default :func:`machine_cpu_count`), or when the new processes, about
    ``resources.process_memory_mb`` for each spawned training process (``processes >= 2``) and
    ``resources.worker_memory_mb`` for each worker, exceed ``available`` bytes (default
    :func:`available_memory_bytes`; not checked where that is unknown). Not checked under ``torchrun``,
    where the job's processes are used instead of ``distributed.processes``. Groups that do not
    validate are left to :func:`validate_parameters`.
    """
    if not set(PROCESS_GROUPS) & set(groups):
        return []
    from causal_pima.core.launch import launched_by_torchrun

    if launched_by_torchrun():
        return []
    models = {}
    for group, schema in (("compute", ComputeParams), ("distributed", DistributedParams), ("resources", ResourcesParams)):
        model, found = _validate(schema, params.get(group) or {}, [group])
        if found:
            return []
        models[group] = model
    processes, workers = models["distributed"].processes, models["compute"].workers
    limits = models["resources"]
    total = processes * (1 + workers)
    setting = f"distributed.processes = {processes} with compute.workers = {workers}"
    started = (f"{processes} training process{'es' if processes > 1 else ''}"
               + (f", each with {workers} DataLoader worker{'s' if workers > 1 else ''}" if workers else ""))
    problems = []
    cpus = machine_cpu_count() if cpus is None else cpus
    limit = limits.max_processes if limits.max_processes is not None else cpus
    if total > limit:
        source = (f"resources.max_processes = {limits.max_processes}" if limits.max_processes is not None
                  else f"resources.max_processes = null: this machine's {cpus} CPU core{'s' if cpus > 1 else ''}")
        problems.append(
            f"{setting}: {total} processes ({started}), above the limit of {limit} ({source}); allowed: "
            f"distributed.processes x (1 + compute.workers) <= {limit}; lower distributed.processes or compute.workers, "
            "or raise resources.max_processes if the machine can run that many"
        )
    available = available_memory_bytes() if available is None else available
    spawned = processes if processes >= 2 else 0  # with 1 the Kedro process trains: already in memory
    needed = (spawned * limits.process_memory_mb + processes * workers * limits.worker_memory_mb) * _MB
    if available is not None and needed > available:
        parts = [f"{spawned} training processes x {limits.process_memory_mb} MB (resources.process_memory_mb)"] if spawned else []
        if workers:
            parts.append(f"{processes * workers} DataLoader worker{'s' if processes * workers > 1 else ''} x "
                         f"{limits.worker_memory_mb} MB (resources.worker_memory_mb)")
        problems.append(
            f"{setting}: about {needed / _MB:,.0f} MB for the new processes ({' + '.join(parts)}), above the "
            f"{available / _MB:,.0f} MB this machine has available (/proc/meminfo MemAvailable); lower "
            "distributed.processes or compute.workers, or lower resources.process_memory_mb / resources.worker_memory_mb "
            "if the processes need less"
        )
    return problems


# the circles generator holds about this many image-sized float32 arrays at once (noise, coverage, images)
GENERATED_IMAGE_COPIES = 3


def generated_image_problems(params: Mapping[str, Any], groups: Iterable[str], available: int | None = None) -> list[str]:
    """The circles images a run would generate, against this machine's available memory (issue 24:
    ``circles.render.image_size=100000`` used to mark the raw set ``writing`` and then fail with a
    1.09 TiB MemoryError). ``n_specimens x 3 x image_size**2`` float32 values, about
    :data:`GENERATED_IMAGE_COPIES` times at the generator's peak, must fit in ``available`` bytes (default
    :func:`available_memory_bytes`; not checked where that is unknown)."""
    if "circles" not in set(groups):
        return []
    circles = params.get("circles")
    render = circles.get("render") if isinstance(circles, Mapping) else None
    n, size = (circles or {}).get("n_specimens"), (render or {}).get("image_size")
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (n, size)):
        return []  # left to validate_parameters
    available = available_memory_bytes() if available is None else available
    needed = GENERATED_IMAGE_COPIES * n * 3 * size**2 * 4
    if available is None or needed <= available:
        return []
    largest = int((available / (GENERATED_IMAGE_COPIES * n * 3 * 4)) ** 0.5)
    return [
        f"circles.render.image_size = {size} with circles.n_specimens = {n}: generating the images takes about "
        f"{needed / 2**30:,.1f} GiB ({n} x 3 x {size}**2 float32 values, {GENERATED_IMAGE_COPIES} arrays of that size at "
        f"once), above the {available / 2**30:,.1f} GiB this machine has available (/proc/meminfo MemAvailable); "
        f"allowed here: image_size <= {largest} at this n_specimens (the default is 32), or fewer specimens"
    ]


# ----------------------------------------------------------------------------- registry
SCHEMAS: dict[str, type[Schema]] = {
    "compute": ComputeParams,
    "distributed": DistributedParams,
    "resources": ResourcesParams,
    "circles": CirclesParams,
    "lattice_synthetic": LatticeSyntheticParams,
    "lattice_ingestion": LatticeIngestionParams,
    "data_processing": DataProcessingParams,
    "model": ModelParams,
    "pretraining": PretrainingParams,
    "causal_pima": CausalPimaParams,
    "benchmark": BenchmarkParams,
}
# stages whose parameters a data set other than circles reads as <stage>_<dataset>
PER_DATASET_STAGES = SHARED_STAGES


class StageOverridesParams(Schema):
    """``<dataset>_overrides``: per shared stage, the keys whose value differs for this data set."""

    data_processing: dict[Str, Any] = Field(default_factory=dict, description="keys of data_processing")
    model: dict[Str, Any] = Field(default_factory=dict, description="keys of model")
    pretraining: dict[Str, Any] = Field(default_factory=dict, description="keys of pretraining")
    causal_pima: dict[Str, Any] = Field(default_factory=dict, description="keys of causal_pima")


assert set(StageOverridesParams.model_fields) == set(PER_DATASET_STAGES)


def schema_for(group: str) -> type[Schema] | None:
    """The schema of a top-level parameter group (``causal_pima_lattice`` -> causal_pima's), or None."""
    if group in SCHEMAS:
        return SCHEMAS[group]
    if group.endswith(OVERRIDES_SUFFIX) and group.removesuffix(OVERRIDES_SUFFIX) not in ("", DEFAULT_DATASET):
        return StageOverridesParams
    for stage in PER_DATASET_STAGES:
        if group.startswith(stage + "_") and group.removeprefix(stage + "_") not in ("", "ingestion", "synthetic"):
            return SCHEMAS[stage]
    return None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _description(schema: type[BaseModel], loc: Sequence[Any]) -> str | None:
    """The ``description`` of the deepest declared field along ``loc``."""
    description, current = None, schema
    for part in loc:
        if isinstance(part, str) and current is not None and part in current.model_fields:
            field = current.model_fields[part]
            description = field.description or description
            current = _inner_model(field.annotation)
    return description


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _problems(errors: Iterable[Mapping[str, Any]], schema: type[BaseModel], prefix: Sequence[str]) -> list[str]:
    """One line per pydantic error: full dotted key, value, what is wrong and what is allowed."""
    problems = []
    for item in errors:
        loc = [str(p) for p in item["loc"]]
        key = ".".join([*prefix, *loc])
        kind, message = item["type"], item["msg"]
        moved = moved_prior_key(prefix[0], loc[0]) if kind == "extra_forbidden" and prefix and len(loc) == 1 else None
        if moved:
            problems.append(f"{key} = {_show(item['input'])}: a prior setting, whose one place is {moved} (issue 21: the "
                            f"prior's settings are no longer read from {prefix[0]}); move it there")
            continue
        if kind == "extra_forbidden":
            parent = schema
            for part in item["loc"][:-1]:
                parent = _inner_model(parent.model_fields[part].annotation) if parent and part in parent.model_fields else parent
            known = sorted(parent.model_fields) if parent is not None else []
            problems.append(f"{key} = {_show(item['input'])}: unknown parameter; allowed keys here: {', '.join(known)}")
            continue
        if kind == "missing":
            problems.append(f"{key}: required parameter is missing")
            continue
        if kind == "value_error":  # our model validators and the dataclasses' own checks
            cause = (item.get("ctx") or {}).get("error")
            if isinstance(cause, FieldProblem):
                problems.append(f"{key}.{cause.field} = {_show(cause.value)}: allowed: {cause.allowed}")
            elif loc and not isinstance(item.get("input"), Mapping):  # a field's own check: its value and what is allowed
                problems.append(f"{key} = {_show(item['input'])}: allowed: {message.removeprefix('Value error, ')}")
            else:
                problems.append(f"{key}: {message.removeprefix('Value error, ')}")
            continue
        message = message.replace("Input should be", "must be")
        allowed = _description(schema, item["loc"])
        problems.append(f"{key} = {_show(item['input'])}: {message}" + (f" (allowed: {allowed})" if allowed else ""))
    return problems


def _validate(
    schema: type[Schema], values: Any, prefix: Sequence[str], context: Mapping[str, Any] | None = None
) -> tuple[Schema | None, list[str]]:
    try:
        return schema.model_validate(values, context=dict(context or {})), []
    except ValidationError as error:
        return None, _problems(error.errors(include_url=False), schema, prefix)


def validate_parameters(params: Mapping[str, Any], groups: Iterable[str] | None = None) -> dict[str, Schema]:
    """Validate the parameter ``groups`` (default: every group that has a schema) of ``params``.

    Returns the validated models by group. Raises :class:`InvalidParametersError` listing every
    problem (full dotted key, value, what is allowed). Where the number of specimens is known from
    the parameters (circles generation with the circles split, the benchmark, the lattice stand-in
    with the lattice split), the split must give every subset enough specimens.
    """
    names = sorted(g for g in (params if groups is None else groups) if schema_for(g) is not None and g in params)
    # a data set's <dataset>_overrides is checked with the stage groups built from it
    names = sorted({*names, *(f"{d}{OVERRIDES_SUFFIX}" for d in map(_dataset_of, names) if d and f"{d}{OVERRIDES_SUFFIX}" in params)})
    problems: list[str] = []
    models: dict[str, Schema] = {}
    for group in names:
        context = _split_context(params, group, names)
        model, found = _validate(schema_for(group), params[group], [group], context)
        source = overlay_source(params, group)
        problems += [f"{p} ({group} is {source[0]} overlaid with {source[1]})" for p in found] if source else found
        if model is not None:
            models[group] = model
    # a generated data set must split into non-empty subsets even when processing runs later
    for source, target in GENERATED_SPLITS.items():
        if source in models and target not in names and isinstance(params.get(target), Mapping):
            split = params[target].get("split")
            if isinstance(split, Mapping):
                context = _split_context(params, target, [source])
                problems += _validate(SplitParams, split, [target, "split"], context)[1]
    if "benchmark" in models:
        problems += _benchmark_problems(params, models["benchmark"])
    problems += _image_size_problems(params, names)
    problems += _training_size_problems(params, models)
    if problems:
        raise InvalidParametersError(list(dict.fromkeys(problems)))  # a split may be checked twice
    return models


# where a data set's image size is set -> the model group whose encoder halves it len(image_channels) times
IMAGE_SIZES = {("circles", "render", "image_size"): "model", ("lattice_ingestion", "image_size"): "model_lattice"}


def _image_size_problems(params: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    """An image size the model's encoder cannot halve ``len(image_channels)`` times is refused before
    the run (issue 24, item 4: it used to fail in pretraining after the data had been rewritten)."""
    problems = []
    for path, model_group in IMAGE_SIZES.items():
        if path[0] not in names and model_group not in names:
            continue
        size: Any = params
        for key in path:
            size = size.get(key) if isinstance(size, Mapping) else None
        channels = (params.get(model_group) or {}).get("image_channels") if isinstance(params.get(model_group), Mapping) else None
        if isinstance(size, int) and not isinstance(size, bool) and isinstance(channels, list | tuple) and channels:
            step = 2 ** len(channels)
            if size % step:
                problems.append(f"{'.'.join(path)} = {size}: allowed: a multiple of {step} (the image encoder halves it "
                                f"{len(channels)} times, {model_group}.image_channels = {list(channels)}), e.g. "
                                f"{max(step, size - size % step)}")
    return problems


# generator group -> the processing group that splits its data set
GENERATED_SPLITS = {"circles": "data_processing", "lattice_synthetic": "data_processing_lattice"}
# generator group -> the fit group that clusters the training split of its data set
GENERATED_FITS = {"circles": "causal_pima", "lattice_synthetic": "causal_pima_lattice"}


def _training_size_problems(params: Mapping[str, Any], models: Mapping[str, Schema]) -> list[str]:
    """A run that generates a data set and fits it: the training split must hold enough specimens for
    the fit's initial clusters, checked before the run (issue 24: ``circles.n_specimens=5`` used to
    overwrite the raw set, the model input and the pretrained model and only then fail in the fit with
    "need at least 8 points to form 8 clusters").

    The fit starts its ``2**d`` mixture components from clusters of the training specimens (the k-means
    clusterers cannot form ``2**d`` clusters from fewer points), so the training split must hold at least
    ``2**d`` specimens; d is ``prior.n_nodes``, or with ``null`` one node per label column, which for a
    generated data set is every feature of its causal graph. With ``auto`` the smallest candidate,
    ``node_count.d_min``, is fitted only when each of its outcomes can hold ``min_outcome_count``
    training specimens (``core.node_count.fit_candidate``), otherwise no candidate is.

    Checked only when the run generates the data set (its ``n_specimens`` is then the data set's size)
    and fits it; a fit alone reads a stored data set whose size the parameters do not give.
    """
    problems = []
    for source, fit_group in GENERATED_FITS.items():
        generator, fit = models.get(source), models.get(fit_group)
        if generator is None or fit is None:
            continue
        processing = GENERATED_SPLITS[source]
        split = (params.get(processing) or {}).get("split") if isinstance(params.get(processing), Mapping) else None
        try:
            fractions = SplitParams.model_validate(split).model_dump()
        except ValidationError:
            continue  # named where the split is checked
        n = generator.n_specimens
        counts = split_counts(fractions, n)
        if counts is None or any(counts[s] < MIN_SPLIT_SIZE[s] for s in SPLITS):
            continue  # named by the split check
        n_nodes, (needed, reason, instead) = fit.prior.n_nodes, _training_specimens_needed(fit, fit_group, generator, source)
        if counts["train"] >= needed:
            continue
        smallest = n + 1
        while (split_counts(fractions, smallest) or {"train": 0})["train"] < needed:
            smallest += 1
        shown = "null" if n_nodes is None else n_nodes
        problems.append(
            f"{source}.n_specimens = {n}: gives {counts['train']} training specimens ({processing}.split.train = "
            f"{fractions['train']:g}), fewer than the {needed} that {fit_group}.prior.n_nodes = {shown} needs: {reason}; "
            f"allowed: {source}.n_specimens >= {smallest}, or {instead}"
        )
    return problems


def _training_specimens_needed(fit: Any, fit_group: str, generator: Any, source: str) -> tuple[int, str, str]:
    """(training specimens a fit needs, why, what else would do) for the fit group's node count over a
    generated data set."""
    n_nodes = fit.prior.n_nodes
    clusterer = fit.init.clusterer
    if n_nodes == "auto":
        d = fit.node_count.d_min
        needed = max(2**d, math.ceil(fit.min_outcome_count * 2**d - 1e-9))
        return needed, (
            f"its smallest candidate, {fit_group}.node_count.d_min = {d}, is fitted only when each of its 2**{d} = {2**d} "
            f"outcomes can hold {fit_group}.min_outcome_count = {fit.min_outcome_count:g} training specimens (and starts "
            f"from {2**d} clusters of them, {fit_group}.init.clusterer = {clusterer}), otherwise no candidate is fitted"
        ), f"a lower {fit_group}.min_outcome_count" + (f" or {fit_group}.node_count.d_min" if d > 1 else "")
    if n_nodes is None:
        if source == "circles":
            d, where = len(generator.configurations[generator.configuration]), (
                f"one node per feature of circles.configurations.{generator.configuration}")
        else:
            d, where = len(generator.dag), f"one node per feature of {source}.dag"
        nodes = f"{d} nodes ({where})"
    else:
        d, nodes = n_nodes, f"{n_nodes} nodes"
    return 2**d, (
        f"{nodes} are 2**{d} = {2**d} mixture components, started from clusters of the training specimens "
        f"({fit_group}.init.clusterer = {clusterer}): at least one training specimen per component"
    ), f"fewer nodes ({fit_group}.prior.n_nodes)"


def _split_context(params: Mapping[str, Any], group: str, names: Sequence[str]) -> dict[str, Any]:
    """``{"n_specimens": n}`` when the run also generates ``group``'s data set with a known size."""
    source = {target: source for source, target in GENERATED_SPLITS.items()}.get(group)
    if source in names:
        n = (params.get(source) or {}).get("n_specimens")
        if isinstance(n, int) and not isinstance(n, bool) and n > 0:
            return {"n_specimens": n, "n_specimens_key": f"{source}.n_specimens"}
    return {}


def _benchmark_problems(params: Mapping[str, Any], benchmark: BenchmarkParams) -> list[str]:
    from causal_pima.pipelines.benchmark.shape import (
        STAND_INS,
        configuration_parameters,
        lattice_extra_modalities_problem,
    )

    problems = []
    circles = params.get("circles") or {}
    defined = set((circles.get("configurations") or {}) if isinstance(circles, Mapping) else ())
    unknown = [c for c in benchmark.configurations if c not in defined and c not in STAND_INS]
    stand_ins = " and " + ", ".join(f"{name!r} (the {name} stand-in)" for name in STAND_INS)
    if unknown:
        problems.append(
            f"benchmark.configurations = {benchmark.configurations}: {unknown} not defined; "
            f"allowed: names from circles.configurations {sorted(defined)}{stand_ins}"
        )
    if len(set(benchmark.extra_modalities)) != len(benchmark.extra_modalities):
        problems.append(f"benchmark.extra_modalities = {benchmark.extra_modalities}: allowed: each of "
                        f"{list(EXTRA_MODALITIES)} at most once")
    if benchmark.extra_modalities and any(c in STAND_INS for c in benchmark.configurations):
        problems.append(lattice_extra_modalities_problem(benchmark.extra_modalities))
    misspelt = [c for c in benchmark.seeds_by_configuration if c not in defined and c not in STAND_INS]
    if misspelt:
        problems.append(
            f"benchmark.seeds_by_configuration: {misspelt} not defined; "
            f"allowed: names from circles.configurations {sorted(defined)}{stand_ins}"
        )
    # the benchmark overrides pretraining / causal_pima key by key (a shallow merge, as its node does),
    # over the groups of each data set its configurations use (pretraining, pretraining_lattice...)
    for stage, overrides in (("pretraining", benchmark.pretraining), ("causal_pima", benchmark.causal_pima)):
        for group in dict.fromkeys(configuration_parameters(c)[stage] for c in benchmark.configurations):
            merged = {**(params.get(group) or {}), **overrides}
            try:
                SCHEMAS[stage].model_validate(merged)
            except ValidationError as error:
                # errors of the base group itself are reported when that group is validated
                errors = [e for e in error.errors(include_url=False) if e["loc"] and str(e["loc"][0]) in overrides]
                problems += _problems(errors, SCHEMAS[stage], ["benchmark", stage])
    processing = params.get("data_processing")
    if isinstance(processing, Mapping) and isinstance(processing.get("split"), Mapping):
        context = {"n_specimens": benchmark.n_specimens, "n_specimens_key": "benchmark.n_specimens"}
        problems += _validate(SplitParams, processing["split"], ["data_processing", "split"], context)[1]
    return problems


def _dataset_of(group: str) -> str:
    """``lattice`` for ``causal_pima_lattice`` (any shared stage), else ``""``."""
    for stage in PER_DATASET_STAGES:
        if group.startswith(stage + "_") and schema_for(group) is SCHEMAS[stage]:
            return group.removeprefix(stage + "_")
    return ""


def overlay_source(params: Mapping[str, Any], group: str) -> tuple[str, str] | None:
    """``("causal_pima", "lattice_overrides.causal_pima")`` for ``causal_pima_lattice`` when the
    parameters hold ``lattice_overrides.causal_pima`` (the group is then built by ``${overlay:...}``)."""
    for stage in PER_DATASET_STAGES:
        dataset = group.removeprefix(stage + "_") if group.startswith(stage + "_") else ""
        overrides = params.get(dataset + OVERRIDES_SUFFIX) if dataset else None
        if isinstance(overrides, Mapping) and stage in overrides:
            return stage, f"{dataset}{OVERRIDES_SUFFIX}.{stage}"
    return None


def parameter_groups(inputs: Iterable[str]) -> set[str]:
    """Top-level parameter groups named by pipeline inputs (``params:circles.render`` -> ``circles``)."""
    groups: set[str] = set()
    for name in inputs:
        if name.startswith("params:"):
            groups.add(name.removeprefix("params:").split(".", 1)[0])
    return groups
