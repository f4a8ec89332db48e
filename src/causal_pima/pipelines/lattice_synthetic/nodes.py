"""Nodes of the ``lattice_synthetic`` pipeline: pure functions of parameters and datasets.

The raw stand-in is the dict that ``causal_pima.datasets.SpecimenManifestDataset`` saves and loads:
``{"manifest": DataFrame, "images": {id: [H, W]}, "curves": {id: DataFrame}}`` (loading adds
``"folder"`` / ``"manifest_file"``, images come back as stored, e.g. uint8 for PNG, and an unreadable
file comes back as a message string). The figures (:mod:`causal_pima.plots`) accept both forms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from causal_pima.data.lattice import generate_lattice_raw
from causal_pima.data.scm import BinarySCM, true_dag_record
from causal_pima.plots import FEATURE_VALUE_NAMES
from causal_pima.plots import lattice_sample_images_figure as plot_sample_images
from causal_pima.plots import stress_strain_figure as plot_stress_strain

__all__ = ["FEATURE_VALUE_NAMES", "generate_raw", "plot_sample_images", "plot_stress_strain"]


def generate_raw(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Generate the raw lattice stand-in and its ground-truth DAG record.

    Args:
        params: ``n_specimens``, ``seed``, ``dag`` (``BinarySCM.from_config`` format over
            ``family, thickness, defect``), optional ``configuration`` (a name for the DAG, default
            ``"custom"``), ``config`` (``LatticeConfig`` keyword arguments), ``curve_format``
            (``stress_strain`` | ``force_displacement``), ``gauge_length``, ``cross_section_area``.

    Returns:
        ``(raw_manifest, true_dag)``: the tables for ``SpecimenManifestDataset.save`` and the JSON
        record ``{configuration, features, edges, scm}`` (same layout as the circles true DAG).
    """
    scm = BinarySCM.from_config(params["dag"])
    raw = generate_lattice_raw(
        n_specimens=int(params["n_specimens"]),
        seed=int(params["seed"]),
        dag=params["dag"],
        config=dict(params.get("config") or {}),
        curve_format=params.get("curve_format", "stress_strain"),
        gauge_length=float(params.get("gauge_length", 20.0)),
        cross_section_area=float(params.get("cross_section_area", 400.0)),
    )
    return raw, true_dag_record(scm, str(params.get("configuration", "custom")))
