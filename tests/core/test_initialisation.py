"""Tests for core.initialisation: over-clustering, code assignment, and the named registries."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import ortho_group
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from causal_pima.core.initialisation import (
    ASSIGNERS,
    CLUSTERERS,
    additive_residual,
    assign_codes_by_pca_signs,
    assign_codes_by_pca_signs_additive,
    density_gap_distances,
    initialise_outcomes,
    kmeans_clusters,
    overcluster_and_merge,
    overcluster_and_merge_at_gaps,
)
from causal_pima.core.outcomes import joint_outcomes, outcome_index

N_NODES = 3
LATENT_DIM = 6


@pytest.fixture(autouse=True)
def single_openmp_thread():
    """k-means on 3000 points needs no threads; OpenMP's spin-waiting makes it ~50x slower when the
    test machine's cores are oversubscribed (several suites at once)."""
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def cube_blobs(
    seed: int, axis_scales: tuple[float, ...] = (1.0, 2.0, 4.0), n: int = 3000, spread: float = 0.15
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs at the corners of a scaled, randomly rotated 3-cube embedded in R^6.

    One random corner holds 1% of the points, the other seven share the rest equally. The cube's
    half-edge lengths are ``axis_scales`` (shuffled, jittered by +-10%), then a random orthogonal
    matrix embeds it in ``R^6`` and a random offset moves it away from the origin.

    Returns:
        latents ``[n, 6]`` and the true outcome index ``[n]`` of each point (bit j = cube axis j).
    """
    rng = np.random.default_rng(seed)
    n_outcomes = 2**N_NODES
    weights = np.full(n_outcomes, 0.99 / (n_outcomes - 1))
    weights[rng.integers(n_outcomes)] = 0.01
    outcome = rng.choice(n_outcomes, size=n, p=weights)
    scales = rng.permutation(np.asarray(axis_scales)) * rng.uniform(0.9, 1.1, N_NODES)
    corners = np.zeros((n_outcomes, LATENT_DIM))
    corners[:, :N_NODES] = (2.0 * joint_outcomes(N_NODES) - 1.0) * scales
    rotation = ortho_group.rvs(LATENT_DIM, random_state=seed)
    centres = corners @ rotation.T + rng.normal(0.0, 3.0, LATENT_DIM)
    latents = centres[outcome] + rng.normal(0.0, spread, (n, LATENT_DIM))
    return latents, outcome


def codes_match_up_to_symmetry(true_outcome: np.ndarray, assigned_outcome: np.ndarray) -> bool:
    """Whether a node permutation ``p`` and flips ``f`` map true bits to assigned bits for all outcomes.

    Args:
        true_outcome, assigned_outcome: ``[K]`` outcome indices, entry ``c`` for the same blob ``c``.
    """
    true_bits = joint_outcomes(N_NODES)[true_outcome]  # [K, d]
    assigned_bits = joint_outcomes(N_NODES)[assigned_outcome]
    for permutation in itertools.permutations(range(N_NODES)):
        permuted = true_bits[:, list(permutation)]
        flips = permuted[0] ^ assigned_bits[0]
        if ((permuted ^ flips) == assigned_bits).all():
            return True
    return False


def assigned_code_per_true_outcome(
    labels: np.ndarray, codes: np.ndarray, true_outcome: np.ndarray
) -> np.ndarray:
    """``[K]`` assigned code of the cluster holding (most of) each true outcome."""
    n_outcomes = 2**N_NODES
    majority = [
        np.bincount(labels[true_outcome == k], minlength=n_outcomes).argmax()
        for k in range(n_outcomes)
    ]
    return codes[np.asarray(majority)]


@pytest.mark.parametrize("seed", range(5))
def test_overcluster_merge_and_pca_signs_recover_rotated_cube(seed: int) -> None:
    latents, true_outcome = cube_blobs(seed)
    labels = overcluster_and_merge(latents, 2**N_NODES, seed=seed)
    assert adjusted_rand_score(true_outcome, labels) == 1.0
    gap_labels = overcluster_and_merge_at_gaps(latents, 2**N_NODES, seed=seed)
    assert adjusted_rand_score(true_outcome, gap_labels) == 1.0

    codes = assign_codes_by_pca_signs(latents, labels, N_NODES)
    assert sorted(codes.tolist()) == list(range(2**N_NODES))
    per_outcome = assigned_code_per_true_outcome(labels, codes, true_outcome)
    assert codes_match_up_to_symmetry(np.arange(2**N_NODES), per_outcome)


def test_initialise_outcomes_end_to_end() -> None:
    latents, true_outcome = cube_blobs(seed=11)
    result = initialise_outcomes(latents, N_NODES, seed=11)
    assert adjusted_rand_score(true_outcome, result.outcome) == 1.0
    assert result.cluster_sizes.sum() == latents.shape[0]
    assert result.cluster_sizes.shape == (2**N_NODES,)
    # the rare corner (1% of 3000) survives as its own outcome
    assert result.smallest_count == np.bincount(true_outcome).min()
    assert 15 <= result.smallest_count <= 50
    same = initialise_outcomes(latents, N_NODES, seed=11)
    np.testing.assert_array_equal(result.outcome, same.outcome)


def test_plain_kmeans_runs() -> None:
    """Baseline only: returns K labels; it is allowed to merge the rare corner (not asserted)."""
    latents, _ = cube_blobs(seed=0)
    labels = kmeans_clusters(latents, 2**N_NODES, seed=0)
    assert labels.shape == (latents.shape[0],)
    assert set(labels.tolist()) == set(range(2**N_NODES))
    result = initialise_outcomes(latents, N_NODES, clusterer="kmeans", seed=0)
    assert result.outcome.shape == (latents.shape[0],)


@pytest.mark.parametrize("seed", [4, 20, 34])
def test_additive_assigner_fixes_close_axis_scales(seed: int) -> None:
    """With similar axis spreads (1, 1.5, 2.25) the plain PCA-sign rule fails on these seeds; the
    additive polish recovers the cube (and reaches a near-zero additive residual)."""
    latents, true_outcome = cube_blobs(seed, axis_scales=(1.0, 1.5, 2.25))
    labels = overcluster_and_merge(latents, 2**N_NODES, seed=seed)
    assert adjusted_rand_score(true_outcome, labels) == 1.0

    plain = assign_codes_by_pca_signs(latents, labels, N_NODES)
    polished = assign_codes_by_pca_signs_additive(latents, labels, N_NODES)
    assert not codes_match_up_to_symmetry(
        np.arange(2**N_NODES), assigned_code_per_true_outcome(labels, plain, true_outcome)
    )
    assert codes_match_up_to_symmetry(
        np.arange(2**N_NODES), assigned_code_per_true_outcome(labels, polished, true_outcome)
    )
    centres = np.stack([latents[labels == c].mean(axis=0) for c in range(2**N_NODES)])
    standardised = (centres - latents.mean(axis=0)) / latents.std(axis=0)
    assert additive_residual(standardised, polished, N_NODES) < 1e-3
    assert additive_residual(standardised, plain, N_NODES) > 1e-2


def test_duplicate_signs_are_resolved_to_a_permutation() -> None:
    """A cluster pulled into another's octant duplicates a sign code; Hungarian matching still gives
    every cluster a distinct code and keeps the unambiguous ones."""
    rng = np.random.default_rng(0)
    centres = (2.0 * joint_outcomes(N_NODES) - 1.0) * [3.0, 2.0, 1.0]
    centres[1] = [-2.0, -1.5, -0.5]  # outcome 1 moved into outcome 0's octant
    labels = np.repeat(np.arange(8), 50)
    latents = centres[labels] + rng.normal(0.0, 0.05, (labels.size, N_NODES))

    standardised = (latents - latents.mean(axis=0)) / latents.std(axis=0)
    centre_projections = PCA(n_components=N_NODES).fit_transform(
        np.stack([standardised[labels == c].mean(axis=0) for c in range(8)])
    )
    sign_codes = outcome_index((centre_projections > 0).astype(np.int64))
    assert len(set(sign_codes.tolist())) < 8  # precondition: the plain signs collide

    codes = assign_codes_by_pca_signs(latents, labels, N_NODES)
    assert sorted(codes.tolist()) == list(range(8))
    unique_sign = np.array([(sign_codes == code).sum() == 1 for code in sign_codes])
    np.testing.assert_array_equal(codes[unique_sign], sign_codes[unique_sign])


def test_unknown_names_raise() -> None:
    latents, _ = cube_blobs(seed=0, n=200)
    with pytest.raises(ValueError, match="clusterer 'dbscan'.*kmeans.*overcluster_merge"):
        initialise_outcomes(latents, N_NODES, clusterer="dbscan")
    with pytest.raises(ValueError, match="assigner 'magic'.*pca_signs"):
        initialise_outcomes(latents, N_NODES, assigner="magic")
    assert set(CLUSTERERS) == {"overcluster_gap", "overcluster_merge", "kmeans", "hdbscan"}
    assert {"pca_signs", "pca_signs_additive", "observation_means", "cube_length"} <= set(ASSIGNERS)


def test_assigner_rejects_missing_cluster() -> None:
    latents, _ = cube_blobs(seed=0, n=200)
    labels = np.zeros(latents.shape[0], dtype=np.int64)
    with pytest.raises(ValueError, match="every cluster"):
        assign_codes_by_pca_signs(latents, labels, N_NODES)


def test_observation_means_codes_follow_the_data_where_the_latent_bends_a_feature():
    """Clusters of a 2-feature toy whose latent geometry is an XOR-like twist of the features,
    while the observations move additively: the latent rule picks a wrong code, the data rule the right one."""
    from causal_pima.core.initialisation import (
        assign_codes_by_observation_means,
        assign_codes_by_pca_signs_additive,
        observation_centres,
    )

    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(4), 50)  # outcome = a + 2 b
    a, b = truth & 1, truth >> 1
    # image-like modality: a moves 64 values, b another 64; curve-like: b moves 4 of 8 values
    image = np.concatenate([np.outer(a, np.ones(64)), np.outer(b, np.ones(64))], axis=1)
    curve = np.outer(b, np.r_[np.ones(4), np.zeros(4)])
    observations = {"image": image + 0.01 * rng.normal(size=image.shape), "curve": curve + 0.01 * rng.normal(size=curve.shape)}
    # latent: b's displacement flips direction with a (a bent, non-additive geometry)
    latents = np.stack([a * 3.0, np.where(a == 1, -1.0, 1.0) * b * 2.0], axis=1) + 0.01 * rng.normal(size=(200, 2))
    labels = truth.copy()  # perfect clusters, cluster index = true outcome
    centres = observation_centres(observations, labels, 4)
    assert centres.shape == (4, 64 * 2 + 8)
    for name, width in (("curve", 8), ("image", 128)):  # every modality has the same total spread
        block = centres[:, :width] if name == "curve" else centres[:, 8:]
        assert float((block**2).sum()) == pytest.approx(1.0)
    def nodes_are_features(codes: np.ndarray) -> bool:
        """Each node equals one feature on every cluster (up to naming and a flip of its meaning)."""
        decoded = np.array([[c & 1, c >> 1] for c in codes])
        true_bits = np.array([[k & 1, k >> 1] for k in range(4)])
        return all(
            any(np.array_equal(decoded[:, n], true_bits[:, f]) or np.array_equal(decoded[:, n], 1 - true_bits[:, f]) for f in range(2))
            for n in range(2)
        )

    assert nodes_are_features(assign_codes_by_observation_means(latents, labels, 2, observations=observations))
    # the latent rule reads the bent geometry as an XOR-like node (b XOR a)
    assert not nodes_are_features(assign_codes_by_pca_signs_additive(latents, labels, 2))
    with pytest.raises(ValueError, match="needs the specimens' observations"):
        assign_codes_by_observation_means(latents, labels, 2)


def two_bars_and_a_rare_blob(seed: int, n: int = 1500, m: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Two long parallel bars (12 x ~0.8, 3 apart) and a rare blob of ``m`` points between them.

    The bars' k-means pieces are up to 12 apart while the blob's centre is 1.5 from the nearest
    pieces, so merging by the centres' positions glues the blob to the bars' middles; the empty
    space around the blob is what separates it.
    """
    rng = np.random.default_rng(seed)
    bar_a = np.column_stack([rng.uniform(0.0, 12.0, n), rng.normal(0.0, 0.2, n)])
    bar_b = np.column_stack([rng.uniform(0.0, 12.0, n), rng.normal(3.0, 0.2, n)])
    blob = rng.normal([6.0, 1.5], 0.15, (m, 2))
    return np.concatenate([bar_a, bar_b, blob]), np.repeat([0, 1, 2], [n, n, m])


@pytest.mark.parametrize("seed", range(3))
def test_gap_merge_keeps_a_rare_blob_that_centre_linkage_merges(seed: int) -> None:
    latents, truth = two_bars_and_a_rare_blob(seed)
    # oversample 6: enough k-means pieces that the 60-point blob gets one of its own
    assert adjusted_rand_score(truth, overcluster_and_merge_at_gaps(latents, 3, 6, seed)) == 1.0
    assert adjusted_rand_score(truth, overcluster_and_merge(latents, 3, 6, seed)) < 0.2


def test_density_gap_distances_known_answers() -> None:
    """Two halves of one uniform bar: no dip (distance 0); two blobs 10 sd apart: empty middle (1);
    clusters that are not among each other's nearest centres: 1 (not compared)."""
    rng = np.random.default_rng(0)
    bar = np.column_stack([rng.uniform(0.0, 4.0, 4000), rng.uniform(0.0, 0.5, 4000)])
    halves = (bar[:, 0] >= 2.0).astype(np.int64)
    far = rng.normal([20.0, 0.25], 0.1, (500, 2))
    latents = np.concatenate([bar, far])
    labels = np.concatenate([halves, np.full(500, 2)])
    centres = np.stack([latents[labels == c].mean(axis=0) for c in range(3)])
    distances = density_gap_distances(latents, labels, centres)
    assert distances.shape == (3, 3)
    np.testing.assert_array_equal(np.diag(distances), 0.0)
    np.testing.assert_array_equal(distances, distances.T)
    assert distances[0, 1] == 0.0  # middle window (bar's x in 1.8..2.2) as dense as the ends
    assert distances[1, 2] == 1.0  # nothing between x = 3 and x = 20
    only_nearest = density_gap_distances(latents, labels, centres, n_neighbours=1)
    assert only_nearest[0, 2] == 1.0 and only_nearest[0, 1] == 0.0
