"""The fitted model as a portable MLflow model: logged through ``causal_pima.mlflow_model`` into a
temporary sqlite store with the project's wheel, pinned requirements, a signature, a 2-specimen input
example, outputs in feature names, registered with its headline metrics; loaded with
``mlflow.pyfunc.load_model`` (also by a Python that imports ``causal_pima`` from the logged wheel
only) and served by ``mlflow models serve``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import causal_pima
from causal_pima.core.batching import specimen_tensors
from causal_pima.core.model import CausalPIMA
from causal_pima.core.model_config import ModelConfig
from causal_pima.core.readout import posterior_table
from causal_pima.datasets import CausalPIMADataset
from causal_pima.mlflow_model import (
    CausalPIMAPredictor,
    log_fitted_model,
    node_labels,
    output_columns,
    predict_frame,
    specimen_frame,
)
from tests.pipelines.test_causal_pima_nodes import TINY, tiny_set

# the evaluation's matching (dag_metrics.json): N0 is radius, N1 is hue with its 0/1 meaning flipped
MATCHING = {"N0": {"feature": "radius", "flipped": False}, "N1": {"feature": "hue", "flipped": True}}
COLUMNS = ["outcome", "gamma_0", "gamma_1", "gamma_2", "gamma_3", "p_radius", "p_hue", "outcome_radius", "outcome_hue"]
METRICS = {"circles/eval/shd": 1.0, "circles/eval/node_accuracy": 0.75}


def tiny_model() -> CausalPIMA:
    """A 2-node tiny model whose 4 mixture components are apart (so gamma and q are not uniform)."""
    torch.manual_seed(0)
    model = CausalPIMA(ModelConfig(**TINY, n_nodes=2)).eval()
    with torch.no_grad():
        model.prior.means.copy_(0.3 * torch.randn(4, 3, generator=torch.Generator().manual_seed(1)))
    return model


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """The tiny model saved by the fitted-model dataset and logged (and registered) as ``causal_pima_circles``
    (once for the module: a fresh sqlite store and a logged model take seconds; the tests only read them)."""
    import mlflow

    tmp_path = tmp_path_factory.mktemp("logged")
    model = tiny_model()
    path = tmp_path / "fitted_model.pt"
    CausalPIMADataset(filepath=str(path)).save(model)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    try:
        experiment = mlflow.create_experiment("test", artifact_location=str(tmp_path / "mlartifacts"))
        with mlflow.start_run(experiment_id=experiment) as run:
            info = log_fitted_model(path, name="causal_pima_circles", specimens=tiny_set(4, seed=1), node_features=MATCHING,
                                    metrics=METRICS, registered_model_name="causal_pima_circles")
        local = Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(tmp_path / "model")))
        yield model, run.info.run_id, info, local
    finally:
        mlflow.set_tracking_uri(previous)


def expected_table(model: CausalPIMA, test: dict) -> pd.DataFrame:
    return posterior_table(model, {"test": (np.arange(len(test["curves"])), specimen_tensors(test, model.modalities))})


def test_the_model_predicts_in_feature_names_the_posterior_node_marginals_flip_applied(logged):
    import mlflow

    model, run_id, info, _ = logged
    loaded = mlflow.pyfunc.load_model(f"runs:/{run_id}/causal_pima_circles")
    assert mlflow.pyfunc.load_model(info.model_uri) is not None
    test = tiny_set(6, seed=3)
    prediction = loaded.predict(specimen_frame(test["images"], test["curves"]))
    expected = expected_table(model, test)
    assert list(prediction.columns) == COLUMNS
    np.testing.assert_allclose(prediction["p_radius"], expected["q_N0"], atol=1e-6)
    np.testing.assert_allclose(prediction["p_hue"], 1.0 - expected["q_N1"], atol=1e-6)  # flipped: hue = 1 is N1 = 0
    np.testing.assert_allclose(prediction.filter(like="gamma_").sum(axis=1), 1.0, atol=1e-6)
    assert prediction["outcome"].tolist() == expected["outcome"].tolist()
    assert prediction["outcome"].nunique() > 1 and (prediction["p_hue"] - 0.5).abs().max() > 0.005  # not uniform: the flip shows
    # the outcome's bits: bit 0 of k is N0 = radius, bit 1 is N1 = 1 - hue
    assert prediction["outcome_radius"].tolist() == [k & 1 for k in expected["outcome"]]
    assert prediction["outcome_hue"].tolist() == [1 - ((k >> 1) & 1) for k in expected["outcome"]]
    float32 = loaded.predict(specimen_frame(test["images"].astype(np.float32), test["curves"]))
    np.testing.assert_allclose(float32["p_hue"], prediction["p_hue"], atol=1e-7)


def test_nodes_without_a_feature_keep_their_node_names():
    model = tiny_model()
    frame = specimen_frame(*(tiny_set(3, seed=2)[k] for k in ("images", "curves")))
    plain = predict_frame(model, frame)
    assert list(plain.columns) == ["outcome", "gamma_0", "gamma_1", "gamma_2", "gamma_3", "p_N0", "p_N1", "outcome_N0", "outcome_N1"]
    half = predict_frame(model, frame, {"N1": {"feature": "hue", "flipped": False}})
    assert output_columns(2, {"N1": {"feature": "hue", "flipped": False}}) == list(half.columns)
    np.testing.assert_array_equal(half["p_hue"], plain["p_N1"])
    np.testing.assert_array_equal(half["outcome_hue"], plain["outcome_N1"])
    with pytest.raises(ValueError, match=r"names nodes \['N2'\] that a model with 2 nodes"):
        node_labels(2, {"N2": {"feature": "hue", "flipped": False}})
    with pytest.raises(ValueError, match="two nodes the same name"):
        node_labels(2, {"N0": {"feature": "N1", "flipped": False}})


def test_one_modality_is_enough_and_equals_the_models_own_one_modality_posterior(logged):
    import mlflow

    model, _, info, _ = logged
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    test = tiny_set(4, seed=5)
    prediction = loaded.predict(specimen_frame(curves=test["curves"]))
    expected = model.posterior({"curve": torch.from_numpy(test["curves"])})["node_marginals"].numpy()
    np.testing.assert_allclose(prediction["p_radius"], expected[:, 0], atol=1e-6)
    np.testing.assert_allclose(prediction["p_hue"], 1.0 - expected[:, 1], atol=1e-6)


def test_the_raw_model_is_the_causal_pima_object_with_identical_state(logged):
    import mlflow

    model, _, info, _ = logged
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    unwrapped = loaded.get_raw_model()
    assert isinstance(unwrapped, CausalPIMA) and unwrapped is not model
    assert unwrapped.model_config.to_dict() == model.model_config.to_dict()
    state = model.state_dict()
    assert unwrapped.state_dict().keys() == state.keys()
    for key, value in unwrapped.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_the_model_folder_is_portable_wheel_requirements_signature_and_example(logged):
    _, _, _, local = logged
    wheel = local / "code" / "causal_pima-0.1.0-py3-none-any.whl"
    assert (local / "requirements.txt").read_text().split() == [
        "code/causal_pima-0.1.0-py3-none-any.whl", "mlflow==3.17.2", "torch==2.13.0", "numpy==2.4.6", "pandas==3.1.1"]
    assert "-r requirements.txt" in (local / "python_env.yaml").read_text()
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert {"causal_pima/mlflow_model.py", "causal_pima/core/model.py", "causal_pima-0.1.0.dist-info/METADATA"} <= names
        assert archive.read("causal_pima/mlflow_model.py") == Path(causal_pima.__file__).with_name("mlflow_model.py").read_bytes()
    mlmodel = (local / "MLmodel").read_text()
    source = str(Path(causal_pima.__file__).resolve().parents[2])
    assert source not in mlmodel and "model_code_path" not in mlmodel  # no path of the source tree
    assert "loader_module: causal_pima.mlflow_model" in mlmodel and "data: data/fitted_model.pt" in mlmodel

    from mlflow.models import Model

    meta = Model.load(str(local))
    assert [(c.name, c.required) for c in meta.signature.inputs.inputs] == [("image", False), ("curve", False)]
    assert meta.signature.outputs.input_names() == COLUMNS
    assert meta.metadata["input_shapes"] == {"image": [1, 8, 8], "curve": [8]}
    assert meta.flavors["python_function"]["config"]["node_features"] == MATCHING
    example = json.loads((local / "input_example.json").read_text())  # the first 2 specimens of the set
    specimens = tiny_set(4, seed=1)
    assert example["columns"] == ["image", "curve"] and len(example["data"]) == 2
    np.testing.assert_allclose(np.array([row[1] for row in example["data"]]), specimens["curves"][:2], rtol=1e-6)
    np.testing.assert_allclose(np.array([row[0] for row in example["data"]]), specimens["images"][:2].reshape(2, -1), rtol=1e-6)


def test_the_model_is_registered_with_the_headline_metrics(logged):
    import mlflow

    _, run_id, info, _ = logged
    client = mlflow.MlflowClient()
    version = client.get_model_version("causal_pima_circles", "1")
    assert info.registered_model_version == 1 and version.run_id == run_id
    assert {k: version.tags[k] for k in METRICS} == {"circles/eval/shd": "1", "circles/eval/node_accuracy": "0.75"}
    assert {m.key: m.value for m in mlflow.get_logged_model(info.model_id).metrics} == METRICS
    assert mlflow.pyfunc.load_model("models:/causal_pima_circles/1").get_raw_model() is not None


def test_a_python_without_the_source_tree_loads_the_model_from_its_wheel(logged, tmp_path):
    """``python -S``: no .pth file runs, so neither ``src/`` nor the project's editable install is on
    the path; the venv's site-packages (torch, mlflow, ...) and the model's wheel are added by hand."""
    import sysconfig

    model, _, _, local = logged
    wheel = local / "code" / "causal_pima-0.1.0-py3-none-any.whl"
    script = (
        "import sys, json; sys.path[:0] = [sys.argv[1]]; sys.path.append(sys.argv[2])\n"
        "import mlflow, pandas as pd\n"
        "model = mlflow.pyfunc.load_model(sys.argv[3])\n"
        "example = json.load(open(sys.argv[3] + '/input_example.json'))\n"
        "frame = pd.DataFrame(example['data'], columns=example['columns'])\n"
        "import causal_pima\n"
        "print(json.dumps({'file': causal_pima.__file__, 'p_hue': model.predict(frame)['p_hue'].tolist()}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-S", "-c", script, str(wheel), sysconfig.get_paths()["purelib"], str(local)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["file"].startswith(str(wheel))  # imported from the logged wheel
    expected = expected_table(model, {k: v[:2] for k, v in tiny_set(4, seed=1).items()})
    np.testing.assert_allclose(answer["p_hue"], 1.0 - expected["q_N1"], atol=1e-6)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mlflow_models_serve_answers_a_prediction_request(logged):
    """``mlflow models serve --env-manager local`` on 127.0.0.1 with ``causal_pima`` from the model's wheel only."""
    model, _, _, local = logged
    port = _free_port()
    # causal_pima from the model's wheel only; the venv's bin/ on PATH for the uvicorn command that serve runs
    env = {**os.environ, "PYTHONPATH": str(local / "code" / "causal_pima-0.1.0-py3-none-any.whl"),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(local), "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port), "-w", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        specimens = tiny_set(4, seed=7)
        frame = specimen_frame(specimens["images"][:2], specimens["curves"][:2])
        body = json.dumps({"dataframe_split": {"columns": list(frame.columns),
                                               "data": [[list(map(float, c)) for c in row] for row in frame.itertuples(index=False)]}})
        deadline, answer = time.monotonic() + 60, None
        while answer is None:
            assert server.poll() is None, server.stdout.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the server did not answer within 60 s"
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=body.encode(),
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=10) as response:
                    answer = json.loads(response.read())
            except OSError:
                time.sleep(0.5)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # the server's own process group: mlflow and its uvicorn
        server.wait(timeout=20)
    prediction = pd.DataFrame(answer["predictions"])
    assert list(prediction.columns) == COLUMNS and len(prediction) == 2
    np.testing.assert_allclose(prediction.filter(like="gamma_").sum(axis=1), 1.0, atol=1e-6)
    expected = CausalPIMAPredictor(model, MATCHING).predict(frame)
    np.testing.assert_allclose(prediction[COLUMNS].to_numpy(float), expected[COLUMNS].to_numpy(float), atol=1e-6)


def test_bad_input_is_refused_naming_the_column_and_row():
    model = tiny_model()
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
    # a cell of NaN only is a specimen not measured that way (issue 21): placed from its other modality
    unmeasured = good.copy()
    unmeasured.at[1, "image"] = np.full(np.size(good.at[1, "image"]), np.nan)
    curve_only = predict_frame(model, good[["curve"]])
    np.testing.assert_array_equal(predict_frame(model, unmeasured).iloc[1].to_numpy(float), curve_only.iloc[1].to_numpy(float))
    short = good.copy()
    short.at[2, "curve"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"column 'curve', row 2: 3 numbers, the model needs"):
        predict_frame(model, short)
    with pytest.raises(ValueError, match="the input has no rows"):
        predict_frame(model, good.iloc[:0])
