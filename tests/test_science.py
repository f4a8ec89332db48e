"""The science, pinned (issue 21, item 5): a real causalPIMA fit recovers a known graph.

The default collider (radius -> hue <- shift) at N = 600, seed 0, through the benchmark's own
functions (generation, processing, pretraining, fit, evaluation; the default parameters, whose
budgets follow the data size): the learned graph is in the true Markov equivalence class and every
node matches its feature. Measured by the small-N benchmark (README "Benchmark"): 5/5 seeds at
N = 600 with node accuracy >= 0.989. About a minute on one core.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from causal_pima.pipelines.benchmark import nodes
from causal_pima.session_parameters import file_parameters

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_default_collider_is_recovered_at_600_specimens():
    parameters, _ = file_parameters(ROOT / "conf", env="base")
    benchmark = {**parameters["benchmark"], "n_specimens": 600}
    data = nodes.generate_data(parameters["circles"], parameters["data_processing"], benchmark, "collider", 0)
    pretrained = nodes.pretrain(data, parameters["model"], parameters["pretraining"], benchmark, 0, "image_curve")
    row = nodes.run_method(data, pretrained, parameters["causal_pima"], benchmark, "collider", 0, "causal_pima")
    assert row["error"] == ""
    assert row["cpdag_shd"] == 0
    assert row["node_accuracy"] >= 0.95
    assert row["n_nodes"] == row["true_n_nodes"] == 3
