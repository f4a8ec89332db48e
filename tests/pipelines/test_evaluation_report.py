"""Known-answer tests for the evaluation report (``discovery_metrics``) on hand-made inputs.

Headline metrics cover every true feature: a feature without a learned node counts at chance.
"""

from __future__ import annotations

import logging

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import FancyArrowPatch

from causal_pima.core.outcomes import joint_outcomes, outcome_index
from causal_pima.data.scm import BinarySCM
from causal_pima.pipelines.evaluation.nodes import (
    UNMATCHED_FEATURE_CONVENTION,
    discovery_metrics,
    plot_dag_comparison,
)

GLOW = BinarySCM(
    {"radius": [], "shift": [], "hue": ["radius", "shift"], "glow": ["hue"]},
    {"radius": [0.5], "shift": [0.5], "hue": [0.05, 0.5, 0.5, 0.95], "glow": [0.15, 0.85]},
)
CHAIN = BinarySCM(
    {"shift": [], "radius": ["shift"], "hue": ["radius"]},
    {"shift": [0.5], "radius": [0.15, 0.85], "hue": [0.15, 0.85]},
)


def _learned_dag(parents: dict[int, list[int]], tables: dict[int, list[float]]) -> dict:
    """A learned-DAG record (pipeline layout) over nodes N0.. with unit edge strengths."""
    d = len(parents)
    names = [f"N{j}" for j in range(d)]
    adjacency = np.zeros((d, d))
    for j, ps in parents.items():
        adjacency[ps, j] = 1.0
    return {
        "node_names": names,
        "adjacency": adjacency.tolist(),
        "conditional_probability_tables": {
            names[j]: {"parents": [names[p] for p in ps], "p_one": tables[j]} for j, ps in parents.items()
        },
    }


def _balanced_labels(m: int, repeats: int = 4) -> np.ndarray:
    """Every joint outcome of m features ``repeats`` times: distinct features agree on exactly 1/2."""
    return np.tile(joint_outcomes(m), (repeats, 1))


def test_three_perfect_nodes_for_four_features_count_the_missed_feature_at_chance(caplog):
    labels = _balanced_labels(4)  # columns radius, shift, hue, glow
    nodes = labels[:, :3].astype(float)  # N0..N2 are radius, shift, hue exactly; no node for glow
    learned = _learned_dag({0: [], 1: [], 2: [0, 1]}, {0: [0.5], 1: [0.5], 2: [0.05, 0.5, 0.5, 0.95]})
    with caplog.at_level(logging.WARNING, logger="causal_pima.pipelines.evaluation.nodes"):
        report = discovery_metrics(nodes, outcome_index(labels[:, :3]), learned, labels, GLOW)

    assert report["node_accuracy"] == (1 + 1 + 1 + 0.5) / 4 == 0.875
    assert report["node_accuracy_per_feature"] == {"radius": 1.0, "shift": 1.0, "hue": 1.0, "glow": 0.5}
    assert report["unmatched_features"] == ["glow"] and report["unmatched_nodes"] == []
    assert (report["n_features"], report["n_matched_features"], report["n_nodes"]) == (4, 3, 3)
    assert report["unmatched_feature_convention"] == UNMATCHED_FEATURE_CONVENTION
    assert len(report["warnings"]) == 1 and "3 nodes for 4 true features" in report["warnings"][0]
    assert "glow" in report["warnings"][0]
    assert [r.levelno for r in caplog.records] == [logging.WARNING]

    # graph: glow is a node without learned edges, so the true edge hue -> glow is missing
    assert report["shd"] == 1 and report["cpdag_shd"] == 1
    assert (report["shd_within_class"], report["shd_real"]) == (0, 1)
    assert report["directed_precision"] == 1.0 and report["directed_recall"] == pytest.approx(2 / 3)
    assert report["skeleton_recall"] == pytest.approx(2 / 3)
    assert report["learned_tables"]["glow"] == {"parents": [], "p_one": [0.5]}
    assert report["learned_equivalence_class"] == {
        "determined_edges": [["radius", "hue"], ["shift", "hue"]],
        "undetermined_edges": [],
        "n_dags_in_class": 1,
    }
    # interventional TV over all four features, glow a fair coin in the learned model: whatever
    # is done to radius, shift or hue, glow's conditional is off by |0.5 - 0.15| = 0.35 for either
    # hue; do(glow) leaves the (exact) collider: 0. Mean 6 * 0.35 / 8.
    per = report["interventional_tv_per_intervention"]
    assert per == pytest.approx({f"{x}={v}": 0.35 for x in ("radius", "shift", "hue") for v in (0, 1)} | {"glow=0": 0.0, "glow=1": 0.0})
    assert report["interventional_tv"] == pytest.approx(0.2625)


def test_markov_equivalent_graph_counts_its_shd_within_the_class():
    labels = _balanced_labels(3)  # columns shift, radius, hue
    # learned: the reversed chain N2 -> N1 -> N0 (same joint as the truth), nodes = features
    learned = _learned_dag({0: [1], 1: [2], 2: []}, {0: [0.15, 0.85], 1: [0.15, 0.85], 2: [0.5]})
    report = discovery_metrics(labels.astype(float), outcome_index(labels), learned, labels, CHAIN)
    assert report["node_accuracy"] == 1.0 and report["ari"] == pytest.approx(1.0)
    assert (report["n_features"], report["n_matched_features"], report["n_nodes"]) == (3, 3, 3)
    assert report["warnings"] == []
    assert (report["shd"], report["cpdag_shd"]) == (2, 0)
    assert (report["shd_within_class"], report["shd_real"]) == (2, 0)
    assert report["learned_equivalence_class"] == {
        "determined_edges": [],
        "undetermined_edges": [["shift", "radius"], ["radius", "hue"]],
        "n_dags_in_class": 3,
    }
    assert report["true_equivalence_class"] == report["learned_equivalence_class"]

    true_dag = {"features": list(CHAIN.features), "edges": [list(e) for e in CHAIN.edges()], "scm": CHAIN.to_config()}
    fig = plot_dag_comparison(report, true_dag)
    for ax in fig.axes:  # learned and true: both edges undetermined, drawn dashed
        styles = [p.get_linestyle() for p in ax.patches if isinstance(p, FancyArrowPatch)]
        assert styles == ["dashed", "dashed"]
    plt.close(fig)


def test_more_nodes_than_features_warns_and_leaves_the_extra_node_out():
    labels = _balanced_labels(2)
    nodes = np.column_stack([labels, labels[:, 0] ^ labels[:, 1]]).astype(float)  # N2 matches nothing
    scm = BinarySCM({"a": [], "b": []}, {"a": [0.5], "b": [0.5]})
    report = discovery_metrics(nodes, outcome_index(labels), {"node_names": ["N0", "N1", "N2"]}, labels, scm)
    assert report["node_accuracy"] == 1.0 and report["unmatched_nodes"] == ["N2"]
    assert (report["n_features"], report["n_matched_features"], report["n_nodes"]) == (2, 2, 3)
    assert len(report["warnings"]) == 1 and "N2" in report["warnings"][0]
    assert "shd" not in report  # no DAG record (free mixture weights): no graph metrics
