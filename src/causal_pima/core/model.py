"""The causalPIMA model: multimodal PoE VAE with a DAG-structured Gaussian-mixture prior.

DESIGN.md section 3. The forward pass returns every loss term separately (pythae / MultiVae style);
training loops live in :mod:`causal_pima.core.training`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from torch import Tensor, nn

from causal_pima.core.dag import CausalDAG
from causal_pima.core.elbo import elbo_terms, gaussian_log_likelihood
from causal_pima.core.fusion import product_of_experts
from causal_pima.core.networks import CurveDecoder, CurveEncoder, ImageDecoder, ImageEncoder
from causal_pima.core.outcomes import joint_outcomes
from causal_pima.core.physics import PhysicsCurveExpert
from causal_pima.core.prior import GaussianMixturePrior

IMAGE, CURVE = "image", "curve"
MODALITIES = (IMAGE, CURVE)


@dataclass
class ModelConfig:
    """Architecture and prior settings (a plain dict of these is saved with every checkpoint).

    ``image_shape`` is ``(C, H, W)``; set ``curve_length`` to 0 for an image-only model and
    ``image_shape`` to ``None`` for a curve-only model.
    """

    image_shape: tuple[int, int, int] | None = (3, 32, 32)
    curve_length: int = 64
    latent_dim: int = 8
    n_nodes: int = 3
    image_channels: tuple[int, ...] = (16, 32, 32)
    image_hidden_dim: int = 128
    curve_hidden_dims: tuple[int, ...] = (128, 128)
    mean_structure: str = "free"
    # "dag": mixture weights are the Markov factorisation of the learned DAG (causalPIMA);
    # "free": K free weights updated in closed form, no DAG (the PIMA baseline)
    mixture_weights: str = "dag"
    # conditionals of the DAG: "logistic" (additive in the parents) or "table" (any table over the
    # parents, interactions included; core.dag)
    conditionals: str = "logistic"
    # weight of each modality's log-likelihood in the training loss (never in the reported ELBO):
    # w_m = (V_max / V_m) ** modality_balance with V_m the modality's number of values: 0 gives all
    # weights 1, 1 makes every modality count as much as the largest (docs/model.md)
    modality_balance: float = 0.0
    variance_floor: float = 1e-3
    init_temperature: float = 1.0
    # initial observation noise scales (learned): images in [0, 1], curves standardised
    image_noise_init: float = 0.1
    curve_noise_init: float = 0.3
    noise_min: float = 1e-3
    modality_names: tuple[str, ...] = field(default=(IMAGE, CURVE))
    # curve likelihood in the mixture ELBO: "neural" (decoder from z) or "physics" (a parametric
    # law per mixture component, PIMA-style mixture of experts; DESIGN.md section 3). The physics
    # expert needs the curve grid and the standardisation used for the curves.
    curve_decoder: str = "neural"
    physics_law: str = "plateau_densification"
    physics_ranges: dict[str, list[float]] | None = None
    curve_grid: tuple[float, ...] | None = None
    curve_mean: tuple[float, ...] | None = None
    curve_std: tuple[float, ...] | None = None

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown model parameter(s) {unknown}; known: {sorted(known)}")
        kwargs = dict(values)
        for key in ("image_shape", "image_channels", "curve_hidden_dims", "modality_names", "curve_grid", "curve_mean", "curve_std"):
            if kwargs.get(key) is not None:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out

    @property
    def modalities(self) -> tuple[str, ...]:
        present = []
        if self.image_shape is not None and IMAGE in self.modality_names:
            present.append(IMAGE)
        if self.curve_length and CURVE in self.modality_names:
            present.append(CURVE)
        if not present:
            raise ValueError("the model needs at least one modality (image_shape or curve_length)")
        return tuple(present)


class CausalPIMA(nn.Module):
    """Multimodal VAE whose latent prior is a Gaussian mixture over the 2^d outcomes of a learned DAG.

    Batches are dicts ``{"image": [B, C, H, W], "curve": [B, L]}`` (any subset of the model's
    modalities); an optional ``mask`` dict ``{name: bool [B]}`` marks which specimens have each
    modality, and a modality absent from the batch is treated as missing for every specimen.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.modalities = c.modalities
        self.encoders = nn.ModuleDict()
        self.decoders = nn.ModuleDict()
        if IMAGE in self.modalities:
            self.encoders[IMAGE] = ImageEncoder(c.image_shape, c.latent_dim, c.image_channels, c.image_hidden_dim)
            self.decoders[IMAGE] = ImageDecoder(c.image_shape, c.latent_dim, c.image_channels, c.image_hidden_dim)
        if CURVE in self.modalities:
            self.encoders[CURVE] = CurveEncoder(c.curve_length, c.latent_dim, c.curve_hidden_dims)
            self.decoders[CURVE] = CurveDecoder(c.curve_length, c.latent_dim, c.curve_hidden_dims)
        # one learned observation noise scale per modality (log sigma)
        self.log_noise = nn.ParameterDict(
            {
                m: nn.Parameter(torch.tensor(math.log(c.image_noise_init if m == IMAGE else c.curve_noise_init)))
                for m in self.modalities
            }
        )
        if c.mixture_weights not in ("dag", "free"):
            raise ValueError(f"mixture_weights must be 'dag' or 'free', got {c.mixture_weights!r}")
        if not 0.0 <= float(c.modality_balance) <= 1.0:
            raise ValueError(f"modality_balance must be in [0, 1], got {c.modality_balance!r}")
        self.dag = CausalDAG(c.n_nodes, temperature=c.init_temperature, conditionals=c.conditionals)
        k = 2**c.n_nodes
        self.register_buffer("free_log_weights", torch.full((k,), -math.log(k)))
        self.physics: PhysicsCurveExpert | None = None
        if c.curve_decoder not in ("neural", "physics"):
            raise ValueError(f"curve_decoder must be 'neural' or 'physics', got {c.curve_decoder!r}")
        if c.curve_decoder == "physics" and CURVE in self.modalities:
            if c.curve_grid is None:
                raise ValueError("the physics curve decoder needs curve_grid (and curve_mean/curve_std)")
            self.physics = PhysicsCurveExpert(
                k, c.physics_law, c.curve_grid, c.physics_ranges, c.curve_mean, c.curve_std,
                initial_noise_scale=c.curve_noise_init,
            )
        self.prior = GaussianMixturePrior(c.n_nodes, c.latent_dim, c.mean_structure, c.variance_floor)
        self.register_buffer("outcomes", torch.as_tensor(joint_outcomes(c.n_nodes), dtype=torch.float32), persistent=False)

    @property
    def uses_dag(self) -> bool:
        return self.config.mixture_weights == "dag"

    def modality_values(self) -> dict[str, int]:
        """Number of observed values per specimen of each modality (pixels x channels, curve points)."""
        c = self.config
        sizes = {IMAGE: math.prod(c.image_shape) if c.image_shape is not None else 0, CURVE: c.curve_length}
        return {m: int(sizes[m]) for m in self.modalities}

    def loss_weights(self) -> dict[str, float]:
        """Weight of each modality's log-likelihood in the training loss.

        ``w_m = (max_m' V_m' / V_m) ** modality_balance`` with ``V_m`` the modality's number of
        values: with balance 1 a 64-point curve beside a 3 x 32 x 32 image gets 48, with 0.5 about
        6.9; the largest modality keeps 1. The reported ELBO is never weighted.
        """
        values = self.modality_values()
        largest = max(values.values())
        power = float(self.config.modality_balance)
        return {m: (largest / v) ** power for m, v in values.items()}

    def log_weights(self) -> Tensor:
        """``[K]`` log mixture weights: from the DAG, or the free closed-form weights."""
        return self.dag.log_weights() if self.uses_dag else self.free_log_weights

    def component_log_scores(
        self, batch: Mapping[str, Tensor], mu: Tensor, var: Tensor, mask: Mapping[str, Tensor] | None = None
    ) -> Tensor:
        """``[B, K]``: ``-KL_k``, plus ``log p(y | theta_k)`` when a physics expert models an observed curve.

        The responsibilities are ``softmax(log pi + scores)`` and the prior term (with the physics
        curve term folded in) is ``logsumexp(log pi + scores)``. Specimens whose curve is masked
        out (``mask["curve"]`` False) get no curve term, whatever their curve holds.
        """
        scores = -self.prior.kl(mu, var)
        if self.physics is not None and CURVE in batch:
            observed = mask.get(CURVE) if mask is not None else None
            curves = batch[CURVE]
            if observed is None:
                return scores + self.physics.log_likelihood(curves)
            observed = observed.bool()[:, None]
            ll = self.physics.log_likelihood(torch.where(observed, curves, torch.zeros_like(curves)))
            scores = scores + torch.where(observed, ll, torch.zeros_like(ll))
        return scores

    # ------------------------------------------------------------------ encoding
    def encode(self, batch: Mapping[str, Tensor], mask: Mapping[str, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """Fused posterior ``(mu, logvar)`` each ``[B, D]`` from whichever modalities are present."""
        present = [m for m in self.modalities if m in batch]
        if not present:
            raise ValueError(f"batch has none of the model's modalities {self.modalities}")
        mus, logvars, masks = [], [], []
        for m in present:
            mu_m, logvar_m = self.encoders[m](batch[m])
            mus.append(mu_m)
            logvars.append(logvar_m)
            b = mu_m.shape[0]
            keep = mask.get(m) if mask is not None else None
            masks.append(torch.ones(b, dtype=torch.bool, device=mu_m.device) if keep is None else keep.bool())
        return product_of_experts(torch.stack(mus), torch.stack(logvars), torch.stack(masks))

    def decode(self, z: Tensor) -> dict[str, Tensor]:
        """Likelihood means for every modality, ``{name: [B, ...]}``."""
        return {m: self.decoders[m](z) for m in self.modalities}

    def noise_scale(self, modality: str) -> Tensor:
        return self.log_noise[modality].clamp_min(math.log(self.config.noise_min))

    def reconstruction_log_likelihood(self, batch: Mapping[str, Tensor], z: Tensor) -> dict[str, Tensor]:
        """Per-specimen ``log p(x_m | z)`` ``[B]`` for every modality present in ``batch``."""
        means = self.decode(z)
        return {
            m: gaussian_log_likelihood(batch[m], means[m], self.noise_scale(m))
            for m in self.modalities
            if m in batch
        }

    @staticmethod
    def sample_latent(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        return mu + eps * torch.exp(0.5 * logvar)

    # ------------------------------------------------------------------ loss terms
    def forward(
        self,
        batch: Mapping[str, Tensor],
        prior: str = "mixture",
        l1_weight: float = 0.0,
        sample: bool = True,
        kl_weight: float = 1.0,
        mask: Mapping[str, Tensor] | None = None,
    ) -> dict[str, Tensor]:
        """Loss terms for one batch (batch means, 0-dim tensors) plus ``"loss"`` to minimise.

        ``prior="standard"`` is the plain PoE VAE used for pretraining (KL to N(0, I));
        ``prior="mixture"`` is the causalPIMA ELBO of DESIGN.md section 3. ``kl_weight`` < 1 (KL
        warm-up during pretraining) changes only ``"loss"``; ``"elbo"`` is always the true bound.
        ``mask`` hides modalities from the encoder only (every present modality is still
        reconstructed): any q is a valid ELBO, and training with hidden modalities teaches each
        expert alone to locate z, which cross-modal prediction needs (see :func:`modality_dropout_mask`).
        """
        mu, logvar = self.encode(batch, mask)
        z = self.sample_latent(mu, logvar) if sample else mu
        recon = self.reconstruction_log_likelihood(batch, z)
        if prior == "standard":
            # KL(N(mu, s^2) || N(0, I)) in closed form
            kl = 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar).sum(-1)
            terms = {f"recon_{m}": v.mean() for m, v in recon.items()}
            terms["kl"] = kl.mean()
            recon_total = sum(terms[f"recon_{m}"] for m in recon)
            terms["elbo"] = recon_total - terms["kl"]
            terms["loss"] = -(self._weighted_reconstruction(terms) - kl_weight * terms["kl"])
            return terms
        if prior != "mixture":
            raise ValueError(f"prior must be 'mixture' or 'standard', got {prior!r}")
        kl = self.prior.kl(mu, logvar.exp())
        adj = self.dag.adjacency() if self.uses_dag else None
        log_pi = self.log_weights()
        if self.physics is None or CURVE not in batch:
            terms = elbo_terms(recon, log_pi, kl, adj, l1_weight)
            terms["loss"] = -(self._weighted_reconstruction(terms) + terms["prior"]) + terms["l1"]
            return terms
        # physics expert: the curve depends on the outcome, log p(y | n_k) = ll_k, so the exact
        # maximum over gamma of the bound is logsumexp_k(log pi_k - KL_k + ll_k); report its curve
        # part sum_k gamma_k ll_k as recon_curve and the rest as the prior term
        recon.pop(CURVE)
        ll = self.physics.log_likelihood(batch[CURVE])
        terms = elbo_terms(recon, log_pi, kl - ll, adj, l1_weight)
        gamma = torch.softmax(log_pi - kl + ll, dim=-1)
        curve_term = (gamma * ll).sum(-1).mean()
        terms["recon_curve"] = curve_term
        terms["prior"] = terms["prior"] - curve_term
        # the physics curve term lives inside the prior's logsumexp: only the image term is re-weighted
        terms["loss"] = terms["loss"] - (self.loss_weights().get(IMAGE, 1.0) - 1.0) * terms.get(f"recon_{IMAGE}", 0.0)
        return terms

    def _weighted_reconstruction(self, terms: Mapping[str, Tensor]) -> Tensor:
        """``sum_m w_m recon_m`` over the modalities present in ``terms`` (see :meth:`loss_weights`)."""
        weights = self.loss_weights()
        return sum(weights[m] * terms[f"recon_{m}"] for m in self.modalities if f"recon_{m}" in terms)

    def modality_dropout_mask(self, batch: Mapping[str, Tensor], probability: float) -> dict[str, Tensor] | None:
        """Encoder mask that, for a fraction ``probability`` of specimens, keeps one random modality.

        Uses the global torch generator (seeded by the training loop). ``None`` when there is
        nothing to drop (probability 0 or a single modality).
        """
        present = [m for m in self.modalities if m in batch]
        if probability <= 0 or len(present) < 2:
            return None
        b = len(batch[present[0]])
        drop = torch.rand(b) < probability
        keep = torch.randint(len(present), (b,))
        return {m: ~drop | (keep == i) for i, m in enumerate(present)}

    # ------------------------------------------------------------------ read-outs
    @torch.no_grad()
    def posterior(self, batch: Mapping[str, Tensor], mask: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
        """Posterior summaries: ``mu``/``var`` ``[B, D]``, ``gamma`` ``[B, K]``, ``node_marginals`` ``[B, d]``."""
        mu, logvar = self.encode(batch, mask)
        var = logvar.exp()
        gamma = torch.softmax(self.log_weights() + self.component_log_scores(batch, mu, var, mask), dim=-1)
        # clamp: float32 rounding can put sum_k gamma_k n_kj a few ulps outside [0, 1]
        marginals = (gamma @ self.outcomes.to(gamma.dtype)).clamp(0.0, 1.0)
        return {"mu": mu, "var": var, "gamma": gamma, "node_marginals": marginals}

    @torch.no_grad()
    def predict_curves(self, batch: Mapping[str, Tensor], mask: Mapping[str, Tensor] | None = None) -> Tensor:
        """Curve means ``[B, L]`` (standardised units) from whatever ``batch`` holds.

        With a physics expert: the law of the most likely outcome (a curve in ``batch`` counts as
        evidence); otherwise the neural decoder at the fused posterior mean.
        """
        if self.physics is not None:
            outcome = self.posterior(batch, mask)["gamma"].argmax(-1)
            return self.physics.predict_standardised()[outcome]
        mu, _ = self.encode(batch, mask)
        return self.decoders[CURVE](mu)

    def checkpoint(self) -> dict[str, Any]:
        """Plain checkpoint dict: tensors and JSON-like config only (no pickled module)."""
        return {"config": self.config.to_dict(), "state_dict": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()}}

    @classmethod
    def from_checkpoint(cls, checkpoint: Mapping[str, Any]) -> CausalPIMA:
        model = cls(ModelConfig.from_dict(checkpoint["config"]))
        model.load_state_dict(checkpoint["state_dict"])
        return model
