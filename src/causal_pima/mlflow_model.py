"""The fitted causalPIMA model as an MLflow model (pyfunc flavour).

:func:`log_fitted_model` logs a checkpoint file (``model.checkpoint()``, as the catalog's
``{dataset}.fitted_model`` writes it) as an MLflow model with an ``MLmodel`` file, a signature and
the checkpoint as its one artifact. Loaded with ``mlflow.pyfunc.load_model(uri)`` it predicts from
a batch of specimens:

- input: a pandas DataFrame, one row per specimen, with an ``image`` column (each cell the image
  flattened in ``C, H, W`` order, ``C * H * W`` numbers) and/or a ``curve`` column (each cell the
  curve on the model's scale, as in the model-input sets: standardised, after the asinh transform
  when the data set's ``curve_transform`` chose it (``core.curve_scale.to_model_scale`` with the
  set's ``curve_mean``, ``curve_std``, ``curve_asinh_scale``), ``L`` numbers). Both columns are optional: a
  specimen seen in one modality only is placed from that modality (the product of experts).
  :func:`specimen_frame` builds the frame from arrays ``[N, C, H, W]`` and ``[N, L]``.
- output: a DataFrame, one row per specimen: ``outcome`` (the most likely joint outcome, the index
  ``k`` of ``gamma``), ``gamma_0 .. gamma_{K-1}`` (responsibilities) and ``q_N0 .. q_N{d-1}``
  (node probabilities ``q(N_j = 1 | x)``): the columns of :func:`causal_pima.core.readout.posterior_table`.

The :class:`~causal_pima.core.model.CausalPIMA` object itself:
``mlflow.pyfunc.load_model(uri).unwrap_python_model().model``, or
``CausalPIMA.from_checkpoint(torch.load(path, weights_only=True))`` on the artifact file.

The model is logged "from code" (``mlflow_model_code.py``, no pickled Python object); loading it
needs ``causal_pima`` importable (the project's environment).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch

from causal_pima.core.model import CausalPIMA
from causal_pima.core.model_config import CURVE, IMAGE
from causal_pima.core.outcomes import node_names
from causal_pima.core.readout import posterior_table
from causal_pima.datasets.torch_checkpoint_dataset import safe_torch_load

CHECKPOINT_ARTIFACT = "checkpoint"
MODEL_CODE = Path(__file__).with_name("mlflow_model_code.py")


def load_checkpoint_model(path: str | Path) -> CausalPIMA:
    """A :class:`CausalPIMA` in eval mode from a checkpoint file written by the fitted-model dataset."""
    return CausalPIMA.from_checkpoint(safe_torch_load(path)).eval()


def specimen_frame(images: np.ndarray | None = None, curves: np.ndarray | None = None) -> pd.DataFrame:
    """The pyfunc input: one row per specimen, ``image`` (flattened ``[C*H*W]``) and/or ``curve`` ``[L]``."""
    columns = {}
    if images is not None:
        images = np.asarray(images, dtype=np.float64)
        columns[IMAGE] = list(images.reshape(len(images), -1))
    if curves is not None:
        curves = np.asarray(curves, dtype=np.float64)
        columns[CURVE] = list(curves.reshape(len(curves), -1))
    if not columns:
        raise ValueError("give images and/or curves")
    return pd.DataFrame(columns)


def _input_shapes(model: CausalPIMA) -> dict[str, tuple[int, ...]]:
    config = model.config
    shapes = {IMAGE: tuple(config.image_shape) if config.image_shape is not None else None, CURVE: (int(config.curve_length),)}
    return {m: shapes[m] for m in model.modalities}


def _cell_values(modality: str, row: Any, cell: Any, size: int, shape: tuple[int, ...]) -> np.ndarray:
    """One cell as ``size`` finite float32 numbers, or a ValueError naming the column and row."""
    with np.errstate(over="ignore"):  # a finite float64 beyond the float32 range becomes inf: refused below
        try:
            values = np.asarray(cell, dtype=np.float32).reshape(-1)
        except (TypeError, ValueError) as error:
            raise ValueError(f"column '{modality}', row {row!r}: not an array of numbers ({error})") from None
    if values.size != size:
        raise ValueError(f"column '{modality}', row {row!r}: {values.size} numbers, the model needs {size} "
                         f"(shape {shape} flattened)")
    bad = np.flatnonzero(~np.isfinite(values))
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
    for modality, shape in _input_shapes(model).items():
        if modality not in frame.columns:
            continue
        size = int(np.prod(shape))
        cells = [_cell_values(modality, row, cell, size, shape) for row, cell in zip(frame.index, frame[modality], strict=True)]
        out[modality] = torch.from_numpy(np.stack(cells).reshape(len(cells), *shape))
    if not out:
        raise ValueError(f"the input needs a column of the model's modalities {list(model.modalities)}; got {list(frame.columns)}")
    return out


def predict_frame(model: CausalPIMA, frame: pd.DataFrame) -> pd.DataFrame:
    """``outcome``, ``gamma_k`` and ``q_Nj`` per row of ``frame`` (the pyfunc output)."""
    tensors = frame_tensors(model, frame)
    table = posterior_table(model.eval(), {"input": (np.arange(len(frame)), tensors)})
    return table.drop(columns=["specimen_id", "split"])


class CausalPIMAPyfunc(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper: specimens in (:func:`specimen_frame`), node probabilities and outcome out."""

    def __init__(self) -> None:
        self.model: CausalPIMA | None = None

    def load_context(self, context: Any) -> None:
        self.model = load_checkpoint_model(context.artifacts[CHECKPOINT_ARTIFACT])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        if self.model is None:
            raise RuntimeError("the model is not loaded: load it with mlflow.pyfunc.load_model")
        if isinstance(model_input, dict):  # a dict of columns, e.g. when the unwrapped model is called
            model_input = pd.DataFrame(model_input)
        return predict_frame(self.model, model_input)


