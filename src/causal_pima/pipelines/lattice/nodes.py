"""Nodes of the ``lattice`` ingestion pipeline (a thin wrapper of ``causal_pima.data.specimens``)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from causal_pima.core.readout import resolve_n_nodes
from causal_pima.data.specimens import ingest_specimens

logger = logging.getLogger(__name__)


def ingest(
    raw_manifest: Mapping[str, Any], params: Mapping[str, Any]
) -> tuple[dict[str, np.ndarray], pd.DataFrame, pd.DataFrame]:
    """Validate the manifest, crop/resize images and resample curves onto the common strain grid.

    Args:
        raw_manifest: ``SpecimenManifestDataset.load()`` output.
        params: ``IngestionConfig`` keyword arguments (``on_error``, ``max_strain``, ``image_size``...).

    Returns:
        ``(raw_specimens, features, rejected)``:

        * ``raw_specimens``: the raw specimen set of ``data_processing``: ``{"images": float32
          [N, C, S, S] in [0, 1], "curves": float32 [N, L] (stress), "grid": float32 [L] (strain),
          "specimen_id": str [N]}`` in manifest order;
        * ``features``: ``specimen_id`` plus the manifest's label columns, one row per kept specimen;
        * ``rejected``: ``specimen_id, file, reason`` of every skipped specimen (empty, with these
          columns, when none was skipped or ``on_error`` is ``raise``).

    Raises:
        causal_pima.data.specimens.SpecimenError: with ``on_error: raise``, at the first problem,
            naming the specimen, the file and the problem.
    """
    specimens, labels, rejected = ingest_specimens(raw_manifest, params)
    raw_specimens = {
        "images": specimens["images"],
        "curves": specimens["curves"],
        "grid": specimens["strain_grid"],
        "specimen_id": specimens["specimen_id"],
    }
    logger.info(
        "ingested %d specimens (%d rejected): images %s, curves %s on strain %.3g..%.3g",
        len(labels),
        len(rejected),
        tuple(specimens["images"].shape),
        tuple(specimens["curves"].shape),
        float(specimens["strain_grid"][0]),
        float(specimens["strain_grid"][-1]),
    )
    return raw_specimens, labels, rejected


def check_n_nodes(features: pd.DataFrame, causal_pima_params: Mapping[str, Any], params_name: str = "causal_pima_lattice") -> None:
    """Before any training: ``<params_name>.prior.n_nodes`` is set, or the manifest has label columns to count.

    Raises:
        ValueError: naming ``<params_name>.prior.n_nodes`` when it is null and there are no label columns.
    """
    label_names = np.array([c for c in features.columns if c != "specimen_id"], dtype=str)
    resolve_n_nodes(dict(causal_pima_params).get("prior") or {}, {"label_names": label_names}, params_name)
