"""The run's model-input sets as MLflow input datasets: name, source folder, context, digest, shapes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from causal_pima.mlflow_inputs import log_model_input_sets, model_input_dataset


def _set(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"images": rng.random((n, 1, 4, 4)), "curves": rng.normal(size=(n, 6)), "labels": rng.integers(0, 2, (n, 3)),
            "label_names": np.array(["a", "b", "c"]), "grid": np.arange(6.0)}


def test_the_sets_are_logged_as_run_inputs_with_their_split_context(tmp_path):
    import mlflow

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    try:
        experiment = mlflow.create_experiment("inputs", artifact_location=str(tmp_path / "mlartifacts"))
        folders = {split: tmp_path / "05_model_input" / "circles" / split for split in ("train", "val", "test")}
        with mlflow.start_run(experiment_id=experiment) as run:
            logged = log_model_input_sets({f"circles.{s}_set": (_set(5 + i, i), folders[s]) for i, s in enumerate(folders)})
        inputs = mlflow.MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs
    finally:
        mlflow.set_tracking_uri(previous)
    assert sorted(logged) == ["circles.test_set", "circles.train_set", "circles.val_set"]
    found = {i.dataset.name: i for i in inputs}
    assert {name: {t.key: t.value for t in i.tags}["mlflow.data.context"] for name, i in found.items()} == {
        "circles.train_set": "training", "circles.val_set": "validation", "circles.test_set": "testing"}
    test = found["circles.test_set"].dataset
    assert json.loads(test.source) == {"uri": str(folders["test"])} and test.digest == logged["circles.test_set"].digest
    assert json.loads(test.profile)["features_shape"] == {"images": [7, 1, 4, 4], "curves": [7, 6]}
    assert json.loads(test.profile)["targets_shape"] == [7, 3]


def test_the_digest_follows_the_data_and_bad_sets_are_refused(tmp_path):
    a = model_input_dataset(_set(5, 0), "circles.test_set", tmp_path)
    assert model_input_dataset(_set(5, 0), "circles.test_set", tmp_path).digest == a.digest
    assert model_input_dataset(_set(5, 1), "circles.test_set", tmp_path).digest != a.digest
    unlabelled = {**_set(5, 0), "labels": np.zeros((5, 0), dtype=int)}
    assert model_input_dataset(unlabelled, "own.test_set", tmp_path).targets is None
    with pytest.raises(ValueError, match=r"the model-input set own.test_set .* has none of the arrays \['images', 'curves'\]"):
        model_input_dataset({"labels": np.zeros((2, 1))}, "own.test_set", tmp_path)
    with pytest.raises(ValueError, match=r"'circles.features' is not a model-input set name"):
        log_model_input_sets({"circles.features": (_set(2, 0), tmp_path)})
