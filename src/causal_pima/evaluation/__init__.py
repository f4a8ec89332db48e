"""Evaluation metrics (README "What the reports hold"): pure functions of numpy arrays and BinarySCMs.

No kedro, mlflow, torch or file I/O here.
"""

from causal_pima.evaluation.bic_search import exhaustive_bic_search, family_bic, mle_tables
from causal_pima.evaluation.clustering import (
    UNMATCHED_FEATURE_ACCURACY,
    clustering_scores,
    node_accuracy,
)
from causal_pima.evaluation.graphs import (
    cpdag,
    cpdag_shd,
    edge_scores,
    equivalence_class_record,
    equivalence_class_size,
    shd,
    shd_decomposition,
)
from causal_pima.evaluation.interventions import interventional_tv, marginal, total_variation
from causal_pima.evaluation.matching import (
    UNMATCHED_FEATURE_P_ONE,
    NodeMatching,
    agreement_matrix,
    map_learned_graph,
    match_nodes,
    signed_edges,
)
from causal_pima.evaluation.two_stage import (
    TwoStageResult,
    cluster_codes,
    learned_dag_record,
    predict_outcomes,
    two_stage_structure,
)

__all__ = [
    "UNMATCHED_FEATURE_ACCURACY",
    "UNMATCHED_FEATURE_P_ONE",
    "NodeMatching",
    "TwoStageResult",
    "agreement_matrix",
    "cluster_codes",
    "clustering_scores",
    "cpdag",
    "cpdag_shd",
    "edge_scores",
    "equivalence_class_record",
    "equivalence_class_size",
    "exhaustive_bic_search",
    "family_bic",
    "interventional_tv",
    "learned_dag_record",
    "map_learned_graph",
    "marginal",
    "match_nodes",
    "mle_tables",
    "node_accuracy",
    "predict_outcomes",
    "shd",
    "shd_decomposition",
    "signed_edges",
    "total_variation",
    "two_stage_structure",
]
