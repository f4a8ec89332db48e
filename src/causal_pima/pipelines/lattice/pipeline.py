"""``lattice``: ingestion of ``<dataset>.raw_manifest`` into the raw specimen set of ``data_processing``.

Only ingestion lives here (node ``ingestion.<dataset>.ingest``, and ``ingestion.<dataset>.plot_overview``:
sample images per label outcome and the curves coloured by label, ``<dataset>.overview``). The full lattice path (ingestion,
then ``data_processing``, ``pretraining``, ``causal_pima`` and ``evaluation`` with
``dataset="lattice"``) is assembled in ``pipeline_registry.py``, as is every other manifest data set.
"""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from causal_pima.pipelines import stage_pipeline
from causal_pima.pipelines.lattice import nodes


def create_pipeline(dataset: str = "lattice", **kwargs) -> Pipeline:
    """Every data set's ingestion reads the shared ``params:lattice_ingestion`` group."""
    overview = update_wrapper(partial(nodes.plot_overview, dataset=dataset), nodes.plot_overview)
    return stage_pipeline(
        [
            node(nodes.ingest, ["raw_manifest", "params:lattice_ingestion"], ["raw_specimens", "features", "rejected"], name="ingest"),
            node(overview, ["raw_specimens", "features"], "overview", name="plot_overview"),
        ],
        dataset, "ingestion", {"params:lattice_ingestion"},
    )
