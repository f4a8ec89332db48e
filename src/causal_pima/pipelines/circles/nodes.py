"""Nodes of the ``circles`` pipeline: the library functions of :mod:`causal_pima.data.circles_set`
(features from the configured SCM, exact distributions, rendering) and the figures of
:mod:`causal_pima.plots`, used as they are."""

from causal_pima.data.circles_set import (
    build_scm,
    exact_distributions,
    generate_features,
    render_specimens,
)
from causal_pima.data.scm import true_dag_record
from causal_pima.plots import circles_sample_images_figure as plot_sample_images
from causal_pima.plots import spectra_figure as plot_spectra

__all__ = [
    "build_scm",
    "exact_distributions",
    "generate_features",
    "plot_sample_images",
    "plot_spectra",
    "render_specimens",
    "true_dag_record",
]
