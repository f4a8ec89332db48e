"""``benchmark``: methods x seeds x configurations on circles."""

from kedro.pipeline import Pipeline, node

from causal_pima.pipelines.benchmark import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                nodes.run_benchmark,
                ["params:benchmark", "params:circles", "params:data_processing", "params:model", "params:pretraining", "params:causal_pima"],
                "benchmark.results",
                name="run_benchmark",
            ),
            node(nodes.summarise_benchmark, ["benchmark.results", "params:benchmark"], ["benchmark.summary", "benchmark.metrics"], name="summarise_benchmark"),
        ],
    )
