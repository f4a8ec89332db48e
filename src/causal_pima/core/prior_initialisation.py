"""The start of a causalPIMA fit (docs/model.md "Initial clusters and their codes"): the mixture from
clusters of the training latents (hard assignments, closed-form update), the physics expert from the
clusters' mean curves, then a structure search on the DAG alone.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from causal_pima.core.batching import Rows, as_batches, as_numpy
from causal_pima.core.curve_scale import to_physical
from causal_pima.core.evaluate import encode_dataset
from causal_pima.core.initialisation import initialise_outcomes
from causal_pima.core.model import CausalPIMA, PoEVAE, observed_rows
from causal_pima.core.physics import initial_parameters_from_curves
from causal_pima.core.prior import SufficientStatistics
from causal_pima.core.structure_search import run_structure_search
from causal_pima.core.training_config import CLUSTER_SPACES, InitConfig, StructureConfig

logger = logging.getLogger(__name__)


@torch.no_grad()
def unit_spread(points: np.ndarray) -> np.ndarray:
    """``points [N, D]`` centred and scaled to a mean squared distance of 1 from their mean."""
    centred = points - points.mean(axis=0)
    spread = np.sqrt((centred**2).sum(axis=1).mean())
    return centred / spread if spread > 0 else centred


@torch.no_grad()
def clustering_points(model: PoEVAE, train: Rows, fused_mu: Tensor, cluster_on: str = "fused") -> np.ndarray:
    """The points the initial clusters are found in, float64 ``[N, D']``.

    ``fused``: the fused latent means ``fused_mu [N, D]``. ``fused_and_modalities``: those and each
    modality's own latent means (its expert alone with the prior expert), every block centred and
    scaled to the same spread, concatenated (``D' = D * (1 + M)``). In the product of experts the more
    confident expert decides the fused mean, so an outcome that only the other modality separates
    (a defect, 2.5 % of the lattice specimens, shown by the curve) can vanish in the fused means;
    its own latent keeps it (docs/model.md "Initial clusters and their codes").
    """
    fused = as_numpy(fused_mu.double())
    if cluster_on == "fused":
        return fused
    if cluster_on != "fused_and_modalities":
        raise ValueError(f"init.cluster_on must be one of {CLUSTER_SPACES}, got {cluster_on!r}")
    present = [m for m in model.modalities if m in train]
    if len(present) < 2:
        return fused
    blocks = [unit_spread(fused)]
    for modality in present:
        own, _ = encode_dataset(model, {modality: train[modality]})
        blocks.append(unit_spread(as_numpy(own.double())))
    return np.concatenate(blocks, axis=1)


def initialise_prior(
    model: CausalPIMA,
    train: Mapping[str, Tensor],
    val: Mapping[str, Tensor],
    init: InitConfig,
    structure: StructureConfig,
    seed: int = 0,
) -> dict[str, Any]:
    """Initialise the mixture from clusters of the training latents, then search the DAG structure."""
    mu, var = encode_dataset(model, train)
    points = clustering_points(model, train, mu, init.cluster_on)
    observations = {m: as_numpy(train[m]) for m in model.modalities if m in train}
    n_nodes = model.prior_config.n_nodes
    outcome_init = initialise_outcomes(
        points, n_nodes, clusterer=init.clusterer, assigner=init.assigner, oversample=init.oversample, seed=seed,
        observations=observations, min_cluster_size=init.min_cluster_size,
    )
    outcome = torch.as_tensor(outcome_init.outcome, device=mu.device)
    stats = sum(  # hard assignments, one chunk at a time: memory O(chunk * K), not O(N * K)
        SufficientStatistics.from_batch(
            torch.nn.functional.one_hot(chunk["outcome"], model.prior.n_components).to(mu.dtype), chunk["mu"], chunk["var"]
        )
        for chunk in as_batches({"outcome": outcome, "mu": mu, "var": var}, 65536, device=mu.device)
    )
    model.prior.update(stats)
    model.prior.update(stats)  # second pass: the additive least squares uses the new variances as weights
    model.prior.place_empty(stats.s0)
    if model.physics is not None and model.physics_modality in train:
        curves = train[model.physics_modality]
        curves = curves if isinstance(curves, Tensor) else torch.from_numpy(np.asarray(curves, dtype=np.float32))
        initialise_physics(model, curves, outcome.cpu())
    logger.info(
        "mixture initialised: cluster sizes %s, smallest component %d specimens",
        outcome_init.cluster_sizes.tolist(), outcome_init.smallest_count,
    )
    record = {"cluster_sizes": outcome_init.cluster_sizes.tolist(), "smallest_count": int(outcome_init.smallest_count),
              "n_clusters": outcome_init.n_clusters}
    if not model.uses_dag:
        model.set_free_weights(stats.s0)
        return {**record, "structure": None}
    result = run_structure_search(model, train, val, structure, seed)
    logger.info("initial structure search: %s", result.describe())
    return {**record, "structure": result}


@torch.no_grad()
def initialise_physics(model: CausalPIMA, curves: Tensor, outcome: Tensor) -> None:
    """Start each component's physical parameters from the mean curve of its initial cluster.

    The laws have kinks, so a parameter only receives gradient from grid points on its side of the
    kink; a start estimated from the data avoids stuck parameters (see core.physics). Empty
    components use the mean of all curves. Specimens without a curve (NaN rows) are left out.
    """
    physics = model.physics
    curves, outcome = curves.cpu(), outcome.cpu()  # a start estimated on the CPU, whatever the device
    present = observed_rows(curves)
    if not bool(present.all()):
        curves, outcome = curves[present], outcome[present]
    physical = to_physical(curves, physics.curve_mean.cpu(), physics.curve_std.cpu(), physics.curve_asinh_scale)  # [N, L]
    overall = physical.mean(0)
    means = torch.stack(
        [physical[outcome == k].mean(0) if bool((outcome == k).any()) else overall for k in range(physics.n_components)]
    )
    estimates = initial_parameters_from_curves(physics.law, physics.grid.cpu(), means)
    physics.set_physical_parameters(estimates)
