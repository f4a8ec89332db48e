"""Evaluation metrics (DESIGN.md section 5): pure functions of numpy arrays and BinarySCMs.

No kedro, mlflow, torch or file I/O here.
"""

from causal_pima.evaluation.clustering import clustering_scores, node_accuracy
from causal_pima.evaluation.graphs import cpdag, cpdag_shd, edge_scores, shd
from causal_pima.evaluation.interventions import interventional_tv, marginal, total_variation
from causal_pima.evaluation.matching import (
    NodeMatching,
    agreement_matrix,
    map_learned_graph,
    match_nodes,
    signed_edges,
)

__all__ = [
    "NodeMatching",
    "agreement_matrix",
    "clustering_scores",
    "cpdag",
    "cpdag_shd",
    "edge_scores",
    "interventional_tv",
    "map_learned_graph",
    "marginal",
    "match_nodes",
    "node_accuracy",
    "shd",
    "signed_edges",
    "total_variation",
]
