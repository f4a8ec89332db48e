"""``circles``: sample features from the configured causal graph, render images and spectra."""

from kedro.pipeline import Pipeline, node

from causal_pima.pipelines import stage_pipeline
from causal_pima.pipelines.circles import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return stage_pipeline(
        [
            node(nodes.generate_features, "params:circles", ["features", "true_dag"], name="generate_features"),
            node(nodes.exact_distributions, "true_dag", ["joint_distribution", "interventional_distributions"], name="exact_distributions"),
            node(nodes.render_specimens, ["features", "params:circles"], "raw_specimens", name="render_specimens"),
            node(nodes.plot_sample_images, ["raw_specimens", "features", "params:circles"], "sample_images_figure", name="plot_sample_images"),
            node(nodes.plot_spectra, ["raw_specimens", "features"], "spectra_figure", name="plot_spectra"),
        ],
        "circles", "synthetic", {"params:circles"},
    )
