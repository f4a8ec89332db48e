"""Tests for core.cube_codes: the cube length, its exchange gains, and codes recovered as the shortest cube."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from causal_pima.core.cube_codes import (
    _exchange_gains,
    complete_cube,
    cube_edges,
    cube_length,
    cube_neighbours,
    shortest_cube_coding,
    subcube_symmetries,
)
from causal_pima.core.initialisation import _pca_sign_codes
from causal_pima.core.outcomes import joint_outcomes


def same_coding(codes: np.ndarray, true_codes: np.ndarray, n_nodes: int) -> bool:
    """True when the learned codes equal the true ones up to renaming and flipping nodes."""
    learned, true = joint_outcomes(n_nodes)[codes], joint_outcomes(n_nodes)[true_codes]
    agreement = np.array([[max(np.mean(learned[:, i] == true[:, j]), np.mean(learned[:, i] != true[:, j]))
                           for j in range(n_nodes)] for i in range(n_nodes)])
    rows, cols = linear_sum_assignment(-agreement)
    return bool(np.all(agreement[rows, cols] == 1.0))


def additive_cube(n_nodes: int, seed: int, dim: int = 12, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Centres ``c + sum_j n_kj delta_j`` of every outcome with random (non-orthogonal) effects of sizes
    0.5 to 2, shuffled: returns the centres ``[K, dim]`` and the true code of each."""
    rng = np.random.default_rng(seed)
    deltas = rng.normal(size=(n_nodes, dim)) * rng.uniform(0.5, 2.0, size=(n_nodes, 1))
    centres = rng.normal(size=dim) + joint_outcomes(n_nodes) @ deltas + noise * rng.normal(size=(2**n_nodes, dim))
    order = rng.permutation(2**n_nodes)
    return centres[order], order


def test_edges_and_neighbours_are_the_cube() -> None:
    for n_nodes in (1, 3, 5):
        edges = cube_edges(n_nodes)
        assert edges.shape == (n_nodes * 2 ** (n_nodes - 1), 2)
        flips = edges[:, 0] ^ edges[:, 1]
        assert all(bin(int(f)).count("1") == 1 for f in flips)  # every edge flips one bit
        assert len({tuple(e) for e in edges.tolist()}) == len(edges)
        neighbours = cube_neighbours(n_nodes)
        assert neighbours.shape == (2**n_nodes, n_nodes)
        assert np.array_equal(np.sort(neighbours, axis=1), np.sort(neighbours, axis=1))
        assert all(bin(v ^ int(u)).count("1") == 1 for v in range(2**n_nodes) for u in neighbours[v])


def test_exchange_gains_equal_the_change_of_the_cube_length() -> None:
    """The vectorised gain of every exchange equals the length after it minus the length before (exact)."""
    rng = np.random.default_rng(0)
    n_nodes = 4
    points = rng.normal(size=(16, 3))
    costs = ((points[:, None] - points[None]) ** 2).sum(-1)
    placement = rng.permutation(16)
    edges, gains = cube_edges(n_nodes), _exchange_gains(placement, costs, cube_neighbours(n_nodes))
    before = cube_length(placement, costs, edges)
    for u, w in itertools.combinations(range(16), 2):
        swapped = placement.copy()
        swapped[[u, w]] = swapped[[w, u]]
        assert gains[u, w] == pytest.approx(cube_length(swapped, costs, edges) - before, abs=1e-9)
        assert gains[w, u] == pytest.approx(gains[u, w], abs=1e-12)


def test_subcube_symmetries_are_permutations_that_keep_every_subcube_edge() -> None:
    """Each move permutes the codes; inside the sub-cube it acts on, cube edges map to cube edges."""
    moves = subcube_symmetries(4)
    assert len(moves) > 0
    edges = {tuple(sorted(e)) for e in cube_edges(4).tolist()}
    for move in moves:
        assert sorted(move.tolist()) == list(range(16))
        changed = np.flatnonzero(move != np.arange(16))
        assert 0 < len(changed) < 16  # a proper sub-cube, never the whole cube
        for a, b in itertools.combinations(changed, 2):
            if tuple(sorted((a, b))) in edges:
                assert tuple(sorted((int(move[a]), int(move[b])))) in edges


def test_true_coding_is_shorter_than_an_xor_recoding() -> None:
    """Recoding (x0, x1) as (x0, x0 xor x1) replaces x1's edges by edges that flip two features."""
    centres, _ = additive_cube(3, seed=1)
    order = np.argsort(additive_cube(3, seed=1)[1])  # cluster at each true code
    costs = ((centres[:, None] - centres[None]) ** 2).sum(-1)
    bits = joint_outcomes(3)
    recoded = bits.copy()
    recoded[:, 1] = bits[:, 0] ^ bits[:, 1]
    xor_placement = order[np.argsort(recoded @ (1 << np.arange(3)))]
    assert cube_length(order, costs, cube_edges(3)) < cube_length(xor_placement, costs, cube_edges(3))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_codes_of_an_exact_additive_cube_at_d5_from_random_starts(seed: int) -> None:
    centres, true_codes = additive_cube(5, seed)
    coding = shortest_cube_coding(centres, 5, n_random_starts=2, seed=seed)
    assert same_coding(coding.codes, true_codes, 5)
    assert coding.length == pytest.approx(cube_length(np.argsort(true_codes), ((centres[:, None] - centres[None]) ** 2).sum(-1), cube_edges(5)))


