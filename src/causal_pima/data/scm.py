"""Binary structural causal model: a DAG over named binary features plus conditional probability tables.

Used to generate ground-truth feature tables for the synthetic data (README "Circles
configurations (true graphs)") and to give the exact observational and interventional
distributions that evaluation compares against (README "What the reports hold").

Conventions:

* Feature order: ``features = tuple(parents.keys())``; node ``j`` is ``features[j]``. Sampled tables
  have their columns in this order and outcome indices follow ``causal_pima.core.outcomes``
  (bit ``j`` of outcome ``k`` is the value of node ``j``).
* Conditional tables: ``tables[f][c] = P(f = 1 | parents of f in configuration c)``, a vector of length
  ``2**p`` for ``p = len(parents[f])``. The configuration index is
  ``c = sum_i value(parents[f][i]) * 2**i``, i.e. bit ``i`` of ``c`` is the ``i``-th *listed* parent.
  A root feature has a table of length 1: ``[P(f = 1)]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import networkx as nx
import numpy as np
import pandas as pd

from causal_pima.core.outcomes import joint_outcomes

_CONFIG_KEYS = frozenset({"parents", "p_one"})


class BinarySCM:
    """A Bayesian network over binary features with explicit conditional probability tables.

    Args:
        parents: ``{feature: [parent, ...]}``. Its key order is the feature order. Every feature must
            appear as a key (roots with an empty list).
        tables: ``{feature: [P(feature = 1 | configuration c) for c in range(2**p)]}``, see the module
            docstring for how ``c`` encodes the parent values. A scalar is accepted for a root.

    Raises:
        ValueError: naming the feature and the problem, for an unknown parent, a self-loop, duplicate
            parents, a cycle, a missing or extra table, a table of the wrong size, or a probability
            that is not finite or lies outside ``[0, 1]``.
    """

    def __init__(
        self, parents: Mapping[str, Sequence[str]], tables: Mapping[str, Sequence[float]]
    ) -> None:
        self.features: tuple[str, ...] = tuple(parents.keys())
        if not self.features:
            raise ValueError("a BinarySCM needs at least one feature")
        self.parents: dict[str, tuple[str, ...]] = {
            feature: _validated_parents(feature, feature_parents, self.features)
            for feature, feature_parents in parents.items()
        }
        self._graph = _acyclic_graph(self.features, self.parents)
        extra = [feature for feature in tables if feature not in self.parents]
        if extra:
            raise ValueError(
                f"tables given for unknown feature(s) {extra}; known features: {list(self.features)}"
            )
        self.tables: dict[str, np.ndarray] = {}
        for feature in self.features:
            if feature not in tables:
                raise ValueError(f"feature {feature!r}: conditional probability table is missing")
            self.tables[feature] = _validated_table(
                feature, tables[feature], len(self.parents[feature])
            )

    # ------------------------------------------------------------------ construction / export

    @classmethod
    def from_config(cls, config: Mapping[str, Mapping]) -> BinarySCM:
        """Build from a YAML-friendly mapping ``{feature: {"parents": [...], "p_one": [...]}}``.

        A missing (or null) ``"parents"`` means a root feature; a single parent may be given as a
        bare string and a root's ``p_one`` as a bare number. Keys other than ``parents`` and
        ``p_one`` raise ``ValueError``.
        """
        parents: dict[str, list[str]] = {}
        tables: dict[str, Sequence[float]] = {}
        for feature, entry in config.items():
            if not isinstance(entry, Mapping):
                raise ValueError(
                    f"feature {feature!r}: config entry must be a mapping with keys "
                    f"'parents' and 'p_one', got {type(entry).__name__}"
                )
            unknown = sorted(set(entry) - _CONFIG_KEYS)
            if unknown:
                raise ValueError(
                    f"feature {feature!r}: unknown config key(s) {unknown}; "
                    f"expected {sorted(_CONFIG_KEYS)}"
                )
            feature_parents = entry.get("parents") or []
            if isinstance(feature_parents, str):
                feature_parents = [feature_parents]
            parents[feature] = list(feature_parents)
            if "p_one" in entry:
                tables[feature] = entry["p_one"]
        return cls(parents, tables)

    def to_config(self) -> dict:
        """Inverse of :meth:`from_config`: plain python lists and floats, safe to dump as YAML/JSON."""
        return {
            feature: {
                "parents": list(self.parents[feature]),
                "p_one": [float(p) for p in self.tables[feature]],
            }
            for feature in self.features
        }

    def __repr__(self) -> str:
        edges = ", ".join(f"{parent}->{child}" for parent, child in self.edges())
        return f"BinarySCM(features={list(self.features)}, edges=[{edges}])"

    # ------------------------------------------------------------------ graph

    def topological_order(self) -> list[str]:
        """Features with every parent before its children; ties broken by the feature order."""
        position = {feature: j for j, feature in enumerate(self.features)}
        return list(nx.lexicographical_topological_sort(self._graph, key=position.__getitem__))

    def edges(self) -> list[tuple[str, str]]:
        """``(parent, child)`` pairs, children in feature order, parents in their listed order."""
        return [(parent, child) for child in self.features for parent in self.parents[child]]

    def adjacency(self) -> np.ndarray:
        """int64 ``[d, d]`` with ``A[i, j] = 1`` iff ``features[i] -> features[j]``."""
        position = {feature: j for j, feature in enumerate(self.features)}
        adjacency = np.zeros((len(self.features), len(self.features)), dtype=np.int64)
        for parent, child in self.edges():
            adjacency[position[parent], position[child]] = 1
        return adjacency

    # ------------------------------------------------------------------ distributions

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """Ancestral sampling of ``n`` specimens.

        Returns:
            DataFrame ``[n, d]`` of int8 0/1, columns in feature order, index ``0..n-1``.
        """
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        values = {}
        for feature in self.topological_order():
            p_one = self.tables[feature][self._configuration(feature, values)]
            values[feature] = (rng.random(int(n)) < p_one).astype(np.int8)
        return pd.DataFrame({feature: values[feature] for feature in self.features})

    def joint(self) -> np.ndarray:
        """Exact observational distribution over all joint outcomes.

        Returns:
            float64 ``[2**d]``, entry ``k`` = ``P(outcome k)`` (bit ``j`` of ``k`` = node ``j``),
            the product of the conditionals evaluated for all outcomes at once.
        """
        outcomes = joint_outcomes(len(self.features))  # [K, d]
        columns = {feature: outcomes[:, j] for j, feature in enumerate(self.features)}
        probability = np.ones(len(outcomes), dtype=np.float64)
        for feature in self.features:
            p_one = self.tables[feature][self._configuration(feature, columns)]  # [K]
            probability *= np.where(columns[feature] == 1, p_one, 1.0 - p_one)
        return probability

    def interventional(self, feature: str, value: int) -> np.ndarray:
        """Exact ``P(outcome | do(feature = value))`` as float64 ``[2**d]`` (same indexing as :meth:`joint`)."""
        return self.do(feature, value).joint()

    def do(self, feature: str, value: int) -> BinarySCM:
        """The mutilated model: ``feature`` loses its parents and is fixed to ``value``."""
        if feature not in self.parents:
            raise ValueError(
                f"cannot intervene on unknown feature {feature!r}; known features: {list(self.features)}"
            )
        if value not in (0, 1):
            raise ValueError(f"do({feature!r} = {value!r}): value must be 0 or 1")
        parents = {f: (() if f == feature else ps) for f, ps in self.parents.items()}
        tables = {f: ([float(value)] if f == feature else t) for f, t in self.tables.items()}
        return BinarySCM(parents, tables)

    # ------------------------------------------------------------------ helpers

    def _configuration(self, feature: str, values: Mapping[str, np.ndarray]) -> np.ndarray | int:
        """Parent-configuration index ``c = sum_i values[parent_i] * 2**i`` (int64 ``[N]``, or 0 for a root)."""
        configuration: np.ndarray | int = 0
        for i, parent in enumerate(self.parents[feature]):
            configuration = configuration + (values[parent].astype(np.int64) << i)
        return configuration


def _validated_parents(
    feature: str, feature_parents: Sequence[str], features: tuple[str, ...]
) -> tuple[str, ...]:
    if isinstance(feature_parents, str):
        raise ValueError(
            f"feature {feature!r}: parents must be a list of feature names, got the string "
            f"{feature_parents!r} (write [{feature_parents!r}])"
        )
    feature_parents = tuple(feature_parents)
    for parent in feature_parents:
        if parent == feature:
            raise ValueError(f"feature {feature!r}: self-loop (a feature cannot be its own parent)")
        if parent not in features:
            raise ValueError(
                f"feature {feature!r}: unknown parent {parent!r}; known features: {list(features)}"
            )
    duplicates = sorted({parent for parent in feature_parents if feature_parents.count(parent) > 1})
    if duplicates:
        raise ValueError(f"feature {feature!r}: duplicate parents {duplicates}")
    return feature_parents


def _acyclic_graph(features: tuple[str, ...], parents: Mapping[str, tuple[str, ...]]) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(features)
    graph.add_edges_from((parent, child) for child in features for parent in parents[child])
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return graph
    on_cycle = " -> ".join([edge[0] for edge in cycle] + [cycle[0][0]])
    raise ValueError(
        f"the graph has a cycle through features {on_cycle}; a BinarySCM must be a DAG"
    )


def _validated_table(feature: str, table: Sequence[float], n_parents: int) -> np.ndarray:
    try:
        values = np.array(table, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"feature {feature!r}: conditional probability table must be numbers, got {table!r}"
        ) from error
    if values.ndim > 1:
        raise ValueError(
            f"feature {feature!r}: conditional probability table must be 1-D, got shape {values.shape}"
        )
    values = values.reshape(-1)
    expected = 2**n_parents
    if values.size != expected:
        raise ValueError(
            f"feature {feature!r}: conditional probability table has wrong size: expected "
            f"2**{n_parents} = {expected} values (one per parent configuration), got {values.size}"
        )
    if not np.isfinite(values).all():
        raise ValueError(
            f"feature {feature!r}: probabilities must be finite, got {values.tolist()}"
        )
    outside = values[(values < 0.0) | (values > 1.0)]
    if outside.size:
        raise ValueError(
            f"feature {feature!r}: probability {float(outside[0])} outside [0, 1] "
            f"in table {values.tolist()}"
        )
    values.setflags(write=False)
    return values


def true_dag_record(scm: BinarySCM, configuration: str) -> dict[str, object]:
    """JSON record of a ground-truth DAG: features, edge list and conditional probability tables
    (the ``true_dag.json`` layout of every data set: circles, lattice).
    """
    return {
        "configuration": configuration,
        "features": list(scm.features),
        "edges": [list(edge) for edge in scm.edges()],
        "scm": scm.to_config(),
    }


def validated_true_dag(record: object, source: str) -> tuple[tuple[str, ...], list[tuple[str, str]], BinarySCM | None]:
    """Check a ground-truth DAG file's content: ``(features, edges, scm)``, ``scm`` None for a graph-only file.

    Two layouts are accepted (README "Your own data set"): the full record of :func:`true_dag_record`
    (``features``, ``edges`` and ``scm``, the conditional probability tables), or a graph only:
    ``{"features": [...], "edges": [[parent, child], ...]}``. With ``scm`` given, its graph wins and
    ``features`` / ``edges``, when present, must agree with it.

    Args:
        record: the loaded JSON / YAML content.
        source: how the messages name the file (catalog entry and path).

    Raises:
        ValueError: ``"ground-truth DAG <source>: <problem>"`` for a record that is not a mapping,
            missing or duplicate features, a malformed edge (not ``[parent, child]``), an edge naming
            an unknown feature, a self-loop, a duplicate edge, a cycle, or invalid tables.
    """

    def fail(problem: str) -> ValueError:
        return ValueError(f"ground-truth DAG {source}: {problem}")

    if not isinstance(record, Mapping):
        raise fail(f"expected a mapping with 'features' and 'edges' (and optionally 'scm'), got {type(record).__name__}")
    scm = None
    if record.get("scm") is not None:
        try:
            scm = BinarySCM.from_config(record["scm"])
        except (ValueError, TypeError, AttributeError) as error:
            raise fail(f"invalid 'scm' tables: {error}") from None
    if "features" not in record and scm is None:
        raise fail("no 'features' list (expected {\"features\": [...], \"edges\": [[parent, child], ...]})")
    features = record.get("features", list(scm.features) if scm is not None else None)
    if isinstance(features, str) or not isinstance(features, Sequence) or not features:
        raise fail(f"'features' must be a non-empty list of feature names, got {features!r}")
    features = tuple(str(f) for f in features)
    duplicates = sorted({f for f in features if features.count(f) > 1})
    if duplicates:
        raise fail(f"duplicate features {duplicates}")
    raw_edges = record.get("edges", scm.edges() if scm is not None else [])
    if raw_edges is None or isinstance(raw_edges, str | Mapping) or not isinstance(raw_edges, Sequence):
        raise fail(f"'edges' must be a list of [parent, child] pairs, got {raw_edges!r}")
    edges: list[tuple[str, str]] = []
    for position, edge in enumerate(raw_edges):
        if isinstance(edge, str | Mapping) or not isinstance(edge, Sequence) or len(edge) != 2 or not all(isinstance(e, str) for e in edge):
            raise fail(f"malformed edge #{position} {edge!r}: expected [parent, child], two feature names")
        parent, child = edge
        unknown = [name for name in (parent, child) if name not in features]
        if unknown:
            raise fail(f"edge {parent} -> {child} names unknown feature(s) {unknown}; features: {list(features)}")
        if parent == child:
            raise fail(f"edge {parent} -> {child} is a self-loop")
        if (parent, child) in edges:
            raise fail(f"duplicate edge {parent} -> {child}")
        edges.append((parent, child))
    graph = nx.DiGraph(edges)
    graph.add_nodes_from(features)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle is not None:
        raise fail("the graph has a cycle: " + " -> ".join([e[0] for e in cycle] + [cycle[0][0]]))
    if scm is not None:
        if set(features) != set(scm.features):
            raise fail(f"'features' {list(features)} differ from the features of 'scm' {list(scm.features)}")
        if set(edges) != set(scm.edges()):
            raise fail(f"'edges' {[list(e) for e in edges]} differ from the parents in 'scm' {[list(e) for e in scm.edges()]}")
        return scm.features, scm.edges(), scm
    return features, edges, None


def scm_from_labels(features: Sequence[str], edges: Sequence[tuple[str, str]], labels: np.ndarray, prior: float = 1.0) -> BinarySCM:
    """A :class:`BinarySCM` on a known graph with tables estimated from 0/1 ``labels`` ``[N, m]``
    (columns in ``features`` order): ``P(f = 1 | c) = (n_1(c) + prior) / (n(c) + 2 prior)`` (Laplace)."""
    features = list(features)
    parents = {f: [p for p, c in edges if c == f] for f in features}
    values = np.asarray(labels, dtype=np.int64)
    tables = {}
    for j, feature in enumerate(features):
        configuration = np.zeros(len(values), dtype=np.int64)
        for i, parent in enumerate(parents[feature]):
            configuration += values[:, features.index(parent)] << i
        size = 2 ** len(parents[feature])
        ones = np.bincount(configuration, weights=values[:, j], minlength=size)
        totals = np.bincount(configuration, minlength=size)
        tables[feature] = ((ones + prior) / (totals + 2.0 * prior)).tolist()
    return BinarySCM(parents, tables)
