"""The ``compute`` and ``distributed`` parameter groups reach every node that trains or reads a model
(docs/scaling.md), and the read-out nodes give the same numbers from memory-mapped model inputs on an
explicit CPU device as from in-memory arrays without one."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from causal_pima.core.causal_fit import DistributedConfig, compute_settings
from causal_pima.core.compute import ComputeConfig
from causal_pima.core.model import CausalPIMA
from causal_pima.core.model_config import ModelConfig
from causal_pima.data.scm import true_dag_record
from causal_pima.datasets import ArrayFolderDataset
from causal_pima.parameter_schemas import InvalidParametersError, validate_parameters
from causal_pima.pipeline_registry import register_pipelines
from causal_pima.pipelines.causal_pima import nodes as fit_nodes
from causal_pima.pipelines.evaluation import nodes as eval_nodes
from tests.pipelines.test_causal_pima_nodes import TINY
from tests.pipelines.test_node_units import SCM, model_set

# node (last part of its name) -> the groups it must read
READERS = {
    "pretrain_model": {"params:compute", "params:distributed"},
    "fit_causal_pima": {"params:compute", "params:distributed"},
    "compute_posteriors": {"params:compute"},
    "cross_modal_report": {"params:compute"},
    "evaluate_fit": {"params:compute"},
}


@pytest.mark.parametrize("pipeline", ["__default__", "lattice"])
def test_every_training_and_read_out_node_reads_the_shared_compute_groups(pipeline):
    nodes = register_pipelines()[pipeline].nodes
    for short, groups in READERS.items():
        matching = [n for n in nodes if n.name.endswith(f".{short}")]
        assert len(matching) == 1, short
        # not renamed per data set: one device and one process count for the whole run
        assert groups <= set(matching[0].inputs), (short, matching[0].inputs)


def test_compute_settings_defaults_and_checks():
    compute, parallel = compute_settings(None, None)
    assert compute == ComputeConfig(device="cpu") and parallel == DistributedConfig(processes=1)
    compute, parallel = compute_settings({"device": "auto", "workers": 2}, {"processes": 2, "threads_per_process": 1})
    assert compute.workers == 2 and parallel.processes == 2 and parallel.threads_per_process == 1
    with pytest.raises(ValueError, match="distributed.processes must be 1 or more, got 0"):
        DistributedConfig(processes=0)


def test_the_compute_groups_are_validated_with_their_keys():
    with pytest.raises(InvalidParametersError) as error:
        validate_parameters({"compute": {"device": "gpu0", "workers": -1}, "distributed": {"processes": 0}}, ["compute", "distributed"])
    text = str(error.value)
    for key in ("compute.device", "compute.workers", "distributed.processes"):
        assert key in text


def test_read_out_nodes_equal_from_memory_maps_on_an_explicit_cpu(tmp_path):
    torch.manual_seed(0)
    model = CausalPIMA(ModelConfig(**TINY, n_nodes=2)).eval()
    sets = {name: model_set(n, seed) for name, n, seed in (("train", 40, 1), ("val", 16, 2), ("test", 24, 3))}
    mapped = {}
    for name, data in sets.items():
        store = ArrayFolderDataset(filepath=str(tmp_path / name))
        store.save(data)
        mapped[name] = store.load()
    plain = fit_nodes.compute_posteriors(model, sets["train"], sets["val"], sets["test"])
    streamed = fit_nodes.compute_posteriors(model, mapped["train"], mapped["val"], mapped["test"], {"device": "cpu"})
    pd.testing.assert_frame_equal(plain, streamed)
    assert next(model.parameters()).device.type == "cpu"

    true_dag = true_dag_record(SCM, "chain")
    learned = {
        "node_names": ["N0", "N1"],
        "adjacency": [[0.0, 2.0], [0.0, 0.0]],
        "conditional_probability_tables": {"N0": {"parents": [], "p_one": [0.5]}, "N1": {"parents": ["N0"], "p_one": [0.2, 0.8]}},
        "diagnostics": {"collapsed": False, "warnings": []},
    }
    cross_a, curves_a = eval_nodes.cross_modal_report(model, sets["test"])
    cross_b, curves_b = eval_nodes.cross_modal_report(model, mapped["test"], {"device": "cpu"})
    assert cross_a == cross_b and (curves_a == curves_b).all()
    report_a, _ = eval_nodes.evaluate_fit(model, learned, plain, sets["test"], true_dag, cross_a)
    report_b, _ = eval_nodes.evaluate_fit(model, learned, streamed, mapped["test"], true_dag, cross_b, {"device": "cpu"})
    assert report_a["test_elbo"] == report_b["test_elbo"]
    assert report_a == report_b


def test_torchrun_processes_other_than_0_keep_their_outputs_in_memory(monkeypatch, tmp_path):
    from kedro.io import DataCatalog
    from kedro.pipeline import Pipeline, node
    from kedro_datasets.pandas import CSVDataset

    from causal_pima.datasets import CausalPIMADataset
    from causal_pima.torchrun_hook import TorchrunWriterHook, torchrun_rank

    def make_catalog():
        return DataCatalog({"d.fitted_model": CausalPIMADataset(filepath=str(tmp_path / "m.pt")),
                            "d.table": CSVDataset(filepath=str(tmp_path / "t.csv"))})

    pipeline = Pipeline([node(lambda: (None, None), None, ["d.fitted_model", "d.table"], name="n")])
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    monkeypatch.setenv("RANK", "1")
    assert torchrun_rank() == 0  # RANK alone is not torchrun
    catalog = make_catalog()
    TorchrunWriterHook().before_pipeline_run({}, pipeline, catalog)
    assert isinstance(catalog.get("d.table"), CSVDataset)

    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "job")
    assert torchrun_rank() == 1
    catalog = make_catalog()
    TorchrunWriterHook().before_pipeline_run({}, pipeline, catalog)
    torch.manual_seed(0)
    model = CausalPIMA(ModelConfig(**TINY, n_nodes=2))
    catalog.save("d.fitted_model", model.checkpoint())
    catalog.save("d.table", pd.DataFrame({"a": [1]}))
    assert not (tmp_path / "m.pt").exists() and not (tmp_path / "t.csv").exists()  # process 0 writes them
    loaded = catalog.load("d.fitted_model")
    assert isinstance(loaded, CausalPIMA)  # as the file dataset would load it
    assert torch.equal(loaded.prior.means, model.prior.means)
