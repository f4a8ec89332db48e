"""Nodes of the ``lattice`` ingestion pipeline (a thin wrapper of ``causal_pima.data.specimens``; the
overview figure is :func:`causal_pima.plots.manifest_overview_figure`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from causal_pima.core.readout import resolve_n_nodes
from causal_pima.data.specimens import raw_specimen_set as ingest  # the ingestion node
from causal_pima.plots import manifest_overview_figure as plot_overview  # the overview figure node

__all__ = ["check_n_nodes", "ingest", "plot_overview"]


def check_n_nodes(features: pd.DataFrame, causal_pima_params: Mapping[str, Any], params_name: str = "causal_pima_lattice") -> None:
    """Before any training: ``<params_name>.prior.n_nodes`` is set (an integer or ``auto``), or the manifest has
    label columns to count.

    Raises:
        ValueError: naming ``<params_name>.prior.n_nodes`` when it is null and there are no label columns.
    """
    if (dict(causal_pima_params).get("prior") or {}).get("n_nodes") == "auto":
        return  # chosen from the data (core.node_count)
    label_names = np.array([c for c in features.columns if c != "specimen_id"], dtype=str)
    resolve_n_nodes(dict(causal_pima_params).get("prior") or {}, {"label_names": label_names}, params_name)
