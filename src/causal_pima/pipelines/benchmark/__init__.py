"""``benchmark``: causalPIMA and its baselines over seeds and true-graph configurations (circles
configurations, and ``lattice``: the lattice stand-in).

``create_pipeline`` imports the nodes (and torch) only when called, so that ``settings.py`` can import
``shape.BenchmarkShapeHook`` cheaply.
"""

from __future__ import annotations

from typing import Any


def create_pipeline(benchmark: dict[str, Any] | None = None, **kwargs: Any):
    from causal_pima.pipelines.benchmark.pipeline import create_pipeline as create

    return create(benchmark, **kwargs)


__all__ = ["create_pipeline"]
