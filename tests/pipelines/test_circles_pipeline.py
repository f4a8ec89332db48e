"""Tests for the circles pipeline: its nodes directly, then circles + data_processing through a runner."""

from __future__ import annotations

import copy
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from causal_pima.core.outcomes import joint_outcomes
from causal_pima.data.scm import BinarySCM
from causal_pima.evaluation.graphs import equivalence_class_record
from causal_pima.pipelines.circles import create_pipeline as create_circles_pipeline
from causal_pima.pipelines.circles.nodes import (
    build_scm,
    exact_distributions,
    generate_features,
    render_specimens,
)
from causal_pima.pipelines.data_processing import (
    create_pipeline as create_data_processing_pipeline,
)

CONF = Path(__file__).resolve().parents[2] / "conf" / "base"
N = 200


def _load_params(name: str) -> dict:
    with (CONF / f"parameters_{name}.yml").open() as handle:
        return yaml.safe_load(handle)[name]


@pytest.fixture(scope="module")
def circles_params() -> dict:
    params = _load_params("circles")
    params["n_specimens"] = N
    return params


def _with(params: dict, **overrides) -> dict:
    return {**copy.deepcopy(params), **overrides}


# ---------------------------------------------------------------- nodes


def test_generate_features_of_default_collider(circles_params):
    features, true_dag = generate_features(circles_params)
    assert list(features.columns) == ["specimen_id", "radius", "shift", "hue"]
    assert len(features) == N
    np.testing.assert_array_equal(features["specimen_id"].to_numpy(), np.arange(N))
    values = features[["radius", "shift", "hue"]].to_numpy()
    assert set(np.unique(values).tolist()) == {0, 1}
    assert true_dag["configuration"] == "collider"
    assert true_dag["features"] == ["radius", "shift", "hue"]
    assert true_dag["edges"] == [["radius", "hue"], ["shift", "hue"]]
    assert true_dag["scm"]["hue"]["p_one"] == [0.05, 0.5, 0.5, 0.95]
    # the sample follows the model: every outcome frequency within 4 standard errors of P(outcome)
    probability = BinarySCM.from_config(true_dag["scm"]).joint()
    index = values @ (1 << np.arange(3))
    frequency = np.bincount(index, minlength=8) / N
    assert np.all(
        np.abs(frequency - probability) <= 4 * np.sqrt(probability * (1 - probability) / N)
    )


def test_generate_features_is_seeded(circles_params):
    first, _ = generate_features(circles_params)
    again, _ = generate_features(_with(circles_params))
    other, _ = generate_features(_with(circles_params, seed=1))
    pd.testing.assert_frame_equal(first, again)
    assert not first.equals(other)


def test_exact_distributions_match_the_scm(circles_params):
    _, true_dag = generate_features(circles_params)
    joint, interventional = exact_distributions(true_dag)
    scm = BinarySCM.from_config(true_dag["scm"])
    d, k = 3, 8

    assert list(joint.columns) == ["radius", "shift", "hue", "probability"]
    np.testing.assert_array_equal(joint[["radius", "shift", "hue"]].to_numpy(), joint_outcomes(d))
    np.testing.assert_allclose(joint["probability"].to_numpy(), scm.joint(), rtol=0, atol=1e-15)
    assert joint["probability"].sum() == pytest.approx(1.0, abs=1e-12)
    # P(radius=0, shift=0, hue=0) = 0.5 * 0.5 * (1 - 0.05)
    assert joint["probability"].iloc[0] == pytest.approx(0.2375, abs=1e-12)

    assert list(interventional.columns) == [
        "intervened",
        "value",
        "radius",
        "shift",
        "hue",
        "probability",
    ]
    assert len(interventional) == 2 * d * k
    blocks = interventional.groupby(["intervened", "value"], sort=False)
    assert [key for key, _ in blocks] == [
        (f, v) for f in ("radius", "shift", "hue") for v in (0, 1)
    ]
    for (feature, value), block in blocks:
        assert len(block) == k
        assert block["probability"].sum() == pytest.approx(1.0, abs=1e-12)
        # the intervened feature has its forced value with probability one
        assert block.loc[block[feature] != value, "probability"].sum() == 0.0
        np.testing.assert_allclose(
            block["probability"].to_numpy(), scm.interventional(feature, value), rtol=0, atol=1e-15
        )
    # do(hue = 1) leaves the causes of hue untouched: radius and shift stay uniform and independent
    do_hue = interventional[
        (interventional["intervened"] == "hue") & (interventional["value"] == 1)
    ]
    np.testing.assert_allclose(do_hue.loc[do_hue["hue"] == 1, "probability"], 0.25, atol=1e-15)


