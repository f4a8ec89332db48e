"""The benchmark's methods, listed once (README "Benchmark"): what each one starts from and how its row
is computed. Same networks and epoch budget for all.

The parameter schema (``benchmark.methods``), the benchmark's shape (``shape.py``), its pipeline and
its nodes all read :data:`METHODS`. To add a method: one entry here; a method that is not a
causalPIMA fit with other prior settings also needs its row function in ``nodes.RUNNERS``.

This module imports no torch: ``settings.py`` imports the shape, which imports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

# the shared pretrainings a method may start from: name -> the modalities pretrained
PRETRAININGS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"image_curve": ("image", "curve"), "image": ("image",), "sizes_image_curve": ("image", "curve")})
# pretrainings that only size the networks (the model config from the data and the model parameters, with
# the pretraining's parameters) and train nothing: for methods that train their own networks
UNTRAINED: frozenset[str] = frozenset({"sizes_image_curve"})
# the pretrainings that ``benchmark.extra_modalities`` (e.g. [scalar]) joins: the shared multimodal one, so the
# methods starting from it fit image + curve + the extra modalities; "image" stays the image alone (what the other
# modalities add) and the peer's "sizes_image_curve" image + curve (its library VAE on images and curves)
TAKES_EXTRA_MODALITIES: frozenset[str] = frozenset({"image_curve"})


def pretraining_modalities(pretraining: str, extra_modalities: Sequence[str] = ()) -> tuple[str, ...]:
    """The modalities ``pretraining`` (a key of :data:`PRETRAININGS`) trains on: its own, then
    ``extra_modalities`` (``benchmark.extra_modalities``) when it is one of :data:`TAKES_EXTRA_MODALITIES`."""
    own = PRETRAININGS[pretraining]
    if pretraining not in TAKES_EXTRA_MODALITIES:
        return own
    return (*own, *(m for m in dict.fromkeys(extra_modalities) if m not in own))


@dataclass(frozen=True)
class BenchmarkMethod:
    """One benchmark method.

    Attributes:
        description: what the method is and what its comparison shows.
        pretraining: the shared pretraining it starts from, a key of :data:`PRETRAININGS` (one of
            :data:`UNTRAINED` for a method that trains its own networks: no pretraining runs for it).
        runner: how its row is computed, a key of ``nodes.RUNNERS``: ``"causal_pima"`` (a causalPIMA fit
            from the pretrained networks, then the same evaluation as the pipeline's), ``"two_stage"`` or
            ``"peer"`` (``evaluation.peer``: trains its own networks, reading only the model config and
            the pretraining's parameters).
        prior: the fit's ``prior`` settings over the parameter file's (``n_nodes`` is the true node count
            unless given here, e.g. ``"auto"``).
    """

    description: str
    pretraining: str = "image_curve"
    runner: str = "causal_pima"
    prior: Mapping[str, Any] = field(default_factory=dict)


AUTO_D = "causal_pima_auto_d"  # causalPIMA with prior.n_nodes: auto (the node count chosen from the data)

METHODS: Mapping[str, BenchmarkMethod] = MappingProxyType({
    "causal_pima": BenchmarkMethod("the full model (image + curve and benchmark.extra_modalities, DAG prior)"),
    "pima": BenchmarkMethod("free mixture weights, no DAG (what the DAG prior adds)", prior={"mixture_weights": "free"}),
    "image_only": BenchmarkMethod("causalPIMA on the image alone (what the other modalities add)", pretraining="image"),
    "two_stage": BenchmarkMethod(
        "the pretrained plain VAE, K-means with 2^d clusters on its latent means, codes assigned the same way, "
        "then the exact BIC structure search (causalPIMA's table search) on the codes", runner="two_stage"),
    AUTO_D: BenchmarkMethod("causalPIMA with prior.n_nodes: auto (the node count chosen from the data)", prior={"n_nodes": "auto"}),
    "peer": BenchmarkMethod(
        "the peer pipeline from libraries: a pythae VAE on the same images and curves, never the "
        "benchmark.extra_modalities (MultiVae cannot be "
        "imported beside the project's CPU torch: evaluation/peer.py), scikit-learn's GaussianMixture with 2^d "
        "components on its latent means, codes by the project's assigner, causal-learn's GES (BDeu) on the codes",
        pretraining="sizes_image_curve", runner="peer"),
})
