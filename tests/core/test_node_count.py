"""The node-count criterion on known mixtures (core/node_count.py; docs/model.md "How many features")."""

import itertools

import numpy as np
import pytest
import torch

from causal_pima.core.node_count import (
    candidate_node_counts,
    choose_node_count,
    one_gaussian_scores,
    shared_space_scores,
)

LATENT_DIM = 4


def factorial_latents(n: int, d: int, seed: int, separation: float = 6.0):
    """``n`` posteriors (means, variances 0.05) of a 2**d mixture with factorial means: feature j moves
    latent dim j by ``separation``; features independent, P(N_j = 1) = 0.5. Returns labels too."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=(n, d))
    means = np.zeros((n, LATENT_DIM))
    means[:, :d] = separation * labels
    mu = means + rng.normal(size=(n, LATENT_DIM))
    var = np.full((n, LATENT_DIM), 0.05)
    return torch.tensor(mu), torch.tensor(var), labels


def candidate_gamma(labels: np.ndarray, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A candidate with ``d`` nodes: the first ``min(d, m)`` true features, and for d > m extra nodes that
    are fair coins (they cut every true cluster in two at random). Hard responsibilities ``[N, 2**d]`` and
    the log weights of the candidate's outcome frequencies."""
    rng = np.random.default_rng(seed)
    bits = labels[:, :d]
    if d > labels.shape[1]:
        bits = np.hstack([bits, rng.integers(0, 2, size=(len(labels), d - labels.shape[1]))])
    index = (bits * (1 << np.arange(d))).sum(1)
    gamma = np.zeros((len(labels), 2**d))
    gamma[np.arange(len(labels)), index] = 1.0
    frequency = (gamma.sum(0) + 1e-3) / (len(labels) + 1e-3 * 2**d)
    return torch.tensor(gamma), torch.tensor(np.log(frequency))


def scores_by_d(true_d: int, candidates, seed: int = 0):
    train_mu, train_var, train_labels = factorial_latents(2000, true_d, seed)
    val_mu, val_var, _ = factorial_latents(600, true_d, seed + 100)
    scores = {}
    for d in candidates:
        gamma, log_w = candidate_gamma(train_labels, d, seed + d)
        scores[d] = shared_space_scores(gamma, train_mu, train_var, val_mu, val_var, log_w).numpy()
    return scores, one_gaussian_scores(train_mu, train_var, val_mu, val_var).numpy()


@pytest.mark.parametrize("true_d", [2, 3])
def test_a_factorial_mixture_gets_its_number_of_features(true_d):
    scores, reference = scores_by_d(true_d, range(1, 5))
    choice = choose_node_count(scores, reference=reference)
    assert choice.chosen == true_d
    table = choice.table.set_index("n_nodes")
    # each true feature is a large, significant step: merging two clusters 6 sd apart
    for d in range(1, true_d + 1):
        assert table.loc[d, "step"] > 10 * table.loc[d, "step_se"] and table.loc[d, "substantial"]
    # a node that only cuts clusters in two at random explains held-out data no better
    for d in range(true_d + 1, 5):
        assert abs(table.loc[d, "score"] - table.loc[true_d, "score"]) < 0.05 and not table.loc[d, "substantial"]
    assert not table.loc[0, "eligible"] and not table.loc[0, "chosen"]
    assert list(choice.table["n_nodes"]) == [0, 1, 2, 3, 4]
    assert choice.warnings == []


def test_one_gaussian_chooses_the_smallest_candidate_and_says_no_feature_stands_out():
    scores, reference = scores_by_d(0, range(1, 4))
    choice = choose_node_count(scores, reference=reference)
    assert choice.chosen == 1
    assert any("no binary feature stands out" in w for w in choice.warnings)
    # with features present there is no such warning
    scores, reference = scores_by_d(2, range(1, 4))
    assert not any("stands out" in w for w in choose_node_count(scores, reference=reference).warnings)


def test_shared_space_scores_of_one_component_are_the_exact_gaussian_prior_term():
    """One component: the score is -KL(q || N(m, S)) with m, S the moment estimates of the training
    posteriors (S = mean(var + mu^2) - m^2), computed here by hand."""
    rng = np.random.default_rng(3)
    train_mu, train_var = rng.normal(size=(50, 2)), rng.uniform(0.1, 0.5, size=(50, 2))
    val_mu, val_var = rng.normal(size=(7, 2)), rng.uniform(0.1, 0.5, size=(7, 2))
    m = train_mu.mean(0)
    s = (train_var + train_mu**2).mean(0) - m**2
    kl = 0.5 * (np.log(s / val_var) + (val_var + (val_mu - m) ** 2) / s - 1).sum(1)
    got = one_gaussian_scores(*(torch.tensor(a) for a in (train_mu, train_var, val_mu, val_var))).numpy()
    np.testing.assert_allclose(got, -kl, rtol=1e-10)