def test_unknown_configuration_is_rejected_by_name(circles_params):
    params = _with(circles_params, configuration="fork_of_doom")
    with pytest.raises(
        ValueError,
        match=r"'fork_of_doom' is not defined; choose one of \['chain', 'collider', 'complete', "
        r"'eight', 'empty', 'five', 'fork', 'glow', 'image4', 'one_edge', 'rare', 'seven', 'six', 'unbalanced', 'weak', "
        r"'xor'\]",
    ):
        generate_features(params)
    with pytest.raises(ValueError, match="fork_of_doom"):
        build_scm(params)


def test_chain_configuration_loads_and_generates(circles_params):
    features, true_dag = generate_features(_with(circles_params, configuration="chain"))
    assert list(features.columns) == ["specimen_id", "shift", "radius", "hue"]
    assert true_dag["edges"] == [["shift", "radius"], ["radius", "hue"]]
    joint, interventional = exact_distributions(true_dag)
    assert joint["probability"].sum() == pytest.approx(1.0, abs=1e-12)
    # shift -> radius -> hue with 0.15 / 0.85 tables: observing radius = 1 says shift = 1 w.p. 0.85,
    # setting radius = 1 says nothing about shift (0.5) and gives hue = 1 w.p. 0.85
    observed = joint[joint["radius"] == 1]
    assert observed.loc[observed["shift"] == 1, "probability"].sum() / observed[
        "probability"
    ].sum() == pytest.approx(0.85)
    do_radius = interventional[
        (interventional["intervened"] == "radius") & (interventional["value"] == 1)
    ]
    assert do_radius.loc[do_radius["shift"] == 1, "probability"].sum() == pytest.approx(0.5)
    assert do_radius.loc[do_radius["hue"] == 1, "probability"].sum() == pytest.approx(0.85)
    # the sample agrees: radius follows shift in roughly 85% of specimens
    agreement = (features["radius"] == features["shift"]).mean()
    assert 0.78 <= agreement <= 0.92


def test_glow_configuration_loads_generates_and_renders(circles_params):
    params = _with(circles_params, configuration="glow")
    features, true_dag = generate_features(params)
    assert list(features.columns) == ["specimen_id", "radius", "shift", "hue", "glow"]
    assert true_dag["edges"] == [["radius", "hue"], ["shift", "hue"], ["hue", "glow"]]
    joint, interventional = exact_distributions(true_dag)
    assert len(joint) == 16 and len(interventional) == 2 * 4 * 16
    assert joint["probability"].sum() == pytest.approx(1.0, abs=1e-12)
    raw = render_specimens(features, params)
    assert raw["images"].shape == (N, 3, 32, 32) and raw["images"].dtype == np.float32
    assert raw["curves"].shape == (N, 64) and raw["grid"].shape == (64,)
    assert 0.0 <= raw["images"].min() and raw["images"].max() <= 1.0


@pytest.mark.parametrize("configuration", sorted(_load_params("circles")["configurations"]))
def test_every_configuration_loads_generates_and_renders(circles_params, configuration):
    params = _with(circles_params, configuration=configuration)
    features, true_dag = generate_features(params)
    scm = build_scm(params)
    assert list(features.columns) == ["specimen_id", *scm.features] == ["specimen_id", *true_dag["features"]]
    assert set(np.unique(features.drop(columns="specimen_id"))) <= {0, 1}
    raw = render_specimens(features, params)
    assert raw["images"].shape == (N, 3, 32, 32) and raw["curves"].shape == (N, 64)


