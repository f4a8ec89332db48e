"""The fitted model as an MLflow pyfunc model: logged through ``causal_pima.mlflow_model`` into a
temporary sqlite store, loaded with ``mlflow.pyfunc.load_model``, predicting exactly the model's own
posterior node marginals; the ``CausalPIMA`` object comes back with identical state.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from causal_pima.core.batching import specimen_tensors
from causal_pima.core.model import CausalPIMA
from causal_pima.core.model_config import ModelConfig
from causal_pima.core.readout import posterior_table
from causal_pima.datasets import CausalPIMADataset
from causal_pima.mlflow_model import CausalPIMAPyfunc, log_fitted_model, specimen_frame
from tests.pipelines.test_causal_pima_nodes import TINY, tiny_set


@pytest.fixture()
def logged(tmp_path):
    """A tiny model saved by the fitted-model dataset and logged as ``model/circles`` in a fresh store."""
    import mlflow

    torch.manual_seed(0)
    model = CausalPIMA(ModelConfig(**TINY, n_nodes=2)).eval()
    path = tmp_path / "fitted_model.pt"
    CausalPIMADataset(filepath=str(path)).save(model)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    try:
        experiment = mlflow.create_experiment("test", artifact_location=str(tmp_path / "mlartifacts"))
        with mlflow.start_run(experiment_id=experiment) as run:
            info = log_fitted_model(path, name="causal_pima_circles")
        yield model, run.info.run_id, info
    finally:
        mlflow.set_tracking_uri(previous)


def test_the_logged_model_loads_with_pyfunc_and_predicts_the_posterior_node_marginals(logged):
    import mlflow

    model, run_id, info = logged
    loaded = mlflow.pyfunc.load_model(f"runs:/{run_id}/causal_pima_circles")
    assert info.model_uri.startswith("models:/") and mlflow.pyfunc.load_model(info.model_uri) is not None
    test = tiny_set(5, seed=3)
    prediction = loaded.predict(specimen_frame(test["images"], test["curves"]))
    expected = posterior_table(model, {"test": (np.arange(5), specimen_tensors(test, model.modalities))})
    q = [f"q_N{j}" for j in range(2)]
    assert list(prediction.columns) == ["outcome"] + [f"gamma_{k}" for k in range(4)] + q
    np.testing.assert_allclose(prediction[q].to_numpy(), expected[q].to_numpy(), atol=1e-6)
    np.testing.assert_allclose(prediction.filter(like="gamma_").sum(axis=1), 1.0, atol=1e-5)
    assert ((prediction[q] >= 0) & (prediction[q] <= 1)).all().all()
    assert prediction["outcome"].tolist() == expected["outcome"].tolist()
    # the signature is stored (MLmodel) and float32 arrays are accepted as well as float64
    assert [c.name for c in loaded.metadata.get_input_schema().inputs] == ["image", "curve"]
    float32 = loaded.predict(specimen_frame(test["images"].astype(np.float32), test["curves"]))
    np.testing.assert_allclose(float32[q].to_numpy(), prediction[q].to_numpy(), atol=1e-7)


def test_one_modality_is_enough_and_equals_the_models_own_one_modality_posterior(logged):
    import mlflow

    model, run_id, _ = logged
    loaded = mlflow.pyfunc.load_model(f"runs:/{run_id}/causal_pima_circles")
    test = tiny_set(4, seed=5)
    prediction = loaded.predict(specimen_frame(curves=test["curves"]))
    expected = model.posterior({"curve": torch.from_numpy(test["curves"])})["node_marginals"].numpy()
    np.testing.assert_allclose(prediction[["q_N0", "q_N1"]].to_numpy(), expected, atol=1e-6)


def test_the_unwrapped_model_is_the_causal_pima_object_with_identical_state(logged):
    import mlflow

    model, run_id, _ = logged
    wrapper = mlflow.pyfunc.load_model(f"runs:/{run_id}/causal_pima_circles").unwrap_python_model()
    assert isinstance(wrapper, CausalPIMAPyfunc)
    unwrapped = wrapper.model
    assert isinstance(unwrapped, CausalPIMA) and unwrapped is not model
    assert unwrapped.model_config.to_dict() == model.model_config.to_dict()
    state = model.state_dict()
    assert unwrapped.state_dict().keys() == state.keys()
    for key, value in unwrapped.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_bad_input_is_refused_naming_the_column_and_row():
    from causal_pima.mlflow_model import predict_frame

    torch.manual_seed(0)
    model = CausalPIMA(ModelConfig(**TINY, n_nodes=2)).eval()
    test = tiny_set(3, seed=3)
    good = specimen_frame(test["images"][:3], test["curves"][:3])
    assert len(predict_frame(model, good)) == 3
    for value, row, column in ((np.nan, 1, "image"), (np.inf, 2, "curve"), (1e308, 0, "curve"), (-np.inf, 0, "image")):
        frame = good.copy()
        cell = np.array(frame.at[row, column], dtype=np.float64)
        cell[5] = value
        frame.at[row, column] = cell
        with pytest.raises(ValueError, match=rf"column '{column}', row {row}: 1 value\(s\) not finite .* position 5"):
            predict_frame(model, frame)
    short = good.copy()
    short.at[2, "curve"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"column 'curve', row 2: 3 numbers, the model needs"):
        predict_frame(model, short)
    with pytest.raises(ValueError, match="the input has no rows"):
        predict_frame(model, good.iloc[:0])
