"""Unit tests of the nodes of the pretraining, causal_pima and evaluation pipelines on tiny, seeded
models and data (the Kedro-session tests run them only end to end), and of the fitted-model dataset.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from causal_pima.core.batching import specimen_tensors
from causal_pima.core.causal_fit import plan_fit
from causal_pima.core.model import NETWORK_PREFIXES, CausalPIMA
from causal_pima.core.model_config import ModelConfig, NetworkConfig
from causal_pima.core.outcomes import joint_outcomes
from causal_pima.core.readout import physics_parameter_table
from causal_pima.core.training import pretrain
from causal_pima.core.training_config import PretrainConfig
from causal_pima.data.scm import BinarySCM, true_dag_record
from causal_pima.datasets import CausalPIMADataset
from causal_pima.evaluation.report import metrics_history, scalar_metrics, split_node_marginals
from causal_pima.model_input import model_config_from_data
from causal_pima.pipelines.causal_pima import nodes as fit_nodes
from causal_pima.pipelines.evaluation import nodes as eval_nodes
from causal_pima.pipelines.pretraining.nodes import pretrain_model
from tests.pipelines.test_causal_pima_nodes import TINY

GRID = np.linspace(0.01, 0.7, 8)
SCM = BinarySCM({"a": [], "b": ["a"]}, {"a": [0.5], "b": [0.2, 0.8]})


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny networks run fastest on one thread on a shared machine (restored afterwards)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def model_set(n: int, seed: int) -> dict[str, np.ndarray]:
    """A tiny model-input set: images, standardised curves, labels a, b, ids, grid and scaler."""
    rng = np.random.default_rng(seed)
    labels = joint_outcomes(2)[rng.integers(0, 4, n)]
    return {
        "images": rng.random((n, 1, 8, 8)).astype(np.float32),
        "curves": rng.normal(size=(n, 8)).astype(np.float32),
        "labels": labels,
        "label_names": np.asarray(["a", "b"]),
        "specimen_id": np.arange(n).astype(str),
        "grid": GRID,
        "curve_mean": np.full(8, 2.0),
        "curve_std": np.full(8, 0.5),
    }


@pytest.fixture(scope="module")
def model() -> CausalPIMA:
    torch.manual_seed(0)
    return CausalPIMA(ModelConfig(**TINY, n_nodes=2)).eval()


@pytest.fixture(scope="module")
def physics_model() -> CausalPIMA:
    torch.manual_seed(0)
    config = ModelConfig(**TINY, n_nodes=2, curve_decoder="physics", curve_grid=tuple(GRID), curve_mean=(2.0,) * 8, curve_std=(0.5,) * 8)
    return CausalPIMA(config).eval()


def test_metrics_history_is_kedro_mlflow_history_format_without_non_finite_columns():
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [3.0, 2.5], "val_elbo": [np.nan, -1.0]})
    assert metrics_history(history, "fit") == {"fit.train_loss": [{"step": 1, "value": 3.0}, {"step": 2, "value": 2.5}]}


def test_pretrain_model_is_seeded_and_returns_checkpoint_history_metrics_and_figure():
    train, val = model_set(16, 1), model_set(8, 2)
    model_params = {"latent_dim": 3, "image_channels": [4], "image_hidden_dim": 8, "curve_hidden_dims": [8]}
    params = {"epochs": 2, "batch_size": 8, "seed": 3}
    checkpoint, history, metrics, figure = pretrain_model(train, val, model_params, params)
    again = pretrain_model(train, val, model_params, params)[0]
    assert list(history["epoch"]) == [1, 2] and history.columns[0] == "epoch"
    assert set(metrics) == {f"pretraining.{c}" for c in history.columns if c != "epoch" and np.isfinite(history[c]).all()}
    assert isinstance(figure, Figure)
    for key, value in checkpoint["state_dict"].items():
        assert torch.equal(value, again["state_dict"][key]), key


@pytest.mark.parametrize("curve_decoder", ["neural", "physics"])
def test_pretrained_checkpoint_holds_the_networks_only_and_equals_pretraining_a_whole_causal_pima(curve_decoder):
    """Pretraining builds a PoE VAE; a CausalPIMA builds the same networks first from the same seed
    (and pretrain() reseeds before its first draw), so the networks are bit-identical to pretraining
    the whole model as before, and the fit built from them is too."""
    train, val = model_set(16, 1), model_set(8, 2)
    model_params = {"latent_dim": 3, "image_channels": [4], "image_hidden_dim": 8, "curve_hidden_dims": [8], "curve_decoder": curve_decoder}
    params = {"epochs": 2, "batch_size": 8, "seed": 3}
    checkpoint = pretrain_model(train, val, model_params, params)[0]
    assert set(checkpoint["config"]) == {f.name for f in fields(NetworkConfig)}
    assert all(k.startswith(NETWORK_PREFIXES) for k in checkpoint["state_dict"])

    torch.manual_seed(3)
    whole = CausalPIMA(model_config_from_data(train, model_params))
    pretrain(whole, specimen_tensors(train, whole.modalities), specimen_tensors(val, whole.modalities), PretrainConfig(**params))
    old_checkpoint = whole.checkpoint()
    for key, value in checkpoint["state_dict"].items():
        assert torch.equal(value, old_checkpoint["state_dict"][key]), key

    fit_params = {"prior": {"n_nodes": 2, "conditionals": "table"}, "seed": 0}
    new = plan_fit(checkpoint, train, fit_params, model_config_from_data(train, model_params)).model.checkpoint()
    old = plan_fit(old_checkpoint, train, fit_params).model.checkpoint()  # the config in the old checkpoint
    assert new["config"] == old["config"]
    assert new["state_dict"].keys() == old["state_dict"].keys()
    for key, value in new["state_dict"].items():
        assert torch.equal(value, old["state_dict"][key]), key


def test_compute_posteriors_has_one_row_per_specimen_and_normalised_responsibilities(model):
    sets = [model_set(n, s) for n, s in ((5, 1), (3, 2), (4, 3))]
    table = fit_nodes.compute_posteriors(model, *sets)
    assert list(table["split"]) == ["train"] * 5 + ["val"] * 3 + ["test"] * 4
    gamma = table[[f"gamma_{k}" for k in range(4)]].to_numpy()
    np.testing.assert_allclose(gamma.sum(1), 1.0, atol=1e-5)
    assert (table["outcome"].to_numpy() == gamma.argmax(1)).all()
    marginals, outcome = split_node_marginals(table, 2)
    assert marginals.shape == (4, 2) and ((marginals >= 0) & (marginals <= 1)).all()
    # q(N_j = 1 | x) is the responsibility mass of the outcomes with bit j set
    np.testing.assert_allclose(marginals, gamma[-4:] @ joint_outcomes(2), atol=1e-5)
    assert (outcome == gamma[-4:].argmax(1)).all()


def test_model_figures_of_the_fit_nodes(model):
    test = model_set(6, 4)
    history = pd.DataFrame({"epoch": [1, 2], "train_loss": [2.0, 1.0], "train_elbo": [-2.0, -1.0], "val_elbo": [-2.5, -1.5]})
    learned = {"node_names": ["N0", "N1"], "edges": [{"from": "N0", "to": "N1", "strength": 1.5}], "equivalence_class": None}
    figures = [
        fit_nodes.plot_fit_history(history),
        fit_nodes.plot_learned_dag(learned),
        fit_nodes.plot_reconstructions(model, test, n=4),
    ]
    assert all(isinstance(f, Figure) for f in figures)
    assert len(figures[2].axes) >= 4
    # the reconstruction figure's curves are in physical units, as the cross-modal figure's (issue 23, item 7):
    # standardised values x curve_std (0.5) + curve_mean (2.0) on this set's linear scale
    curve_axes = [ax for ax in figures[2].axes if ax.get_lines()]
    np.testing.assert_allclose(curve_axes[0].get_lines()[0].get_ydata(), test["curves"][0] * 0.5 + 2.0, rtol=1e-6)
    assert "standardised" not in curve_axes[0].get_ylabel() + figures[2].get_suptitle()
    images = [ax.get_images()[0] for ax in figures[2].axes if ax.get_images()]
    assert images and all(image.get_clim() == (0.0, 1.0) for image in images)  # fixed intensity scale


def test_physics_parameters_one_row_per_outcome_and_their_figure(physics_model, model):
    table = fit_nodes.physics_parameters(physics_model)
    assert list(table["outcome"]) == [0, 1, 2, 3]
    np.testing.assert_array_equal(table[["N0", "N1"]].to_numpy(), joint_outcomes(2))
    assert table["mixture_weight"].sum() == pytest.approx(1.0, abs=1e-6)
    assert table.attrs["law"] == physics_model.physics.law.name and (table["noise_scale"] > 0).all()
    train = model_set(10, 5)
    posteriors = pd.DataFrame({"split": ["train"] * 10, "outcome": np.arange(10) % 4})
    figure = fit_nodes.plot_physics_curves(physics_model, train, posteriors)
    assert [ax.get_title() for ax in figure.axes[:2]] == ["N0=0,N1=0 (n=3)", "N0=1,N1=0 (n=3)"]
    # a neural model: the node gives an empty table (issue 11 item 8), the library read-out still refuses
    assert fit_nodes.physics_parameters(model).empty
    with pytest.raises(ValueError, match="no physics curve expert"):
        physics_parameter_table(model)


def test_cross_modal_report_numbers_and_its_separate_figure(model):
    test = model_set(7, 6)
    report, predicted = eval_nodes.cross_modal_report(model, test)
    assert predicted.shape == (7, 8) and report["available"] and report["n_test"] == 7
    truth = test["curves"].astype(np.float64)
    assert report["rmse_standardised"] == pytest.approx(np.sqrt(np.mean((predicted - truth) ** 2)))
    # physical units: std 0.5, so every RMSE halves; the baseline predicts the mean curve
    assert report["rmse"] == pytest.approx(0.5 * report["rmse_standardised"])
    assert report["baseline_mean_curve_rmse"] == pytest.approx(0.5 * np.sqrt(np.mean(truth**2)))
    assert report["improvement_over_baseline"] == pytest.approx(1 - report["rmse"] / report["baseline_mean_curve_rmse"])
    figure = eval_nodes.plot_cross_modal(report, predicted, test, n_plot=3)
    assert [ax.get_title() for ax in figure.axes] == ["specimen 0", "specimen 1", "specimen 2"]
    image_only = CausalPIMA(ModelConfig(**{**TINY, "curve_length": 0}, n_nodes=2, modality_names=("image",)))
    unavailable, curves = eval_nodes.cross_modal_report(image_only, test)
    assert unavailable == {"available": False, "modalities": ["image"]} and curves.size == 0
    assert isinstance(eval_nodes.plot_cross_modal(unavailable, curves, test), Figure)


def test_evaluate_fit_report_and_flat_mlflow_metrics(model):
    test = model_set(12, 7)
    learned = {
        "node_names": ["N0", "N1"],
        "adjacency": [[0.0, 2.0], [0.0, 0.0]],
        "conditional_probability_tables": {"N0": {"parents": [], "p_one": [0.5]}, "N1": {"parents": ["N0"], "p_one": [0.2, 0.8]}},
        "diagnostics": {"collapsed": False, "warnings": ["a fit warning"]},
    }
    # node marginals equal to the labels: a perfect discovery of a -> b
    posteriors = pd.DataFrame({"split": "test", "outcome": test["labels"] @ [1, 2], "q_N0": test["labels"][:, 0], "q_N1": test["labels"][:, 1]})
    report, mlflow_metrics = eval_nodes.evaluate_fit(model, learned, posteriors, test, true_dag_record(SCM, "chain"), {"available": True, "rmse": 0.25})
    assert report["shd"] == 0 and report["node_accuracy"] == 1.0 and report["ari"] == pytest.approx(1.0)
    assert report["interventional_tv"] == pytest.approx(0.0, abs=1e-12)
    assert report["warnings"] == ["a fit warning"] and report["cross_modal"] == {"available": True, "rmse": 0.25}
    assert set(report["reconstruction_error"]) == {"image", "curve"} and np.isfinite(report["test_elbo"])
    assert mlflow_metrics["eval.shd"] == {"step": 0, "value": 0.0}
    assert mlflow_metrics["eval.cross_modal_rmse"]["value"] == 0.25
    # the scalar metrics, and each learned edge's strength in feature terms (issue 23, item 7)
    edges = {f"eval.edge.{a}_to_{b}": s for a, b, s in report["learned_edges"]}
    assert set(mlflow_metrics) == {f"eval.{k}" for k in scalar_metrics(report)} | set(edges)
    assert edges and all(mlflow_metrics[name]["value"] == pytest.approx(s) for name, s in edges.items())
    figures = [
        eval_nodes.plot_dag_comparison(report, true_dag_record(SCM, "chain")),
        eval_nodes.plot_node_marginals(posteriors, test, report),
        eval_nodes.plot_do_grid(model, report, n_samples=2),
    ]
    assert all(isinstance(f, Figure) for f in figures)
    assert len(figures[2].axes) == 2 * 2 * 2  # 2 nodes x do(0), do(1) x 2 samples
    assert figures[2].axes[0].get_ylabel() == "do(a = 0)\n(N0 = 0)"


def test_the_fitted_model_dataset_saves_a_checkpoint_and_loads_a_ready_model(model, tmp_path):
    dataset = CausalPIMADataset(filepath=str(tmp_path / "fitted_model.pt"))
    dataset.save(model)
    loaded = dataset.load()
    assert isinstance(loaded, CausalPIMA) and loaded is not model
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    dataset.save(model.checkpoint())  # the fit node's checkpoint dict is accepted too
    assert isinstance(dataset.load(), CausalPIMA)


def test_latent_figure_names_outcomes_by_the_matched_features(model):
    """Drawn in the evaluation stage, so the legend can use the evaluation's node-to-feature matching."""
    test = model_set(6, 4)
    n_nodes = model.config.n_nodes
    features = ["radius", "shift", "hue", "lift"][:n_nodes]
    matching = {f"N{j}": {"feature": features[j], "flipped": j == 0} for j in range(n_nodes)}
    figure = eval_nodes.plot_latent_projection(model, test, {"matching": matching})
    labels = [t.get_text() for ax in figure.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    labels += [t.get_text() for legend in figure.legends for t in legend.get_texts()]
    outcome_labels = [label for label in labels if "(n=" in label]
    assert outcome_labels and all(label.startswith(f"{features[0]}=") for label in outcome_labels)
    assert not any("N0=" in label for label in outcome_labels)
    without = eval_nodes.plot_latent_projection(model, test, {})
    texts = [t.get_text() for ax in without.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    texts += [t.get_text() for legend in without.legends for t in legend.get_texts()]
    assert any(text.startswith("N0=") for text in texts)
