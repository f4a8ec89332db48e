"""Several machines: ``torchrun`` starts ``kedro run`` once per process, and process 0 alone writes.

Under ``torchrun`` every process runs the same pipeline (README "Scaling out"); the training nodes
join torchrun's process group and train data-parallel (:func:`causal_pima.core.launch.join_torchrun_group`),
so after the fit every process holds the same model. Process 0 writes the outputs through the
catalog and records the MLflow run; on the others this hook makes every output of the pipeline an
in-memory dataset (later nodes still receive it) and ``settings`` turns kedro-mlflow off, so nothing
is written twice and no second MLflow run appears.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from kedro.framework.hooks import hook_impl
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline

from causal_pima.core.model import CausalPIMA
from causal_pima.datasets import CausalPIMADataset

logger = logging.getLogger(__name__)


def torchrun_rank() -> int:
    """This process's rank in a torchrun job (``RANK``), 0 outside torchrun."""
    return int(os.environ.get("RANK", "0")) if "TORCHELASTIC_RUN_ID" in os.environ else 0


class _ModelInMemory(MemoryDataset):
    """In memory, but loaded as its catalog dataset would load it: a fitted model from its checkpoint."""

    def load(self) -> CausalPIMA:
        data = super().load()
        return CausalPIMA.from_checkpoint(data) if isinstance(data, Mapping) else data


class TorchrunWriterHook:
    """On a torchrun process other than rank 0, keep every output of the run in memory."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict, pipeline: Pipeline, catalog: DataCatalog) -> None:
        rank = torchrun_rank()
        if rank == 0:
            return
        outputs = sorted(pipeline.all_outputs())
        for name in outputs:
            model = isinstance(catalog.get(name), CausalPIMADataset)
            catalog[name] = _ModelInMemory(copy_mode="assign") if model else MemoryDataset()
        logger.info("torchrun process %d: its %d outputs stay in memory (process 0 writes them)", rank, len(outputs))
