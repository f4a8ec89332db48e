"""``evaluation``: one modular pipeline per data set (namespace ``evaluation.<dataset>``)."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from causal_pima.pipelines import stage_pipeline
from causal_pima.pipelines.evaluation import nodes


def create_pipeline(dataset: str = "circles", **kwargs) -> Pipeline:
    """Evaluation of one data set; ``validate_true_dag`` reads only the ground-truth file, so it runs
    among the first nodes of the path (before any training) and stops a malformed file early."""
    validate = update_wrapper(partial(nodes.validate_true_dag, dataset=dataset), nodes.validate_true_dag)
    return stage_pipeline(
        [
            node(validate, "true_dag", None, name="validate_true_dag"),
            node(nodes.cross_modal_report, ["fitted_model", "test_set", "params:compute"], ["cross_modal", "cross_modal_curves"],
                 name="cross_modal_report"),
            node(nodes.cross_modal_pairs, ["fitted_model", "test_set", "params:compute"], "cross_modal_pairs", name="cross_modal_pairs"),
            node(nodes.plot_cross_modal, ["cross_modal", "cross_modal_curves", "test_set"], "cross_modal_figure", name="plot_cross_modal"),
            node(
                nodes.evaluate_fit,
                ["fitted_model", "learned_dag", "posteriors", "test_set", "true_dag", "cross_modal", "params:compute"],
                ["dag_metrics", "evaluation_metrics"],
                name="evaluate_fit",
            ),
            node(nodes.plot_dag_comparison, ["dag_metrics", "true_dag"], "dag_comparison_figure", name="plot_dag_comparison"),
            node(nodes.plot_latent_projection, ["fitted_model", "test_set", "dag_metrics"], "latent_figure", name="plot_latent_projection"),
            node(nodes.plot_node_marginals, ["posteriors", "test_set", "dag_metrics"], "node_marginals_figure", name="plot_node_marginals"),
            node(nodes.plot_do_grid, ["fitted_model", "dag_metrics"], "do_grid_figure", name="plot_do_grid"),
        ],
        dataset, "evaluation", {"params:compute": "params:compute"},
    )
