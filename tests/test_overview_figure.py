"""The overview figure of a manifest data set (``ingestion.<dataset>.plot_overview``, issue 23 item 5) on
hand-made tiny data sets: how many image panels, which rows, and the curves' colours by label."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from causal_pima.pipelines.lattice import create_pipeline, nodes

GRID = np.linspace(0.0, 0.7, 8)


def _specimens(labels: dict[str, list[int]] | None, n: int, channels: int = 1) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """``n`` specimens: image i is filled with i / n, curve i is i * strain; ``labels`` the 0/1 columns."""
    images = np.broadcast_to((np.arange(n) / n)[:, None, None, None], (n, channels, 8, 8)).astype(np.float32)
    curves = (np.arange(n)[:, None] * GRID[None]).astype(np.float32)
    features = pd.DataFrame({"specimen_id": [f"s{i}" for i in range(n)], **(labels or {})})
    return {"images": images, "curves": curves, "grid": GRID.astype(np.float32), "specimen_id": features["specimen_id"].to_numpy()}, features


def _image_axes(figure: Figure) -> list:
    return [ax for ax in figure.get_axes() if ax.images]


def test_images_are_grouped_by_label_outcome_up_to_four_each():
    # outcomes (a, b): (0, 0) x 5, (0, 1) x 1, (1, 1) x 4 -> rows of 4, 1 and 4 images
    a = [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]
    b = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    specimens, features = _specimens({"a": a, "b": b}, 10)
    figure = nodes.plot_overview(specimens, features, dataset="tiny")
    shown = _image_axes(figure)
    assert len(shown) == 9
    assert [ax.get_title() for ax in shown] == ["s0", "s1", "s2", "s3", "s5", "s6", "s7", "s8", "s9"]
    assert [ax.get_ylabel() for ax in figure.get_axes() if ax.get_ylabel().startswith(("a=", "b="))] == [
        "a=0 b=0\n(n = 5)", "a=0 b=1\n(n = 1)", "a=1 b=1\n(n = 4)"]
    assert figure.subfigs[0].get_suptitle() == "tiny: 10 specimens; images of each of the 3 label outcomes"
    # one curve panel per label, each curve coloured by its value: 6 + 4 by a, 5 + 5 by b
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in figure.get_axes() if ax.get_legend()]
    assert legends == [["a = 0, n = 6", "a = 1, n = 4"], ["b = 0, n = 5", "b = 1, n = 5"]]
    coloured = [ax for ax in figure.get_axes() if ax.get_legend()][0]
    assert sum(1 for line in coloured.lines if line.get_color() == "tab:orange" and len(line.get_xdata())) == 4


def test_the_most_frequent_outcomes_are_shown_when_there_are_more_than_max_outcomes():
    a, b = [0, 0, 0, 1, 1, 0], [0, 0, 0, 0, 0, 1]  # (0, 0) x 3, (1, 0) x 2, (0, 1) x 1
    figure = nodes.plot_overview(*_specimens({"a": a, "b": b}, 6), max_outcomes=2, images_per_outcome=2)
    assert [ax.get_title() for ax in _image_axes(figure)] == ["s0", "s1", "s3", "s4"]
    assert "images of each label outcome (2 of 3)" in figure.subfigs[0].get_suptitle()


@pytest.mark.parametrize("channels", [1, 3])
def test_without_labels_the_first_sixteen_specimens_are_shown_and_the_curves_in_one_panel(channels):
    figure = nodes.plot_overview(*_specimens(None, 20, channels))
    shown = _image_axes(figure)
    assert len(shown) == 16 and shown[-1].get_title() == "s15"
    assert shown[0].images[0].get_array().shape == ((8, 8) if channels == 1 else (8, 8, 3))
    (curves,) = [ax for ax in figure.get_axes() if ax.lines]
    assert len(curves.lines) == 20 and curves.get_title() == "20 curves"


def test_features_of_other_specimens_are_refused():
    specimens, features = _specimens({"a": [0, 1, 1]}, 3)
    with pytest.raises(ValueError, match="overview: 2 feature rows for 3 ingested specimens"):
        nodes.plot_overview(specimens, features.iloc[:2])


def test_ingestion_writes_the_overview_of_its_own_data_set():
    (overview,) = [n for n in create_pipeline(dataset="tiny").nodes if n.name == "ingestion.tiny.plot_overview"]
    assert overview.inputs == ["tiny.raw_specimens", "tiny.features"] and overview.outputs == ["tiny.overview"]
    figure = overview.func(*_specimens({"a": [0, 1]}, 2))
    assert figure.subfigs[0].get_suptitle().startswith("tiny: 2 specimens")


def test_the_scalars_get_a_panel_coloured_by_the_first_label_and_unmeasured_specimens_are_counted():
    """Issue 21: a set with the scalar modality shows its values (missing rows counted); a specimen without
    an image is not in the image grid and one without a curve is neither drawn nor counted."""
    specimens, features = _specimens({"a": [0, 0, 1, 1, 1]}, 5)
    plain = nodes.plot_overview(specimens, features)
    assert len([ax for ax in plain.get_axes() if ax.collections]) == 0  # no scalars: no scalar panel, as before
    specimens["images"] = specimens["images"].copy()
    specimens["images"][0] = np.nan  # s0 was not imaged
    specimens["curves"][3] = np.nan  # s3 was not tested
    specimens["scalars"] = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [np.nan, 40.0], [5.0, 50.0]])
    figure = nodes.plot_overview(specimens, features, dataset="tiny")
    assert figure.subfigs[0].get_suptitle() == "tiny: 5 specimens (1 without image, 1 without curve); images of each of the 2 label outcomes"
    assert [ax.get_title() for ax in _image_axes(figure)] == ["s1", "s2", "s3", "s4"]
    (curves,) = [ax for ax in figure.get_axes() if ax.get_title() == "coloured by a"]
    assert [t.get_text() for t in curves.get_legend().get_texts()] == ["a = 0, n = 2", "a = 1, n = 2"]
    (panel,) = [ax for ax in figure.get_axes() if ax.collections]
    assert panel.get_title() == "scalar values (2 per specimen; 1 specimens without)"
    assert [t.get_text() for t in panel.get_legend().get_texts()] == ["a = 0, n = 2", "a = 1, n = 2"]
    zero, one = (np.asarray(c.get_offsets()) for c in panel.collections)
    assert zero.tolist() == [[1.0, 10.0], [2.0, 20.0]] and one.tolist() == [[3.0, 30.0], [5.0, 50.0]]
    unlabelled = nodes.plot_overview(specimens, features[["specimen_id"]])
    (panel,) = [ax for ax in unlabelled.get_axes() if ax.collections]
    assert [t.get_text() for t in panel.get_legend().get_texts()] == ["all, n = 4"]
    assert [ax.get_title() for ax in _image_axes(unlabelled)] == ["s1", "s2", "s3", "s4"]
