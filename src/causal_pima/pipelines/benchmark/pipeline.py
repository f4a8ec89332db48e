"""``benchmark``: methods x seeds x configurations on circles."""

from kedro.pipeline import Pipeline, node

from causal_pima.pipelines.benchmark import nodes

PARAMETERS = ("benchmark", "circles", "data_processing", "model", "pretraining", "causal_pima")


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(nodes.run_benchmark, [f"params:{p}" for p in PARAMETERS], "results", name="run_benchmark"),
            node(nodes.summarise_benchmark, ["results", "params:benchmark"], ["summary", "metrics"], name="summarise_benchmark"),
        ],
        namespace="benchmark",
        parameters={f"params:{p}" for p in PARAMETERS},
    )
