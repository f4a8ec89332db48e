"""``lattice_synthetic``: generate the lattice stand-in (images + stress-strain tests, known DAG).

Writes ``lattice.raw_manifest`` (a specimen folder read by the ``lattice`` ingestion pipeline),
``lattice.true_dag`` and two overview figures. The figures are drawn from the manifest as it was
written, so they show what ingestion will read.
"""

from kedro.pipeline import Pipeline, node

from causal_pima.pipelines import stage_pipeline
from causal_pima.pipelines.lattice_synthetic import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return stage_pipeline(
        [
            node(nodes.generate_raw, "params:lattice_synthetic", ["raw_manifest", "true_dag"], name="generate_raw"),
            node(nodes.plot_sample_images, ["raw_manifest", "params:lattice_synthetic"], "sample_images_figure", name="plot_sample_images"),
            node(nodes.plot_stress_strain, ["raw_manifest", "params:lattice_synthetic"], "stress_strain_figure", name="plot_stress_strain"),
        ],
        "lattice", "synthetic", {"params:lattice_synthetic"},
    )
