"""Nodes of the ``lattice_synthetic`` pipeline: pure functions of parameters and datasets.

The raw stand-in is the dict that ``causal_pima.datasets.SpecimenManifestDataset`` saves and loads:
``{"manifest": DataFrame, "images": {id: [H, W]}, "curves": {id: DataFrame}}`` (loading adds
``"folder"`` / ``"manifest_file"``, images come back as stored, e.g. uint8 for PNG, and an unreadable
file comes back as a message string). The figures (:mod:`causal_pima.plots`) accept both forms.
"""

from __future__ import annotations

from causal_pima.data.lattice import generate_raw
from causal_pima.plots import FEATURE_VALUE_NAMES
from causal_pima.plots import lattice_sample_images_figure as plot_sample_images
from causal_pima.plots import stress_strain_figure as plot_stress_strain

__all__ = ["FEATURE_VALUE_NAMES", "generate_raw", "plot_sample_images", "plot_stress_strain"]
