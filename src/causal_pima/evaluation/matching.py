"""Matching learned binary nodes to true features, and mapping the learned graph onto them.

README "What the reports hold": learned nodes are matched to true features by the Hungarian method on
accuracy, allowing a flip of the node's 0/1 meaning. The learned DAG and its conditional tables
are then re-expressed in the true features' names and 0/1 meanings, so that they can be compared
with the true SCM.

Conventions (project-wide): a node's table ``P(N_j = 1 | parents)`` is indexed by the config
``c = sum_i value(parents[i]) * 2**i`` over the node's ordered parent list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from causal_pima.core.outcomes import joint_outcomes
from causal_pima.data.scm import BinarySCM

# P(feature = 1) of a true feature that no learned node is matched to, in the mapped learned model:
# an independent fair coin.
UNMATCHED_FEATURE_P_ONE = 0.5


@dataclass
class NodeMatching:
    """Result of :func:`match_nodes`.

    Attributes:
        node_to_feature: learned node index ``j`` -> true feature index.
        flipped: per matched node, ``True`` when node value 1 means feature value 0.
        accuracy: per matched node, fraction of specimens where the (flip-corrected) node equals
            its feature, i.e. ``max(acc, 1 - acc)``.
        unmatched_nodes: learned nodes without a feature (only when ``d > m``), sorted.
        unmatched_features: true features without a node (only when ``d < m``), sorted.
    """

    node_to_feature: dict[int, int]
    flipped: dict[int, bool]
    accuracy: dict[int, float]
    unmatched_nodes: list[int] = field(default_factory=list)
    unmatched_features: list[int] = field(default_factory=list)

    @property
    def feature_to_node(self) -> dict[int, int]:
        """Inverse of :attr:`node_to_feature`."""
        return {f: j for j, f in self.node_to_feature.items()}

    @property
    def n_features(self) -> int:
        """Number of true features ``m`` (matched plus unmatched)."""
        return len(self.node_to_feature) + len(self.unmatched_features)


def binarize(values: np.ndarray, name: str = "values") -> np.ndarray:
    """``[N, d]`` 0/1 int array: binary input kept, probabilities thresholded (``>= 0.5`` -> 1)."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"{name} must be 2-D [N, d], got shape {values.shape}")
    if not np.isfinite(values).all() or (values < 0).any() or (values > 1).any():
        raise ValueError(f"{name} must be binary or probabilities in [0, 1]")
    return (values >= 0.5).astype(np.int64)


def _check_binary(values: np.ndarray, name: str) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"{name} must be 2-D [N, m], got shape {values.shape}")
    if values.size and not np.isin(values, (0, 1)).all():
        raise ValueError(f"{name} must be binary (0/1)")
    return values.astype(np.int64)


def agreement_matrix(node_values: np.ndarray, true_features: np.ndarray) -> np.ndarray:
    """``acc[j, f]`` = fraction of specimens where node ``j`` equals feature ``f`` (no flip).

    ``node_values`` is binarised as in :func:`match_nodes`; ``true_features`` must be 0/1.
    """
    x = binarize(node_values, "node_values")
    t = _check_binary(true_features, "true_features")
    if x.shape[0] != t.shape[0]:
        raise ValueError(f"row counts differ: node_values {x.shape[0]}, true_features {t.shape[0]}")
    if x.shape[0] == 0:
        raise ValueError("need at least one specimen")
    agree = x.T @ t + (1 - x).T @ (1 - t)
    return agree / x.shape[0]


def match_nodes(node_values: np.ndarray, true_features: np.ndarray) -> NodeMatching:
    """Match learned nodes to true features (Hungarian method, flips allowed).

    Each (node, feature) pair scores ``max(acc, 1 - acc)`` where ``acc`` is their agreement; the
    assignment maximises the summed score (``scipy.optimize.linear_sum_assignment``). A matched
    node is flipped when ``acc < 0.5`` (an exact tie 0.5 is not flipped). ``d != m`` is allowed:
    ``min(d, m)`` pairs are matched and the rest are listed as unmatched.

    Args:
        node_values: ``[N, d]`` binary node values, or probabilities ``q(N_j = 1 | x)``,
            thresholded at 0.5 (``>= 0.5`` -> 1).
        true_features: ``[N, m]`` binary true features.
    """
    acc = agreement_matrix(node_values, true_features)
    d, m = acc.shape
    score = np.maximum(acc, 1.0 - acc)
    rows, cols = linear_sum_assignment(score, maximize=True)
    node_to_feature = {int(j): int(f) for j, f in zip(rows, cols, strict=True)}
    flipped = {int(j): bool(acc[j, f] < 0.5) for j, f in zip(rows, cols, strict=True)}
    accuracy = {int(j): float(score[j, f]) for j, f in zip(rows, cols, strict=True)}
    return NodeMatching(
        node_to_feature=node_to_feature,
        flipped=flipped,
        accuracy=accuracy,
        unmatched_nodes=sorted(set(range(d)) - set(node_to_feature)),
        unmatched_features=sorted(set(range(m)) - set(node_to_feature.values())),
    )


