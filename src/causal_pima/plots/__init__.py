"""Every figure of the project: pure functions of arrays, tables and records returning ``Figure``s
(saved by the catalog's Matplotlib datasets, never written here). Nodes call these; no node draws.

No backend is chosen here, and pyplot is never used: every figure is a ``Figure`` that no backend
manages (:mod:`causal_pima.plots.canvas`), saved by the catalog in any thread or process, and shown
by a notebook with the notebook's own backend.
"""

from causal_pima.plots.datasets import (
    FEATURE_VALUE_NAMES,
    circles_sample_images_figure,
    lattice_sample_images_figure,
    spectra_figure,
    stress_strain_figure,
)
from causal_pima.plots.evaluation import dag_comparison_figure, node_marginals_figure
from causal_pima.plots.models import (
    DETERMINED_LABEL,
    UNDETERMINED_LABEL,
    cross_modal_figure,
    dag_figure,
    do_grid_figure,
    do_row_labels,
    latent_projection_figure,
    node_count_figure,
    physics_curves_figure,
    reconstruction_figure,
    training_history_figure,
)
from causal_pima.plots.overview import manifest_overview_figure

__all__ = [
    "DETERMINED_LABEL",
    "UNDETERMINED_LABEL",
    "FEATURE_VALUE_NAMES",
    "circles_sample_images_figure",
    "cross_modal_figure",
    "dag_comparison_figure",
    "dag_figure",
    "node_count_figure",
    "do_grid_figure",
    "do_row_labels",
    "lattice_sample_images_figure",
    "latent_projection_figure",
    "manifest_overview_figure",
    "node_marginals_figure",
    "physics_curves_figure",
    "reconstruction_figure",
    "spectra_figure",
    "stress_strain_figure",
    "training_history_figure",
]
