"""``lattice``: ingest a specimen manifest (real printed lattices or the synthetic stand-in)."""

from causal_pima.pipelines.lattice.pipeline import create_pipeline

__all__ = ["create_pipeline"]
