"""New figures without pyplot: ``Figure`` objects that no backend manages (issue 23, item 1).

``pyplot`` keeps every figure it makes until it is closed and draws through the session's backend; a
project that forced the ``Agg`` backend on import (so worker threads could draw) left a notebook that
loaded the Kedro session unable to show any figure. A ``Figure`` made here needs no backend: the
catalog's Matplotlib datasets save it (``savefig`` picks the file format's canvas), a notebook displays
it, and it is freed like any object once nothing refers to it.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] | None = None, layout: str | None = None,
             **kwargs: Any) -> tuple[Figure, Any]:
    """``pyplot.subplots`` for a figure no backend manages: ``(figure, axes)`` with the same ``squeeze``,
    ``sharex``, ``sharey`` and grid arguments."""
    figure = Figure(figsize=figsize, layout=layout)
    return figure, figure.subplots(nrows, ncols, **kwargs)
