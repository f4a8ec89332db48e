"""``data_processing``: validate a raw specimen set, split it and write the model input."""

from causal_pima.pipelines.data_processing.pipeline import create_pipeline

__all__ = ["create_pipeline"]
