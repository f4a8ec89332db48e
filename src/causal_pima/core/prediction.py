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
    """Root-mean-square error of each modality reconstructed from the fused posterior mean (over the
    specimens that have it)."""
    model.eval()
    sq = {m: 0.0 for m in model.modalities if m in data}
    count = {m: 0 for m in sq}
    for batch in as_batches(data, batch_size, device=next(model.parameters()).device):
        mu, _ = model.encode(batch)
        recon = model.decode(mu)
        if model.physics is not None and model.physics_modality in batch:
            recon[model.physics_modality] = model.predict_curves(batch)  # the physics law of the most likely outcome
        values, observed = model.observed(batch)  # specimens that miss a modality are left out of its error
        for m in sq:
            keep = observed.get(m)
            error = (recon[m] - values[m]) if keep is None else (recon[m] - values[m])[keep]
            sq[m] += float(error.pow(2).sum())
            count[m] += error.numel()
    return {m: (sq[m] / count[m]) ** 0.5 if count[m] else float("nan") for m in sq}


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
def cross_modal_errors(model: CausalPIMA, data: Mapping[str, Tensor]) -> dict[str, dict[str, float | int]]:
    """Every modality predicted from every other one alone, on the model's scale (images in [0, 1],
    curves and tabular values standardised): ``{"<target>_from_<source>": {"rmse", "mean_rmse",
    "n_specimens"}}`` over the specimens that have both (a NaN row marks a missing one, see
    :meth:`PoEVAE.observed`). ``mean_rmse`` is the error of predicting the target's mean over those
    specimens (the reference a prediction should beat).
    """
    values, observed = model.observed({m: torch.as_tensor(data[m]) for m in model.modalities if m in data})
    out: dict[str, dict[str, float | int]] = {}
    for source in values:
        for target in values:
            if source == target:
                continue
            both = torch.ones(len(values[source]), dtype=torch.bool)
            for m in (source, target):
                if m in observed:
                    both &= observed[m].cpu()
            truth = values[target][both].double()
            if not len(truth):
                continue
            predicted = cross_modal_prediction(model, {source: values[source][both]}, source, target).cpu().double()
            out[f"{target}_from_{source}"] = {
                "rmse": float((predicted - truth).pow(2).mean().sqrt()),
                "mean_rmse": float((truth - truth.mean(0)).pow(2).mean().sqrt()),
                "n_specimens": int(both.sum()),
            }
    return out


@torch.no_grad()
def sample_interventional_latents(
    model: CausalPIMA, node: int, value: int, n_samples: int, generator: torch.Generator | None = None
) -> Tensor:
    """Latent samples ``[n_samples, D]`` from the mixture prior under ``do(N_node = value)``."""
    log_pi = model.dag.interventional_log_weights(node, value)
    component = torch.multinomial(log_pi.exp(), n_samples, replacement=True, generator=generator)
    eps = torch.randn(n_samples, model.prior.latent_dim, generator=generator)
    return model.prior.means[component] + eps * model.prior.variances[component].sqrt()
