"""The training loops' settings (docs/model.md "Training"): pretraining, the prior's initialisation, the
structure search and the causalPIMA fit. Plain dataclasses, filled from the parameter files by
``core.causal_fit`` and validated by ``parameter_schemas``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class PretrainConfig:
    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 1e-3
    noise_learning_rate: float = 2e-2
    kl_warmup_epochs: int = 0
    modality_dropout: float = 0.3
    seed: int = 0
    # at least this many gradient steps: epochs are raised for small data sets (core.budget); 0 = no
    # minimum here, the parameter files set 750 (a library call states its own budget)
    min_steps: int = 0


@dataclass
class InitConfig:
    clusterer: str = "hdbscan"
    assigner: str = "cube_length"
    oversample: int = 3
    # what the initial clusters are found in: "fused" (the PoE latent means) or "fused_and_modalities"
    # (those and each modality's own latent means, every block scaled to equal spread; docs/model.md
    # "Initial clusters and their codes")
    cluster_on: str = "fused"
    # hdbscan: the smallest cluster it may find
    min_cluster_size: int = 5


CLUSTER_SPACES = ("fused", "fused_and_modalities")


@dataclass
class StructureConfig:
    l1_weight: float = 0.02
    edge_threshold: float = 0.5
    max_orders: int = 120
    tie_tolerance: float = 1e-3
    steps: int = 500
    # table conditionals: penalty in nats per free table entry (None = BIC, log(N) / 2)
    complexity: float | None = None


@dataclass
class FitConfig:
    epochs: int = 15
    batch_size: int = 128
    learning_rate: float = 1e-3
    noise_learning_rate: float = 2e-2
    dag_learning_rate: float = 1e-2
    physics_learning_rate: float = 1e-2
    temperature_min: float = 0.05
    l1_weight: float = 0.0
    modality_dropout: float = 0.3
    seed: int = 0
    # at least this many gradient steps: epochs are raised for small data sets (core.budget); 0 = no
    # minimum here, the parameter files set 500
    min_steps: int = 0
    init: InitConfig = field(default_factory=InitConfig)
    structure: StructureConfig = field(default_factory=StructureConfig)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> FitConfig:
        values = dict(values)
        init = InitConfig(**values.pop("init", {}))
        structure = StructureConfig(**values.pop("structure", {}))
        return cls(init=init, structure=structure, **values)


@dataclass(frozen=True)
class FitChecks:
    """What is checked once a fit has trained (docs/model.md "Collapse detection" and "What the data
    cannot decide"): ``collapse_weight`` (one outcome holding this share of the weight or of the
    specimens is a collapse), ``on_collapse`` (``raise``: stop before anything is written; ``warn``: keep
    the fit, flagged) and ``min_outcome_count`` (training specimens an outcome needs on average for a
    candidate node count of ``n_nodes: auto`` to be fitted)."""

    collapse_weight: float = 0.99
    on_collapse: str = "raise"
    min_outcome_count: float = 5.0


@dataclass(frozen=True)
class NodeCountConfig:
    """``causal_pima.node_count``, the candidates of ``prior.n_nodes: auto`` and the rule that chooses
    among them (docs/model.md "How many features"): node counts ``d_min .. d_max`` (no more than
    ``ceil(log2 clusters) + cluster_slack``); a step to a larger candidate counts when its validation
    gain is over ``tolerance`` paired standard errors and at least ``step_share`` of the largest step."""

    d_min: int = 1
    d_max: int = 6
    tolerance: float = 1.0
    step_share: float = 0.25
    cluster_slack: int = 1

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> NodeCountConfig:
        """The ``node_count`` group of a ``causal_pima`` parameter group (absent keys: the defaults)."""
        settings = params.get("node_count") or {}
        return cls(**{key: settings[key] for key in cls.__dataclass_fields__ if key in settings})