def test_image4_has_four_image_features_and_a_determined_graph(circles_params):
    params = _with(circles_params, configuration="image4")
    features, true_dag = generate_features(params)
    assert true_dag["features"] == ["radius", "shift", "hue", "lift"]
    assert true_dag["edges"] == [["radius", "hue"], ["shift", "hue"], ["hue", "lift"]]
    scm = build_scm(params)
    record = equivalence_class_record(scm.adjacency(), scm.features)
    assert record["undetermined_edges"] == [] and record["n_dags_in_class"] == 1
    # lift = 1 raises the disc: the top half of the image holds more of its light
    images = render_specimens(features, params)["images"]
    top_share = images[:, :, :13].sum(axis=(1, 2, 3)) / images.sum(axis=(1, 2, 3))
    np.testing.assert_array_equal(top_share > 0.5, features["lift"].to_numpy() == 1)


# ---------------------------------------------------------------- circles + data_processing, run


def test_circles_then_data_processing_through_sequential_runner(circles_params):
    processing_params = _load_params("data_processing")
    catalog = DataCatalog(
        {
            "params:circles": MemoryDataset(copy.deepcopy(circles_params)),
            "params:data_processing": MemoryDataset(processing_params),
        }
    )
    pipeline = create_circles_pipeline() + create_data_processing_pipeline(dataset="circles")
    assert pipeline.inputs() == {
        "params:circles",
        "params:data_processing",
    }

    figures_before = set(plt.get_fignums())
    outputs = SequentialRunner().run(pipeline, catalog)
    figures: list[Figure] = []
    try:
        assert {
            "circles.train_set",
            "circles.val_set",
            "circles.test_set",
            "circles.sample_images_figure",
            "circles.spectra_figure",
            "circles.joint_distribution",
            "circles.interventional_distributions",
        } <= set(outputs)
        sets = {name: outputs[f"circles.{name}_set"].load() for name in ("train", "val", "test")}
        figures += [
            outputs[f"circles.{name}_figure"].load() for name in ("sample_images", "spectra")
        ]
        assert all(isinstance(figure, Figure) for figure in figures)
        assert len(figures[0].axes) == 16  # a 4 x 4 grid for n_figure_images = 16

        features, _ = generate_features(circles_params)  # the same seed gives the same features
        label_names = ["radius", "shift", "hue"]
        indices = []
        for name, n in (("train", 160), ("val", 20), ("test", 20)):
            data = sets[name]
            assert data["images"].shape == (n, 3, 32, 32) and data["images"].dtype == np.float32
            assert data["curves"].shape == (n, 64) and data["curves"].dtype == np.float32
            assert data["labels"].shape == (n, 3) and data["labels"].dtype == np.int8
            assert list(data["label_names"]) == label_names
            np.testing.assert_array_equal(
                data["labels"], features[label_names].to_numpy()[data["index"]]
            )
            assert list(data["specimen_id"]) == [str(i) for i in data["index"]]
            indices.append(data["index"])
        assert sorted(np.concatenate(indices).tolist()) == list(range(N))
        # spectra standardised with train statistics only
        np.testing.assert_allclose(sets["train"]["curves"].mean(axis=0), 0.0, atol=1e-4)
        # default curve_scaling "global": one pooled standard deviation, so the overall RMS is 1
        np.testing.assert_allclose(np.sqrt((sets["train"]["curves"].astype(np.float64) ** 2).mean()), 1.0, atol=1e-4)

        joint = outputs["circles.joint_distribution"].load()
        assert joint["probability"].sum() == pytest.approx(1.0, abs=1e-12)
    finally:
        for figure in figures:
            plt.close(figure)
        for number in set(plt.get_fignums()) - figures_before:
            plt.close(number)
