"""``benchmark``: causalPIMA and its baselines over seeds and true-graph configurations."""

from causal_pima.pipelines.benchmark.pipeline import create_pipeline

__all__ = ["create_pipeline"]
