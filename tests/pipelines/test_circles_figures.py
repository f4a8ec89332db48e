"""Unit tests of the two figure nodes of the ``circles`` pipeline (issue 10, item 9): until now they
ran only inside the SequentialRunner test of ``test_circles_pipeline.py``."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from causal_pima.pipelines.circles.nodes import plot_sample_images, plot_spectra


def raw_set(n: int = 5, seed: int = 0) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    rng = np.random.default_rng(seed)
    raw = {
        "images": rng.random((n, 3, 4, 4)).astype(np.float32),
        "curves": rng.random((n, 6)).astype(np.float32),
        "grid": np.linspace(400.0, 700.0, 6),
    }
    features = pd.DataFrame({"specimen_id": np.arange(n), "radius": [0, 1, 0, 1, 1][:n], "hue": [1, 0, 0, 1, 1][:n]})
    return raw, features


def test_sample_images_shows_the_first_images_with_their_true_features():
    raw, features = raw_set()
    figure = plot_sample_images(raw, features, {"n_figure_images": 5})
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 6  # ceil(sqrt(5)) = 3 columns, 2 rows; the sixth panel is left empty
    shown = [ax for ax in figure.axes if ax.images]
    assert len(shown) == 5
    for ax, image, (_, row) in zip(shown, raw["images"], features.iterrows(), strict=True):
        np.testing.assert_array_equal(ax.images[0].get_array(), np.transpose(image, (1, 2, 0)))  # C,H,W -> H,W,C
        assert ax.get_title() == f"radius={row['radius']}\nhue={row['hue']}"  # specimen_id is not a feature
    assert plot_sample_images(raw, features, {"n_figure_images": 2}).axes[1].get_title() == "radius=1\nhue=0"
    assert sum(bool(ax.images) for ax in plot_sample_images(raw, features, {"n_figure_images": 2}).axes) == 2


def test_spectra_are_drawn_by_hue_with_their_counts():
    raw, features = raw_set()
    (ax,) = plot_spectra(raw, features).axes
    drawn = [line for line in ax.lines if len(line.get_xdata())]
    assert len(drawn) == 5
    red = [line for line in drawn if line.get_color() == "tab:red"]
    np.testing.assert_array_equal(np.stack([line.get_ydata() for line in red]), raw["curves"][[1, 2]])  # hue == 0
    np.testing.assert_array_equal(red[0].get_xdata(), raw["grid"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["hue = 0 (red), n = 2", "hue = 1 (blue), n = 3"]
    assert to_rgba(ax.get_legend().get_lines()[1].get_color()) == to_rgba("tab:blue")
    # n_curves: only the first curves; without a hue column every curve is red
    (capped,) = plot_spectra(raw, features, n_curves=3).axes
    assert [t.get_text() for t in capped.get_legend().get_texts()] == ["hue = 0 (red), n = 2", "hue = 1 (blue), n = 1"]
    (no_hue,) = plot_spectra(raw, features.drop(columns="hue")).axes
    assert [t.get_text() for t in no_hue.get_legend().get_texts()] == ["hue = 0 (red), n = 5"]
