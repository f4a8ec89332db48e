"""The peer pipeline from libraries (issue 22): what a scientist would build from well-kept libraries
instead of causalPIMA, run as a benchmark method (``peer``).

1. A VAE from **pythae** (0.1.2: its ``VAE`` model, ELBO and reparameterisation) on the same images
   and curves: one joint encoder (a convolutional branch for the image, an MLP branch for the curve,
   their features concatenated, then ``(mu, logvar)``) and the project's decoders, at the widths of the
   project's model config (:func:`peer_vae`). Trained with Adam for as many epochs and batches as the
   pretraining (:func:`train_peer_vae`).
2. scikit-learn's ``GaussianMixture`` with ``2**d`` components (seeded) on its posterior means
   (:func:`peer_latents`, :func:`gmm_clusters`).
3. Codes of the clusters by the project's assigner (``init.assigner`` of the fit parameters,
   :func:`causal_pima.core.initialisation.code_clusters`).
4. **causal-learn**'s GES with the BDeu score on the codes as discrete data -> a CPDAG, one DAG of its
   class (causal-learn's ``pdag2dag``) and its maximum-likelihood tables (:func:`ges_structure`).

Why pythae and not MultiVae (whose MoPoE / MVAE the issue asked for): MultiVae 1.0.3 imports
torchvision when it is imported (``multivae.data.datasets.celeba``: ``from torchvision import
transforms``), and the trainer needs ``torchvision.utils``. The project pins torch 2.13.0, installed
here as the CPU build; PyPI's torchvision for it (0.28.0) is a CUDA build whose ``_C.so`` links
``libtorch_cuda.so`` and ``libc10_cuda.so``, so ``import torchvision`` fails beside the CPU torch
("operator torchvision::nms does not exist"), and PyTorch's CPU wheel index cannot be reached from this
machine. pythae is the library MultiVae is built on (its ``BaseEncoder`` / ``BaseDecoder`` / ``VAE``),
imports without torchvision and installs beside the project's pins. Its VAE is single-input, so the two
modalities enter as one vector (image pixels, then curve values) with one joint encoder: the early-fusion
multimodal VAE, not a product or mixture of experts.

Plain torch / numpy / scikit-learn / the two libraries; no file I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from torch import Tensor, nn

from causal_pima.core.batching import batch_indices
from causal_pima.core.initialisation import code_clusters
from causal_pima.core.model_config import CURVE, IMAGE, NetworkConfig
from causal_pima.core.networks import CurveDecoder, ImageDecoder
from causal_pima.core.outcomes import joint_outcomes
from causal_pima.evaluation.bic_search import family_bic, mle_tables
from causal_pima.evaluation.two_stage import TwoStageResult

try:
    from causallearn.search.ScoreBased.GES import ges
    from causallearn.utils.PDAG2DAG import pdag2dag
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder
except ImportError as exc:  # the optional extra
    raise ImportError(
        f"the peer benchmark method needs pythae and causal-learn ({exc}); install them with "
        "pip install -e '.[peer]' (pyproject.toml, extra 'peer')"
    ) from exc


def _value_counts(network: NetworkConfig) -> dict[str, int]:
    """Values per specimen of each modality the config has, in the flat vector's order (image, curve)."""
    counts = {}
    if IMAGE in network.modalities:
        counts[IMAGE] = math.prod(network.image_shape)
    if CURVE in network.modalities:
        counts[CURVE] = int(network.curve_length)
    return counts


def flatten_specimens(tensors: Mapping[str, Tensor], network: NetworkConfig) -> Tensor:
    """One float32 row per specimen ``[N, V]``: the image's pixels (``C * H * W``), then the curve's
    ``L`` values, for the modalities of ``network``."""
    parts = []
    for modality, count in _value_counts(network).items():
        if modality not in tensors:
            raise ValueError(f"the peer VAE needs the {modality!r} of every specimen; got {sorted(tensors)}")
        values = torch.as_tensor(tensors[modality], dtype=torch.float32)
        parts.append(values.reshape(len(values), -1))
        if parts[-1].shape[1] != count:
            raise ValueError(f"{modality} has {parts[-1].shape[1]} values per specimen, the model config {count}")
    return torch.cat(parts, dim=1)


def _mlp(widths: Sequence[int]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(a, b), nn.SiLU()]
    return layers


