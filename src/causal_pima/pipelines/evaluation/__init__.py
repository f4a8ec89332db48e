"""``evaluation``: compare a fitted model with the ground truth (features, DAG, interventions)."""

from causal_pima.pipelines.evaluation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