def _centred(rng, n: int, sd: float) -> np.ndarray:
    noise = rng.normal(size=n)
    return sd * (noise - noise.mean()) / noise.std(ddof=1)  # mean exactly 0, sd exactly sd


def test_the_largest_substantial_step_wins_and_every_candidate_is_listed():
    """Known answer (means and standard errors exact by construction, 400 specimens): steps of 2.0, 5.0,
    then 0.8 (significant: se 0.05, but under a quarter of 5.0), a skipped d = 4 and a poor fit at d = 5
    below d = 3; d = 6 steps 1.6 over the best smaller candidate (d = 3), not over the poor d = 5."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=400)
    scores = {1: base + 2.0, 2: base + 7.0 + _centred(rng, 400, 1.0), 3: base + 7.8 + _centred(rng, 400, 1.0), 4: None,
              5: base + 5.0, 6: base + 9.4 + _centred(rng, 400, 1.0)}
    choice = choose_node_count(scores, notes={4: "not fitted: too few specimens"}, reference=base)
    table = choice.table.set_index("n_nodes")
    assert table.loc[1, "step"] == pytest.approx(2.0) and table.loc[2, "step"] == pytest.approx(5.0)
    assert table.loc[3, "step"] == pytest.approx(0.8) and table.loc[6, "step"] == pytest.approx(1.6)
    assert table.loc[5, "step"] == pytest.approx(-2.8)
    assert list(table["substantial"]) == [False, True, True, False, False, False, True]
    assert choice.chosen == 6  # the largest substantial step, although d = 3 and d = 5 are not
    assert table.loc[4, "note"] == "not fitted: too few specimens" and not table.loc[4, "eligible"]
    assert np.isnan(table.loc[4, "score"])
    # a larger share required: only the 5.0 step counts
    assert choose_node_count(scores, reference=base, step_share=0.5).chosen == 2
    with pytest.raises(ValueError, match="no candidate node count could be scored: d = 1: collapsed"):
        choose_node_count({1: None}, notes={1: "collapsed"})


def test_a_step_just_under_the_share_is_named_in_a_warning():
    rng = np.random.default_rng(1)
    base = rng.normal(size=300)
    choice = choose_node_count({1: base + 4.0, 2: base + 8.0, 3: base + 8.0 + 0.7 + _centred(rng, 300, 0.5)}, reference=base)
    assert choice.chosen == 2  # 0.7 < 0.25 x 4.0 = 1.0, though 0.7 is 24 standard errors
    assert any("not clear-cut: d = 3 gain(s) at least half the 1.000 nats" in w for w in choice.warnings)


@pytest.mark.parametrize(("params", "expected"), [
    ({"prior": {"n_nodes": 3}}, ()),
    ({"prior": {"n_nodes": None}}, ()),
    ({"prior": {"n_nodes": "auto"}}, (1, 2, 3, 4, 5, 6)),
    ({"prior": {"n_nodes": "auto"}, "node_count": {"d_min": 2, "d_max": 4}}, (2, 3, 4)),
    ({"prior": {"n_nodes": "auto"}, "node_count": {"d_min": 4, "d_max": 2}}, (1, 2, 3, 4, 5, 6)),  # refused before the run
    ({"prior": {"n_nodes": "auto"}, "node_count": {"d_min": "x"}}, (1, 2, 3, 4, 5, 6)),
    (None, ()),
])
def test_candidate_node_counts(params, expected):
    assert candidate_node_counts(params) == expected


def test_every_candidate_score_is_a_proper_mixture_log_density_bound():
    """Scores of a candidate never exceed those of the same outcomes with the true (training) weights
    by more than the weights' log ratio: a sanity check of the log-sum-exp over components."""
    train_mu, train_var, labels = factorial_latents(500, 2, 5)
    val_mu, val_var, _ = factorial_latents(100, 2, 6)
    gamma, log_w = candidate_gamma(labels, 2, 0)
    uniform = torch.full_like(log_w, -np.log(4.0))
    a = shared_space_scores(gamma, train_mu, train_var, val_mu, val_var, log_w).numpy()
    b = shared_space_scores(gamma, train_mu, train_var, val_mu, val_var, uniform).numpy()
    assert np.all(np.abs(a - b) <= float((log_w - uniform).abs().max()) + 1e-9)
    for perm in itertools.permutations(range(4)):  # the outcomes' order does not matter
        permuted = shared_space_scores(gamma[:, list(perm)], train_mu, train_var, val_mu, val_var, log_w[list(perm)]).numpy()
        np.testing.assert_allclose(permuted, a, rtol=1e-10)
