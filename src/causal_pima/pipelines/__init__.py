"""The project's pipelines, one folder each (``pipeline_registry`` assembles the composites).

Every node sits in two nested namespaces, stage then data set (``pretraining.circles.pretrain_model``,
``ingestion.lattice.ingest``), so kedro-viz's top-level view of a pipeline shows one box per stage
(``synthetic``/``ingestion``, ``data_processing``, ``pretraining``, ``causal_pima``, ``evaluation``)
with the datasets that flow between them; each stage box opens into one box per data set. Dataset
names carry the data set only (``circles.pretrained_model``: the catalog's ``{dataset}.*``
patterns), and node names stay unique when data sets are run together
(``kedro run --pipelines __default__,lattice``).
"""

from __future__ import annotations

import importlib.resources
import warnings
from collections.abc import Iterable, Mapping

from kedro.pipeline import Node, Pipeline

# The dotted dataset names are these namespaces, made by Kedro's own namespacing (stage_pipeline): Kedro's
# warning that "dataset names contain '.'" came with every run and every notebook session and said nothing
# a user could act on (issue 23, item 8). Only this message is silenced.
warnings.filterwarnings("ignore", message=r"One or more dataset names contain '\.' characters", category=UserWarning)


PIPELINES_PACKAGE = "causal_pima.pipelines"


def pipeline_folders() -> list[str]:
    """The names of this package's pipeline folders (a sub-package not starting with ``.`` or ``_``), sorted;
    read from the files, so nothing is imported (``causal-pima --help`` lists them cheaply)."""
    package = importlib.resources.files(PIPELINES_PACKAGE)
    return sorted(
        entry.name for entry in package.iterdir()
        if entry.is_dir() and not entry.name.startswith((".", "_")) and entry.joinpath("__init__.py").is_file()
    )


def stage_pipeline(
    nodes: Iterable[Node], dataset: str, stage: str, parameters: set[str] | Mapping[str, str] | None = None
) -> Pipeline:
    """``nodes`` in the namespace ``<stage>.<dataset>``, their datasets named ``<dataset>.<name>``.

    ``parameters``: the parameters left without the data-set prefix (a set), or mapped to another
    key (``{"params:model": "params:model_lattice"}``), as for ``Pipeline(parameters=...)``.
    """
    dataset_nodes = Pipeline(list(nodes), namespace=dataset, parameters=parameters)
    return Pipeline(dataset_nodes, namespace=stage, prefix_datasets_with_namespace=False)


def node_dataset(node: Node) -> str | None:
    """The data set a node works on: the first part of its dataset names (``circles.train_set`` ->
    ``circles``; the benchmark's ``benchmark.collider.seed_0.data`` -> ``benchmark``), parameters
    left out; ``None`` for a node that reads and writes parameters only."""
    names = [name for name in (*node.outputs, *node.inputs) if not name.startswith("params:") and name != "parameters"]
    return names[0].split(".", 1)[0] if names else None
