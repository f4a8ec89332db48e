"""Two-stage baseline: cluster plain-VAE latents into joint outcomes, then learn a DAG on the codes.

Stage one (:func:`cluster_codes`): k-means with exactly ``K = 2**d`` clusters on the latent means,
clusters given d-bit codes by the same assigners causalPIMA uses
(:data:`causal_pima.core.initialisation.ASSIGNERS`). Stage two (:func:`two_stage_structure`): exact BIC
structure search over the ``d`` binary node values (:mod:`causal_pima.evaluation.bic_search`: causalPIMA's
own exact table search on the outcome counts) and smoothed MLE conditional tables. :func:`learned_dag_record` writes the result in the layout of the
causalPIMA pipeline's learned-DAG record so that the same evaluation code consumes both.

Plain numpy / scikit-learn; no file I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from causal_pima.core.initialisation import ASSIGNERS, kmeans_clusters
from causal_pima.core.outcomes import joint_outcomes
from causal_pima.evaluation.bic_search import exhaustive_bic_search, mle_tables


@dataclass
class TwoStageResult:
    """Result of :func:`two_stage_structure`.

    Attributes:
        outcome: int64 ``[N]`` outcome index of each training specimen.
        codes: int64 ``[N, d]`` node values of each training specimen (bit ``j`` of its outcome).
        adjacency: int64 ``[d, d]`` learned DAG over the nodes, ``[i, j] = 1`` iff ``i -> j``.
        tables: ``{j: (parents sorted ascending, P(N_j = 1 | c))}``, see
            :func:`causal_pima.evaluation.bic_search.mle_tables`.
        bic: total BIC of the learned DAG on ``codes``.
    """

    outcome: np.ndarray
    codes: np.ndarray
    adjacency: np.ndarray
    tables: dict[int, tuple[list[int], np.ndarray]]
    bic: float


def _latents(latents: np.ndarray, name: str = "latents") -> np.ndarray:
    latents = np.asarray(latents, dtype=np.float64)
    if latents.ndim != 2 or latents.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array [N, D], got shape {latents.shape}")
    if not np.isfinite(latents).all():
        raise ValueError(f"{name} contain non-finite values")
    return latents


def cluster_codes(
    latents: np.ndarray, n_nodes: int, assigner: str = "pca_signs_additive", seed: int = 0
) -> np.ndarray:
    """Outcome index of each specimen: k-means with ``2**n_nodes`` clusters, then a code assigner.

    Args:
        latents: ``[N, D]`` latent means.
        n_nodes: number of binary nodes ``d``.
        assigner: a key of :data:`causal_pima.core.initialisation.ASSIGNERS`.
        seed: k-means random state.

    Returns:
        int64 ``[N]`` outcome indices in ``0..2**n_nodes - 1``.
    """
    latents = _latents(latents)
    if assigner not in ASSIGNERS:
        raise ValueError(f"unknown assigner {assigner!r}; choices: {sorted(ASSIGNERS)}")
    if isinstance(n_nodes, bool) or int(n_nodes) != n_nodes or n_nodes < 1:
        raise ValueError(f"n_nodes must be a positive integer, got {n_nodes!r}")
    n_nodes = int(n_nodes)
    n_clusters = 2**n_nodes
    if latents.shape[0] < n_clusters:
        raise ValueError(
            f"need at least {n_clusters} specimens for {n_clusters} clusters, got {latents.shape[0]}"
        )
    labels = kmeans_clusters(latents, n_clusters, seed=seed)
    codes = np.asarray(ASSIGNERS[assigner](latents, labels, n_nodes), dtype=np.int64)  # [K]
    return codes[labels]


def two_stage_structure(
    train_latents: np.ndarray,
    n_nodes: int,
    assigner: str = "pca_signs_additive",
    seed: int = 0,
) -> TwoStageResult:
    """Cluster the training latents into joint outcomes, then learn the BIC-optimal DAG on the codes
    (:func:`causal_pima.evaluation.bic_search.exhaustive_bic_search`)."""
    outcome = cluster_codes(train_latents, n_nodes, assigner=assigner, seed=seed)
    codes = joint_outcomes(int(n_nodes))[outcome]  # [N, d]
    adjacency, bic = exhaustive_bic_search(codes)
    return TwoStageResult(
        outcome=outcome,
        codes=codes,
        adjacency=adjacency,
        tables=mle_tables(codes, adjacency),
        bic=float(bic),
    )


def predict_outcomes(
    train_latents: np.ndarray, train_outcome: np.ndarray, latents: np.ndarray
) -> np.ndarray:
    """Outcome of the nearest training centroid (Euclidean) for each row of ``latents``.

    Centroids are the mean training latent of each outcome that occurs in ``train_outcome``;
    outcomes absent from training are never predicted. Exact ties go to the smaller outcome index.

    Returns:
        int64 ``[M]`` outcome indices.
    """
    train_latents = _latents(train_latents, "train_latents")
    latents = np.asarray(latents, dtype=np.float64)
    if latents.ndim != 2 or latents.shape[1] != train_latents.shape[1]:
        raise ValueError(
            f"latents must be 2-D [M, {train_latents.shape[1]}] like train_latents, got shape {latents.shape}"
        )
    train_outcome = np.asarray(train_outcome).astype(np.int64).reshape(-1)
    if train_outcome.shape[0] != train_latents.shape[0]:
        raise ValueError(
            f"train_outcome has {train_outcome.shape[0]} entries for {train_latents.shape[0]} train latents"
        )
    present, inverse = np.unique(train_outcome, return_inverse=True)  # ascending outcome indices
    sums = np.zeros((present.size, train_latents.shape[1]))
    np.add.at(sums, inverse, train_latents)
    centroids = sums / np.bincount(inverse, minlength=present.size)[:, None]
    distances = ((latents[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)  # [M, K']
    return present[np.argmin(distances, axis=1)].astype(np.int64)


def learned_dag_record(result: TwoStageResult) -> dict[str, Any]:
    """JSON-ready learned-DAG record in the causalPIMA pipeline's layout.

    Keys: ``node_names`` (``N0, N1, ...``), ``mixture_weights`` (``"dag"``), ``adjacency`` (float
    ``[d, d]``, 1.0 per edge), ``edges`` (``{"from", "to", "strength": 1.0}``),
    ``conditional_probability_tables`` (``{name: {"parents": [names], "p_one": [...]}}``, config index
    ``c = sum_p value(parents[p]) * 2**p``), plus ``bic`` (total BIC of the learned DAG).
    """
    adjacency = np.asarray(result.adjacency)
    d = adjacency.shape[0]
    names = [f"N{j}" for j in range(d)]
    return {
        "node_names": names,
        "mixture_weights": "dag",
        "adjacency": [[1.0 if adjacency[i, j] else 0.0 for j in range(d)] for i in range(d)],
        "edges": [
            {"from": names[i], "to": names[j], "strength": 1.0}
            for i in range(d)
            for j in range(d)
            if adjacency[i, j]
        ],
        "conditional_probability_tables": {
            names[j]: {
                "parents": [names[p] for p in parents],
                "p_one": [float(p) for p in np.asarray(table).reshape(-1)],
            }
            for j, (parents, table) in sorted(result.tables.items())
        },
        "bic": float(result.bic),
    }
