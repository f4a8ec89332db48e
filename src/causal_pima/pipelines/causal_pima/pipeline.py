"""``causal_pima``: one modular pipeline per data set (namespace ``causal_pima.<dataset>``)."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from causal_pima.pipelines import stage_pipeline
from causal_pima.pipelines.causal_pima import node_count, nodes
from causal_pima.pipelines.parameters import COMPUTE_PARAMETERS, stage_parameters

FIT_OUTPUTS = ["fitted_model", "learned_dag", "training_history", "training_metrics"]
FIT_INPUTS = ["pretrained_model", "train_set", "val_set", "params:causal_pima"]
SETTINGS = ["params:model", "params:compute", "params:distributed"]


def fit_nodes(params_name: str, candidates: tuple[int, ...] = ()) -> list:
    """The fit: one node, or with ``candidates`` (``n_nodes: auto``, :mod:`.node_count`) one node per
    candidate node count and the node choosing among them, which writes the same four outputs."""
    if not candidates:
        # the per-epoch training checkpoint (resume / last good state) is the catalog entry
        # <dataset>.fit_checkpoint (a location the node writes itself); the parameter key names messages
        fit = update_wrapper(partial(nodes.fit_causal_pima, params_name=params_name), nodes.fit_causal_pima)
        return [node(fit, [*FIT_INPUTS, "fit_checkpoint", *SETTINGS], FIT_OUTPUTS, name="fit_causal_pima")]
    steps = [node(node_count.count_density_clusters, ["pretrained_model", "train_set", "params:causal_pima"], "node_count_clusters",
                  name="count_density_clusters")]
    for d in candidates:
        fit = update_wrapper(partial(node_count.fit_candidate, n_nodes=d, params_name=params_name), node_count.fit_candidate)
        steps.append(node(fit, [*FIT_INPUTS, *SETTINGS, "node_count_clusters"], f"node_count_candidate_d{d}", name=f"fit_candidate_d{d}"))
    steps.append(node(node_count.choose_node_count_fit, [*FIT_INPUTS, *(f"node_count_candidate_d{d}" for d in candidates)],
                      [*FIT_OUTPUTS, "node_count_selection"], name="choose_node_count"))
    steps.append(node(node_count.plot_node_count, "node_count_selection", "node_count_figure", name="plot_node_count"))
    return steps


def create_pipeline(dataset: str = "circles", physics: bool = False, candidates: tuple[int, ...] = (), **kwargs) -> Pipeline:
    """Fit, read-outs and figures; ``physics=True`` adds the physics expert's parameter table and figure.

    ``candidates``: the node counts to fit and choose from (``n_nodes: auto``), ``()`` for one fit with a
    fixed d. The pipeline registry passes those of the run's parameters
    (:func:`causal_pima.core.node_count.candidate_node_counts` of ``causal_pima.prior``, ``--params`` applied).
    """
    params_name = stage_parameters("causal_pima", dataset)["params:causal_pima"].removeprefix("params:")
    physics_nodes = [
        node(nodes.physics_parameters, "fitted_model", "physics_parameters", name="physics_parameters"),
        node(nodes.plot_physics_curves, ["fitted_model", "train_set", "posteriors"], "physics_curves_figure", name="plot_physics_curves"),
    ]
    return stage_pipeline(
        [
            *fit_nodes(params_name, tuple(candidates)),
            node(nodes.compute_posteriors, ["fitted_model", "train_set", "val_set", "test_set", "params:compute"], "posteriors",
                 name="compute_posteriors"),
            node(nodes.plot_fit_history, "training_history", "training_figure", name="plot_fit_history"),
            node(nodes.plot_learned_dag, "learned_dag", "learned_dag_figure", name="plot_learned_dag"),
            node(nodes.plot_reconstructions, ["fitted_model", "test_set"], "reconstruction_figure", name="plot_reconstructions"),
            *(physics_nodes if physics else []),
        ],
        dataset, "causal_pima", {**stage_parameters("model", dataset), **stage_parameters("causal_pima", dataset), **COMPUTE_PARAMETERS},
    )
