"""Read-outs of a causalPIMA model: what the Kedro nodes and the benchmark report about a fit.

Plain torch / numpy / pandas, no Kedro: the model (built from a pretrained checkpoint, or loaded by
``causal_pima.datasets.CausalPIMADataset``) and tensors in, records and tables out. Node names follow
one format, :func:`causal_pima.core.outcomes.node_names` (``N0, N1, ...``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from causal_pima.core.batching import as_batches
from causal_pima.core.compute import model_device
from causal_pima.core.dag import edges_above_threshold, tables_from_logits
from causal_pima.core.equivalence import equivalence_class_record
from causal_pima.core.evaluate import evaluate
from causal_pima.core.model import CausalPIMA
from causal_pima.core.model_config import CURVE, IMAGE, ModelConfig, PhysicsConfig, PriorConfig
from causal_pima.core.outcomes import node_names
from causal_pima.core.prediction import cross_modal_prediction, reconstruction_rmse

logger = logging.getLogger(__name__)

# the causal_pima.prior parameters: the fields of PriorConfig
PRIOR_KEYS = tuple(f.name for f in fields(PriorConfig))


def model_from_pretrained(
    pretrained_model: Mapping[str, Any], prior_params: Mapping[str, Any], model_config: ModelConfig | None = None
) -> CausalPIMA:
    """A causalPIMA model with the pretrained networks and a fresh prior/DAG from ``prior_params``.

    ``pretrained_model`` is a networks-only checkpoint (:meth:`PoEVAE.checkpoint`, what pretraining
    saves) or a whole causalPIMA checkpoint. The prior settings are ``prior_params`` (the
    ``causal_pima.prior`` parameters, their one place) laid over those of ``model_config`` (the ``model``
    parameters with the data statistics, :func:`causal_pima.model_input.model_config_from_data`, which
    hold :class:`PriorConfig`'s defaults), and the physics settings are ``model_config``'s; without
    ``model_config`` both come from the checkpoint's config (defaults where it holds the networks only). :meth:`CausalPIMA.from_pretrained` builds the model.
    """
    unknown = sorted(set(prior_params) - set(PRIOR_KEYS))
    if unknown:
        raise ValueError(f"unknown causal_pima.prior parameter(s) {unknown}; known: {list(PRIOR_KEYS)}")
    base = model_config.to_dict() if model_config is not None else dict(pretrained_model["config"])
    prior = PriorConfig.from_values({**base, **prior_params})
    return CausalPIMA.from_pretrained(pretrained_model, prior, PhysicsConfig.from_values(base))


def resolve_n_nodes(
    prior_params: Mapping[str, Any], train_set: Mapping[str, np.ndarray], params_name: str = "causal_pima"
) -> dict[str, Any]:
    """The prior parameters with ``n_nodes`` filled in: an explicit value wins; ``null`` takes the number
    of label columns of the data set (one binary node per labelled feature; only the count is read).

    ``params_name``: the parameter group the message names (``causal_pima_mydata``). An explicit
    ``n_nodes`` that differs from the number of label columns is logged as a WARNING (evaluation then
    counts unmatched features at chance, or leaves extra nodes out).

    Raises:
        ValueError: ``n_nodes`` is null and the data set has no label columns, or ``auto`` (one fit
            has one node count: ``auto`` is the pipeline's fan-out over candidates).
    """
    prior_params = dict(prior_params)
    label_names = train_set.get("label_names")
    n_labels = 0 if label_names is None else len(label_names)
    if prior_params.get("n_nodes") == "auto":
        raise ValueError(
            f"{params_name}.prior.n_nodes is 'auto' but this fit takes one node count: 'auto' makes the causal_pima "
            "pipeline fit one candidate per node count (nodes fit_candidate_d<d>) and choose among them; run it "
            f"through kedro run, or give {params_name}.prior.n_nodes an integer"
        )
    if prior_params.get("n_nodes") is not None:
        if n_labels and int(prior_params["n_nodes"]) != n_labels:
            logger.warning(
                "%s.prior.n_nodes = %d but the data set has %d label columns %s: evaluation matches at most "
                "min(n_nodes, labels) features", params_name, int(prior_params["n_nodes"]), n_labels, [str(n) for n in label_names],
            )
        return prior_params
    if not n_labels:
        raise ValueError(
            f"{params_name}.prior.n_nodes is null and the data set has no label columns to count: "
            f"set {params_name}.prior.n_nodes (the number of binary features to discover) in the parameters "
            f"(e.g. --params {params_name}.prior.n_nodes=3), or to auto to choose it from the data "
            f"(--params {params_name}.prior.n_nodes=auto)"
        )
    prior_params["n_nodes"] = int(n_labels)
    logger.info("n_nodes = %d, one node per labelled feature %s", prior_params["n_nodes"], [str(n) for n in label_names])
    return prior_params


def learned_dag_record(model: CausalPIMA, structure, initialisation: Mapping[str, Any], edge_threshold: float) -> dict[str, Any]:
    """JSON record of the learned DAG (node scores, adjacency, edges with strengths, tables).

    For free mixture weights (the PIMA baseline, ``structure`` None) there is no DAG: the record
    holds the weights and no edges or tables.
    """
    names = node_names(model.config.n_nodes)
    if structure is None:
        return {
            "node_names": names,
            "mixture_weights": "free",
            "log_weights": model.log_weights().tolist(),
            "edges": [],
            "conditional_probability_tables": None,
            "initialisation": dict(initialisation),
        }
    effects = model.dag.parent_effects().detach().double()
    tables = tables_from_logits(model.dag.outcome_logits().detach().double(), edge_threshold)
    edges = [
        {"from": names[i], "to": names[j], "strength": strength}
        for i, j, strength in edges_above_threshold(effects, edge_threshold)
    ]
    candidates = structure.candidates.copy()
    candidates["order"] = candidates["order"].map(lambda o: [names[i] for i in o])
    chosen = np.zeros((len(names), len(names)), dtype=int)
    for edge in edges:
        chosen[names.index(edge["from"]), names.index(edge["to"])] = 1
    return {
        "node_names": names,
        "mixture_weights": "dag",
        "order": [names[i] for i in structure.order],
        "node_scores": model.dag.node_scores.detach().tolist(),
        "temperature": float(model.dag.temperature),
        "edge_threshold": float(edge_threshold),
        "conditionals": model.dag.conditionals,
        # parent_effects[i][j]: the strongest change of node j's logit when node i flips 0 -> 1
        # (equal to the adjacency A_ij for logistic conditionals)
        "adjacency": effects.tolist(),
        "biases": model.dag.biases.detach().tolist(),
        "edges": edges,
        # which arrows observational data determines and which it leaves open (the CPDAG)
        "equivalence_class": equivalence_class_record(chosen, names),
        # same layout as the circles SCM configuration: p_one[c], c = sum_p value(parents[p]) * 2**p
        "conditional_probability_tables": {
            names[j]: {"parents": [names[i] for i in parents], "p_one": table.tolist()} for j, (parents, table) in tables.items()
        },
        "structure_search": {
            "val_score": float(structure.val_score),
            "candidates": candidates.to_dict(orient="records"),
            # share of the order-averaged search score on DAGs holding edge i -> j (tables only)
            "edge_confidence": None if structure.edge_confidence is None else structure.edge_confidence.tolist(),
        },
        "initialisation": dict(initialisation),
    }


@torch.no_grad()
def posterior_table(model: CausalPIMA, splits: Mapping[str, tuple[Sequence, Mapping[str, Tensor]]]) -> pd.DataFrame:
    """Per-specimen responsibilities gamma_k, node marginals q(N_j = 1 | x) and the most likely outcome.

    ``splits`` maps a split name to ``(specimen_ids, tensors)``; one row per specimen, splits in order.
    """
    frames = []
    for split, (specimen_ids, data) in splits.items():
        parts = [model.posterior(b) for b in as_batches(data, 512, None, device=model_device(model))]
        gamma = torch.cat([p["gamma"] for p in parts]).cpu().numpy()
        marginals = torch.cat([p["node_marginals"] for p in parts]).cpu().numpy()
        frame = pd.DataFrame({"specimen_id": np.asarray(specimen_ids).astype(str), "split": split, "outcome": gamma.argmax(1)})
        frame = frame.join(pd.DataFrame(gamma, columns=[f"gamma_{k}" for k in range(gamma.shape[1])]))
        frame = frame.join(pd.DataFrame(marginals, columns=[f"q_{n}" for n in node_names(marginals.shape[1])]))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@torch.no_grad()
def physics_parameter_table(model: CausalPIMA) -> pd.DataFrame:
    """Learned physical parameters of every outcome's curve law (one row per joint outcome)."""
    require_physics(model)
    names = node_names(model.config.n_nodes)
    table = pd.DataFrame(model.outcomes.long().cpu().numpy(), columns=names)
    table.insert(0, "outcome", np.arange(len(table)))
    table["mixture_weight"] = model.log_weights().exp().detach().cpu().numpy()
    for name, values in model.physics.physical_parameters().items():
        table[name] = values.detach().cpu().numpy()
    table["noise_scale"] = float(model.physics.noise_scale())
    table.attrs["law"] = model.physics.law.name
    return table


def require_physics(model: CausalPIMA) -> None:
    """Raise ``ValueError`` unless the model has the physics curve expert."""
    if model.physics is None:
        raise ValueError("the fitted model has no physics curve expert (model parameter curve_decoder: physics)")


@torch.no_grad()
def model_metrics(model: CausalPIMA, data: Mapping[str, Tensor]) -> dict[str, Any]:
    """Held-out ELBO and per-modality reconstruction RMSE (images in [0, 1], curves standardised)."""
    terms = evaluate(model, data, "mixture")
    return {
        "test_elbo": float(terms["elbo"]),
        "test_elbo_terms": {k: float(v) for k, v in terms.items() if k.startswith(("recon_", "prior"))},
        "reconstruction_error": reconstruction_rmse(model, data),
    }


def has_cross_modal(model: CausalPIMA) -> bool:
    """Whether the model has both an image and a curve modality (cross-modal prediction possible)."""
    return IMAGE in model.modalities and CURVE in model.modalities


@torch.no_grad()
def cross_modal_curves(model: CausalPIMA, data: Mapping[str, Tensor]) -> np.ndarray:
    """``[N, L]`` standardised curves predicted from the images alone (curve masked out of the fusion)."""
    return cross_modal_prediction(model, data, IMAGE, CURVE).cpu().numpy().astype(np.float64)


def cross_modal_predictor(model: CausalPIMA) -> str:
    """How :func:`cross_modal_curves` predicts a curve, in words."""
    return "physics expert of the most likely outcome" if model.physics is not None else "neural decoder at the image-only posterior mean"
