"""``causal_pima``: one modular pipeline per data set (namespace ``causal_pima.<dataset>``)."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from causal_pima.pipelines import stage_pipeline
from causal_pima.pipelines.causal_pima import nodes
from causal_pima.pipelines.parameters import COMPUTE_PARAMETERS, stage_parameters


def create_pipeline(dataset: str = "circles", physics: bool = False, **kwargs) -> Pipeline:
    """Fit, read-outs and figures; ``physics=True`` adds the physics expert's parameter table and figure."""
    # the per-epoch training checkpoint (resume / last good state) is the catalog entry
    # <dataset>.fit_checkpoint (a location the node writes itself); the parameter key names messages
    params_name = stage_parameters("causal_pima", dataset)["params:causal_pima"].removeprefix("params:")
    fit = update_wrapper(partial(nodes.fit_causal_pima, params_name=params_name), nodes.fit_causal_pima)
    physics_nodes = [
        node(nodes.physics_parameters, "fitted_model", "physics_parameters", name="physics_parameters"),
        node(nodes.plot_physics_curves, ["fitted_model", "train_set", "posteriors"], "physics_curves_figure", name="plot_physics_curves"),
    ]
    return stage_pipeline(
        [
            node(
                fit,
                ["pretrained_model", "train_set", "val_set", "params:causal_pima", "fit_checkpoint", "params:model",
                 "params:compute", "params:distributed"],
                ["fitted_model", "learned_dag", "training_history", "training_metrics"],
                name="fit_causal_pima",
            ),
            node(nodes.compute_posteriors, ["fitted_model", "train_set", "val_set", "test_set", "params:compute"], "posteriors",
                 name="compute_posteriors"),
            node(nodes.plot_fit_history, "training_history", "training_figure", name="plot_fit_history"),
            node(nodes.plot_learned_dag, "learned_dag", "learned_dag_figure", name="plot_learned_dag"),
            node(nodes.plot_reconstructions, ["fitted_model", "test_set"], "reconstruction_figure", name="plot_reconstructions"),
            *(physics_nodes if physics else []),
        ],
        dataset, "causal_pima", {**stage_parameters("model", dataset), **stage_parameters("causal_pima", dataset), **COMPUTE_PARAMETERS},
    )
