"""One panel of a tabular modality's values (``core.modality_spec``, e.g. the scalars ``[N, S]``): the
circles spectra figure and the manifest overview figure draw it when the data set has such values."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def scalar_panel(ax, values: np.ndarray, classes: Sequence[tuple[np.ndarray, str, str]], title: str = "Scalar measurements") -> None:
    """Value 1 against value 2 (or against the specimen index with one value per specimen) of ``values``
    ``[N, S]``, one scatter per class ``(bool [N] members, colour, name)`` with its count in the legend;
    rows with a NaN are missing, left out and counted in the title (``"<title> (S per specimen; k
    specimens without)"``)."""
    values = np.asarray(values, dtype=float).reshape(len(values), -1)
    present = ~np.isnan(values).any(axis=1)
    two = values.shape[1] > 1
    x = values[:, 0] if two else np.arange(len(values), dtype=float)
    y = values[:, 1] if two else values[:, 0]
    for members, colour, name in classes:
        chosen = present & np.asarray(members, dtype=bool)
        ax.scatter(x[chosen], y[chosen], s=4, color=colour, alpha=0.4, label=f"{name}, n = {int(chosen.sum())}")
    ax.set_xlabel("scalar 1" if two else "specimen")
    ax.set_ylabel("scalar 2" if two else "scalar 1")
    ax.set_title(f"{title} ({values.shape[1]} per specimen; {int((~present).sum())} specimens without)")
    ax.legend(loc="upper left", fontsize=8)
