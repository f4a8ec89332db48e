"""``benchmark``: causalPIMA and its baselines over seeds and true-graph configurations (circles
configurations, and ``lattice``: the lattice stand-in).

``create_pipeline`` imports the nodes (and torch) only when called, so that ``settings.py`` can import
the shape hook (``causal_pima.benchmark_shape``, through ``shape``) cheaply. It takes the shape (or the
``benchmark`` parameter group): the pipeline registry passes the parameter files' (nothing is read here).
"""

from __future__ import annotations

from typing import Any


def create_pipeline(benchmark: Any, **kwargs: Any):
    from causal_pima.pipelines.benchmark.pipeline import create_pipeline as create

    return create(benchmark, **kwargs)


__all__ = ["create_pipeline"]
