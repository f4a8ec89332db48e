"""``lattice_synthetic``: write the synthetic stand-in for printed lattices in the raw manifest format."""

from causal_pima.pipelines.lattice_synthetic.pipeline import create_pipeline

__all__ = ["create_pipeline"]
