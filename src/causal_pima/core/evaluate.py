"""Read-outs of a model over a whole data set, batch by batch: the loss terms of an objective, the fused
posterior means and variances, and the component scores (docs/model.md "Model and ELBO").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from causal_pima.core.batching import Rows, as_batches
from causal_pima.core.compute import model_device
from causal_pima.core.model import CausalPIMA, PoEVAE
from causal_pima.core.training_state import forked_rng


def objective(model: PoEVAE, prior: str) -> Callable[..., dict[str, Tensor]]:
    """The loss-term method of an objective name: ``"standard"`` (pretraining) or ``"mixture"``."""
    if prior == "standard":
        return model.pretraining_loss
    if prior == "mixture" and isinstance(model, CausalPIMA):
        return model.mixture_loss
    raise ValueError(f"prior must be 'mixture' (a CausalPIMA model) or 'standard', got {prior!r}")


@torch.no_grad()
def encode_dataset(model: PoEVAE, data: Rows, batch_size: int = 512) -> tuple[Tensor, Tensor]:
    """Fused posterior means and variances ``[N, D]`` of a whole data set (on the model's device)."""
    model.eval()
    mus, vars_ = [], []
    for batch in as_batches(data, batch_size, None, device=model_device(model)):
        mu, logvar = model.encode(batch)
        mus.append(mu)
        vars_.append(logvar.exp())
    return torch.cat(mus), torch.cat(vars_)


@torch.no_grad()
def batch_loss_terms(
    model: PoEVAE, data: Rows, prior: str, seed: int = 12345, batch_size: int = 512
) -> Iterator[tuple[dict[str, float], int]]:
    """``(loss terms, batch size)`` of each consecutive batch of ``data``, in eval mode; the latent samples
    come from ``seed`` (a forked random state: the caller's stream is left as it was)."""
    loss_terms = objective(model, prior)
    model.eval()
    device = model_device(model)
    with forked_rng(device):
        torch.manual_seed(seed)
        for batch in as_batches(data, batch_size, None, device=device):
            yield {k: float(v) for k, v in loss_terms(batch).items()}, len(next(iter(batch.values())))


def evaluate(model: PoEVAE, data: Rows, prior: str, seed: int = 12345, batch_size: int = 512) -> dict[str, float]:
    """Mean loss terms over a data set; the latent sample uses a fixed seed so it is reproducible.

    ``prior``: ``"standard"`` (:meth:`PoEVAE.pretraining_loss`) or ``"mixture"`` (:meth:`CausalPIMA.mixture_loss`).
    Every process of a data-parallel run evaluates the whole set (the same numbers on each, as on one
    process: validation data select the model).
    """
    totals: dict[str, float] = {}
    n_total = 0
    for terms, n in batch_loss_terms(model, data, prior, seed, batch_size):
        for k, v in terms.items():
            totals[k] = totals.get(k, 0.0) + v * n
        n_total += n
    return {k: v / n_total for k, v in totals.items()}


@torch.no_grad()
def component_scores(model: CausalPIMA, data: Rows, batch_size: int = 512) -> tuple[Tensor, Tensor, Tensor]:
    """Posterior means, variances ``[N, D]`` and component scores ``[N, K]`` of a whole data set.

    The scores are ``-KL_k`` (plus the physics curve log-likelihood, see
    :meth:`CausalPIMA.component_log_scores`); responsibilities are ``softmax(log pi + scores)``.
    """
    model.eval()
    mus, vars_, scores = [], [], []
    for batch in as_batches(data, batch_size, None, device=model_device(model)):
        mu, logvar = model.encode(batch)
        var = logvar.exp()
        mus.append(mu)
        vars_.append(var)
        scores.append(model.component_log_scores(batch, mu, var))
    return torch.cat(mus), torch.cat(vars_), torch.cat(scores)
