"""``data_processing``: one modular pipeline per data set (namespace ``data_processing.<dataset>``)."""

from kedro.pipeline import Pipeline, node

from causal_pima.pipelines import stage_pipeline
from causal_pima.pipelines.data_processing import nodes
from causal_pima.pipelines.parameters import stage_parameters


def create_pipeline(dataset: str = "circles", **kwargs) -> Pipeline:
    return stage_pipeline(
        [
            node(nodes.validate_specimens, ["raw_specimens", "features", "params:data_processing"], "validation_report", name="validate_specimens"),
            node(nodes.split_specimens, ["validation_report", "params:data_processing"], "split", name="split_specimens"),
            node(nodes.fit_curve_scaler, ["raw_specimens", "split", "params:data_processing"], "curve_scaler", name="fit_curve_scaler"),
            node(
                nodes.build_model_input,
                ["raw_specimens", "features", "split", "curve_scaler", "validation_report"],
                ["train_set", "val_set", "test_set"],
                name="build_model_input",
            ),
        ],
        dataset, "data_processing", stage_parameters("data_processing", dataset),
    )