def model_signature(model: CausalPIMA) -> mlflow.models.ModelSignature:
    """Input: optional ``image`` and ``curve`` array columns; output: ``outcome``, ``gamma_k``, ``q_Nj``."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, DataType, Schema
    from mlflow.types.schema import Array

    inputs = Schema([ColSpec(Array(DataType.double), m, required=False) for m in model.modalities])
    outputs = [ColSpec(DataType.long, "outcome")]
    outputs += [ColSpec(DataType.float, f"gamma_{k}") for k in range(model.outcomes.shape[0])]
    outputs += [ColSpec(DataType.float, f"q_{n}") for n in node_names(model.config.n_nodes)]
    return ModelSignature(inputs=inputs, outputs=Schema(outputs))


def _requirements() -> list[str]:
    return [f"mlflow=={mlflow.__version__}", f"torch=={torch.__version__.split('+')[0]}", f"numpy=={np.__version__}", f"pandas=={pd.__version__}"]


def log_fitted_model(
    checkpoint_path: str | Path, name: str, registered_model_name: str | None = None, example_rows: int = 2
) -> mlflow.models.model.ModelInfo:
    """Log the checkpoint file at ``checkpoint_path`` as a pyfunc model ``name`` in the active run.

    Load it back with ``mlflow.pyfunc.load_model(f"runs:/{run_id}/{name}")`` (or ``info.model_uri``).
    """
    model = load_checkpoint_model(checkpoint_path)
    example = {m: np.zeros((example_rows, *shape), dtype=np.float64) for m, shape in _input_shapes(model).items()}
    return mlflow.pyfunc.log_model(
        name=name,
        python_model=str(MODEL_CODE),
        artifacts={CHECKPOINT_ARTIFACT: str(checkpoint_path)},
        signature=model_signature(model),
        input_example=specimen_frame(example.get(IMAGE), example.get(CURVE)),
        pip_requirements=_requirements(),
        registered_model_name=registered_model_name,
    )


__all__: Sequence[str] = (
    "CHECKPOINT_ARTIFACT", "CausalPIMAPyfunc", "frame_tensors", "load_checkpoint_model", "log_fitted_model",
    "model_signature", "predict_frame", "specimen_frame",
)
