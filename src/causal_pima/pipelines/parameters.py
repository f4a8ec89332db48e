"""Which parameters a data set's modular pipelines read.

The default data set (circles) reads ``params:<stage>`` (e.g. ``params:pretraining``); any other data
set reads ``params:<stage>_<dataset>`` (e.g. ``params:pretraining_lattice`` in
``conf/base/parameters_lattice.yml``), so each data set can be tuned without touching the others.
"""

DEFAULT_DATASET = "circles"


def stage_parameters(stage: str, dataset: str) -> dict[str, str]:
    """Kedro ``parameters`` mapping for a namespaced pipeline: ``{"params:<stage>": <its key>}``."""
    key = stage if dataset == DEFAULT_DATASET else f"{stage}_{dataset}"
    return {f"params:{stage}": f"params:{key}"}
