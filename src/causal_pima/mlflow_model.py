"""The fitted causalPIMA model as a portable MLflow model (pyfunc flavour, ``loader_module``).

:func:`log_fitted_model` logs a checkpoint file (``model.checkpoint()``, as the catalog's
``{dataset}.fitted_model`` writes it) as an MLflow model. The model folder holds:

- ``data/fitted_model.pt``: the checkpoint (plain tensors and config, no pickled object);
- ``code/causal_pima-<version>-py3-none-any.whl``: the project's own wheel
  (:func:`causal_pima.package_wheel.project_wheel`, built from the running source, cached by its hash);
- ``requirements.txt``: that wheel by its path inside the model folder, then ``mlflow``, ``torch``,
  ``numpy`` and ``pandas`` pinned to the versions that logged it (``python_env.yaml`` reads it), so
  ``mlflow models serve`` / ``pip install -r requirements.txt`` installs everything outside the
  project. ``causal_pima==<version>`` instead of the wheel when the package runs from an installed
  wheel (no source tree to build from);
- ``MLmodel``: ``loader_module: causal_pima.mlflow_model`` (:func:`_load_pyfunc`), no path of this
  machine; the signature, a 2-specimen input example, the node-to-feature map (``model_config``) and
  the input shapes (``metadata.input_shapes``).

Input: a pandas DataFrame, one row per specimen, with an ``image`` column (each cell the image
flattened in ``C, H, W`` order, ``C * H * W`` numbers) and/or a ``curve`` column (each cell the
curve on the model's scale, as in the model-input sets: standardised, after the asinh transform when
the data set's ``curve_transform`` chose it, ``L`` numbers). Both columns are optional: a specimen
seen in one modality only is placed from that modality (the product of experts); that is why the
signature is column-based (``Array(double)``, ``required: false``; an MLflow tensor spec is always
required) and the shapes ``[C, H, W]`` and ``[L]`` are in ``metadata.input_shapes``.
:func:`specimen_frame` builds the frame from arrays ``[N, C, H, W]`` and ``[N, L]``.

Output: a DataFrame, one row per specimen (:func:`output_columns`):

- ``outcome``: the most likely joint outcome, the index ``k`` of ``gamma`` (bit ``j`` of ``k`` is node ``j``);
- ``gamma_0 .. gamma_{K-1}``: the responsibilities (they sum to 1);
- ``p_<feature>``: the probability that the feature is 1, ``q(N_j = 1 | x)`` of its node, or
  ``1 - q`` when the node is flipped (its 1 is the feature's 0);
- ``outcome_<feature>``: the feature's 0/1 value in the outcome ``outcome`` (flip applied).

``<feature>`` is the true feature that the evaluation matched the node to (``dag_metrics.json``
``matching``, passed as ``node_features``); a node without a feature (no labels, or more nodes than
features) keeps its node name: ``p_N2``, ``outcome_N2``.

The :class:`~causal_pima.core.model.CausalPIMA` object: ``mlflow.pyfunc.load_model(uri).get_raw_model()``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch

import causal_pima
from causal_pima.core.modality_spec import CURVE, IMAGE, MODALITY_SPECS, array_keys
from causal_pima.core.model import CausalPIMA
from causal_pima.core.outcomes import node_names
from causal_pima.core.readout import posterior_table
from causal_pima.datasets.torch_checkpoint_dataset import safe_torch_load

CHECKPOINT_FILE = "fitted_model.pt"
LOADER_MODULE = __name__
# a model-input set's arrays (causal_pima.model_input) -> the pyfunc input column (core.modality_spec)
SET_ARRAYS = array_keys()


def load_checkpoint_model(path: str | Path) -> CausalPIMA:
    """A :class:`CausalPIMA` in eval mode from a checkpoint file written by the fitted-model dataset."""
    return CausalPIMA.from_checkpoint(safe_torch_load(path)).eval()


def specimen_frame(images: np.ndarray | None = None, curves: np.ndarray | None = None, **modalities: np.ndarray | None) -> pd.DataFrame:
    """The pyfunc input: one row per specimen, ``image`` (flattened ``[C*H*W]``) and/or ``curve`` ``[L]``,
    and any other modality by name (``[N, ...]`` flattened per row)."""
    given = {IMAGE: images, CURVE: curves, **modalities}
    unknown = sorted(set(given) - set(MODALITY_SPECS))
    if unknown:
        raise ValueError(f"unknown modality column(s) {unknown}; known: {list(MODALITY_SPECS)}")
    columns = {}
    for m in MODALITY_SPECS:
        if given.get(m) is not None:
            values = np.asarray(given[m], dtype=np.float64)
            columns[m] = list(values.reshape(len(values), -1))
    if not columns:
        raise ValueError(f"give the values of at least one modality ({', '.join(MODALITY_SPECS)})")
    return pd.DataFrame(columns)


def input_shapes(model: CausalPIMA) -> dict[str, tuple[int, ...]]:
    """``{"image": (C, H, W), "curve": (L,)}`` for the model's modalities (one cell's shape, unflattened)."""
    return {m: spec.shape(model.config) for m, spec in model.specs.items()}


def _cell_values(modality: str, row: Any, cell: Any, size: int, shape: tuple[int, ...]) -> np.ndarray:
    """One cell as ``size`` finite float32 numbers, or a ValueError naming the column and row. A modality
    whose spec ``may_be_missing`` may be missing for a specimen: a cell of NaN only (an image or a curve
    not measured) or, for a ``tabular`` one, a cell holding a NaN."""
    with np.errstate(over="ignore"):  # a finite float64 beyond the float32 range becomes inf: refused below
        try:
            values = np.asarray(cell, dtype=np.float32).reshape(-1)
        except (TypeError, ValueError) as error:
            raise ValueError(f"column '{modality}', row {row!r}: not an array of numbers ({error})") from None
    if values.size != size:
        raise ValueError(f"column '{modality}', row {row!r}: {values.size} numbers, the model needs {size} "
                         f"(shape {shape} flattened)")
    spec = MODALITY_SPECS[modality]
    missing = spec.may_be_missing and (spec.tabular or bool(np.isnan(values).all()))
    bad = np.flatnonzero(np.isinf(values) if missing else ~np.isfinite(values))
    if bad.size:
        raise ValueError(f"column '{modality}', row {row!r}: {bad.size} value(s) not finite in float32 (NaN, inf or "
                         f"beyond +-3.4e38), the first at position {int(bad[0])}; the model cannot place such a specimen")
    return values


def frame_tensors(model: CausalPIMA, frame: pd.DataFrame) -> dict[str, torch.Tensor]:
    """``{"image": [N, C, H, W], "curve": [N, L]}`` float32 tensors from the columns present in ``frame``.

    Refused with a ValueError naming the column and row: an empty frame, a cell of the wrong size or
    not numeric, and values that are not finite in float32 (NaN, inf, or beyond the float32 range).
    """
    if len(frame) == 0:
        raise ValueError("the input has no rows: give one row per specimen (causal_pima.mlflow_model.specimen_frame)")
    out = {}
    for modality, shape in input_shapes(model).items():
        if modality not in frame.columns:
            continue
        size = int(np.prod(shape))
        cells = [_cell_values(modality, row, cell, size, shape) for row, cell in zip(frame.index, frame[modality], strict=True)]
        out[modality] = torch.from_numpy(np.stack(cells).reshape(len(cells), *shape))
    if not out:
        raise ValueError(f"the input needs a column of the model's modalities {list(model.modalities)}; got {list(frame.columns)}")
    return out


def node_labels(n_nodes: int, node_features: Mapping[str, Mapping[str, Any]] | None = None) -> list[tuple[str, bool]]:
    """``(name, flipped)`` per node: the matched feature (``node_features``, the report's ``matching``:
    node name -> ``{"feature", "flipped"}``) or the node's own name ``N<j>`` (not flipped).

    Raises ValueError when two nodes would get the same name, or ``node_features`` names a node the
    model does not have.
    """
    node_features = dict(node_features or {})
    nodes = node_names(n_nodes)
    unknown = sorted(set(node_features) - set(nodes))
    if unknown:
        raise ValueError(f"node_features names nodes {unknown} that a model with {n_nodes} nodes ({nodes}) does not have")
    labels = [(str(node_features[n]["feature"]), bool(node_features[n]["flipped"])) if n in node_features else (n, False)
              for n in nodes]
    names = [name for name, _ in labels]
    if len(set(names)) != len(names):
        raise ValueError(f"node_features gives two nodes the same name: {names}")
    return labels


def output_columns(n_nodes: int, node_features: Mapping[str, Mapping[str, Any]] | None = None) -> list[str]:
    """``outcome``, ``gamma_0 .. gamma_{2**d - 1}``, ``p_<name>`` per node, ``outcome_<name>`` per node."""
    names = [name for name, _ in node_labels(n_nodes, node_features)]
    return ["outcome", *[f"gamma_{k}" for k in range(2**n_nodes)], *[f"p_{n}" for n in names], *[f"outcome_{n}" for n in names]]


def predict_frame(model: CausalPIMA, frame: pd.DataFrame, node_features: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """The pyfunc output (:func:`output_columns`) per row of ``frame`` (:func:`specimen_frame`)."""
    labels = node_labels(model.config.n_nodes, node_features)
    tensors = frame_tensors(model, frame)
    table = posterior_table(model.eval(), {"input": (np.arange(len(frame)), tensors)})
    outcome = table["outcome"].to_numpy()
    bits = model.outcomes.long().cpu().numpy()[outcome]  # [N, d]: the nodes' values in the outcome
    out = table[["outcome", *[c for c in table.columns if c.startswith("gamma_")]]].copy()
    for j, (name, flipped) in enumerate(labels):
        q = table[f"q_N{j}"].to_numpy()
        out[f"p_{name}"] = 1.0 - q if flipped else q
    for j, (name, flipped) in enumerate(labels):
        out[f"outcome_{name}"] = bits[:, j] ^ int(flipped)
    out.index = frame.index
    return out


class CausalPIMAPredictor:
    """What :func:`_load_pyfunc` returns: ``predict(frame)`` -> :func:`predict_frame`; ``get_raw_model()``."""

    def __init__(self, model: CausalPIMA, node_features: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.model = model.eval()
        self.node_features = dict(node_features or {})

    def predict(self, model_input: pd.DataFrame | Mapping[str, Any], params: dict[str, Any] | None = None) -> pd.DataFrame:
        if isinstance(model_input, Mapping):  # a dict of columns
            model_input = pd.DataFrame(model_input)
        return predict_frame(self.model, model_input, self.node_features)

    def get_raw_model(self) -> CausalPIMA:
        return self.model


def _load_pyfunc(data_path: str, model_config: Mapping[str, Any] | None = None) -> CausalPIMAPredictor:
    """MLflow's entry point (``loader_module``): ``data_path`` is the model's ``data/fitted_model.pt``."""
    node_features = (model_config or {}).get("node_features")
    return CausalPIMAPredictor(load_checkpoint_model(data_path), node_features)


class CausalPIMAPyfunc(mlflow.pyfunc.PythonModel):
    """The pyfunc class of models logged "from code" by earlier releases (their ``mlflow_model_code.py``
    imports it); such a model still loads and predicts with node names (``p_N0``, ``outcome_N0``)."""

    def __init__(self) -> None:
        self.model: CausalPIMA | None = None

    def load_context(self, context: Any) -> None:
        self.model = load_checkpoint_model(context.artifacts["checkpoint"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        if self.model is None:
            raise RuntimeError("the model is not loaded: load it with mlflow.pyfunc.load_model")
        return CausalPIMAPredictor(self.model).predict(model_input)


def model_signature(model: CausalPIMA, node_features: Mapping[str, Mapping[str, Any]] | None = None) -> mlflow.models.ModelSignature:
    """Input: an optional array column per modality (``image``, ``curve``); output: :func:`output_columns`."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, Schema
    from mlflow.types.schema import Array

    inputs = Schema([ColSpec(Array(DataType.double), m, required=False) for m in model.modalities])
    types = {"outcome": DataType.long, "gamma": DataType.float, "p": DataType.float}
    outputs = [ColSpec(types.get(c.split("_")[0], DataType.long), c) for c in output_columns(model.config.n_nodes, node_features)]
    return ModelSignature(inputs=inputs, outputs=Schema(outputs))


