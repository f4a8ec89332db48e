"""Tests for the DAG figure: edges whose direction observational data cannot decide look different."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from causal_pima.plots import DETERMINED_LABEL, UNDETERMINED_LABEL, dag_figure  # noqa: E402


def _edge_styles(fig) -> list[tuple[str, str]]:
    """(line style, arrow style class) of every drawn edge."""
    patches = [p for p in fig.axes[0].patches if isinstance(p, FancyArrowPatch)]
    return sorted((p.get_linestyle(), type(p.get_arrowstyle()).__name__) for p in patches)


def test_undetermined_edges_are_dashed_without_arrowhead_and_in_the_legend():
    edges = [("a", "b", 1.0), ("b", "c", -0.5), ("c", "d", 2.0)]
    # pairs are unordered: ("c", "b") marks the edge b -> c
    fig = dag_figure(edges, ["a", "b", "c", "d"], "learned", undetermined=[("c", "b"), ["a", "b"]])
    assert _edge_styles(fig) == [("dashed", "Curve"), ("dashed", "Curve"), ("solid", "CurveFilledB")]
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == [DETERMINED_LABEL, UNDETERMINED_LABEL]
    plt.close(fig)


def test_without_undetermined_pairs_every_edge_is_a_solid_arrow_and_no_legend():
    fig = dag_figure([("a", "b"), ("b", "c")], ["a", "b", "c"], "true")
    assert _edge_styles(fig) == [("solid", "CurveFilledB")] * 2
    assert fig.axes[0].get_legend() is None
    plt.close(fig)
