"""``pretraining``: the encoders/decoders as a PoE VAE with a standard-normal prior."""

from causal_pima.pipelines.pretraining.pipeline import create_pipeline

__all__ = ["create_pipeline"]