def example_frame(model: CausalPIMA, specimens: Mapping[str, np.ndarray], rows: int = 2) -> pd.DataFrame:
    """The first ``rows`` specimens of a model-input set (``images [N, C, H, W]``, ``curves [N, L]``) as pyfunc input."""
    missing = [SET_ARRAYS[m] for m in model.modalities if SET_ARRAYS[m] not in specimens]
    if missing:
        raise ValueError(f"the example specimens have no {missing} array(s) for the model's modalities {list(model.modalities)}")
    return specimen_frame(**{m: np.asarray(specimens[SET_ARRAYS[m]][:rows]) for m in model.modalities})


def model_requirements(wheel: Path | None) -> list[str]:
    """``requirements.txt``: the package (``code/<wheel>``, else pinned), then mlflow, torch, numpy, pandas pinned."""
    package = f"code/{wheel.name}" if wheel is not None else f"causal_pima=={causal_pima.__version__}"
    return [package, f"mlflow=={mlflow.__version__}", f"torch=={torch.__version__.split('+')[0]}",
            f"numpy=={np.__version__}", f"pandas=={pd.__version__}"]


def _package_wheel() -> Path | None:
    from causal_pima.package_wheel import project_wheel, source_root

    return project_wheel() if source_root() is not None else None


def log_fitted_model(
    checkpoint_path: str | Path,
    name: str,
    specimens: Mapping[str, np.ndarray],
    node_features: Mapping[str, Mapping[str, Any]] | None = None,
    metrics: Mapping[str, float] | None = None,
    registered_model_name: str | None = None,
    metrics_dataset: Any = None,
) -> mlflow.models.model.ModelInfo:
    """Log the checkpoint at ``checkpoint_path`` as the MLflow model ``name`` in the active run.

    ``specimens``: a model-input set whose first 2 specimens are the input example;
    ``node_features``: the report's ``matching`` (output columns in feature names);
    ``metrics``: headline metrics, logged as the model's metrics (MLflow ``LoggedModel``, measured on
    ``metrics_dataset``, an ``mlflow.data`` dataset) and as tags of the registered version;
    ``registered_model_name``: register the model under that name. Load it back with
    ``mlflow.pyfunc.load_model(info.model_uri)`` or ``f"runs:/{run_id}/{name}"``.
    """
    model = load_checkpoint_model(checkpoint_path)
    node_labels(model.config.n_nodes, node_features)  # refuse a bad map before anything is logged
    wheel = _package_wheel()
    with tempfile.TemporaryDirectory(prefix="causal_pima_model_") as staging:
        checkpoint = Path(staging) / CHECKPOINT_FILE  # data/fitted_model.pt in the model, whatever the file's name
        checkpoint.write_bytes(Path(checkpoint_path).read_bytes())
        info = mlflow.pyfunc.log_model(
            name=name,
            loader_module=LOADER_MODULE,
            data_path=str(checkpoint),
            code_paths=[str(wheel)] if wheel is not None else None,
            signature=model_signature(model, node_features),
            input_example=example_frame(model, specimens),
            pip_requirements=model_requirements(wheel),
            model_config={"node_features": {n: dict(v) for n, v in (node_features or {}).items()}},
            metadata={"input_shapes": {m: list(s) for m, s in input_shapes(model).items()}},
            registered_model_name=registered_model_name,
        )
    if metrics:
        mlflow.log_metrics(dict(metrics), model_id=info.model_id, dataset=metrics_dataset)
        if info.registered_model_version is not None:
            client = mlflow.MlflowClient()
            for key, value in metrics.items():
                client.set_model_version_tag(registered_model_name, str(info.registered_model_version), key, f"{value:g}")
    return info


__all__: Sequence[str] = (
    "CHECKPOINT_FILE", "CausalPIMAPredictor", "CausalPIMAPyfunc", "example_frame", "frame_tensors", "input_shapes",
    "load_checkpoint_model", "log_fitted_model", "model_requirements", "model_signature", "node_labels",
    "output_columns", "predict_frame", "specimen_frame",
)