def _mapped_table(
    table: np.ndarray,
    node_parents: Sequence[int],
    matching: NodeMatching,
    child_flipped: bool,
) -> tuple[list[int], np.ndarray]:
    """Re-index one learned table to feature space; returns (kept parent nodes, new table)."""
    node_parents = list(node_parents)
    table = np.asarray(table, dtype=float).reshape(-1)
    if table.shape[0] != 2 ** len(node_parents):
        raise ValueError(
            f"table has {table.shape[0]} entries, expected 2**{len(node_parents)} for parents {node_parents}"
        )
    kept_pos = [i for i, p in enumerate(node_parents) if p in matching.node_to_feature]
    drop_pos = [i for i, p in enumerate(node_parents) if p not in matching.node_to_feature]
    kept = [node_parents[i] for i in kept_pos]
    flip_bits = np.array([int(matching.flipped[p]) for p in kept], dtype=np.int64)

    feat_cfg = joint_outcomes(len(kept))  # [2**k, k] feature values of the kept parents
    node_kept = feat_cfg ^ flip_bits[None, :]  # node values of the kept parents
    drop_cfg = joint_outcomes(len(drop_pos))  # [2**u, u] every value of the dropped parents

    weights_kept = np.array([2**i for i in kept_pos], dtype=np.int64)
    weights_drop = np.array([2**i for i in drop_pos], dtype=np.int64)
    old_idx = (node_kept @ weights_kept)[:, None] + (drop_cfg @ weights_drop)[None, :]
    new_table = table[old_idx].mean(axis=1)  # uniform average over dropped parents
    if child_flipped:
        new_table = 1.0 - new_table
    return kept, new_table


def map_learned_graph(
    parents: Mapping[int, Sequence[int]],
    tables: Mapping[int, np.ndarray],
    matching: NodeMatching,
    feature_names: Sequence[str],
) -> BinarySCM:
    """Express a learned binary Bayesian network in the true features' names and meanings.

    Args:
        parents: learned node ``j`` -> ordered list of its parent nodes.
        tables: learned node ``j`` -> ``P(N_j = 1 | parents)``, length ``2**len(parents[j])``,
            config index ``c = sum_i value(parents[j][i]) * 2**i``.
        matching: from :func:`match_nodes`.
        feature_names: names of all ``m`` true features, indexed by true feature index.

    Returns:
        A :class:`BinarySCM` over *all* ``m`` true features, in true-feature-index order. Each
        matched node becomes the feature it is matched to; its parents keep their order in the
        learned parent list. Flips: a flipped child's table becomes ``1 - table``; a flipped
        parent's bit is inverted when looking up the learned config.

    Unmatched features (``d < m``): each becomes an independent fair coin, a root with
    ``P = 0.5`` and no edges, so every metric computed from the result covers every true feature
    (its true edges count as missing, and interventional errors involving it are not hidden).

    Unmatched nodes (``d > m``) are dropped. A matched node with an unmatched parent gets its table
    averaged uniformly (P = 1/2 each value) over that parent's values. This is a simple, documented
    rule, not the exact marginal of the learned joint: dependence routed through an unmatched node
    (``a -> u -> b``) is lost.
    """
    names = list(feature_names)
    if len(names) != matching.n_features:
        raise ValueError(
            f"{len(names)} feature names for a matching over {matching.n_features} features"
        )
    node_of = matching.feature_to_node
    new_parents: dict[str, tuple[str, ...]] = {}
    new_tables: dict[str, np.ndarray] = {}
    for f, name in enumerate(names):
        if f not in node_of:
            new_parents[name], new_tables[name] = (), np.array([UNMATCHED_FEATURE_P_ONE])
            continue
        j = node_of[f]
        if j not in parents or j not in tables:
            raise ValueError(f"matched node {j} has no parent list or table")
        kept, table = _mapped_table(tables[j], parents[j], matching, matching.flipped[j])
        new_parents[name] = tuple(names[matching.node_to_feature[p]] for p in kept)
        new_tables[name] = table
    return BinarySCM(new_parents, new_tables)


def signed_edges(weights: np.ndarray, matching: NodeMatching) -> np.ndarray:
    """Learned edge strengths mapped to feature space, with signs corrected for flips.

    With logistic conditionals ``logit P(N_j = 1) = b_j + sum_i W_ij n_i``, replacing a parent by
    ``1 - n_i`` or the child by ``1 - n_j`` changes the sign of ``W_ij`` (the biases absorb the
    rest), so the sign changes exactly when one endpoint is flipped.

    Args:
        weights: ``[d, d]`` learned edge strengths, ``weights[i, j]`` for node ``i -> j``.
        matching: from :func:`match_nodes`.

    Returns:
        ``[m, m]`` float array over true feature indices; rows/columns of unmatched features are 0.
    """
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
        raise ValueError(f"weights must be square [d, d], got shape {weights.shape}")
    m = matching.n_features
    out = np.zeros((m, m), dtype=float)
    for i, fi in matching.node_to_feature.items():
        for j, fj in matching.node_to_feature.items():
            sign = -1.0 if matching.flipped[i] != matching.flipped[j] else 1.0
            out[fi, fj] = sign * weights[i, j]
    return out
