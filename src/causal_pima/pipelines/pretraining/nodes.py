"""Nodes of the ``pretraining`` pipeline."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from causal_pima.core.callbacks import ProgressBar
from causal_pima.core.model import CausalPIMA
from causal_pima.core.training import PretrainConfig, pretrain
from causal_pima.model_input import model_config_from_data, specimen_tensors
from causal_pima.plots import training_history_figure


def metrics_history(history: pd.DataFrame, prefix: str) -> dict[str, list[dict[str, float]]]:
    """Per-epoch metrics in kedro-mlflow's ``MlflowMetricsHistoryDataset`` format."""
    out = {}
    for column in history.columns:
        if column == "epoch":
            continue
        values = history[column].to_numpy(dtype=float)
        if np.isfinite(values).all():
            out[f"{prefix}.{column}"] = [{"step": int(e), "value": float(v)} for e, v in zip(history["epoch"], values, strict=True)]
    return out


def pretrain_model(
    train_set: Mapping[str, np.ndarray],
    val_set: Mapping[str, np.ndarray],
    model_params: Mapping[str, Any],
    pretraining_params: Mapping[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, dict, Figure]:
    """Pretrain a fresh model; returns its checkpoint, the history table, MLflow metrics and a figure.

    The weights of the epoch with the best validation ELBO are kept.
    """
    params = dict(pretraining_params)
    config = PretrainConfig(**params)
    torch.manual_seed(config.seed)  # the network initialisation is part of the seeded run
    model = CausalPIMA(model_config_from_data(train_set, model_params))
    train = specimen_tensors(train_set, model.modalities)
    val = specimen_tensors(val_set, model.modalities)
    history = pd.DataFrame(pretrain(model, train, val, config, [ProgressBar(config.epochs, "pretraining")]))
    history = history[["epoch", *[c for c in history.columns if c != "epoch"]]]
    figure = training_history_figure(history, "Pretraining (PoE VAE, N(0, I) prior)")
    return model.checkpoint(), history, metrics_history(history, "pretraining"), figure
