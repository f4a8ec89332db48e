"""Tests for the training loops: pretraining, fitting, closed-form updates, divergence and resume
(docs/model.md "Training")."""

from __future__ import annotations

import copy

import pytest
import torch

from causal_pima.core import prior_initialisation, training
from causal_pima.core.callbacks import KeepLastCheckpoint, ProgressBar
from causal_pima.core.epoch_loop import EpochRecord, TrainingDivergedError
from causal_pima.core.evaluate import encode_dataset, evaluate, objective
from causal_pima.core.mixture_update import mixture_update
from causal_pima.core.model import CausalPIMA
from causal_pima.core.prior import SufficientStatistics, responsibilities
from causal_pima.core.structure import StructureSearchResult
from causal_pima.core.training import fit, pretrain
from causal_pima.core.training_config import FitConfig, InitConfig, PretrainConfig, StructureConfig

from .conftest import modalities, small_model

pytestmark = pytest.mark.usefixtures("one_thread")

PRETRAIN = PretrainConfig(epochs=3, batch_size=32, seed=0)
FIT = FitConfig(epochs=2, batch_size=64, seed=0)


def _without_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def _clone(checkpoint):
    return CausalPIMA.from_checkpoint(copy.deepcopy(checkpoint))


@pytest.fixture(scope="module")
def pretrained(circles_train, circles_val):
    """(history, checkpoint) of a 3-epoch pretraining of the small model (seed 0)."""
    model = small_model(0)
    history = pretrain(model, circles_train, circles_val, PRETRAIN)
    return history, copy.deepcopy(model.checkpoint())


def _set_distinct_means(model: CausalPIMA, data, seed: int = 0) -> None:
    """Component means at random training latents so that the responsibilities are non-trivial."""
    mu, _ = encode_dataset(model, data)
    generator = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(mu), generator=generator)[: model.prior.n_components]
    with torch.no_grad():
        model.prior.means.copy_(mu[pick])
        model.prior.variances.fill_(0.5)


# ---------------------------------------------------------------------------- pretraining
def test_pretrain_lowers_loss_and_is_reproducible(pretrained, circles_train, circles_val):
    history, _ = pretrained
    assert [row["epoch"] for row in history] == [1, 2, 3]
    losses = [row["train_loss"] for row in history]
    assert losses[2] < losses[0]
    assert history[2]["val_elbo"] > history[0]["val_elbo"]
    for row in history:
        for key in (
            "train_loss",
            "train_elbo",
            "train_kl",
            "val_elbo",
            "val_recon_image",
            "val_recon_curve",
        ):
            assert key in row and row[key] == row[key], key  # present and not NaN
    again = pretrain(small_model(0), circles_train, circles_val, PRETRAIN)
    assert _without_seconds(again) == _without_seconds(history)  # == on floats
    other = pretrain(
        small_model(0), circles_train, circles_val, PretrainConfig(epochs=3, batch_size=32, seed=1)
    )
    assert other[0]["train_loss"] != history[0]["train_loss"]
    assert _without_seconds(other) != _without_seconds(history)


def test_pretrain_keeps_the_best_validation_epoch(circles_train, circles_val, pretrained):
    history, checkpoint = pretrained
    best = max(range(len(history)), key=lambda i: history[i]["val_elbo"])
    model = _clone(checkpoint)
    # evaluate uses a fixed seed, so the restored weights reproduce the best epoch's metrics exactly
    assert evaluate(model, circles_val, "standard")["elbo"] == history[best]["val_elbo"]


def test_pretrain_callbacks_see_every_epoch(circles_train, circles_val):
    records: list[EpochRecord] = []
    saved: list[dict] = []
    keeper = KeepLastCheckpoint(on_save=saved.append)
    bar = ProgressBar(2, "pretraining", disable=True)
    pretrain(
        small_model(0),
        circles_train,
        circles_val,
        PretrainConfig(epochs=2, batch_size=64),
        [records.append, keeper, bar],
    )
    assert [(r.phase, r.epoch) for r in records] == [("pretraining", 1), ("pretraining", 2)]
    assert [s["epoch"] for s in saved] == [1, 2]
    assert keeper.last is saved[-1]
    assert keeper.last["phase"] == "pretraining" and len(keeper.last["history"]) == 2


