"""core.outcome_support: outcomes too rare to place and outcomes the data do not separate are named."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from causal_pima.core.mixture_update import soft_outcome_counts
from causal_pima.core.outcome_support import outcome_support, separations

from .conftest import small_model

pytestmark = pytest.mark.usefixtures("one_thread")


def test_separations_known_answer() -> None:
    means = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    variances = np.array([[1.0, 1.0], [1.0, 1.0], [3.0, 3.0]])
    distance = separations(means, variances)
    assert distance[0, 1] == pytest.approx(5.0)
    assert distance[0, 2] == pytest.approx(1.0 / np.sqrt(2.0))  # pooled variance (1 + 3) / 2 = 2
    np.testing.assert_allclose(distance, distance.T)
    np.testing.assert_allclose(np.diag(distance), 0.0)


def _placed_model(n_nodes: int = 2):
    """A small model whose components sit far apart in the latent's first dimension, except outcomes 1
    and 2 (1.5 standard deviations apart); outcome 3 sits where no specimen is (it gets no weight)."""
    model = small_model(n_nodes=n_nodes)
    with torch.no_grad():
        model.prior.means.zero_()
        model.prior.means[:, 0] = torch.tensor([0.0, 40.0, 41.5, 1e4])
        model.prior.variances.fill_(1.0)
    return model


def test_sparse_and_unseparated_outcomes_are_named(circles_train):
    model = _placed_model()
    data = {k: circles_train[k] for k in ("image", "curve")}
    counts = soft_outcome_counts(model, data).numpy()
    assert counts.sum() == pytest.approx(len(circles_train["image"]), rel=1e-6)
    # the encoder's latent means are near 0: every specimen belongs to outcome 0
    report = outcome_support(model, data, min_count=5.0, min_separation=2.0, initial_clusters=3)
    assert report["outcome_counts"] == pytest.approx(counts.tolist())
    sparse = {s["outcome"]: s for s in report["sparse_outcomes"]}
    assert set(sparse) == {1, 2, 3}
    assert sparse[3]["nodes"] == {"N0": 1, "N1": 1} and sparse[3]["count"] < 1e-6
    assert report["unseparated_pairs"] == []  # 1 and 2 are close but neither has 5 specimens
    assert report["warnings"][0].startswith("3 of 4 outcomes hold fewer than 5 training specimens")
    assert "3 (N0=1, N1=1) 0.0" in report["warnings"][0]
    assert report["warnings"][-1] == "the initial clustering found 3 clusters for 4 outcomes: 1 outcomes started without specimens"


def test_two_populated_outcomes_closer_than_the_threshold_are_a_pair(circles_train):
    model = _placed_model()
    data = {k: circles_train[k] for k in ("image", "curve")}
    with torch.no_grad():  # outcomes 0 and 1 both at the specimens, 1.5 standard deviations apart
        model.prior.means[1, 0] = 1.5
        model.dag.biases.zero_()
    report = outcome_support(model, data, min_count=5.0, min_separation=2.0)
    assert [p["outcomes"] for p in report["unseparated_pairs"]] == [[0, 1]]
    assert report["unseparated_pairs"][0]["separation"] == pytest.approx(1.5)
    assert any("outcomes 0 (N0=0, N1=0) and 1 (N0=1, N1=0) are not separated" in w for w in report["warnings"])
    assert not any("initial clustering" in w for w in report["warnings"])
