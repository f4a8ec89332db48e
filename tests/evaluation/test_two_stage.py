"""Known-answer tests for the two-stage baseline (k-means codes, then exact BIC search)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from causal_pima.core.outcomes import joint_outcomes, outcome_index
from causal_pima.data.scm import BinarySCM
from causal_pima.evaluation import cpdag_shd, match_nodes
from causal_pima.evaluation.two_stage import (
    TwoStageResult,
    cluster_codes,
    learned_dag_record,
    predict_outcomes,
    two_stage_structure,
)

COLLIDER = BinarySCM(
    {"a": [], "b": [], "c": ["a", "b"]},
    {"a": [0.5], "b": [0.4], "c": [0.1, 0.6, 0.7, 0.95]},
)


def cube_latents(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Node values from the collider and latents = well-separated blobs at the corners of a 3-cube in D = 5."""
    rng = np.random.default_rng(seed)
    values = COLLIDER.sample(n, rng).to_numpy().astype(int)  # [N, 3]
    directions = np.array(
        [
            [3.0, 1.0, 0.0, 0.5, 0.0],
            [0.0, 4.0, -1.0, 0.0, 1.0],
            [1.0, 0.0, 0.0, 5.0, -2.0],
        ]
    )  # corner k sits at sum_j n_kj * directions[j]: a scaled, sheared cube
    latents = (2 * values - 1) @ directions + 0.15 * rng.standard_normal((n, 5))
    return values, latents


def test_two_stage_recovers_codes_and_collider():
    values, latents = cube_latents()
    result = two_stage_structure(latents, 3, seed=0)
    assert isinstance(result, TwoStageResult)
    np.testing.assert_array_equal(result.codes, joint_outcomes(3)[result.outcome])
    matching = match_nodes(result.codes, values)
    assert all(acc == 1.0 for acc in matching.accuracy.values())
    mapped = np.zeros((3, 3), dtype=int)
    for i, j in zip(*np.nonzero(result.adjacency), strict=True):
        mapped[matching.node_to_feature[int(i)], matching.node_to_feature[int(j)]] = 1
    assert cpdag_shd(COLLIDER.adjacency(), mapped) == 0
    assert result.adjacency.sum() == 2
    assert set(result.tables) == {0, 1, 2}
    # deterministic for a fixed seed
    again = two_stage_structure(latents, 3, seed=0)
    np.testing.assert_array_equal(again.outcome, result.outcome)
    assert again.bic == result.bic


def test_cluster_codes_validates_assigner_and_covers_outcomes():
    values, latents = cube_latents(n=800, seed=1)
    outcome = cluster_codes(latents, 3, assigner="pca_signs")
    assert outcome.shape == (800,)
    assert sorted(np.unique(outcome)) == list(range(8))
    with pytest.raises(ValueError, match="unknown assigner"):
        cluster_codes(latents, 3, assigner="nope")


def test_predict_outcomes_nearest_centroid():
    train = np.array([[0.0, 0.0], [2.0, 0.0], [9.0, 0.0], [9.0, 2.0], [0.0, 10.0]])
    train_outcome = np.array([5, 5, 2, 2, 7])  # centroids: 5 -> (1, 0), 2 -> (9, 1), 7 -> (0, 10)
    test = np.array([[1.0, 1.0], [8.0, -1.0], [0.5, 8.0], [5.0, 0.5]])
    # the last point is exactly equidistant from outcomes 5 and 2: the smaller outcome index wins
    np.testing.assert_array_equal(predict_outcomes(train, train_outcome, test), [5, 2, 7, 2])
    with pytest.raises(ValueError, match="train_outcome"):
        predict_outcomes(train, train_outcome[:3], test)


def test_predict_outcomes_on_cube_test_split():
    values, latents = cube_latents()
    result = two_stage_structure(latents[:3000], 3)
    predicted = predict_outcomes(latents[:3000], result.outcome, latents[3000:])
    # same labelling as on the training split: compare outcome -> true outcome mapping
    train_pairs = set(
        zip(result.outcome.tolist(), outcome_index(values[:3000]).tolist(), strict=True)
    )
    test_pairs = set(zip(predicted.tolist(), outcome_index(values[3000:]).tolist(), strict=True))
    assert len(train_pairs) == 8
    assert test_pairs <= train_pairs


def test_learned_dag_record_layout_and_scm_roundtrip():
    values, latents = cube_latents(n=2000)
    result = two_stage_structure(latents, 3)
    record = learned_dag_record(result)
    assert {
        "node_names",
        "mixture_weights",
        "adjacency",
        "edges",
        "conditional_probability_tables",
    } <= set(record)
    assert record["node_names"] == ["N0", "N1", "N2"]
    assert record["mixture_weights"] == "dag"
    np.testing.assert_array_equal(np.array(record["adjacency"]), result.adjacency.astype(float))
    assert all(isinstance(x, float) for row in record["adjacency"] for x in row)
    assert len(record["edges"]) == int(result.adjacency.sum())
    for edge in record["edges"]:
        assert set(edge) == {"from", "to", "strength"} and edge["strength"] == 1.0
        assert result.adjacency[int(edge["from"][1:]), int(edge["to"][1:])] == 1
    json.dumps(record)  # JSON-ready
    cpts = record["conditional_probability_tables"]
    scm = BinarySCM(
        {k: v["parents"] for k, v in cpts.items()}, {k: v["p_one"] for k, v in cpts.items()}
    )
    np.testing.assert_array_equal(scm.adjacency(), result.adjacency)
    assert BinarySCM.from_config(cpts).to_config() == cpts
    for j, (parents, table) in result.tables.items():
        assert cpts[f"N{j}"]["parents"] == [f"N{p}" for p in parents]
        np.testing.assert_allclose(cpts[f"N{j}"]["p_one"], table)
