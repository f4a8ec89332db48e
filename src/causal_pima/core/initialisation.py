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
from scipy.optimize import linear_sum_assignment
from sklearn.decomposition import PCA

from causal_pima.core.clusterers import (  # noqa: F401 (re-exported: the clusterers' old home)
    CLUSTERERS,
    density_gap_distances,
    kmeans_clusters,
    overcluster_and_merge,
    overcluster_and_merge_at_gaps,
    relabel_by_first_appearance,
)
from causal_pima.core.cube_codes import shortest_cube_coding
from causal_pima.core.outcomes import joint_outcomes


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
        observations: ``{modality: [N, ...]}`` the specimens' observed values (a row with a NaN: the
            specimen misses that modality and is left out of its means).
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
        observed = ~np.isnan(values).any(axis=1)  # a NaN row: the specimen misses this modality
        if observed.all():
            np.add.at(means, labels, values)
            means = means / counts[:, None]
        else:  # the mean over each cluster's specimens that have it (a cluster with none: the overall mean)
            np.add.at(means, labels[observed], values[observed])
            have = np.bincount(labels[observed], minlength=n_clusters)
            overall = values[observed].mean(axis=0) if observed.any() else np.zeros(values.shape[1])
            means = np.where(have[:, None] > 0, means / np.maximum(have, 1)[:, None], overall)
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


def assign_codes_by_cube_length(
    latents: np.ndarray, labels: np.ndarray, n_nodes: int, observations: Mapping[str, np.ndarray] | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Codes of the clusters' mean *observations* that make the shortest hypercube (:mod:`core.cube_codes`).

    ``labels`` in ``0..M-1`` with ``M <= 2**n_nodes`` (the outcomes no cluster stands for are left
    without one). The clusters' mean observations (:func:`observation_centres`, every modality at the
    same spread) are placed on the cube's vertices so that the squared distances along the cube's edges sum to
    the least: each edge should flip one feature, and flipping one feature moves the data less than
    flipping two. Starts: the PCA-sign codes of the centres, a coding built from matchings (when
    every outcome has a cluster) and two seeded random codings. ``latents`` is unused (the signature of :data:`ASSIGNERS`).

    Raises:
        ValueError: without ``observations``.
    """
    if observations is None:
        raise ValueError("the cube_length assigner needs the specimens' observations")
    labels = np.asarray(labels, dtype=np.int64)
    n_clusters = int(labels.max()) + 1
    if n_clusters > 2**n_nodes:
        raise ValueError(f"{n_clusters} clusters cannot get distinct codes of {n_nodes} bits")
    centres = observation_centres(observations, labels, n_clusters)
    start = _pca_sign_codes(centres, n_nodes) if n_clusters > n_nodes else np.arange(n_clusters)
    return shortest_cube_coding(centres, n_nodes, starts=[start], seed=seed).codes


ASSIGNERS: dict[str, Callable[..., np.ndarray]] = {
    "cube_length": assign_codes_by_cube_length,
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
        n_clusters: clusters found (``hdbscan`` may find fewer than ``K``: outcomes no cluster stands for).
    """

    outcome: np.ndarray
    cluster_sizes: np.ndarray
    smallest_count: int
    n_clusters: int = 0


def _lookup(table: dict[str, Callable[..., np.ndarray]], name: str, kind: str) -> Callable:
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; choices: {sorted(table)}")
    return table[name]


def cluster_latents(
    latents: np.ndarray, n_nodes: int, clusterer: str, oversample: int = 3, seed: int = 0, min_cluster_size: int = 5
) -> np.ndarray:
    """Labels ``[N]`` in ``0..M-1`` (``M <= 2**n_nodes``) from the clusterer named ``clusterer``
    (``oversample``: the ``overcluster_*`` rules; ``min_cluster_size``: ``hdbscan``)."""
    cluster = _lookup(CLUSTERERS, clusterer, "clusterer")
    n_outcomes = 2**n_nodes
    if clusterer in ("overcluster_merge", "overcluster_gap"):
        return cluster(latents, n_outcomes, oversample=oversample, seed=seed)
    if clusterer == "hdbscan":
        return cluster(latents, n_outcomes, min_cluster_size=min_cluster_size, seed=seed)
    return cluster(latents, n_outcomes, seed=seed)


def code_clusters(
    latents: np.ndarray, labels: np.ndarray, n_nodes: int, assigner: str, seed: int = 0,
    observations: Mapping[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Distinct codes ``[M]`` of the clusters ``labels [N]`` (``0..M-1``) from the assigner named ``assigner``."""
    assign = _lookup(ASSIGNERS, assigner, "assigner")
    if assigner == "cube_length":
        return assign(latents, labels, n_nodes, observations=observations, seed=seed)
    if assigner == "observation_means":
        return assign(latents, labels, n_nodes, observations=observations)
    return assign(latents, labels, n_nodes)


def initialise_outcomes(
    latents: np.ndarray,
    n_nodes: int,
    clusterer: str = "overcluster_gap",
    assigner: str = "pca_signs",
    oversample: int = 3,
    seed: int = 0,
    observations: Mapping[str, np.ndarray] | None = None,
    min_cluster_size: int = 5,
) -> MixtureInitialisation:
    """Cluster the latents into at most ``2**n_nodes`` groups and map each group to a joint outcome.

    Args:
        latents: ``[N, D]`` pretrained latent means.
        n_nodes: number of binary nodes ``d``.
        clusterer: a key of :data:`CLUSTERERS`.
        assigner: a key of :data:`ASSIGNERS`; only ``cube_length`` codes fewer clusters than outcomes.
        oversample: over-clustering factor (used by the ``"overcluster_*"`` clusterers only).
        seed: clustering random state.
        observations: ``{modality: [N, ...]}`` the specimens' data (the ``observation_means`` and
            ``cube_length`` assigners need it).
        min_cluster_size: the ``hdbscan`` clusterer's smallest cluster.

    Returns:
        :class:`MixtureInitialisation` with the outcome ``[N]`` of every specimen.
    """
    labels = cluster_latents(latents, n_nodes, clusterer, oversample, seed, min_cluster_size)
    codes = code_clusters(latents, labels, n_nodes, assigner, seed, observations)
    outcome = codes[labels]
    sizes = np.bincount(outcome, minlength=2**n_nodes).astype(np.int64)
    return MixtureInitialisation(outcome=outcome, cluster_sizes=sizes, smallest_count=int(sizes.min()),
                                 n_clusters=int(labels.max()) + 1)
