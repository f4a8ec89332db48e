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
