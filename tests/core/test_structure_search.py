"""The structure-search registry: one search per DAG conditionals, called with the ``structure`` settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from causal_pima.core.dag import CONDITIONALS
from causal_pima.core.structure import search_structure, search_table_structure
from causal_pima.core.structure_search import SEARCHES, structure_search
from causal_pima.core.table_search import log_weights_from_tables
from causal_pima.core.training_config import StructureConfig

# 0 -> 2 <- 1 with an XOR-like table (no additive logit fits it)
PARENTS = {0: [], 1: [], 2: [0, 1]}
TABLES = {0: np.array([0.3]), 1: np.array([0.65]), 2: np.array([0.82, 0.19, 0.16, 0.84])}


def _problem() -> tuple[np.ndarray, torch.Tensor]:
    """Exact outcome counts ``[8]`` of the network (4800 specimens) and validation KLs ``[80, 8]``: ten
    specimens on each outcome's component (KL 0 there, 50 elsewhere)."""
    counts = 4800.0 * np.exp(log_weights_from_tables(PARENTS, TABLES, 3))
    val_kl = torch.full((80, 8), 50.0, dtype=torch.float64)
    val_kl[torch.arange(80), torch.arange(8).repeat_interleave(10)] = 0.0
    return counts, val_kl


def test_every_conditionals_has_its_search():
    assert sorted(SEARCHES) == sorted(CONDITIONALS)
    with pytest.raises(ValueError, match="no structure search is registered for conditionals 'cubic'"):
        structure_search("cubic")


def test_the_table_search_reads_complexity_and_max_orders_from_the_settings():
    counts, val_kl = _problem()
    found = structure_search("table")(counts, val_kl, 3, StructureConfig(), seed=0)
    direct = search_table_structure(counts, val_kl, 3)
    assert found.conditionals == "table" and found.order == direct.order
    assert sorted((i, j) for i, j, _ in found.edges) == [(0, 2), (1, 2)]
    assert found.val_score == direct.val_score and len(found.candidates) == 6  # every order of 3 nodes
    # a penalty of 1000 nats per table entry leaves no edge; max_orders below 3! scores no order
    sparse = structure_search("table")(counts, val_kl, 3, StructureConfig(complexity=1000.0, max_orders=5), seed=0)
    assert sparse.edges == [] and sparse.edge_confidence is None and len(sparse.candidates) == 1


def test_the_logistic_search_gets_every_setting_and_the_seed():
    counts, val_kl = _problem()
    config = StructureConfig(l1_weight=0.01, edge_threshold=0.3, max_orders=4, tie_tolerance=1e-4, steps=60)
    found = structure_search("logistic")(counts, val_kl, 3, config, seed=7)
    direct = search_structure(counts, val_kl.numpy(), 3, l1_weight=0.01, edge_threshold=0.3, max_orders=4,
                              tie_tolerance=1e-4, seed=7, steps=60)
    assert found.conditionals == "logistic" and found.order == direct.order
    np.testing.assert_array_equal(found.weights, direct.weights)
    assert list(found.candidates["order"]) == list(direct.candidates["order"])  # the seeded sample of 4 orders
    assert len(found.candidates) == 4
