"""Initialise the mixture from pretrained latents: cluster them, then give each cluster a d-bit code.

docs/model.md "Training" step 2 and "Initial clusters and their codes", and the feasibility-prototype findings:

- plain k-means with exactly ``K = 2**d`` clusters merges a rare outcome (about 1% of specimens)
  into a neighbour and splits a large one, so the default over-clusters (k-means with about ``3K``
  clusters) and joins the pieces down to ``K`` where no density gap separates them
  (``overcluster_gap``; ``overcluster_merge`` joins by average linkage of the centres instead);
- assigning clusters to codes is the most fragile step; the default takes the signs of the cluster
  centres' top-``d`` principal components in *standardised* latent space and resolves duplicate
  codes by Hungarian matching to the cube corners. Both steps are pluggable by name
  (:data:`CLUSTERERS`, :data:`ASSIGNERS`).

Plain numpy / scikit-learn / scipy; no file I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import squareform
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.decomposition import PCA

from causal_pima.core.outcomes import joint_outcomes

# k-means restarts; fixed so that the same seed gives the same clusters.
KMEANS_N_INIT = 10


def _relabel_by_first_appearance(labels: np.ndarray) -> np.ndarray:
    """Rename cluster labels ``[N]`` to ``0, 1, ...`` in order of first appearance (deterministic)."""
    _, first_index, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty_like(first_index)
    rank[np.argsort(first_index)] = np.arange(first_index.size)
    return rank[inverse].astype(np.int64)


def kmeans_clusters(latents: np.ndarray, n_clusters: int, seed: int = 0) -> np.ndarray:
    """Plain k-means with exactly ``n_clusters`` clusters (baseline; see module docstring).

    Args:
        latents: ``[N, D]`` latent means.
        n_clusters: number of clusters ``K``.
        seed: k-means random state.

    Returns:
        int64 labels ``[N]`` in ``0..K-1``.
    """
    latents = np.asarray(latents, dtype=np.float64)
    kmeans = KMeans(n_clusters=n_clusters, n_init=KMEANS_N_INIT, random_state=seed)
    return _relabel_by_first_appearance(kmeans.fit_predict(latents))


def _fine_kmeans(
    latents: np.ndarray, n_clusters: int, oversample: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """k-means with ``oversample * n_clusters`` clusters (capped at N): labels ``[N]``, centres ``[M, D]``."""
    if oversample < 1:
        raise ValueError(f"oversample must be >= 1, got {oversample}")
    n_fine = min(oversample * n_clusters, latents.shape[0])
    if n_fine < n_clusters:
        raise ValueError(f"need at least {n_clusters} points to form {n_clusters} clusters")
    kmeans = KMeans(n_clusters=n_fine, n_init=KMEANS_N_INIT, random_state=seed)
    return kmeans.fit_predict(latents), kmeans.cluster_centers_


def overcluster_and_merge(
    latents: np.ndarray, n_clusters: int, oversample: int = 3, seed: int = 0
) -> np.ndarray:
    """Over-cluster with k-means, then merge the centres down to ``n_clusters`` by average linkage.

    A rare outcome gets at least one of the ``oversample * n_clusters`` k-means clusters to itself,
    and a large outcome split over several k-means clusters is glued back together by the linkage,
    because its pieces are much closer to each other than to any other outcome's pieces
    (prototype findings: ARI 1.0 on every seed where plain k-means gave 0.88).

    The linkage acts on the k-means centres only (cheap: ``oversample * K`` points); average linkage
    on centres is unweighted (scipy / scikit-learn take no sample weights), which is fine when the
    outcomes are well separated.

    Args:
        latents: ``[N, D]`` latent means.
        n_clusters: number of clusters ``K`` wanted.
        oversample: k-means uses ``oversample * K`` clusters (capped at the number of points).
        seed: k-means random state.

    Returns:
        int64 labels ``[N]`` in ``0..K-1``.
    """
    latents = np.asarray(latents, dtype=np.float64)
    fine_labels, centres = _fine_kmeans(latents, n_clusters, oversample, seed)
    if len(centres) == n_clusters:
        return _relabel_by_first_appearance(fine_labels)
    merge = AgglomerativeClustering(n_clusters=n_clusters, linkage="average")
    centre_to_cluster = merge.fit_predict(centres)  # [n_fine]
    return _relabel_by_first_appearance(centre_to_cluster[fine_labels])


def density_gap_distances(
    latents: np.ndarray,
    fine_labels: np.ndarray,
    centres: np.ndarray,
    n_neighbours: int = 16,
    window: float = 0.1,
) -> np.ndarray:
    """How strongly the density dips between neighbouring clusters: ``[M, M]`` in ``[0, 1]``.

    For clusters ``i`` and ``j`` the points of both are projected on the segment from centre ``i``
    (``t = 0``) to centre ``j`` (``t = 1``). The distance is ``1 - min(1, n_mid / n_end)`` with
    ``n_mid`` the points with ``|t - 1/2| < window`` and ``n_end`` the smaller of the counts with
    ``|t| < window`` and ``|t - 1| < window``: about 0 for two pieces of one blob (no dip), about 1
    when empty space separates them. Only the ``n_neighbours`` nearest centres of each cluster are
    compared; all other pairs get 1 (not connected). See docs/model.md, "Initial clusters".

    Args:
        latents: ``[N, D]`` points; fine_labels: ``[N]`` their cluster in ``0..M-1``;
        centres: ``[M, D]`` the clusters' centres.
        n_neighbours: centres compared with each centre.
        window: half-width of the three counting windows, in units of the centre-to-centre distance.

    Returns:
        symmetric ``[M, M]`` float64 with zero diagonal.
    """
    latents = np.asarray(latents, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64)
    n_fine = centres.shape[0]
    members = [latents[fine_labels == i] for i in range(n_fine)]
    centre_distance = ((centres[:, None, :] - centres[None, :, :]) ** 2).sum(axis=-1)
    nearest = np.argsort(centre_distance, axis=1)[:, 1 : n_neighbours + 1]
    distances = np.ones((n_fine, n_fine))
    np.fill_diagonal(distances, 0.0)
    for i in range(n_fine):
        for j in nearest[i]:
            if j < i and i in nearest[j]:
                continue  # already computed from j's side
            axis = centres[j] - centres[i]
            points = np.concatenate([members[i], members[j]])
            t = (points - centres[i]) @ axis / (axis @ axis)
            n_mid = np.count_nonzero(np.abs(t - 0.5) < window)
            n_end = min(np.count_nonzero(np.abs(t) < window), np.count_nonzero(np.abs(t - 1.0) < window))
            distances[i, j] = distances[j, i] = 1.0 - min(1.0, n_mid / max(n_end, 1))
    return distances


def overcluster_and_merge_at_gaps(
    latents: np.ndarray, n_clusters: int, oversample: int = 3, seed: int = 0
) -> np.ndarray:
    """Over-cluster with k-means, then join the pieces that no density gap separates.

    Like :func:`overcluster_and_merge`, but the ``oversample * K`` k-means clusters are merged by
    single linkage on :func:`density_gap_distances` rather than by average linkage on the centres'
    positions: pieces of one large outcome touch (no dip between them) however far apart their
    centres are, while a rare outcome is kept apart by the empty space around it even when its centre
    is close to a large outcome's pieces. On pretrained chain latents (outcomes of 1% beside ones of
    29%) average linkage merged a rare outcome on 2 of 5 seeds (ARI 0.885); this rule did not.

    Args and returns as :func:`overcluster_and_merge`.
    """
    latents = np.asarray(latents, dtype=np.float64)
    fine_labels, centres = _fine_kmeans(latents, n_clusters, oversample, seed)
    n_fine = len(centres)
    if n_fine == n_clusters:
        return _relabel_by_first_appearance(fine_labels)
    distances = density_gap_distances(latents, fine_labels, centres)
    tree = linkage(squareform(distances, checks=False), method="single")
    centre_to_cluster = fcluster(tree, n_clusters, criterion="maxclust") - 1  # [n_fine]
    if np.unique(centre_to_cluster).size != n_clusters:
        # ties in the single-linkage heights can stop fcluster short of K clusters; cut by merge count
        centre_to_cluster = _cut_at_merge_count(tree, n_fine, n_clusters)
    return _relabel_by_first_appearance(centre_to_cluster[fine_labels])


def _cut_at_merge_count(tree: np.ndarray, n_points: int, n_clusters: int) -> np.ndarray:
    """Cluster of each of ``n_points`` leaves after the first ``n_points - n_clusters`` merges of ``tree``."""
    parent = np.arange(2 * n_points - 1)
    for step, (a, b) in enumerate(tree[: n_points - n_clusters, :2].astype(np.int64)):
        parent[a] = parent[b] = n_points + step

    def root(node: int) -> int:
        while parent[node] != node:
            node = parent[node]
        return node

    roots = np.array([root(leaf) for leaf in range(n_points)])
    return np.unique(roots, return_inverse=True)[1]


CLUSTERERS: dict[str, Callable[..., np.ndarray]] = {
    "overcluster_gap": overcluster_and_merge_at_gaps,
    "overcluster_merge": overcluster_and_merge,
    "kmeans": kmeans_clusters,
}


def _cluster_centres(
    latents: np.ndarray, labels: np.ndarray, n_nodes: int, standardise: bool
) -> np.ndarray:
    """Mean latent ``[K, D]`` of each cluster, optionally in per-dimension standardised coordinates.

    Args:
        latents: ``[N, D]``; labels: ``[N]`` in ``0..K-1`` with ``K = 2**n_nodes``, all used.
        standardise: subtract the mean and divide by the std of each latent dimension (over all
            points) before averaging.
    """
    latents = np.asarray(latents, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    n_outcomes = 2**n_nodes
    counts = np.bincount(labels, minlength=n_outcomes)
    if counts.size != n_outcomes or (counts == 0).any():
        raise ValueError(
            f"labels must use every cluster 0..{n_outcomes - 1} (K = 2**n_nodes), got counts {counts}"
        )
    if latents.shape[1] < n_nodes:
        raise ValueError(f"need latent dimension >= n_nodes = {n_nodes}, got {latents.shape[1]}")
    if standardise:
        std = latents.std(axis=0)
        latents = (latents - latents.mean(axis=0)) / np.where(std > 0, std, 1.0)
    centres = np.zeros((n_outcomes, latents.shape[1]))
    np.add.at(centres, labels, latents)
    return centres / counts[:, None]


def _pca_sign_codes(centres: np.ndarray, n_nodes: int) -> np.ndarray:
    """Codes ``[K]`` from the signs of the centres' projections on their top-``d`` principal components.

    Duplicate sign patterns are resolved by Hungarian matching of the projections ``[K, d]`` to the
    cube corners ``{-1, +1}^d``, each component scaled by the mean absolute projection on it. When
    the sign codes are already all distinct this returns exactly those codes: every cluster then sits
    in its own nearest corner, which minimises the total squared distance.
    """
    projections = PCA(n_components=n_nodes).fit_transform(centres)  # [K, d]
    corners = 2.0 * joint_outcomes(n_nodes) - 1.0  # [K, d], row k = corner of outcome k
    scale = np.abs(projections).mean(axis=0)  # [d]
    cost = ((projections[:, None, :] - corners[None, :, :] * scale) ** 2).sum(axis=-1)  # [K, K]
    cluster_index, outcome = linear_sum_assignment(cost)
    codes = np.empty(centres.shape[0], dtype=np.int64)
    codes[cluster_index] = outcome
    return codes


def assign_codes_by_pca_signs(latents: np.ndarray, labels: np.ndarray, n_nodes: int) -> np.ndarray:
    """Give each cluster a distinct ``n_nodes``-bit code from the signs of its centre's PCA projections.

    Steps (prototype findings: this worked on 3 of 3 seeds of real latents):

    1. standardise the latents per dimension (mean / std over all points), so that no single latent
       dimension's scale decides the principal axes;
    2. cluster centres ``[K, D]`` in that space, and their top-``d`` principal components;
    3. the code of a cluster is the sign pattern of its centre's projections ``[d]``:
       bit ``j`` = 1 where the projection on component ``j`` is positive;
    4. duplicate codes are resolved by Hungarian matching to the scaled cube corners.

    Needs the features' latent directions to have clearly different spreads: when two spreads are
    close, the principal components mix the features and the signs mislabel some clusters.

    Args:
        latents: ``[N, D]`` latent means.
        labels: ``[N]`` cluster labels in ``0..K-1`` with ``K = 2**n_nodes``, every cluster non-empty.
        n_nodes: number of binary nodes ``d``.

    Returns:
        int64 ``[K]``: the outcome index (bit ``j`` = node ``j``, see ``core.outcomes``) given to
        each cluster; a permutation of ``0..K-1``.
    """
    centres = _cluster_centres(latents, labels, n_nodes, standardise=True)
    return _pca_sign_codes(centres, n_nodes)


def additive_residual(centres: np.ndarray, codes: np.ndarray, n_nodes: int) -> float:
    """Misfit of the additive mean model ``mu_k = c + sum_j n_kj delta_j`` (docs/model.md "Model and ELBO", additive means).

    Least-squares fit of ``centres [K, D]`` on the bits of ``codes [K]`` (plus an intercept); returns
    the residual sum of squares as a fraction of the centres' total sum of squares (0 = a perfect
    parallelotope). Invariant to permuting nodes and flipping their meaning.
    """
    design = np.column_stack([np.ones(len(codes)), joint_outcomes(n_nodes)[codes]])  # [K, d+1]
    coef, *_ = np.linalg.lstsq(design, centres, rcond=None)
    residual = ((centres - design @ coef) ** 2).sum()
    total = ((centres - centres.mean(axis=0)) ** 2).sum()
    return float(residual / total) if total > 0 else 0.0


def _swap_descent(centres: np.ndarray, codes: np.ndarray, n_nodes: int) -> np.ndarray:
    """Swap the codes of two clusters while that lowers :func:`additive_residual` (best swap first)."""
    codes = codes.copy()
    best = additive_residual(centres, codes, n_nodes)
    n_clusters = len(codes)
    while True:
        best_swap = None
        for a in range(n_clusters):
            for b in range(a + 1, n_clusters):
                codes[[a, b]] = codes[[b, a]]
                value = additive_residual(centres, codes, n_nodes)
                codes[[a, b]] = codes[[b, a]]
                if value < best - 1e-12:
                    best, best_swap = value, (a, b)
        if best_swap is None:
            return codes
        a, b = best_swap
        codes[[a, b]] = codes[[b, a]]


def assign_codes_by_pca_signs_additive(
    latents: np.ndarray, labels: np.ndarray, n_nodes: int
) -> np.ndarray:
    """PCA-sign codes from standardised and from raw latents, polished towards an additive cube.

    Each of the two PCA-sign codings (:func:`assign_codes_by_pca_signs` and the same rule without
    standardisation) is improved by pairwise code swaps that lower :func:`additive_residual` of the
    standardised centres; the coding with the lower residual wins. This fixes the case where the
    principal components mix two features of similar spread, but it trusts the additive model: the
    prototype saw a global (brute-force) additive fit pick wrong codes on one seed of real latents,
    which is why the plain rule stays the default.

    Args and returns as :func:`assign_codes_by_pca_signs`.
    """
    standardised = _cluster_centres(latents, labels, n_nodes, standardise=True)
    raw = _cluster_centres(latents, labels, n_nodes, standardise=False)
    candidates = [
        _swap_descent(standardised, _pca_sign_codes(centres, n_nodes), n_nodes)
        for centres in (standardised, raw)
    ]
    residuals = [additive_residual(standardised, codes, n_nodes) for codes in candidates]
    return candidates[int(np.argmin(residuals))]


def observation_centres(observations: Mapping[str, np.ndarray], labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """Mean observation of each cluster, every modality scaled to the same total spread.

    Each modality's cluster means ``[K, V_m]`` (flattened) are centred and divided by the root of
    their total sum of squares, then the modalities are concatenated, so that a 64-point curve
    weighs as much as a 3,072-value image in the geometry of the centres.

    Args:
        observations: ``{modality: [N, ...]}`` the specimens' observed values.
        labels: ``[N]`` cluster labels in ``0..n_clusters-1``, every cluster non-empty.

    Returns:
        ``[K, sum_m V_m]`` float64.
    """
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels, minlength=n_clusters)
    if counts.size != n_clusters or (counts == 0).any():
        raise ValueError(f"labels must use every cluster 0..{n_clusters - 1}, got counts {counts}")
    parts = []
    for name in sorted(observations):
        values = np.asarray(observations[name], dtype=np.float64).reshape(len(labels), -1)
        means = np.zeros((n_clusters, values.shape[1]))
        np.add.at(means, labels, values)
        means = means / counts[:, None]
        means -= means.mean(axis=0)
        spread = np.sqrt((means**2).sum())
        parts.append(means / spread if spread > 0 else means)
    return np.concatenate(parts, axis=1)


def assign_codes_by_observation_means(
    latents: np.ndarray, labels: np.ndarray, n_nodes: int, observations: Mapping[str, np.ndarray] | None = None
) -> np.ndarray:
    """PCA-sign codes of the clusters' mean *observations*, polished towards an additive cube.

    The same rule as :func:`assign_codes_by_pca_signs_additive`, applied to
    :func:`observation_centres` instead of latent centres: a pretrained latent space may bend a
    feature's effect (its shift differs with another feature's value, so an XOR-like recoding fits
    the additive cube better), while in the data each feature changes the observations in a fixed
    way. Each modality counts equally, so a feature seen in one modality only still splits the
    centres. ``latents`` is unused (the signature of :data:`ASSIGNERS`).

    Raises:
        ValueError: without ``observations``.
    """
    if observations is None:
        raise ValueError("the observation_means assigner needs the specimens' observations")
    centres = observation_centres(observations, labels, 2**n_nodes)
    return _swap_descent(centres, _pca_sign_codes(centres, n_nodes), n_nodes)


ASSIGNERS: dict[str, Callable[..., np.ndarray]] = {
    "pca_signs": assign_codes_by_pca_signs,
    "pca_signs_additive": assign_codes_by_pca_signs_additive,
    "observation_means": assign_codes_by_observation_means,
}


@dataclass
class MixtureInitialisation:
    """Outcome of each specimen after clustering and code assignment.

    Attributes:
        outcome: int64 ``[N]`` outcome index of each specimen.
        cluster_sizes: int64 ``[K]`` specimens per outcome.
        smallest_count: size of the smallest outcome (log it: a tiny one hints at a lost outcome).
    """

    outcome: np.ndarray
    cluster_sizes: np.ndarray
    smallest_count: int


def _lookup(table: dict[str, Callable[..., np.ndarray]], name: str, kind: str) -> Callable:
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; choices: {sorted(table)}")
    return table[name]


def initialise_outcomes(
    latents: np.ndarray,
    n_nodes: int,
    clusterer: str = "overcluster_gap",
    assigner: str = "pca_signs",
    oversample: int = 3,
    seed: int = 0,
    observations: Mapping[str, np.ndarray] | None = None,
) -> MixtureInitialisation:
    """Cluster the latents into ``2**n_nodes`` groups and map each group to a joint outcome.

    Args:
        latents: ``[N, D]`` pretrained latent means.
        n_nodes: number of binary nodes ``d``.
        clusterer: a key of :data:`CLUSTERERS`.
        assigner: a key of :data:`ASSIGNERS`.
        oversample: over-clustering factor (used by the ``"overcluster_*"`` clusterers only).
        seed: clustering random state.
        observations: ``{modality: [N, ...]}`` the specimens' data (the ``observation_means``
            assigner needs it).

    Returns:
        :class:`MixtureInitialisation` with the outcome ``[N]`` of every specimen.
    """
    cluster = _lookup(CLUSTERERS, clusterer, "clusterer")
    assign = _lookup(ASSIGNERS, assigner, "assigner")
    n_outcomes = 2**n_nodes
    if clusterer in ("overcluster_merge", "overcluster_gap"):
        labels = cluster(latents, n_outcomes, oversample=oversample, seed=seed)
    else:
        labels = cluster(latents, n_outcomes, seed=seed)
    if assigner == "observation_means":
        codes = assign(latents, labels, n_nodes, observations=observations)  # [K]
    else:
        codes = assign(latents, labels, n_nodes)
    outcome = codes[labels]
    sizes = np.bincount(outcome, minlength=n_outcomes).astype(np.int64)
    return MixtureInitialisation(
        outcome=outcome, cluster_sizes=sizes, smallest_count=int(sizes.min())
    )