def test_codes_of_an_exact_additive_cube_at_d8() -> None:
    """256 clusters in random order, orthogonal effects of sizes 0.5 to 2 rotated into R^12: the
    principal components' signs (the assigner's start) and the search keep the true coding, and the
    shortest coding from the matching construction alone is the true one too."""
    rng = np.random.default_rng(3)
    n_nodes, dim = 8, 12
    directions = np.linalg.qr(rng.normal(size=(dim, n_nodes)))[0].T  # [8, 12] orthonormal
    deltas = directions * np.linspace(0.5, 2.0, n_nodes)[rng.permutation(n_nodes), None]
    order = rng.permutation(2**n_nodes)
    centres = (joint_outcomes(n_nodes) @ deltas)[order]
    start = _pca_sign_codes(centres, n_nodes)
    coding = shortest_cube_coding(centres, n_nodes, starts=[start], n_random_starts=0, seed=0)
    assert same_coding(coding.codes, order, n_nodes)
    assert coding.length == pytest.approx(2**7 * float((deltas**2).sum()))  # each feature's 128 edges


def test_codes_of_a_cube_with_interactions_and_noise() -> None:
    """Effects that change with the context (each feature's move scaled 0.6-1.4 by the others) and noise:
    not additive, but single flips still move the points less than double flips."""
    rng = np.random.default_rng(7)
    n_nodes, dim = 5, 10
    bits = joint_outcomes(n_nodes).astype(float)
    deltas = rng.normal(size=(n_nodes, dim))
    scale = 1.0 + 0.4 * np.tanh(bits @ rng.normal(size=(n_nodes, n_nodes)))  # [K, d] context-dependent
    centres = (bits * scale) @ deltas + 0.05 * rng.normal(size=(32, dim))
    order = rng.permutation(32)
    coding = shortest_cube_coding(centres[order], n_nodes, seed=0)
    assert same_coding(coding.codes, order, n_nodes)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_clusters_fewer_than_outcomes_leave_holes_where_the_outcomes_are_missing(seed: int) -> None:
    """Orthogonal effects of sizes 0.5 to 2 and a little noise, two outcomes without a cluster: the 14
    clusters get their true codes and the holes sit where the missing outcomes are."""
    rng = np.random.default_rng(seed)
    n_nodes = 4
    deltas = np.linalg.qr(rng.normal(size=(12, n_nodes)))[0].T * rng.uniform(0.5, 2.0, size=(n_nodes, 1))
    order = rng.permutation(16)
    centres = (joint_outcomes(n_nodes) @ deltas + 0.02 * rng.normal(size=(16, 12)))[order]
    keep = np.ones(16, dtype=bool)
    keep[rng.choice(16, 2, replace=False)] = False
    coding = shortest_cube_coding(centres[keep], n_nodes, seed=0)
    assert len(set(coding.codes.tolist())) == 14
    assert same_coding(coding.codes, order[keep], n_nodes)


def test_complete_cube_puts_each_hole_at_the_mean_of_its_neighbours() -> None:
    rng = np.random.default_rng(2)
    points = rng.normal(size=(16, 3))
    present = np.ones(16, dtype=bool)
    present[[0, 5]] = False  # not neighbours (0 = 0000, 5 = 0101)
    filled = complete_cube(np.where(present[:, None], points, np.nan), present, 4)
    np.testing.assert_array_equal(filled[present], points[present])
    for hole in (0, 5):
        np.testing.assert_allclose(filled[hole], points[cube_neighbours(4)[hole]].mean(axis=0), atol=1e-12)
    # neighbouring holes: the one filled second counts the first as known
    present[1] = False  # 1 = 0001 neighbours 0 and 5
    filled = complete_cube(np.where(present[:, None], points, np.nan), present, 4)
    assert np.all(np.isfinite(filled))


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="1 to 2\\*\\*n_nodes = 8 cluster centres"):
        shortest_cube_coding(np.zeros((9, 2)), 3)
    with pytest.raises(ValueError, match="distinct code"):
        shortest_cube_coding(np.zeros((8, 2)), 3, starts=[np.zeros(8, dtype=int)])
    with pytest.raises(ValueError, match="at least one known point"):
        complete_cube(np.zeros((4, 2)), np.zeros(4, dtype=bool), 2)
