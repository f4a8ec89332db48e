"""How many binary feature nodes: one criterion, measured on validation data only (docs/model.md
"How many features").

Each candidate node count d is fitted on its own from the same pretrained model; the fits then differ
in their networks as well as their priors, and their validation ELBOs differ by the reconstruction
as much as by the prior (measured: 11 nats per specimen between the d = 2 and d = 3 fits of the
collider, in favour of the wrong d). The criterion therefore scores each candidate's discrete
structure in one latent space that all candidates share, the pretrained encoder's:

1. the candidate's responsibilities ``gamma [N_train, K]`` (from its own fitted model) give the
   mixture's sufficient statistics of the *pretrained* training posteriors, and one closed-form
   update places the ``K = 2**d`` components there (an empty component at the factorial part of the
   others, with the pooled variance: :meth:`GaussianMixturePrior.place_empty`);
2. with the candidate's DAG weights ``pi``, every validation specimen gets the prior term of the ELBO,
   ``log sum_k pi_k exp(-KL(q(z | x) || N_k))`` (plus the physics curve log-likelihood when the
   model has that expert), from the pretrained encoder's posterior ``q``.

The reconstruction term is the pretrained model's for every candidate, so it cancels: the candidates
are compared by how well their outcomes and DAG explain held-out specimens in the same space.

3. the choice (:func:`choose_node_count`): the largest d whose step over the best smaller candidate
   (``d = 0``, one Gaussian, for the first) is significant and at least a share of the largest step,
   since held-out scores also rise, a little, with nodes that only cut a non-Gaussian cluster;
4. candidates above ``ceil(log2 C) + slack``, with ``C`` the density clusters of the pretrained
   training latents (:func:`density_clusters`), are not fitted: cuts of a cluster show no density gap.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from causal_pima.core.batching import Rows, as_batches, n_rows, specimen_data
from causal_pima.core.causal_fit import FitCollapsedError, plan_fit, run_fit
from causal_pima.core.clusterers import hdbscan_clusters
from causal_pima.core.epoch_loop import TrainingDivergedError
from causal_pima.core.evaluate import component_scores, encode_dataset
from causal_pima.core.modality_spec import array_keys
from causal_pima.core.model import CausalPIMA, PoEVAE
from causal_pima.core.model_config import ModelConfig
from causal_pima.core.prior import GaussianMixturePrior, SufficientStatistics
from causal_pima.core.prior_initialisation import clustering_points
from causal_pima.core.training_config import InitConfig, NodeCountConfig

logger = logging.getLogger(__name__)

AUTO = "auto"
DEFAULT_RANGE = (NodeCountConfig.d_min, NodeCountConfig.d_max)


def candidate_node_counts(params: Mapping[str, Any] | None) -> tuple[int, ...]:
    """The candidate node counts of a ``causal_pima`` parameter group: ``()`` unless ``prior.n_nodes``
    is ``auto``; then ``node_count.d_min .. node_count.d_max`` (default 1 .. 6). Never raises: a range
    that is not two integers ``1 <= d_min <= d_max`` gives the default range (the parameter check
    before a run names it: :mod:`causal_pima.parameter_schemas`)."""
    if not isinstance(params, Mapping):
        return ()
    prior = params.get("prior")
    if not isinstance(prior, Mapping) or prior.get("n_nodes") != AUTO:
        return ()
    settings = params.get("node_count") if isinstance(params.get("node_count"), Mapping) else {}
    low, high = settings.get("d_min", NodeCountConfig.d_min), settings.get("d_max", NodeCountConfig.d_max)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)) or not 1 <= low <= high:
        low, high = DEFAULT_RANGE
    return tuple(range(low, high + 1))


def shared_space_scores(
    gamma: Tensor,
    train_mu: Tensor,
    train_var: Tensor,
    val_mu: Tensor,
    val_var: Tensor,
    log_weights: Tensor,
    variance_floor: float = 1e-3,
    val_log_likelihood: Tensor | None = None,
) -> Tensor:
    """``[M]`` the prior term of every validation specimen under a candidate's outcomes placed in a shared space.

    Args:
        gamma: ``[N, K]`` the candidate's responsibilities of the training specimens (``K = 2**d``).
        train_mu, train_var: ``[N, D]`` the shared (pretrained) posteriors of the training specimens.
        val_mu, val_var: ``[M, D]`` those of the validation specimens.
        log_weights: ``[K]`` the candidate's log mixture weights (its DAG's Markov factorisation).
        variance_floor: the components' smallest variance.
        val_log_likelihood: ``[M, K]`` an outcome-dependent observation term of the validation
            specimens (the physics curve expert's ``log p(y | theta_k)``), or ``None``.

    Returns:
        ``logsumexp_k(log pi_k - KL(q_m || N(m_k, S_k)) + ll_mk)`` for every validation specimen ``m``.
    """
    n_components = gamma.shape[1]
    n_nodes = int(round(math.log2(n_components)))
    if 2**n_nodes != n_components:
        raise ValueError(f"gamma has {n_components} columns, not a power of two (one per joint outcome of d nodes)")
    gamma, train_mu, train_var = gamma.double(), train_mu.double(), train_var.double()
    prior = GaussianMixturePrior(n_nodes, train_mu.shape[1], "free", variance_floor).double()
    stats = SufficientStatistics.from_batch(gamma, train_mu, train_var)
    prior.update(stats)
    prior.place_empty(stats.s0)
    scores = log_weights.double() - prior.kl(val_mu.double(), val_var.double())
    if val_log_likelihood is not None:
        scores = scores + val_log_likelihood.double()
    return torch.logsumexp(scores, dim=-1)


def one_gaussian_scores(train_mu: Tensor, train_var: Tensor, val_mu: Tensor, val_var: Tensor,
                        variance_floor: float = 1e-3) -> Tensor:
    """``[M]`` the reference ``d = 0``: :func:`shared_space_scores` with one component holding every specimen."""
    gamma = torch.ones(train_mu.shape[0], 1, dtype=torch.float64)
    return shared_space_scores(gamma, train_mu, train_var, val_mu, val_var, torch.zeros(1, dtype=torch.float64), variance_floor)


@dataclass(frozen=True)
class SharedPosteriors:
    """The pretrained encoder's posteriors ``[N, D]`` / ``[M, D]`` of the training and validation specimens."""

    train_mu: Tensor
    train_var: Tensor
    val_mu: Tensor
    val_var: Tensor

    @classmethod
    @torch.no_grad()
    def encode(cls, pretrained: PoEVAE, train: Rows, val: Rows) -> SharedPosteriors:
        train_mu, train_var = encode_dataset(pretrained, train)
        val_mu, val_var = encode_dataset(pretrained, val)
        return cls(train_mu.cpu(), train_var.cpu(), val_mu.cpu(), val_var.cpu())

    def one_gaussian_scores(self, variance_floor: float = 1e-3) -> Tensor:
        """``[M]``: the reference ``d = 0`` (:func:`one_gaussian_scores`)."""
        return one_gaussian_scores(self.train_mu, self.train_var, self.val_mu, self.val_var, variance_floor)


@torch.no_grad()
def candidate_scores(model: CausalPIMA, shared: SharedPosteriors, train: Rows, val: Rows) -> Tensor:
    """``[M]`` a fitted candidate's validation scores in the shared space (:func:`shared_space_scores`):
    its own responsibilities of the training specimens, its DAG weights and, with the physics curve
    expert, its curve laws' log-likelihood of the validation curves."""
    log_weights = model.log_weights().detach().cpu()
    _, _, train_scores = component_scores(model, train)
    gamma = torch.softmax(log_weights + train_scores.cpu(), dim=-1)
    val_ll = None
    if model.physics is not None and model.physics_modality in val:
        model.eval()
        val_ll = torch.cat([model.physics_log_likelihood(batch[model.physics_modality]).cpu() for batch in as_batches(val, 512, None)])
    return shared_space_scores(gamma, shared.train_mu, shared.train_var, shared.val_mu, shared.val_var, log_weights,
                               model.prior.variance_floor, val_ll)


@torch.no_grad()
def density_clusters(pretrained: PoEVAE, train: Rows, cluster_on: str = "fused", min_cluster_size: int = 5,
                     slack: int = 1) -> dict[str, Any]:
    """How many clusters the density of the pretrained training latents shows, and the largest node
    count worth fitting: ``ceil(log2(clusters)) + slack``.

    HDBSCAN (:func:`~causal_pima.core.clusterers.hdbscan_clusters`, uncapped, noise joined to the nearest
    cluster), on the points and with the smallest cluster size of the fit's own initial clustering
    (``init.cluster_on``, ``init.min_cluster_size``), counts clusters by density gaps, which a
    non-Gaussian cluster does not have; the mixture score does reward cutting such a cluster (docs/model.md
    "How many features"). ``slack`` allows outcomes that hold no visible cluster (rare or impossible
    joint outcomes: up to half of them and more).

    Returns ``{"n_clusters", "sizes", "max_nodes"}``.
    """
    mu, _ = encode_dataset(pretrained, train)
    points = clustering_points(pretrained, train, mu, cluster_on)
    labels = hdbscan_clusters(points, len(points), min_cluster_size)  # no cap: every cluster the density shows
    sizes = sorted(np.bincount(labels).tolist(), reverse=True)
    n_clusters = len(sizes)
    return {"n_clusters": n_clusters, "sizes": sizes, "max_nodes": max(1, math.ceil(math.log2(n_clusters))) + int(slack)}


def fit_candidate(
    pretrained_model: Mapping[str, Any],
    train_set: Mapping[str, np.ndarray],
    val_set: Mapping[str, np.ndarray],
    params: Mapping[str, Any],
    n_nodes: int,
    model_config: ModelConfig | None = None,
    params_name: str = "causal_pima",
    clusters: Mapping[str, Any] | None = None,
    **run_options: Any,
) -> dict[str, Any]:
    """Fit one candidate node count (:func:`~causal_pima.core.causal_fit.run_fit` with ``prior.n_nodes =
    n_nodes``, no checkpoints) and score it on the validation data in the pretrained latent space.

    ``run_options``: ``compute`` / ``parallel`` for :func:`run_fit`. A candidate whose ``2**d`` outcomes
    cannot each hold ``min_outcome_count`` training specimens on average, or above ``clusters``'
    ``max_nodes`` (:func:`density_clusters`), is not fitted; one that collapses (``on_collapse: raise``)
    or diverges is not eligible.

    Returns ``{"n_nodes", "fitted", "eligible", "note"}`` and, when fitted, ``"model"`` (the
    :class:`CausalPIMA`), ``"learned_dag"``, ``"history"`` and ``"val_scores"`` ``[M]``.
    """
    n_train = n_rows({key: values for key, values in train_set.items() if key in array_keys().values()})
    per_outcome = float(params.get("min_outcome_count", 5.0))
    if n_train < per_outcome * 2**n_nodes:
        note = (f"not fitted: {n_train} training specimens cannot give each of the 2**{n_nodes} = {2**n_nodes} outcomes "
                f"{params_name}.min_outcome_count = {per_outcome:g} specimens")
        logger.info("n_nodes = %d %s", n_nodes, note)
        return {"n_nodes": n_nodes, "fitted": False, "eligible": False, "note": note}
    if clusters is not None and n_nodes > int(clusters["max_nodes"]):
        note = (f"not fitted: the pretrained training latents show {clusters['n_clusters']} density clusters, so d <= "
                f"ceil(log2 {clusters['n_clusters']}) + node_count.cluster_slack = {clusters['max_nodes']}")
        logger.info("n_nodes = %d %s", n_nodes, note)
        return {"n_nodes": n_nodes, "fitted": False, "eligible": False, "note": note}
    fit_params = {**params, "prior": {**params.get("prior", {}), "n_nodes": n_nodes}, "resume": False}
    name = f"{params_name} (candidate n_nodes = {n_nodes})"
    try:
        # without label_names: a candidate d that differs from the number of label columns is no news
        plan = plan_fit(pretrained_model, {k: v for k, v in train_set.items() if k != "label_names"}, fit_params, model_config, name)
        outcome = run_fit(plan, train_set, val_set, **run_options)
    except (FitCollapsedError, TrainingDivergedError) as exc:
        logger.warning("candidate n_nodes = %d is not eligible: %s", n_nodes, exc)
        return {"n_nodes": n_nodes, "fitted": True, "eligible": False, "note": f"not eligible: {type(exc).__name__}: {exc}"}
    model = outcome.model
    train, val = specimen_data(train_set, model.modalities), specimen_data(val_set, model.modalities)
    shared = SharedPosteriors.encode(PoEVAE.from_checkpoint(pretrained_model), train, val)
    scores = candidate_scores(model, shared, train, val).numpy()
    logger.info("candidate n_nodes = %d: validation score %.3f nats per specimen (pretrained latent space)", n_nodes, scores.mean())
    return {"n_nodes": n_nodes, "fitted": True, "eligible": True, "note": "", "model": model,
            "learned_dag": outcome.learned_dag, "history": outcome.history, "val_scores": scores}


@dataclass(frozen=True)
class NodeCountChoice:
    """``chosen``: the node count; ``table``: one row per candidate (see :func:`choose_node_count`);
    ``warnings``: what a user should know about the choice."""

    chosen: int
    table: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


def _paired_standard_error(a: np.ndarray, b: np.ndarray) -> float:
    """The standard error of ``mean(a - b)`` over the same validation specimens."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    return float(diff.std(ddof=1) / math.sqrt(len(diff))) if len(diff) > 1 else float("inf")


def choose_node_count(
    scores: Mapping[int, np.ndarray | None],
    notes: Mapping[int, str] | None = None,
    tolerance: float = NodeCountConfig.tolerance,
    reference: np.ndarray | None = None,
    step_share: float = NodeCountConfig.step_share,
) -> NodeCountChoice:
    """The largest node count whose step is substantial: the mean score it gains over the best smaller
    candidate (or ``d = 0``, one Gaussian) is more than ``tolerance`` paired standard errors and at
    least ``step_share`` of the largest step.

    Held-out scores keep rising a little with nodes that only split a non-Gaussian cluster (measured:
    0.15-0.8 nats per specimen, 5-25 standard errors, against 1.6-6.7 for a true feature; docs/model.md
    "How many features"): significance alone over-counts, so a node must also add an effect of the
    size of the others. The largest such d, not the first, so that a poor fit at one d (a step of
    almost nothing) does not end the count.

    Args:
        scores: ``{d: [M] per-specimen validation scores}`` of every candidate; ``None`` for a
            candidate that was not fitted or cannot be chosen (``notes`` says why).
        notes: ``{d: reason}`` shown in the table (a skipped or collapsed candidate).
        tolerance: how many standard errors of the paired difference make a step significant.
        reference: ``[M]`` the scores of ``d = 0`` (one Gaussian): listed first, the smallest
            candidate's step is taken from it; never chosen.
        step_share: the share of the largest step that a step must reach.

    Returns:
        The choice; its table has the columns ``n_nodes``, ``score`` (mean nats per validation
        specimen), ``step`` (the mean gain over the best smaller candidate or d = 0), ``step_se`` (its
        paired standard error), ``substantial``, ``eligible``, ``chosen`` and ``note``.

    Raises:
        ValueError: no candidate has scores.
    """
    notes = dict(notes or {})
    usable = {d: np.asarray(s, dtype=float) for d, s in scores.items() if s is not None}
    if not usable:
        raise ValueError("no candidate node count could be scored: " + "; ".join(f"d = {d}: {notes.get(d, 'no scores')}" for d in sorted(scores)))
    # each candidate's step over the best smaller one (a poor fit at one d neither inflates the next step nor ends the count)
    steps, best_below = {}, np.asarray(reference, dtype=float) if reference is not None else None
    for d, s in sorted(usable.items()):
        if best_below is not None:
            steps[d] = (float((s - best_below).mean()), _paired_standard_error(s, best_below))
        if best_below is None or s.mean() > best_below.mean():
            best_below = s
    largest = max((gain for gain, _ in steps.values()), default=0.0)
    threshold = step_share * largest
    substantial = {d: gain > tolerance * se and gain > 0 and gain >= threshold for d, (gain, se) in steps.items()}
    chosen = max((d for d in usable if substantial.get(d)), default=min(usable))
    rows = []
    if reference is not None:
        rows.append({"n_nodes": 0, "score": float(np.mean(reference)), "step": float("nan"), "step_se": float("nan"),
                     "substantial": False, "eligible": False, "chosen": False, "note": "reference: one Gaussian, no feature (not a fit)"})
    for d in sorted(scores):
        gain, se = steps.get(d, (float("nan"), float("nan")))
        rows.append({"n_nodes": d, "score": float(usable[d].mean()) if d in usable else float("nan"), "step": gain,
                     "step_se": se, "substantial": bool(substantial.get(d, False)), "eligible": d in usable, "chosen": d == chosen,
                     "note": notes.get(d, "" if d in usable else "not fitted")})
    warnings = []
    near = [d for d in usable if d > chosen and 0.5 * threshold <= steps.get(d, (0.0, 0.0))[0] < threshold]
    if near:
        warnings.append(f"the node count is not clear-cut: d = {', '.join(map(str, sorted(near)))} gain(s) at least half the "
                        f"{threshold:.3f} nats per validation specimen that count as a feature, over d = {chosen} or below "
                        "(table node_count_selection)")
    if chosen in steps and steps[chosen][0] < 1.25 * threshold:
        warnings.append(f"the node count is not clear-cut: the step to d = {chosen} ({steps[chosen][0]:.3f} nats per validation "
                        f"specimen) is barely above the {threshold:.3f} that count as a feature (table node_count_selection)")
    if reference is not None and not substantial.get(chosen, False):
        warnings.append(
            f"no binary feature stands out: no candidate's step over one Gaussian (d = 0) or a smaller candidate "
            f"is substantial; d = {chosen}, the smallest, is chosen all the same"
        )
    return NodeCountChoice(chosen, pd.DataFrame(rows), warnings)


def choose_candidate(
    candidates: Mapping[int, Mapping[str, Any]], shared: SharedPosteriors,
    tolerance: float = NodeCountConfig.tolerance, step_share: float = NodeCountConfig.step_share,
) -> tuple[NodeCountChoice, Mapping[str, Any]]:
    """The choice among fitted candidates (``{d: fit_candidate(...)}``; the d = 0 reference from
    ``shared``) and the chosen candidate."""
    choice = choose_node_count(
        {d: c.get("val_scores") if c.get("eligible") else None for d, c in candidates.items()},
        {d: c.get("note", "") for d, c in candidates.items()},
        tolerance,
        shared.one_gaussian_scores().numpy(),
        step_share,
    )
    return choice, candidates[choice.chosen]


def fit_node_count(
    pretrained_model: Mapping[str, Any],
    train_set: Mapping[str, np.ndarray],
    val_set: Mapping[str, np.ndarray],
    params: Mapping[str, Any],
    candidates: tuple[int, ...],
    model_config: ModelConfig | None = None,
    params_name: str = "causal_pima",
) -> tuple[NodeCountChoice, Mapping[str, Any]]:
    """Every candidate fitted in turn in this process, then :func:`choose_candidate` (the Kedro
    pipeline fits them as separate nodes instead; a notebook or the benchmark's rows use this)."""
    pretrained = PoEVAE.from_checkpoint(pretrained_model)
    clusters = candidate_clusters(pretrained, train_set, params)
    fits = {d: fit_candidate(pretrained_model, train_set, val_set, params, d, model_config, params_name, clusters) for d in candidates}
    shared = SharedPosteriors.encode(pretrained, specimen_data(train_set, pretrained.modalities), specimen_data(val_set, pretrained.modalities))
    settings = NodeCountConfig.from_params(params)
    return choose_candidate(fits, shared, float(settings.tolerance), float(settings.step_share))


def candidate_clusters(pretrained: PoEVAE, train_set: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`density_clusters` with the fit's ``init`` settings and ``node_count.cluster_slack``."""
    init = InitConfig(**(params.get("init") or {}))
    clusters = density_clusters(pretrained, specimen_data(train_set, pretrained.modalities), init.cluster_on,
                                int(init.min_cluster_size), int(NodeCountConfig.from_params(params).cluster_slack))
    logger.info("n_nodes: auto: the pretrained training latents show %d density clusters: candidates up to d = %d are fitted",
                clusters["n_clusters"], clusters["max_nodes"])
    return clusters