class JointEncoder(BaseEncoder):
    """pythae encoder of the flat rows ``[B, V]``: per modality a branch (image: the project's strided
    4x4 convolutions and a hidden layer of ``image_hidden_dim``; curve: an MLP of ``curve_hidden_dims``),
    the features concatenated, then a linear head -> ``embedding`` (mu) and ``log_covariance`` (log
    variance), each ``[B, latent_dim]``."""

    def __init__(self, network: NetworkConfig) -> None:
        super().__init__()
        self.counts = _value_counts(network)
        self.image_shape = tuple(network.image_shape) if IMAGE in self.counts else None
        self.branches = nn.ModuleDict()
        width = 0
        if IMAGE in self.counts:
            c, h, w = self.image_shape
            layers: list[nn.Module] = []
            for out_ch in network.image_channels:
                layers += [nn.Conv2d(c, out_ch, 4, stride=2, padding=1), nn.SiLU()]
                c, h, w = out_ch, h // 2, w // 2
            self.branches[IMAGE] = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * h * w, network.image_hidden_dim), nn.SiLU())
            width += network.image_hidden_dim
        if CURVE in self.counts:
            self.branches[CURVE] = nn.Sequential(*_mlp([network.curve_length, *network.curve_hidden_dims]))
            width += network.curve_hidden_dims[-1]
        self.head = nn.Linear(width, 2 * network.latent_dim)

    def forward(self, x: Tensor) -> ModelOutput:
        features, start = [], 0
        for modality, count in self.counts.items():
            part = x[:, start:start + count]
            start += count
            features.append(self.branches[modality](part.reshape(-1, *self.image_shape) if modality == IMAGE else part))
        mu, logvar = self.head(torch.cat(features, dim=1)).chunk(2, dim=-1)
        return ModelOutput(embedding=mu, log_covariance=logvar)


class JointDecoder(BaseDecoder):
    """pythae decoder ``[B, latent_dim]`` -> ``reconstruction`` ``[B, V]``: the project's image and curve
    decoders (same widths as its PoE VAE), their outputs flattened and concatenated."""

    def __init__(self, network: NetworkConfig) -> None:
        super().__init__()
        self.decoders = nn.ModuleDict()
        modalities = _value_counts(network)
        if IMAGE in modalities:
            self.decoders[IMAGE] = ImageDecoder(network.image_shape, network.latent_dim, network.image_channels, network.image_hidden_dim)
        if CURVE in modalities:
            self.decoders[CURVE] = CurveDecoder(network.curve_length, network.latent_dim, network.curve_hidden_dims)

    def forward(self, z: Tensor) -> ModelOutput:
        parts = [decoder(z).reshape(len(z), -1) for decoder in self.decoders.values()]
        return ModelOutput(reconstruction=torch.cat(parts, dim=1))


def peer_vae(network: NetworkConfig) -> VAE:
    """pythae's ``VAE`` (Gaussian likelihood of unit variance: ``reconstruction_loss="mse"``) with
    :class:`JointEncoder` and :class:`JointDecoder` at the widths and latent dimension of ``network``."""
    values = sum(_value_counts(network).values())
    config = VAEConfig(input_dim=(values,), latent_dim=int(network.latent_dim), reconstruction_loss="mse")
    return VAE(config, encoder=JointEncoder(network), decoder=JointDecoder(network))


def peer_epoch(model: VAE, optimiser: torch.optim.Optimizer, rows: Tensor, batches: Sequence[Tensor]) -> float:
    """One epoch of Adam steps on pythae's VAE loss over ``batches`` (index sets ``[B]`` into ``rows
    [N, V]``); returns the specimen-weighted mean loss."""
    model.train()
    total = 0.0
    for index in batches:
        loss = model({"data": rows[index]}).loss
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        total += float(loss.detach()) * len(index)
    return total / len(rows)


def train_peer_vae(network: NetworkConfig, rows: Tensor, epochs: int, batch_size: int, learning_rate: float,
                   seed: int = 0) -> tuple[VAE, list[float]]:
    """The peer VAE (:func:`peer_vae`, weights seeded by ``seed``) trained on ``rows [N, V]`` for
    ``epochs`` epochs of seeded shuffled batches; returns it (in eval mode) and each epoch's mean loss.

    Raises:
        FloatingPointError: a non-finite epoch loss (the training diverged).
    """
    torch.manual_seed(seed)
    model = peer_vae(network)
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for epoch in range(int(epochs)):
        losses.append(peer_epoch(model, optimiser, rows, batch_indices(len(rows), batch_size, generator)))
        if not math.isfinite(losses[-1]):
            raise FloatingPointError(f"the peer VAE's loss is {losses[-1]} in epoch {epoch + 1}")
    return model.eval(), losses


@torch.no_grad()
def peer_latents(model: VAE, rows: Tensor, batch_size: int = 1024) -> np.ndarray:
    """The posterior means of the peer VAE's encoder, float64 ``[N, latent_dim]``."""
    model.eval()
    means = [model.encoder(rows[i:i + batch_size]).embedding for i in range(0, len(rows), batch_size)]
    return torch.cat(means).double().numpy()


