"""The project's pipelines, one folder each (``pipeline_registry`` assembles the composites).

Every node sits in two nested namespaces, data set then stage (``circles.pretraining.pretrain_model``),
so kedro-viz draws one box per data set that opens into one box per stage; dataset names carry the
data set only (``circles.pretrained_model``: the catalog's ``{dataset}.*`` patterns).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kedro.pipeline import Node, Pipeline


def stage_pipeline(
    nodes: Iterable[Node], dataset: str, stage: str, parameters: set[str] | Mapping[str, str] | None = None
) -> Pipeline:
    """``nodes`` in the namespace ``<dataset>.<stage>``, their datasets named ``<dataset>.<name>``.

    ``parameters``: the parameters left without the data-set prefix (a set), or mapped to another
    key (``{"params:model": "params:model_lattice"}``), as for ``Pipeline(parameters=...)``.
    """
    stage_nodes = Pipeline(list(nodes), namespace=stage, prefix_datasets_with_namespace=False)
    return Pipeline(stage_nodes, namespace=dataset, parameters=parameters)
