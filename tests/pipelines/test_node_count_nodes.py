"""``prior.n_nodes: auto``: the candidate fit nodes, the choosing node and the pipeline's fan-out
(pipelines/causal_pima/node_count.py; the criterion itself: tests/core/test_node_count.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from causal_pima.core.model import CausalPIMA
from causal_pima.core.model_config import ModelConfig
from causal_pima.core.readout import resolve_n_nodes
from causal_pima.pipelines.causal_pima.node_count import (
    choose_node_count_fit,
    fit_candidate,
    plot_node_count,
)
from causal_pima.pipelines.causal_pima.pipeline import create_pipeline
from tests.pipelines.test_causal_pima_nodes import TINY, tiny_set

ROOT = Path(__file__).resolve().parents[2]
PARAMS = {"prior": {"n_nodes": "auto"}, "epochs": 1, "batch_size": 32, "seed": 0, "min_steps": 0, "on_collapse": "warn",
          "init": {"oversample": 1}, "structure": {}, "node_count": {"d_min": 1, "d_max": 3}}


def test_the_pipeline_fans_out_one_fit_node_per_candidate_and_chooses_once():
    fixed = create_pipeline("circles", candidates=())
    auto = create_pipeline("circles", candidates=(1, 2, 3))
    assert "causal_pima.circles.fit_causal_pima" in {n.name for n in fixed.nodes}
    names = {n.name for n in auto.nodes}
    assert {f"causal_pima.circles.fit_candidate_d{d}" for d in (1, 2, 3)} <= names
    assert "causal_pima.circles.fit_causal_pima" not in names
    (choose,) = [n for n in auto.nodes if n.name == "causal_pima.circles.choose_node_count"]
    assert choose.inputs[-3:] == [f"circles.node_count_candidate_d{d}" for d in (1, 2, 3)]
    # the chooser writes what the single fit writes, so everything after it is the same pipeline
    (fit,) = [n for n in fixed.nodes if n.name == "causal_pima.circles.fit_causal_pima"]
    assert set(fit.outputs) < set(choose.outputs)
    assert set(choose.outputs) - set(fit.outputs) == {"circles.node_count_selection"}
    assert fixed.outputs() | {"circles.node_count_figure"} == auto.outputs()
    # no candidate writes a checkpoint location: candidate fits are not resumable
    assert not any("fit_checkpoint" in n.inputs for n in auto.nodes)


def test_candidates_are_fitted_scored_skipped_and_chosen():
    torch.manual_seed(0)
    pretrained = CausalPIMA(ModelConfig(**TINY, n_nodes=2)).checkpoint()  # untrained networks
    train, val = tiny_set(64, 1), tiny_set(32, 2)
    candidates = [fit_candidate(pretrained, train, val, PARAMS, n_nodes=d) for d in (1, 2, 4)]
    # 64 training specimens cannot give 2**4 outcomes 5 specimens each: d = 4 is listed, not fitted
    assert [c["fitted"] for c in candidates] == [True, True, False]
    assert "not fitted: 64 training specimens" in candidates[2]["note"] and "min_outcome_count = 5" in candidates[2]["note"]
    for c in candidates[:2]:
        assert c["val_scores"].shape == (32,) and np.isfinite(c["val_scores"]).all()
        assert CausalPIMA.from_checkpoint(c["checkpoint"]).config.n_nodes == c["n_nodes"]
    checkpoint, learned_dag, history, metrics, table = choose_node_count_fit(pretrained, train, val, PARAMS, *candidates)
    chosen = learned_dag["node_count"]["chosen"]
    assert chosen in (1, 2) and CausalPIMA.from_checkpoint(checkpoint).config.n_nodes == chosen
    assert len(learned_dag["node_names"]) == chosen
    assert list(table["n_nodes"]) == [0, 1, 2, 4] and table["chosen"].sum() == 1
    assert int(table.loc[table["chosen"], "n_nodes"].iloc[0]) == chosen
    assert metrics["node_count.chosen"] == [{"step": 0, "value": float(chosen)}]
    assert {"node_count.score_d0", "node_count.score_d1", "node_count.score_d2"} <= set(metrics)
    assert isinstance(history, pd.DataFrame) and len(history) == 1
    # every warning of the choice is in the fit's diagnostics as well (the reports show those)
    assert all(f"n_nodes: auto: {w}" in learned_dag["diagnostics"]["warnings"] for w in learned_dag["node_count"]["warnings"])
    assert isinstance(plot_node_count(table), Figure)


def test_auto_in_a_single_fit_or_a_lattice_check_is_explained():
    with pytest.raises(ValueError, match="n_nodes is 'auto' but this fit takes one node count.*fit_candidate_d<d>"):
        resolve_n_nodes({"n_nodes": "auto"}, tiny_set(4, 0))
    from causal_pima.pipelines.lattice.nodes import check_n_nodes

    check_n_nodes(pd.DataFrame({"specimen_id": ["a"]}), {"prior": {"n_nodes": "auto"}})  # no labels needed
    with pytest.raises(ValueError, match=r"or to auto to choose it from the data \(--params causal_pima_lattice.prior.n_nodes=auto\)"):
        check_n_nodes(pd.DataFrame({"specimen_id": ["a"]}), {"prior": {"n_nodes": None}})


def test_a_session_with_other_parameters_gets_its_own_pipelines():
    """Kedro caches the pipelines of a process; the session hook has them created again when a later
    session (a notebook, a test) runs with other parameters, so n_nodes: auto then fans out."""
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    from causal_pima import session_parameters
    from causal_pima.session_parameters import SessionParametersHook

    class Context:
        def __init__(self, params):
            self.params, self.env = params, None
            self.config_loader = type("Loader", (), {"conf_source": str(ROOT / "conf"), "env": None})()

    bootstrap_project(ROOT)
    base, _ = session_parameters.file_parameters(ROOT / "conf")
    auto = {**base, **{group: {**base[group], "prior": {**base[group]["prior"], "n_nodes": "auto"}}
                       for group in ("causal_pima", "causal_pima_lattice")}}  # as --params gives both (an overlay)
    hook = SessionParametersHook()
    try:
        hook.after_context_created(Context(base))
        assert "causal_pima.circles.fit_causal_pima" in {n.name for n in pipelines["__default__"].nodes}
        hook.after_context_created(Context(auto))
        names = {n.name for n in pipelines["__default__"].nodes}
        assert {f"causal_pima.circles.fit_candidate_d{d}" for d in range(1, 7)} <= names
        assert "causal_pima.circles.fit_causal_pima" not in names
        # the lattice path reads its own group (causal_pima_lattice, laid over causal_pima): auto too
        assert "causal_pima.lattice.fit_candidate_d1" in {n.name for n in pipelines["lattice"].nodes}
    finally:
        session_parameters.set_session(None, None, None)
        pipelines.configure("causal_pima.pipeline_registry")



def test_candidates_above_the_density_clusters_are_listed_not_fitted():
    from causal_pima.core.batching import specimen_data
    from causal_pima.core.model import PoEVAE
    from causal_pima.core.node_count import density_clusters

    torch.manual_seed(0)
    pretrained = CausalPIMA(ModelConfig(**TINY, n_nodes=2)).checkpoint()
    train, val = tiny_set(64, 1), tiny_set(32, 2)
    clusters = {"n_clusters": 3, "sizes": [30, 20, 14], "max_nodes": 2}  # ceil(log2 3) + 0
    skipped = fit_candidate(pretrained, train, val, PARAMS, clusters=clusters, n_nodes=3)
    assert not skipped["fitted"] and skipped["note"] == (
        "not fitted: the pretrained training latents show 3 density clusters, so d <= ceil(log2 3) + node_count.cluster_slack = 2")
    networks = PoEVAE.from_checkpoint(pretrained)
    found = density_clusters(networks, specimen_data(train, networks.modalities), slack=1)
    assert sum(found["sizes"]) == 64 and found["n_clusters"] == len(found["sizes"]) >= 1
    assert found["max_nodes"] == max(1, int(np.ceil(np.log2(found["n_clusters"])))) + 1
