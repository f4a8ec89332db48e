"""The lineage reads by stage (issue 10, item 8): node namespaces are ``<stage>.<data set>``, so kedro-viz's
top-level view of a pipeline shows the stages with the datasets between them, and every dataset has a
layer, drawn in the order of the data folders. The kedro-viz checks use kedro-viz's own graph code
(what ``kedro viz build`` writes to ``api/pipelines/<name>``), without a browser."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from kedro.pipeline import Pipeline

from causal_pima.pipeline_registry import ingestion_pipeline, register_pipelines
from causal_pima.pipelines import node_dataset
from causal_pima.run_naming import datasets_of

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["01_raw", "02_intermediate", "03_primary", "05_model_input", "06_models", "07_model_output", "08_reporting"]
STAGES = {
    "__default__": ["synthetic", "data_processing", "pretraining", "causal_pima", "evaluation"],
    "lattice": ["ingestion", "data_processing", "pretraining", "causal_pima", "evaluation"],
    "lattice_ingestion": ["ingestion"],
    "lattice_synthetic": ["synthetic"],
    "circles": ["synthetic"],
}


@pytest.fixture(scope="module")
def registry() -> dict[str, Pipeline]:
    return register_pipelines()


@pytest.mark.parametrize("name", sorted(STAGES))
def test_nodes_sit_in_stage_then_data_set_namespaces(registry, name):
    dataset = "circles" if name in ("__default__", "circles") else "lattice"
    namespaces = {node.namespace for node in registry[name].nodes}
    assert namespaces == {f"{stage}.{dataset}" for stage in STAGES[name]}
    assert {node_dataset(node) for node in registry[name].nodes} == {dataset}
    assert datasets_of(registry[name]) == [dataset]


def test_node_names_say_stage_data_set_and_node(registry):
    names = {node.name for node in registry["__default__"].nodes}
    assert {"synthetic.circles.generate_features", "pretraining.circles.pretrain_model",
            "causal_pima.circles.fit_causal_pima", "evaluation.circles.evaluate_fit"} <= names
    assert {node.name for node in ingestion_pipeline("mydata").nodes} == {"ingestion.mydata.ingest", "ingestion.mydata.plot_overview"}
    assert ingestion_pipeline("mydata").inputs() == {"mydata.raw_manifest", "params:lattice_ingestion"}
    assert ingestion_pipeline("mydata").all_outputs() == {"mydata.raw_specimens", "mydata.features", "mydata.rejected", "mydata.overview"}
    assert datasets_of(ingestion_pipeline("mydata")) == ["mydata"]
    assert datasets_of(registry["benchmark"]) == ["benchmark"]  # its own namespaces benchmark.<configuration>...


def test_two_data_sets_run_together_and_namespaces_select_a_stage(registry):
    both = registry["__default__"] + registry["lattice"]  # kedro run --pipelines __default__,lattice
    assert len(both.nodes) == len(registry["__default__"].nodes) + len(registry["lattice"].nodes)
    evaluation = both.only_nodes_with_namespaces(["evaluation"])  # kedro run --namespaces evaluation
    assert {node_dataset(n) for n in evaluation.nodes} == {"circles", "lattice"}
    assert {n.namespace for n in both.only_nodes_with_namespaces(["evaluation.lattice"]).nodes} == {"evaluation.lattice"}
    # README: the lattice path up to the fit, without a ground-truth file
    to_fit = registry["lattice"].to_nodes("causal_pima.lattice.compute_posteriors")
    assert "lattice.true_dag" not in to_fit.inputs() and "causal_pima.lattice.compute_posteriors" in {n.name for n in to_fit.nodes}


# ---------------------------------------------------------------------------- what kedro-viz draws
@pytest.fixture(scope="module")
def viz(registry):
    """kedro-viz's data access manager filled as ``kedro viz build`` fills it (catalog of conf/base)."""
    from kedro.config import OmegaConfigLoader
    from kedro.io import DataCatalog
    from kedro_viz.data_access.managers import DataAccessManager

    logging.getLogger("kedro_viz").setLevel(logging.ERROR)  # "Cannot find parameter ... in the catalog"
    loader = OmegaConfigLoader(conf_source=str(ROOT / "conf"), base_env="base", default_run_env="base")
    manager = DataAccessManager()
    manager.add_catalog(DataCatalog.from_config(loader["catalog"]), registry)
    manager.add_pipelines(registry)
    return manager


@pytest.mark.parametrize("name", ["__default__", "lattice"])
def test_kedro_viz_top_level_shows_the_stages_and_the_datasets_between_them(viz, name):
    from kedro_viz.models.flowchart.model_utils import GraphNodeType

    tree = viz.create_modular_pipelines_tree_for_registered_pipeline(name)
    root = tree["__root__"].children
    assert {c.id for c in root if c.type == GraphNodeType.MODULAR_PIPELINE} == set(STAGES[name])
    at_top = {viz.nodes.get_node_by_id(c.id).name for c in root if c.type == GraphNodeType.DATA}
    dataset = "circles" if name == "__default__" else "lattice"
    # what flows from stage to stage is drawn between the boxes
    assert {f"{dataset}.{d}" for d in ("train_set", "val_set", "test_set", "pretrained_model", "fitted_model",
                                        "learned_dag", "posteriors", "true_dag")} <= at_top
    assert {f"{dataset}.split", f"{dataset}.dag_metrics"}.isdisjoint(at_top)  # used inside one stage: inside its box
    # each stage box opens into one box per data set
    assert {c.id for c in tree["pretraining"].children} == {"pretraining." + dataset}
    nodes = viz.get_nodes_for_registered_pipeline(name)
    data = [n for n in nodes if n.type == GraphNodeType.DATA]
    assert data and [n.name for n in data if not n.layer] == []
    used = {n.layer for n in data}
    assert [layer for layer in viz.get_sorted_layers_for_registered_pipeline(name) if layer in used] == [
        layer for layer in LAYERS if layer in used
    ]
