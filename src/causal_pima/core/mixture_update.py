"""The closed-form mixture update from the whole data set (docs/model.md "Model and ELBO"): the soft
outcome counts and the sufficient statistics accumulated batch by batch (and added over the processes
of a data-parallel run).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor

from causal_pima.core import distributed
from causal_pima.core.batching import Batch, Rows, n_rows, read_batches
from causal_pima.core.compute import model_device
from causal_pima.core.model import CausalPIMA
from causal_pima.core.prior import SufficientStatistics


def process_rows(data: Rows, batch_size: int, device: torch.device) -> Iterator[Batch]:
    """Consecutive batches of this process's rows ``rank, rank + world, ..`` (all rows on one process)
    for a pass whose sums are then added over the processes (:func:`distributed.all_reduce_sum`)."""
    rank, size = distributed.world()
    rows = torch.arange(n_rows(data))[rank::size] if size > 1 else torch.arange(n_rows(data))
    return read_batches(data, list(rows.split(batch_size)), device=device)


@torch.no_grad()
def soft_outcome_counts(model: CausalPIMA, data: Rows, batch_size: int = 512) -> Tensor:
    """``S0 [K]`` float64: the responsibilities summed over a data set, one batch at a time (summed
    over the processes of a data-parallel run, each taking its share of the rows).

    Memory is ``O(batch_size * K)`` whatever the number of specimens (the ``[N, K]`` matrix of
    component scores is never held).
    """
    model.eval()
    log_pi = model.log_weights()
    device = model_device(model)
    counts = torch.zeros(model.prior.n_components, dtype=torch.float64, device=device)
    for batch in process_rows(data, batch_size, device):
        mu, logvar = model.encode(batch)
        gamma = torch.softmax(log_pi + model.component_log_scores(batch, mu, logvar.exp()), dim=-1)
        counts += gamma.sum(0).double()
    return distributed.all_reduce_sum(counts)


@torch.no_grad()
def mixture_update(model: CausalPIMA, data: Rows, batch_size: int = 512) -> SufficientStatistics:
    """One closed-form block update of the mixture from the whole data set (docs/model.md "Model and ELBO").

    Sufficient statistics are accumulated batch by batch, so the update equals the full-batch one;
    in a data-parallel run each process accumulates its share of the rows and the sums S0, S1, S2
    are added over the processes before the (identical) update on every process.
    """
    model.eval()
    log_pi = model.log_weights()
    device = model_device(model)
    stats = SufficientStatistics.zeros(model.prior.n_components, model.prior.latent_dim, device=device)
    for batch in process_rows(data, batch_size, device):
        mu, logvar = model.encode(batch)
        var = logvar.exp()
        gamma = torch.softmax(log_pi + model.component_log_scores(batch, mu, var), dim=-1)
        stats = stats + SufficientStatistics.from_batch(gamma, mu, var)
    for total in (stats.s0, stats.s1, stats.s2):
        distributed.all_reduce_sum(total)
    model.prior.update(stats)
    if not model.uses_dag:
        model.set_free_weights(stats.s0)
    return stats