@dataclass
class MixtureClusters:
    """:func:`gmm_clusters`' result.

    Attributes:
        mixture: the fitted ``GaussianMixture`` (``2**d`` components).
        used: int64 ``[M]`` the components some training specimen falls in, ascending (``M <= 2**d``).
        labels: int64 ``[N]`` each training specimen's cluster, ``0..M-1`` (its component's place in ``used``).
    """

    mixture: GaussianMixture
    used: np.ndarray
    labels: np.ndarray

    def predict(self, latents: np.ndarray) -> np.ndarray:
        """Cluster ``0..M-1`` of each row of ``latents [N', D]``: the most probable used component."""
        return self.mixture.predict_proba(latents)[:, self.used].argmax(axis=1).astype(np.int64)


def gmm_clusters(latents: np.ndarray, n_nodes: int, seed: int = 0) -> MixtureClusters:
    """scikit-learn's ``GaussianMixture(2**n_nodes, random_state=seed)`` (full covariances, k-means
    start) on ``latents [N, D]``; components no specimen falls in are left out of the clusters."""
    n_components = 2 ** int(n_nodes)
    if len(latents) < n_components:
        raise ValueError(f"need at least {n_components} specimens for {n_components} mixture components, got {len(latents)}")
    mixture = GaussianMixture(n_components, random_state=seed).fit(latents)
    used, labels = np.unique(mixture.predict(latents), return_inverse=True)
    return MixtureClusters(mixture, used.astype(np.int64), labels.astype(np.int64))


def _graph_matrix(graph) -> np.ndarray:
    return np.asarray(graph.graph, dtype=np.int64)


def ges_structure(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """causal-learn's GES with the BDeu score on the binary ``codes [N, d]`` (discrete data).

    Returns:
        ``(cpdag, dag)``, int64 ``[d, d]``: ``cpdag[i, j] = 1`` iff the CPDAG has ``i -> j`` or ``i - j``
        (an undirected edge is 1 both ways); ``dag[i, j] = 1`` iff ``i -> j`` in the DAG of that class
        that causal-learn's ``pdag2dag`` extends it to.
    """
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[0] == 0 or not np.isin(codes, (0, 1)).all():
        raise ValueError(f"codes must be a non-empty binary array [N, d], got shape {codes.shape}")
    found = ges(codes.astype(np.int64), score_func="local_score_BDeu")["G"]
    # causal-learn's endpoint matrix: graph[i, j] = -1 and graph[j, i] = 1 is i -> j; -1 both ways is i - j
    marks = _graph_matrix(found)
    cpdag = ((marks == -1) & ((marks.T == 1) | (marks.T == -1))).astype(np.int64)
    extended = _graph_matrix(pdag2dag(found))
    dag = ((extended == -1) & (extended.T == 1)).astype(np.int64)
    return cpdag, dag


@dataclass
class PeerStructure:
    """:func:`peer_structure`'s result: the clusters, and the codes and graph in the two-stage layout
    (``result.bic``: the total BIC of the DAG on the codes, ``evaluation.bic_search.family_bic``)."""

    clusters: MixtureClusters
    cluster_codes: np.ndarray  # int64 [M]: the outcome index of each cluster
    result: TwoStageResult
    cpdag: np.ndarray  # int64 [d, d], as ges_structure gives it

    def predict_outcomes(self, latents: np.ndarray) -> np.ndarray:
        """int64 ``[N']``: the outcome of each row of ``latents`` (its cluster's code)."""
        return self.cluster_codes[self.clusters.predict(latents)]


def peer_structure(train_latents: np.ndarray, n_nodes: int, assigner: str,
                   observations: Mapping[str, np.ndarray] | None = None, seed: int = 0) -> PeerStructure:
    """Steps 2-4 of the module docstring on the training latents ``[N, D]`` (``observations``:
    ``{modality: [N, ...]}`` for the assigners that code the clusters' mean data, e.g. ``cube_length``)."""
    clusters = gmm_clusters(train_latents, n_nodes, seed)
    codes_of_clusters = np.asarray(code_clusters(train_latents, clusters.labels, n_nodes, assigner, seed, observations), dtype=np.int64)
    outcome = codes_of_clusters[clusters.labels]
    codes = joint_outcomes(int(n_nodes))[outcome]  # [N, d]
    cpdag, dag = ges_structure(codes)
    bic = sum(family_bic(codes, j, np.flatnonzero(dag[:, j]).tolist()) for j in range(int(n_nodes)))
    result = TwoStageResult(outcome=outcome, codes=codes, adjacency=dag, tables=mle_tables(codes, dag), bic=float(bic))
    return PeerStructure(clusters, codes_of_clusters, result, cpdag)
