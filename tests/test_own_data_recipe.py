"""README "Your own data set" end to end (issue 11 item 8): a new data-set name ``mydata`` (not ``lattice``),
RGB images, a graph-only ground-truth file, ``curve_decoder: neural`` and ``n_nodes: auto``, in one Kedro
session on tiny data. The data set is declared by configuration only: its catalog entry
``mydata.raw_manifest`` registers ``mydata_ingestion`` and ``mydata`` (no source edited, issue 23 item 5)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.test_registry import (
    _run,  # the project copy is the `project` fixture of tests/conftest.py
)

PARAMETERS = """
mydata_overrides:
  data_processing: {}
  model: {}
  pretraining: {epochs: 1, batch_size: 16, min_steps: 0}
  causal_pima: {epochs: 1, batch_size: 16, min_steps: 0, prior: {n_nodes: auto}, node_count: {d_max: 3}}
data_processing_mydata: ${overlay:data_processing,mydata_overrides.data_processing}
model_mydata: ${overlay:model,mydata_overrides.model}
pretraining_mydata: ${overlay:pretraining,mydata_overrides.pretraining}
causal_pima_mydata: ${overlay:causal_pima,mydata_overrides.causal_pima}
"""

CATALOG = """
mydata.raw_manifest:
  type: causal_pima.datasets.specimen_manifest.SpecimenManifestDataset
  path: data/01_raw/mydata
  manifest: specimens.csv
mydata.true_dag:
  type: json.JSONDataset
  filepath: data/01_raw/mydata/true_dag.json
"""


def _write_raw(folder, n: int = 40, seed: int = 0) -> None:
    """``n`` specimens in the manifest format: RGB PNGs, stress-strain CSVs, labels a -> c <- b."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True)
    (folder / "curves").mkdir()
    a, b = rng.integers(0, 2, n), rng.integers(0, 2, n)
    c = ((a + b + (rng.random(n) < 0.1)) >= 1).astype(int)
    strain = np.linspace(0.0, 0.8, 41)
    for i in range(n):
        rgb = np.zeros((24, 24, 3), dtype=np.uint8)
        rgb[..., 0], rgb[..., 2] = 200 * a[i], 200 * b[i]
        rgb[::4 - 2 * c[i]] = 255
        Image.fromarray(rgb).save(folder / "images" / f"s{i}.png")
        stress = (1 + 2 * a[i]) * 10 * strain + 3 * b[i] * strain**2 + rng.normal(0, 0.1, strain.size)
        pd.DataFrame({"strain": strain, "stress": stress}).to_csv(folder / "curves" / f"s{i}.csv", index=False)
    images, curves = [f"images/s{i}.png" for i in range(n)], [f"curves/s{i}.csv" for i in range(n)]
    images[3], curves[5] = "", ""  # s3 was not imaged, s5 not tested: kept, fused from the other modality
    pd.DataFrame({"specimen_id": [f"s{i}" for i in range(n)], "image": images,
                  "curve": curves, "a": a, "b": b, "c": c}).to_csv(folder / "specimens.csv", index=False)
    (folder / "true_dag.json").write_text(json.dumps({"features": ["a", "b", "c"], "edges": [["a", "c"], ["b", "c"]]}))


@pytest.mark.slow
def test_a_new_data_set_name_runs_end_to_end_with_a_graph_only_truth_and_the_neural_decoder(project, caplog):  # noqa: F811
    _write_raw(project / "data" / "01_raw" / "mydata")
    (project / "conf" / "base" / "parameters_mydata.yml").write_text(PARAMETERS)
    (project / "conf" / "base" / "catalog_mydata.yml").write_text(CATALOG)
    caplog.set_level("INFO")
    _run(project, "mydata", {
        "lattice_ingestion": {"image_size": 16, "n_grid_points": 16},
        "model": {"latent_dim": 4, "image_channels": [4, 8], "image_hidden_dim": 16, "curve_hidden_dims": [16]},
        "causal_pima": {"on_collapse": "warn", "init": {"oversample": 1}, "structure": {"steps": 20}},
    })
    assert "39 RGB images converted to greyscale (channels: 1); set lattice_ingestion.channels: 3 to keep colour" in caplog.text
    assert "1 without image, 1 without curve" in caplog.text
    report = json.loads((project / "data/02_intermediate/mydata/validation_report.json").read_text())
    assert report["n_specimens"] == 40 and report["not_measured"] == {"image": 1, "curve": 1}
    metrics = json.loads((project / "data/08_reporting/mydata/dag_metrics.json").read_text())
    assert {"shd", "cpdag_shd", "directed_recall", "node_accuracy", "ari", "test_elbo"} <= set(metrics)
    assert metrics["interventional_tv_source"] == "estimated_from_labels" and metrics["true_edges"] == [["a", "c"], ["b", "c"]]
    # n_nodes: auto (the labels only evaluate): 32 training specimens hold 5 per outcome up to d = 2;
    # d = 3 is listed, not fitted
    table = pd.read_csv(project / "data/07_model_output/mydata/node_count_selection.csv")
    assert list(table["n_nodes"]) == [0, 1, 2, 3]
    assert table.loc[3, "note"].startswith("not fitted: 32 training specimens cannot give each of the 2**3 = 8 outcomes")
    assert metrics["n_nodes"] == metrics["node_count"]["chosen"] in (1, 2) and metrics["node_count"]["true_features"] == 3
    # neural (model_mydata.curve_decoder): no physics expert, so no physics table or figure
    assert not (project / "data/07_model_output/mydata/physics_parameters.csv").exists()
    assert not (project / "data/08_reporting/mydata/physics_curves.png").exists()
    assert (project / "data/08_reporting/mydata/overview.png").stat().st_size > 0  # images per outcome, curves by label
    assert pd.read_csv(project / "data/08_reporting/mydata/rejected.csv").empty
