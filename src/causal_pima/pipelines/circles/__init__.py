"""``circles`` pipeline: synthetic circle images and spectra with a known causal graph."""

from causal_pima.pipelines.circles.pipeline import create_pipeline

__all__ = ["create_pipeline"]
