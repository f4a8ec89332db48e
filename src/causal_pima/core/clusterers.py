"""Clusterings of the pretrained latents into at most ``K = 2**d`` clusters (docs/model.md "Initial clusters
and their codes"): plain k-means, over-clustering merged by average linkage or at density gaps, and
HDBSCAN. Pluggable by name (:data:`CLUSTERERS`); the initialisation may try several
(``core.initial_partition``).

Plain numpy / scikit-learn / scipy; no file I/O.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.cluster import HDBSCAN, AgglomerativeClustering, KMeans

# k-means restarts; fixed so that the same seed gives the same clusters.
KMEANS_N_INIT = 10


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
    return relabel_by_first_appearance(kmeans.fit_predict(latents))


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
        return relabel_by_first_appearance(fine_labels)
    merge = AgglomerativeClustering(n_clusters=n_clusters, linkage="average")
    centre_to_cluster = merge.fit_predict(centres)  # [n_fine]
    return relabel_by_first_appearance(centre_to_cluster[fine_labels])


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
    if len(centres) == n_clusters:
        return relabel_by_first_appearance(fine_labels)
    return relabel_by_first_appearance(_merge_at_gaps(latents, fine_labels, centres, n_clusters))


def _merge_at_gaps(latents: np.ndarray, labels: np.ndarray, centres: np.ndarray, n_clusters: int) -> np.ndarray:
    """Labels ``[N]`` of the clusters left after single linkage on :func:`density_gap_distances` joins the
    ``M > n_clusters`` clusters ``labels`` (centres ``[M, D]``) down to ``n_clusters``."""
    n_fine = len(centres)
    distances = density_gap_distances(latents, labels, centres)
    tree = linkage(squareform(distances, checks=False), method="single")
    centre_to_cluster = fcluster(tree, n_clusters, criterion="maxclust") - 1  # [n_fine]
    if np.unique(centre_to_cluster).size != n_clusters:
        # ties in the single-linkage heights can stop fcluster short of K clusters; cut by merge count
        centre_to_cluster = _cut_at_merge_count(tree, n_fine, n_clusters)
    return centre_to_cluster[labels]


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


def hdbscan_clusters(latents: np.ndarray, n_clusters: int, min_cluster_size: int = 5, seed: int = 0) -> np.ndarray:
    """At most ``n_clusters`` clusters found by HDBSCAN (as many as the density shows).

    Points HDBSCAN calls noise join the nearest cluster centre. More clusters than ``n_clusters`` are
    joined where no density gap separates them (as :func:`overcluster_and_merge_at_gaps` joins its
    pieces: a large outcome that HDBSCAN cut in two has no gap inside, a rare outcome beside it has).
    ``seed`` is unused (HDBSCAN is deterministic).

    Returns:
        int64 labels ``[N]`` in ``0..M-1``, ``M <= n_clusters`` (relabelled by first appearance).
    """
    latents = np.asarray(latents, dtype=np.float64)
    min_cluster_size = max(2, min(int(min_cluster_size), len(latents)))
    labels = HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_cluster_size, copy=True).fit_predict(latents)
    if labels.max() < 0:  # all noise: one cluster
        return np.zeros(len(latents), dtype=np.int64)
    centres = np.stack([latents[labels == c].mean(axis=0) for c in range(labels.max() + 1)])
    noise = labels < 0
    if noise.any():
        labels[noise] = np.argmin(((latents[noise, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    if len(centres) > n_clusters:  # join the pieces no density gap separates, as overcluster_gap does
        labels = _merge_at_gaps(latents, labels, centres, n_clusters)
    return relabel_by_first_appearance(labels)


def relabel_by_first_appearance(labels: np.ndarray) -> np.ndarray:
    """Rename cluster labels ``[N]`` to ``0, 1, ...`` in order of first appearance (deterministic)."""
    _, first_index, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty_like(first_index)
    rank[np.argsort(first_index)] = np.arange(first_index.size)
    return rank[inverse.ravel()].astype(np.int64)


CLUSTERERS: dict[str, Callable[..., np.ndarray]] = {
    "overcluster_gap": overcluster_and_merge_at_gaps,
    "overcluster_merge": overcluster_and_merge,
    "kmeans": kmeans_clusters,
    "hdbscan": hdbscan_clusters,
}


