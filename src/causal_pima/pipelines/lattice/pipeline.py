"""``lattice``: ingestion of ``lattice.raw_manifest`` into the raw specimen set of ``data_processing``.

Only ingestion lives here. The full lattice path (ingestion, then ``data_processing``, ``pretraining``,
``causal_pima`` and ``evaluation`` with ``dataset="lattice"``) is assembled in ``pipeline_registry.py``.
"""

from kedro.pipeline import Pipeline, node

from causal_pima.pipelines import stage_pipeline
from causal_pima.pipelines.lattice import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return stage_pipeline(
        [
            node(nodes.ingest, ["raw_manifest", "params:lattice_ingestion"], ["raw_specimens", "features", "rejected"], name="ingest"),
        ],
        "lattice", "ingestion", {"params:lattice_ingestion"},
    )
