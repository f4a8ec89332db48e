"""Codes of clusters as the shortest embedding of the hypercube (docs/model.md "Initial clusters and their codes").

A coding puts the ``K = 2**d`` clusters on the vertices of the ``d``-cube: cluster ``p[v]`` gets the code
(outcome index) ``v``. Its *cube length* is the sum, over the ``d 2**(d-1)`` cube edges ``(u, v)`` (codes
that differ in one bit), of the squared distance between the two clusters' centres. The coding
chosen is the one of least cube length.

Why this identifies the features. Write the centres of a coding in the Walsh basis of the cube (the
characters ``chi_S(v) = (-1)^{sum_{j in S} v_j}``, eigenvectors of the cube's Laplacian with eigenvalue
``2 |S|``): the cube length is ``sum_S |S| E_S`` up to a constant factor, with ``E_S`` the energy of the
centres on ``chi_S``, while ``sum_S E_S`` is the same for every coding. So the shortest coding puts the
centres' spread on the lowest orders: main effects first, pairwise interactions paid twice, three-way
three times. When each feature moves the centres by ``delta_j`` and the features' moves are roughly
orthogonal, the cube length of a coding is ``sum_j |delta_j|^2 B_j`` with ``B_j`` the number of cube
edges along which the coding's bit ``j`` changes; ``{bit j = 1}`` is half the cube, and by the edge
isoperimetric inequality of the cube no half has fewer than ``2**(d-1)`` boundary edges, with equality
only for the half-cubes ``{v_i = c}``. The true coding (up to renaming and flipping nodes) is the
unique minimiser, whatever the sizes of the effects. Unlike an additive fit it does not need the
effects to be additive: a recoding such as ``(x1, x1 xor x2)`` replaces ``x1``'s edges by edges that
flip two features, which are longer whenever flipping two features moves the data further than
flipping one.

The search is a quadratic assignment problem. It runs a tabu search over exchanges of two clusters
(each step takes the best exchange that is not tabu), then tries every automorphism of a small
sub-cube (flipping one bit, or any symmetry of the square of two bits, inside each sub-cube that
fixes up to two other bits): the local optima of exchanges alone are mostly such sub-cube
symmetries (two features exchanged inside one half of the cube). Both repeat until neither
improves. Starts: the given codes and seeded random permutations; the shortest result wins.

Plain numpy; deterministic for a given seed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from causal_pima.core.outcomes import joint_outcomes

# a tabu run stops after this many exchanges without a new best (at least MIN_PATIENCE), and after
# MAX_STEPS_PER_CODE exchanges per code in all
MIN_PATIENCE = 64
MAX_STEPS_PER_CODE = 20
# with holes (fewer clusters than codes) and at most this many codes, every coding is tried
EXHAUSTIVE_CODES = 8
# with holes, every move of a hole to a cluster's code is scored exactly when there are at most this many
HOLE_MOVES = 1024
# random starts with holes and at most 32 codes (otherwise: n_random_starts); holes filled again at most
# max_fills times for at most 32 codes, twice beyond (the cost of a search grows as K^2 per step)
HOLE_RANDOM_STARTS = 6
SMALL_CUBE = 32


def cube_neighbours(n_nodes: int) -> np.ndarray:
    """``[K, d]``: the codes that differ from code ``v`` in bit ``j``, ``v xor 2**j``."""
    codes = np.arange(2**n_nodes, dtype=np.int64)
    return codes[:, None] ^ (1 << np.arange(n_nodes, dtype=np.int64))[None, :]


def cube_edges(n_nodes: int) -> np.ndarray:
    """``[d 2**(d-1), 2]`` every cube edge ``(v, v + 2**j)`` once (bit ``j`` of ``v`` is 0)."""
    neighbours = cube_neighbours(n_nodes)
    codes = np.arange(2**n_nodes)[:, None].repeat(n_nodes, axis=1)
    lower = neighbours > codes
    return np.stack([codes[lower], neighbours[lower]], axis=1)


def cube_length(placement: np.ndarray, costs: np.ndarray, edges: np.ndarray) -> float:
    """Sum of ``costs[placement[u], placement[v]]`` over the cube ``edges``; ``placement[v]`` = the cluster at code ``v``."""
    return float(costs[placement[edges[:, 0]], placement[edges[:, 1]]].sum())


def _exchange_gains(placement: np.ndarray, costs: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """``[K, K]``: change of the cube length when the clusters at codes ``u`` and ``w`` are exchanged.

    With ``G[u, c]`` the cost of cluster ``c`` against the clusters at ``u``'s neighbours, the change is
    ``G[u, p_w] - G[u, p_u] + G[w, p_u] - G[w, p_w]``, plus ``2 C[p_u, p_w]`` when ``u`` and ``w`` are
    neighbours (their shared edge was counted as changed twice).
    """
    at_neighbours = costs[placement[neighbours]].sum(axis=1)  # [K codes, K clusters]
    moved = at_neighbours[:, placement]  # [u, w] = G[u, p[w]]
    staying = np.diag(moved)
    gains = moved - staying[:, None] + moved.T - staying[None, :]
    n_codes, n_nodes = neighbours.shape
    rows = np.repeat(np.arange(n_codes), n_nodes)
    gains[rows, neighbours.ravel()] += 2.0 * costs[placement[rows], placement[neighbours.ravel()]]
    np.fill_diagonal(gains, 0.0)
    return gains


def _tabu_exchanges(placement: np.ndarray, costs: np.ndarray, neighbours: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Tabu search over exchanges; returns the shortest placement visited.

    A cluster may not go back to a code it left for ``tenure`` steps (random in ``[K/4, K/2)``),
    unless that gives a new best. Stops after ``max(MIN_PATIENCE, K)`` steps without a new best.
    """
    placement = placement.copy()
    n_codes = len(placement)
    tenure = max(4, n_codes // 4)
    tolerance = 1e-12 * max(1.0, float(np.abs(costs).max()))
    upper = np.triu_indices(n_codes, 1)
    tabu_until = np.zeros((n_codes, n_codes), dtype=np.int64)  # [code, cluster]
    edges = np.column_stack([np.repeat(np.arange(n_codes), neighbours.shape[1]), neighbours.ravel()])
    current = cube_length(placement, costs, edges) / 2.0
    best, best_length = placement.copy(), current
    codes = np.arange(n_codes)
    patience, last_best = max(MIN_PATIENCE, n_codes), 0
    for step in range(MAX_STEPS_PER_CODE * n_codes):
        if step - last_best > patience:
            break
        gains = _exchange_gains(placement, costs, neighbours)
        # exchanging u, w puts cluster p[w] at u and p[u] at w: tabu when both are tabu
        tabu = (tabu_until[codes[:, None], placement[None, :]] > step) & (tabu_until[codes[None, :], placement[:, None]] > step)
        allowed = ~tabu | (current + gains < best_length - tolerance)
        candidates = np.where(allowed, gains, np.inf)[upper]
        smallest = candidates.min()
        if not np.isfinite(smallest):
            break
        ties = np.flatnonzero(candidates <= smallest + tolerance)
        pick = ties[rng.integers(len(ties))]
        u, w = upper[0][pick], upper[1][pick]
        tabu_until[u, placement[u]] = step + tenure + rng.integers(0, tenure)
        tabu_until[w, placement[w]] = step + tenure + rng.integers(0, tenure)
        placement[[u, w]] = placement[[w, u]]
        current += gains[u, w]
        if current < best_length - tolerance:
            best, best_length, last_best = placement.copy(), current, step
    return best


def subcube_symmetries(n_nodes: int, fixed_bits: int = 2) -> np.ndarray:
    """``[M, K]`` code permutations ``q`` (a placement ``p`` becomes ``p[q]``): inside every sub-cube that fixes
    ``1..fixed_bits`` bits, flip one free bit or apply a non-identity symmetry of the square of two free bits;
    on the whole cube, none (those change no length)."""
    outcomes = joint_outcomes(n_nodes)
    weights = 1 << np.arange(n_nodes, dtype=np.int64)
    square = [(order, flips) for order in ((0, 1), (1, 0)) for flips in itertools.product((0, 1), repeat=2)
              if (order, flips) != ((0, 1), (0, 0))]
    moves = []
    for n_fixed in range(1, min(fixed_bits, n_nodes - 1) + 1):
        for fixed in itertools.combinations(range(n_nodes), n_fixed):
            free = [j for j in range(n_nodes) if j not in fixed]
            for values in itertools.product((0, 1), repeat=n_fixed):
                inside = (outcomes[:, list(fixed)] == np.array(values)).all(axis=1)
                for position, j in enumerate(free):
                    moved = outcomes.copy()
                    moved[inside, j] ^= 1
                    moves.append(moved @ weights)
                    for other in free[position + 1:]:
                        pair = (j, other)
                        for order, flips in square:
                            moved = outcomes.copy()
                            for slot in range(2):
                                moved[inside, pair[slot]] = outcomes[inside, pair[order[slot]]] ^ flips[slot]
                            moves.append(moved @ weights)
    if not moves:
        return np.zeros((0, 2**n_nodes), dtype=np.int64)
    return np.unique(np.array(moves), axis=0)


def _best_symmetry(placement: np.ndarray, costs: np.ndarray, edges: np.ndarray, moves: np.ndarray) -> tuple[np.ndarray, float]:
    """The placement after the sub-cube symmetry that shortens the cube most (or unchanged), and its length."""
    if len(moves) == 0:
        return placement, cube_length(placement, costs, edges)
    moved = placement[moves]  # [M, K]
    lengths = costs[moved[:, edges[:, 0]], moved[:, edges[:, 1]]].sum(axis=1)  # [M]
    best = int(np.argmin(lengths))
    current = cube_length(placement, costs, edges)
    if lengths[best] < current - 1e-12 * max(1.0, abs(current)):
        return moved[best], float(lengths[best])
    return placement, current


def complete_cube(points: np.ndarray, present: np.ndarray, n_nodes: int) -> np.ndarray:
    """Points ``[K, F]`` at every code, each absent code's point the mean of its neighbours' points.

    The mean of its neighbours is where a hole's edges are shortest (given the neighbours), and what
    they then cost is the neighbours' scatter about their mean: a hole is charged what its clusters'
    spread says, never nothing. The absent codes are filled one at a time, the one with the most known
    neighbours first, and each filled point counts as known after (a code with no known neighbour
    then gets the mean of all known points).

    Measured on pretrained circles latents with one outcome missing at d = 3 (every coding tried):
    this fill ranks the true coding first, while dropping the holes' edges ranks it first at d = 3
    but not at d = 5, and filling from parallelograms ``x[v^i] + x[v^j] - x[v^i^j]`` ranks another
    coding first at d = 3 (docs/model.md "Initial clusters and their codes").

    Args:
        points: ``[K, F]``; rows of absent codes are ignored.
        present: bool ``[K]``, at least one true.
    """
    points = np.asarray(points, dtype=np.float64).copy()
    known = np.asarray(present, dtype=bool).copy()
    if not known.any():
        raise ValueError("complete_cube needs at least one known point")
    neighbours = cube_neighbours(n_nodes)
    while not known.all():
        absent = np.flatnonzero(~known)
        v = absent[np.argmax(known[neighbours[absent]].sum(axis=1))]
        around = neighbours[v][known[neighbours[v]]]
        points[v] = points[around].mean(axis=0) if len(around) else points[known].mean(axis=0)
        known[v] = True
    return points


@dataclass
class CubeCoding:
    """The shortest coding found: ``codes[c]`` = outcome index of cluster ``c``; ``length`` its cube length."""

    codes: np.ndarray
    length: float


def _greedy_matching(costs: np.ndarray) -> np.ndarray:
    """``[n/2, 2]`` pairs covering ``0..n-1`` (``n`` even), cheapest pair first among the unmatched."""
    n = len(costs)
    upper = np.triu_indices(n, 1)
    order = np.argsort(costs[upper], kind="stable")
    matched = np.zeros(n, dtype=bool)
    pairs = []
    for a, b in zip(upper[0][order], upper[1][order], strict=True):
        if not matched[a] and not matched[b]:
            matched[a] = matched[b] = True
            pairs.append((a, b))
            if len(pairs) == n // 2:
                break
    return np.array(pairs, dtype=np.int64)


def matching_placement(centres: np.ndarray, n_nodes: int) -> np.ndarray:
    """A placement ``[K]`` built one feature at a time from cheap perfect matchings (a start for the search).

    Level 0 pairs the ``K`` clusters (greedily, the closest pair first); each pair becomes a node of a
    half-size cube whose points are its members, and the cost between two such nodes is the summed
    squared distance of their corresponding members. Each pair is oriented so that its members'
    difference points along the first principal direction of all the pairs' differences (the
    parallel edges of one feature). After ``d`` levels one node holds every cluster, in code order.
    """
    centres = np.asarray(centres, dtype=np.float64)
    nodes = np.arange(2**n_nodes, dtype=np.int64)[:, None]  # [n, 2**level] clusters by code within the node
    for _ in range(n_nodes):
        points = centres[nodes]  # [n, m, F]
        costs = ((points[:, None] - points[None, :]) ** 2).sum(axis=(-1, -2))  # [n, n]
        pairs = _greedy_matching(costs)
        differences = (points[pairs[:, 1]] - points[pairs[:, 0]]).reshape(len(pairs), -1)  # [n/2, m F]
        direction = np.linalg.svd(differences, full_matrices=False)[2][0]
        flip = differences @ direction < 0
        pairs[flip] = pairs[flip][:, ::-1]
        nodes = np.concatenate([nodes[pairs[:, 0]], nodes[pairs[:, 1]]], axis=1)  # the new bit is the highest
    return nodes[0]


def _local_optimum(placement: np.ndarray, costs: np.ndarray, neighbours: np.ndarray, edges: np.ndarray,
                   moves: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Tabu exchanges, then the best sub-cube symmetry, until the symmetries shorten nothing."""
    while True:
        placement = _tabu_exchanges(placement, costs, neighbours, rng)
        before = cube_length(placement, costs, edges)
        placement, length = _best_symmetry(placement, costs, edges, moves)
        if length >= before:  # no sub-cube symmetry shortens it: a local optimum of both moves
            return placement, length


def filled_cube_length(codes: np.ndarray, centres: np.ndarray, n_nodes: int) -> float:
    """Cube length of clusters ``centres [M, F]`` at ``codes [M]``, the codes without a cluster filled in
    (:func:`complete_cube`)."""
    n_codes = 2**n_nodes
    points = np.zeros((n_codes, centres.shape[1]))
    present = np.zeros(n_codes, dtype=bool)
    points[codes], present[codes] = centres, True
    filled = complete_cube(points, present, n_nodes)
    edges = cube_edges(n_nodes)
    return float(((filled[edges[:, 0]] - filled[edges[:, 1]]) ** 2).sum())


def _exhaustive_coding(centres: np.ndarray, n_nodes: int) -> tuple[np.ndarray, float]:
    """The shortest of all codings of ``M`` clusters with at most 8 codes (every injective map, holes
    filled): at most ``8! = 40,320`` lengths; each automorphism class is met, so the first minimum is kept."""
    best_codes, best_length = None, np.inf
    for codes in itertools.permutations(range(2**n_nodes), len(centres)):
        length = filled_cube_length(np.array(codes), centres, n_nodes)
        if best_codes is None or length < best_length - 1e-12 * max(1.0, best_length):
            best_codes, best_length = np.array(codes, dtype=np.int64), length
    return best_codes, best_length


def _hole_descent(placement: np.ndarray, centres: np.ndarray, n_nodes: int) -> tuple[np.ndarray, float]:
    """Move a hole to a cluster's code (the cluster to the hole's) while that shortens the filled cube,
    every candidate scored with the holes filled again (:func:`filled_cube_length`); best move first."""
    n_clusters = len(centres)

    def length_of(place: np.ndarray) -> float:
        codes = np.empty(n_clusters, dtype=np.int64)
        is_cluster = place < n_clusters
        codes[place[is_cluster]] = np.flatnonzero(is_cluster)
        return filled_cube_length(codes, centres, n_nodes)

    current = length_of(placement)
    while True:
        holes, clusters = np.flatnonzero(placement >= n_clusters), np.flatnonzero(placement < n_clusters)
        best, best_length = None, current
        for h in holes:
            for c in clusters:
                moved = placement.copy()
                moved[[h, c]] = moved[[c, h]]
                length = length_of(moved)
                if length < best_length - 1e-12 * max(1.0, best_length):
                    best, best_length = moved, length
        if best is None:
            return placement, current
        placement, current = best, best_length


def _squared_distances(points: np.ndarray) -> np.ndarray:
    return ((points[:, None, :] - points[None, :, :]) ** 2).sum(axis=-1)


def shortest_cube_coding(
    centres: np.ndarray, n_nodes: int, starts: list[np.ndarray] | None = None, n_random_starts: int = 2, seed: int = 0,
    max_fills: int = 5,
) -> CubeCoding:
    """Distinct codes for ``M <= K = 2**n_nodes`` clusters minimising the cube length of their ``centres``.

    With ``M < K`` (outcomes no cluster stands for) the codes left over are *holes*: a hole's point is
    filled in from the clusters around it (:func:`complete_cube`), the search runs on all ``K`` points
    (a hole moves like a cluster), and the holes are filled again from the new placement, up to
    ``max_fills`` times or until the placement stays. With holes and ``K <= 8`` every coding is tried
    instead (:func:`filled_cube_length`; at most 40,320).

    Args:
        centres: ``[M, F]`` one point per cluster (for example the clusters' mean observations).
        n_nodes: ``d``.
        starts: initial codings, each ``[M]`` distinct codes in ``0..K-1``.
        n_random_starts: seeded random codings tried as well.
        seed: random state of the starts and of the tabu search's tie-breaks and tenures.

    Returns:
        :class:`CubeCoding` (``codes [M]``); equal lengths keep the earlier start.
    """
    centres = np.asarray(centres, dtype=np.float64)
    n_codes = 2**n_nodes
    if centres.ndim != 2 or not 1 <= centres.shape[0] <= n_codes:
        raise ValueError(f"need 1 to 2**n_nodes = {n_codes} cluster centres [M, F], got shape {centres.shape}")
    n_clusters = centres.shape[0]
    if n_clusters < n_codes <= EXHAUSTIVE_CODES:
        codes, length = _exhaustive_coding(centres, n_nodes)
        return CubeCoding(codes=codes, length=length)
    neighbours, edges = cube_neighbours(n_nodes), cube_edges(n_nodes)
    moves = subcube_symmetries(n_nodes)
    rng = np.random.default_rng(seed)
    placements = []  # placement[v] = item at code v: clusters 0..M-1, holes M..K-1
    for codes in starts or []:
        codes = np.asarray(codes, dtype=np.int64)
        if codes.shape != (n_clusters,) or len(set(codes.tolist())) != n_clusters or codes.min() < 0 or codes.max() >= n_codes:
            raise ValueError(f"a start must give each of the {n_clusters} clusters a distinct code in 0..{n_codes - 1}")
        placements.append(_placement_of(codes, n_codes))
    if n_clusters == n_codes:
        placements.append(matching_placement(centres, n_nodes))
    n_random = max(n_random_starts, HOLE_RANDOM_STARTS) if n_clusters < n_codes <= SMALL_CUBE else n_random_starts
    n_fills = 1 if n_clusters == n_codes else (max_fills if n_codes <= SMALL_CUBE else min(2, max_fills))
    placements += [rng.permutation(n_codes) for _ in range(n_random)]
    if not placements:
        raise ValueError("need at least one start (starts or n_random_starts >= 1)")
    best: tuple[float, np.ndarray] | None = None
    for placement in placements:
        for _ in range(n_fills):
            points = np.zeros((n_codes, centres.shape[1]))
            is_cluster = placement < n_clusters
            points[is_cluster] = centres[placement[is_cluster]]
            filled = complete_cube(points, is_cluster, n_nodes)  # [K, F] by code
            items = np.empty_like(filled)
            items[placement] = filled  # by item: the clusters' centres, the holes' filled points
            new_placement, length = _local_optimum(placement, _squared_distances(items), neighbours, edges, moves, rng)
            if n_clusters < n_codes and (n_codes - n_clusters) * n_clusters <= HOLE_MOVES:
                new_placement, length = _hole_descent(new_placement, centres, n_nodes)
            settled = np.array_equal(new_placement, placement)
            placement = new_placement
            if settled:
                break
        if best is None or length < best[0] - 1e-12 * max(1.0, abs(best[0])):
            best = (length, placement)
    length, placement = best
    codes = np.empty(n_codes, dtype=np.int64)
    codes[placement] = np.arange(n_codes)
    return CubeCoding(codes=codes[:n_clusters], length=float(length))


def _placement_of(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """``[K]`` item at each code: cluster ``c`` at ``codes[c]``, the holes ``M, M+1, ..`` at the other codes in order."""
    placement = np.full(n_codes, -1, dtype=np.int64)
    placement[codes] = np.arange(len(codes))
    placement[placement < 0] = np.arange(len(codes), n_codes)
    return placement
