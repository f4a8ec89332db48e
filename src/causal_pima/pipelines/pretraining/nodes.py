"""Nodes of the ``pretraining`` pipeline (library: :func:`causal_pima.core.causal_fit.pretrain_from_data`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from causal_pima.core.causal_fit import compute_settings, pretrain_from_data
from causal_pima.evaluation.report import metrics_history
from causal_pima.model_input import model_config_from_data
from causal_pima.plots import training_history_figure

__all__ = ["metrics_history", "pretrain_model"]


def pretrain_model(
    train_set: Mapping[str, np.ndarray],
    val_set: Mapping[str, np.ndarray],
    model_params: Mapping[str, Any],
    pretraining_params: Mapping[str, Any],
    compute_params: Mapping[str, Any] | None = None,
    distributed_params: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], pd.DataFrame, dict, Figure]:
    """Pretrain a fresh model; returns its checkpoint, the history table, MLflow metrics and a figure.

    The weights of the epoch with the best validation ELBO are kept. ``compute_params`` /
    ``distributed_params``: the ``compute`` and ``distributed`` groups (device, data-parallel processes;
    docs/scaling.md); without them, one process on the CPU.
    """
    compute, parallel = compute_settings(compute_params, distributed_params)
    model, history = pretrain_from_data(
        model_config_from_data(train_set, model_params), train_set, val_set, pretraining_params, compute, parallel
    )
    figure = training_history_figure(history, "Pretraining (PoE VAE, N(0, I) prior)")
    return model.checkpoint(), history, metrics_history(history, "pretraining"), figure
