"""The structure searches, one registry (docs/model.md "Structure search").

A search takes the training soft outcome counts ``S0`` and the validation specimens' KLs and returns the
chosen DAG with its scores and edge confidences (:class:`StructureSearchResult`). The searches are
registered by the DAG's ``conditionals`` (:data:`causal_pima.core.dag.CONDITIONALS`) in
:data:`SEARCHES`; :func:`run_structure_search` computes the inputs from the model, looks the search up
and installs its result.

To add a search: write it (a function of :class:`StructureSearch`'s signature, e.g. in its own module
next to ``core/structure.py``) and register it here under its conditionals' name (a new conditionals
name also goes into ``core.dag.CONDITIONALS``, whose model parametrisation it needs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from causal_pima.core.batching import as_numpy
from causal_pima.core.evaluate import component_scores
from causal_pima.core.mixture_update import soft_outcome_counts
from causal_pima.core.model import CausalPIMA
from causal_pima.core.structure import (
    StructureSearchResult,
    search_structure,
    search_table_structure,
)
from causal_pima.core.training_config import StructureConfig


class StructureSearch(Protocol):
    """A structure search on the DAG alone.

    Args:
        counts: float64 ``[K = 2**n_nodes]`` training soft outcome counts ``S0`` (bit ``j`` of ``k`` = node ``j``).
        val_kl: float64 ``[Bv, K]`` KL of each validation specimen's posterior to each component (fixed).
        n_nodes: ``d``.
        config: the ``structure`` settings.
        seed: seed of anything the search samples.

    Returns:
        the chosen DAG (order, coefficients, edges), its validation score, every candidate's scores and,
        where the search has them, the edge confidences.
    """

    def __call__(
        self, counts: np.ndarray, val_kl: Tensor, n_nodes: int, config: StructureConfig, seed: int
    ) -> StructureSearchResult: ...


def exact_table_search(
    counts: np.ndarray, val_kl: Tensor, n_nodes: int, config: StructureConfig, seed: int
) -> StructureSearchResult:
    """Table conditionals: the exact penalised-likelihood search on ``S0`` (``core.table_search``); the
    validation prior term is reported, not used for the choice. ``seed`` is unused (nothing is sampled)."""
    return search_table_structure(counts, val_kl, n_nodes, config.complexity, config.max_orders)


def logistic_order_search(
    counts: np.ndarray, val_kl: Tensor, n_nodes: int, config: StructureConfig, seed: int
) -> StructureSearchResult:
    """Logistic conditionals: every candidate node order fitted on ``S0`` with an L1 penalty and scored on
    the validation specimens' prior term (``core.structure.search_structure``)."""
    return search_structure(
        counts,
        val_kl.numpy(),
        n_nodes,
        l1_weight=config.l1_weight,
        edge_threshold=config.edge_threshold,
        max_orders=config.max_orders,
        tie_tolerance=config.tie_tolerance,
        seed=seed,
        steps=config.steps,
    )


# conditionals name -> its structure search (the keys are core.dag.CONDITIONALS)
SEARCHES: dict[str, StructureSearch] = {"table": exact_table_search, "logistic": logistic_order_search}


def structure_search(conditionals: str) -> StructureSearch:
    """The registered search of a DAG's ``conditionals``.

    Raises:
        ValueError: no search is registered under that name.
    """
    if conditionals not in SEARCHES:
        raise ValueError(f"no structure search is registered for conditionals {conditionals!r}; registered: {sorted(SEARCHES)}")
    return SEARCHES[conditionals]


@torch.no_grad()
def run_structure_search(
    model: CausalPIMA, train: Mapping[str, Tensor], val: Mapping[str, Tensor], config: StructureConfig, seed: int
) -> StructureSearchResult:
    """Structure search on the DAG alone with everything else frozen (docs/model.md "Structure search").

    Training soft outcome counts S0 come from the responsibilities under the current mixture; the
    search registered for the DAG's conditionals (:data:`SEARCHES`) chooses the structure, which is
    installed in the model. No ground truth is used.
    """
    counts = as_numpy(soft_outcome_counts(model, train))  # float64 [K]
    _, _, val_scores = component_scores(model, val)
    val_kl = -val_scores.cpu()  # KL (minus the physics curve log-likelihood, if any) of every val specimen
    search = structure_search(model.dag.conditionals)
    result = search(counts, val_kl.double(), model.prior_config.n_nodes, config, seed)
    # the effective coefficients equal the refit ones exactly (CausalDAG.set_structure rescales by the gates)
    model.dag.set_structure(result.order, result.weights, result.biases, result.interactions)
    return result
