"""Model read-outs used for evaluation: reconstruction error, cross-modal prediction, do() samples.

Plain PyTorch; inputs are tensors dicts ``{"image": [N, C, H, W], "curve": [N, L]}``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from causal_pima.core.batching import as_batches
from causal_pima.core.model import CausalPIMA


@torch.no_grad()
def reconstruction_rmse(model: CausalPIMA, data: Mapping[str, Tensor], batch_size: int = 512) -> dict[str, float]:
    """Root-mean-square error of each modality reconstructed from the fused posterior mean."""
    model.eval()
    sq = {m: 0.0 for m in model.modalities if m in data}
    count = {m: 0 for m in sq}
    for batch in as_batches(data, batch_size, device=next(model.parameters()).device):
        mu, _ = model.encode(batch)
        recon = model.decode(mu)
        if model.physics is not None and model.physics_modality in batch:
            recon[model.physics_modality] = model.predict_curves(batch)  # the physics law of the most likely outcome
        for m in sq:
            sq[m] += float((recon[m] - batch[m]).pow(2).sum())
            count[m] += batch[m].numel()
    return {m: (sq[m] / count[m]) ** 0.5 for m in sq}


@torch.no_grad()
def cross_modal_prediction(model: CausalPIMA, data: Mapping[str, Tensor], source: str, target: str) -> Tensor:
    """Predict modality ``target`` from ``source`` alone (``target`` masked out of the fusion).

    Returns the decoded ``target`` means from the posterior mean of ``q(z | x_source)``; a curve
    modelled by a physics expert is the law of the most likely outcome given ``source`` alone.
    """
    if source not in model.modalities or target not in model.modalities:
        raise ValueError(f"model modalities are {model.modalities}; cannot predict {target} from {source}")
    model.eval()
    inputs = {source: torch.as_tensor(data[source]).to(next(model.parameters()).device)}
    if target == model.physics_modality and model.physics is not None:
        return model.predict_curves(inputs)
    mu, _ = model.encode(inputs)
    return model.decode(mu)[target]


@torch.no_grad()
def sample_interventional_latents(
    model: CausalPIMA, node: int, value: int, n_samples: int, generator: torch.Generator | None = None
) -> Tensor:
    """Latent samples ``[n_samples, D]`` from the mixture prior under ``do(N_node = value)``."""
    log_pi = model.dag.interventional_log_weights(node, value)
    component = torch.multinomial(log_pi.exp(), n_samples, replacement=True, generator=generator)
    eps = torch.randn(n_samples, model.prior.latent_dim, generator=generator)
    return model.prior.means[component] + eps * model.prior.variances[component].sqrt()
