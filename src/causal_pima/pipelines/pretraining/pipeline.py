"""``pretraining``: one modular pipeline per data set (namespace ``pretraining.<dataset>``)."""

from kedro.pipeline import Pipeline, node

from causal_pima.pipelines import stage_pipeline
from causal_pima.pipelines.parameters import COMPUTE_PARAMETERS, stage_parameters
from causal_pima.pipelines.pretraining import nodes


def create_pipeline(dataset: str = "circles", **kwargs) -> Pipeline:
    return stage_pipeline(
        [
            node(
                nodes.pretrain_model,
                ["train_set", "val_set", "params:model", "params:pretraining", "params:compute", "params:distributed"],
                ["pretrained_model", "pretraining_history", "pretraining_metrics", "pretraining_figure"],
                name="pretrain_model",
            ),
        ],
        dataset, "pretraining", {**stage_parameters("model", dataset), **stage_parameters("pretraining", dataset), **COMPUTE_PARAMETERS},
    )