# ---------------------------------------------------------------------------- fitting
@pytest.fixture(scope="module")
def fitted(pretrained, circles_train, circles_val):
    """Result and final checkpoint of a 2-epoch fit after pretraining, counting structure searches."""
    calls = {"init": 0, "search": 0}
    original_init, original_search = training.initialise_prior, training.run_structure_search

    def counting_init(*args, **kwargs):
        calls["init"] += 1
        return original_init(*args, **kwargs)

    def counting_search(*args, **kwargs):
        calls["search"] += 1
        return original_search(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(training, "initialise_prior", counting_init)
        # the initial search runs inside the prior's initialisation, the final one in the fit
        mp.setattr(prior_initialisation, "run_structure_search", counting_search)
        mp.setattr(training, "run_structure_search", counting_search)
        model = _clone(pretrained[1])
        result = fit(model, circles_train, circles_val, FIT)
    return result, copy.deepcopy(model.checkpoint()), calls


def test_fit_runs_initialisation_and_structure_search(fitted, circles_train):
    result, checkpoint, calls = fitted
    assert calls == {"init": 1, "search": 2}  # initial and final structure search
    init = result["initialisation"]
    assert sum(init["cluster_sizes"]) == len(circles_train["image"])
    assert len(init["cluster_sizes"]) == 8 and init["smallest_count"] == min(init["cluster_sizes"])
    structure = result["structure"]
    assert isinstance(structure, StructureSearchResult)
    assert sorted(structure.order) == [0, 1, 2]
    # the final structure is installed in the model: the adjacency equals the refit weights
    model = CausalPIMA.from_checkpoint(checkpoint)
    torch.testing.assert_close(
        model.dag.adjacency().detach(),
        torch.as_tensor(structure.weights, dtype=torch.float32),
        rtol=1e-5,
        atol=1e-6,
    )
    torch.testing.assert_close(
        model.dag.biases.detach(), torch.as_tensor(structure.biases, dtype=torch.float32)
    )


def test_fit_anneals_temperature_geometrically(fitted):
    result, _, _ = fitted
    history = result["history"]
    assert [row["epoch"] for row in history] == [1, 2]
    tau0, tau_min, epochs = 1.0, FIT.temperature_min, FIT.epochs
    rate = (tau_min / tau0) ** (1.0 / epochs)
    expected, tau = [], torch.tensor(tau0)  # the buffer is float32, updated as max(min, tau * rate)
    for _ in range(epochs):
        tau = torch.tensor(max(tau_min, float(tau) * rate))
        expected.append(float(tau))
    temperatures = [row["temperature"] for row in history]
    assert temperatures == expected
    assert temperatures[-1] == float(torch.tensor(tau_min))
    assert temperatures == pytest.approx([tau0 * rate**e for e in range(1, epochs + 1)], rel=1e-6)
    for row in history:
        for key in ("train_loss", "train_elbo", "train_prior", "val_elbo", "edge_0_1", "edge_2_0"):
            assert key in row and row[key] == row[key], key


def test_fit_temperature_three_epochs(pretrained, circles_train, circles_val):
    config = FitConfig(
        epochs=3, batch_size=128, seed=0, temperature_min=0.1, structure=StructureConfig(steps=50)
    )
    model = _clone(pretrained[1])
    history = fit(model, circles_train, circles_val, config)["history"]
    temperatures = [row["temperature"] for row in history]
    rate = 0.1 ** (1 / 3)
    assert temperatures == pytest.approx([rate, rate**2, 0.1], rel=1e-6)
    assert temperatures[1] / temperatures[0] == pytest.approx(
        temperatures[2] / temperatures[1], rel=1e-6
    )
    assert temperatures[-1] == float(torch.tensor(0.1))


def test_fit_is_reproducible(fitted, pretrained, circles_train, circles_val):
    result, checkpoint, _ = fitted
    model = _clone(pretrained[1])
    again = fit(model, circles_train, circles_val, FIT)
    assert _without_seconds(again["history"]) == _without_seconds(result["history"])
    assert again["initialisation"] == result["initialisation"]
    assert again["structure"].order == result["structure"].order
    for key, value in model.state_dict().items():
        assert torch.equal(value, checkpoint["state_dict"][key]), key
    other = fit(
        _clone(pretrained[1]),
        circles_train,
        circles_val,
        FitConfig(epochs=2, batch_size=64, seed=1),
    )
    assert other["history"][0]["train_loss"] != result["history"][0]["train_loss"]


def test_fit_config_from_dict_nested():
    config = FitConfig.from_dict(
        {
            "epochs": 4,
            "temperature_min": 0.1,
            "init": {"oversample": 2, "clusterer": "kmeans"},
            "structure": {"steps": 10},
        }
    )
    assert config.epochs == 4 and config.temperature_min == 0.1
    assert config.init == InitConfig(clusterer="kmeans", oversample=2)
    assert config.structure == StructureConfig(steps=10)
    assert config.batch_size == FitConfig().batch_size
    default = FitConfig.from_dict({})
    assert default == FitConfig()
    assert default.init is not FitConfig().init  # no shared mutable defaults
    with pytest.raises(TypeError):
        FitConfig.from_dict({"structure": {"stepz": 10}})
    with pytest.raises(TypeError):
        FitConfig.from_dict({"epochz": 10})


def test_fit_refuses_a_pretraining_checkpoint(pretrained, circles_train, circles_val):
    keeper = KeepLastCheckpoint()
    pretrain(
        small_model(0),
        circles_train,
        circles_val,
        PretrainConfig(epochs=1, batch_size=128),
        [keeper],
    )
    with pytest.raises(ValueError, match="pretraining"):
        fit(_clone(pretrained[1]), circles_train, circles_val, FIT, resume=keeper.last)


# ---------------------------------------------------------------------------- closed-form updates
@pytest.mark.parametrize("mixture_weights", ["dag", "free"])
def test_mixture_update_batched_equals_one_batch(pretrained, circles_train, mixture_weights):
    base = _clone(pretrained[1])
    state = dict(base.checkpoint())
    state["config"] = {**state["config"], "mixture_weights": mixture_weights}
    one, many = CausalPIMA.from_checkpoint(state), CausalPIMA.from_checkpoint(state)
    for model in (one, many):
        _set_distinct_means(model, circles_train)
    n = len(circles_train["image"])
    stats_one = mixture_update(one, circles_train, batch_size=n)
    stats_many = mixture_update(many, circles_train, batch_size=48)  # uneven last batch
    # hand computation of the statistics on the whole set at once
    model = CausalPIMA.from_checkpoint(state)
    _set_distinct_means(model, circles_train)
    with torch.no_grad():
        mu, logvar = model.encode(circles_train)
        gamma = responsibilities(model.log_weights(), model.prior.kl(mu, logvar.exp()))
    by_hand = SufficientStatistics.from_batch(gamma, mu, logvar.exp())
    for stats in (stats_one, stats_many):
        torch.testing.assert_close(stats.s0, by_hand.s0, rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(stats.s1, by_hand.s1, rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(stats.s2, by_hand.s2, rtol=1e-5, atol=1e-4)
    assert stats_many.s0.sum().item() == pytest.approx(n, rel=1e-5)
    torch.testing.assert_close(many.prior.means, one.prior.means, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(many.prior.variances, one.prior.variances, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(many.log_weights(), one.log_weights(), rtol=1e-5, atol=1e-5)
    # the update moved the means to S1 / S0
    torch.testing.assert_close(
        one.prior.means, by_hand.s1 / by_hand.s0[:, None], rtol=1e-4, atol=1e-4
    )


def test_free_mixture_weights_are_s0_over_n(pretrained, circles_train):
    state = copy.deepcopy(pretrained[1])
    state["config"]["mixture_weights"] = "free"
    model = CausalPIMA.from_checkpoint(state)
    _set_distinct_means(model, circles_train)
    before = model.dag.log_weights().detach().clone()
    stats = mixture_update(model, circles_train, batch_size=100)
    n = len(circles_train["image"])
    weights = model.free_log_weights.exp()
    torch.testing.assert_close(weights, stats.s0 / n, rtol=1e-5, atol=1e-7)
    assert weights.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert (weights - 1 / 8).abs().max() > 1e-3  # not the uniform initial weights
    assert torch.equal(model.log_weights(), model.free_log_weights)
    assert torch.equal(model.dag.log_weights().detach(), before)  # the DAG is not touched


def test_fit_with_free_weights_has_no_structure(pretrained, circles_train, circles_val):
    state = copy.deepcopy(pretrained[1])
    state["config"]["mixture_weights"] = "free"
    model = CausalPIMA.from_checkpoint(state)
    result = fit(model, circles_train, circles_val, FitConfig(epochs=1, batch_size=128))
    assert result["structure"] is None
    assert "temperature" not in result["history"][0]
    stats_weights = model.free_log_weights.exp()
    assert stats_weights.sum().item() == pytest.approx(1.0, abs=1e-5)


def test_evaluate_is_seeded_and_restores_global_rng(pretrained, circles_val):
    model = _clone(pretrained[1])
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    a = evaluate(model, circles_val, "standard")
    assert torch.equal(torch.rand(3), expected_next)
    b = evaluate(model, circles_val, "standard")
    assert a == b
    assert evaluate(model, circles_val, "standard", seed=1) != a


# ---------------------------------------------------------------------------- divergence
class _Poison:
    """Wraps the model's objectives so that from the first training batch after epoch ``start - 1`` the term
    ``term`` is NaN; epochs are counted by a callback."""

    def __init__(
        self, model: CausalPIMA, term: str, start_epoch: int, after_batches: int = 0
    ) -> None:
        self.model, self.term, self.start_epoch, self.after_batches = (
            model,
            term,
            start_epoch,
            after_batches,
        )
        self.completed = 0
        self.batches_in_epoch = 0
        self.snapshots: dict[int, dict] = {}
        # the objective the training loop calls: pretraining_loss, or mixture_loss when fitting
        self._objectives = {name: getattr(model, name) for name in ("pretraining_loss", "mixture_loss") if hasattr(model, name)}
        for name in self._objectives:
            setattr(model, name, lambda *args, _name=name, **kwargs: self(_name, *args, **kwargs))

    def __call__(self, name, *args, **kwargs):
        terms = self._objectives[name](*args, **kwargs)
        if self.model.training and self.completed + 1 >= self.start_epoch:
            self.batches_in_epoch += 1
            if self.batches_in_epoch > self.after_batches:
                terms = dict(terms, **{self.term: torch.tensor(float("nan"))})
        return terms

    def callback(self, record: EpochRecord) -> None:
        self.completed = record.epoch
        self.snapshots[record.epoch] = copy.deepcopy(record.model.state_dict())


@pytest.mark.parametrize("phase", ["pretraining", "fit"])
def test_nan_raises_training_diverged_with_last_good_checkpoint(
    phase, pretrained, circles_train, circles_val
):
    term = "recon_curve" if phase == "pretraining" else "prior"
    if phase == "pretraining":
        model = small_model(0)
        poison = _Poison(model, term, start_epoch=2)
        run = lambda: pretrain(model, circles_train, circles_val, PRETRAIN, [poison.callback])  # noqa: E731
    else:
        model = _clone(pretrained[1])
        poison = _Poison(model, term, start_epoch=2)
        run = lambda: fit(model, circles_train, circles_val, FIT, [poison.callback])  # noqa: E731
    with pytest.raises(TrainingDivergedError) as info:
        run()
    error = info.value
    message = str(error)
    assert phase in message and "epoch 2" in message and f"'{term}'" in message
    assert (error.phase, error.epoch, error.term) == (phase, 2, term)
    assert error.value != error.value  # NaN
    last_good = error.last_good
    assert last_good is not None and last_good["epoch"] == 1 and last_good["phase"] == phase
    assert len(last_good["history"]) == 1
    # the checkpoint holds the weights at the end of epoch 1 and loads into a working model
    for key, value in poison.snapshots[1].items():
        assert torch.equal(last_good["model"]["state_dict"][key], value), key
    restored = CausalPIMA.from_checkpoint(last_good["model"])
    terms = objective(restored, "standard" if phase == "pretraining" else "mixture")(circles_val)
    assert all(torch.isfinite(v) for v in terms.values())


def test_nan_in_first_epoch_has_no_checkpoint(circles_train, circles_val):
    model = small_model(0)
    _Poison(model, "loss", start_epoch=1)
    with pytest.raises(TrainingDivergedError, match="no epoch had completed") as info:
        pretrain(model, circles_train, circles_val, PRETRAIN)
    assert info.value.last_good is None and info.value.epoch == 1


def test_checkpoint_is_a_snapshot_not_a_view(circles_train, circles_val):
    """Regression: checkpoint() once stored ``.detach().cpu()`` views that shared storage with the
    live parameters, so an epoch's checkpoint followed later optimiser steps."""
    model = small_model(0)
    # NaN after 3 optimiser steps of epoch 2
    poison = _Poison(model, "recon_image", start_epoch=2, after_batches=3)
    with pytest.raises(TrainingDivergedError) as info:
        pretrain(model, circles_train, circles_val, PRETRAIN, [poison.callback])
    last_good = info.value.last_good
    assert last_good["epoch"] == 1
    for key, value in poison.snapshots[1].items():
        assert torch.equal(last_good["model"]["state_dict"][key], value), key


# ---------------------------------------------------------------------------- resume
class _Interrupt(Exception):
    pass


def _interrupted_fit(pretrained, train, val, config, stop_after: int, path=None):
    """Fit interrupted by a callback after ``stop_after`` epochs; its last checkpoint (read back from
    ``path`` when given, as an interrupted pipeline run would)."""
    keeper = KeepLastCheckpoint(
        on_save=(lambda state: torch.save(state, path)) if path is not None else None
    )

    def stop(record: EpochRecord) -> None:
        if record.epoch == stop_after:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        fit(_clone(pretrained[1]), train, val, config, [keeper, stop])
    assert keeper.last["epoch"] == stop_after
    if path is not None:
        return torch.load(path, weights_only=True)
    return copy.deepcopy(keeper.last)


RESUME = FitConfig(epochs=3, batch_size=64, seed=0, structure=StructureConfig(steps=100))


@pytest.fixture(scope="module")
def full_three_epochs(pretrained, circles_train, circles_val):
    model = _clone(pretrained[1])
    return fit(model, circles_train, circles_val, RESUME), copy.deepcopy(model.checkpoint())


@pytest.mark.parametrize("via_disk", [False, True])
def test_resume_reproduces_uninterrupted_fit_exactly(
    via_disk, tmp_path, full_three_epochs, pretrained, circles_train, circles_val
):
    """Regression: resume once re-seeded the shuffling generator instead of restoring its state."""
    full, final = full_three_epochs
    path = tmp_path / "fit_checkpoint.pt" if via_disk else None
    checkpoint = _interrupted_fit(
        pretrained, circles_train, circles_val, RESUME, stop_after=2, path=path
    )
    resumed_model = _clone(pretrained[1])
    resumed = fit(resumed_model, circles_train, circles_val, RESUME, resume=checkpoint)
    assert _without_seconds(resumed["history"]) == _without_seconds(full["history"])
    assert resumed["structure"].order == full["structure"].order
    for key, value in resumed_model.state_dict().items():
        assert torch.equal(value, final["state_dict"][key]), key


# ---------------------------------------------------------------------------- where the initial clusters are found


def test_clustering_points_fused_is_the_fused_latent_means(circles_train):
    model = small_model(0)
    data = modalities(circles_train)
    mu, _ = encode_dataset(model, data)
    points = prior_initialisation.clustering_points(model, data, mu, "fused")
    assert points.dtype.name == "float64"
    torch.testing.assert_close(torch.as_tensor(points), mu.double(), rtol=0, atol=0)


def test_clustering_points_stack_fused_and_each_modality_at_equal_spread(circles_train):
    """Blocks: the fused means, then each modality's own latent means (that expert with the prior
    expert alone), each centred and scaled to a mean squared distance of 1 from its mean."""
    model = small_model(0)
    data = modalities(circles_train)
    mu, _ = encode_dataset(model, data)
    points = prior_initialisation.clustering_points(model, data, mu, "fused_and_modalities")
    d = mu.shape[1]
    assert points.shape == (len(mu), d * (1 + len(model.modalities)))
    expected = [mu.double()] + [encode_dataset(model, {m: data[m]})[0].double() for m in model.modalities]
    for j, block in enumerate(expected):
        part = torch.as_tensor(points[:, j * d:(j + 1) * d])
        centred = block - block.mean(0)
        torch.testing.assert_close(part, centred / centred.pow(2).sum(1).mean().sqrt(), rtol=1e-10, atol=1e-10)
        assert float(part.pow(2).sum(1).mean()) == pytest.approx(1.0, rel=1e-12)
    # the modality blocks differ from the fused block: each expert alone places specimens elsewhere
    assert not torch.allclose(torch.as_tensor(points[:, :d]), torch.as_tensor(points[:, d:2 * d]))


def test_clustering_points_with_one_modality_and_unknown_spaces(circles_train):
    model = small_model(0)
    data = modalities(circles_train)
    mu, _ = encode_dataset(model, data)
    one = {name: data[name] for name in model.modalities[:1]}
    mu_one, _ = encode_dataset(model, one)
    torch.testing.assert_close(torch.as_tensor(prior_initialisation.clustering_points(model, one, mu_one, "fused_and_modalities")), mu_one.double(), rtol=0, atol=0)
    with pytest.raises(ValueError, match="init.cluster_on must be one of"):
        prior_initialisation.clustering_points(model, data, mu, "modalities_only")


def test_the_trainers_fused_adam_gives_the_per_tensor_loops_numbers(circles_train):
    """``epoch_loop.adam`` (foreach) is a speed choice only: two pretraining epochs of the small model
    end in bitwise the same weights as with torch's per-tensor Adam loop (the CPU default)."""
    from causal_pima.core.epoch_loop import adam, parameter_groups, train_epoch

    def weights_after(make_optimiser) -> dict[str, torch.Tensor]:
        model = small_model(0)
        optimiser = make_optimiser(parameter_groups(model, 1e-3, 2e-2, None))
        for epoch in range(2):
            train_epoch(model, optimiser, circles_train, 32, torch.Generator().manual_seed(epoch), "standard", "pretrain",
                        epoch, None, modality_dropout=0.3)
        return model.state_dict()

    fused, loop = weights_after(adam), weights_after(lambda groups: torch.optim.Adam(groups, foreach=False))
    assert adam([torch.nn.Parameter(torch.zeros(1))]).defaults["foreach"] is True
    assert fused.keys() == loop.keys() and all(torch.equal(fused[k], loop[k]) for k in fused)
