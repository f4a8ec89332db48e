"""``causal_pima``: fit causalPIMA from the pretrained networks and read out the learned DAG."""

from causal_pima.pipelines.causal_pima.pipeline import create_pipeline

__all__ = ["create_pipeline"]
