"""The causalPIMA model: multimodal PoE VAE with a DAG-structured Gaussian-mixture prior.

docs/model.md "Model and ELBO". Two objectives, one method each, both returning every loss term separately
(pythae / MultiVae style):

* :class:`PoEVAE` - encoders, decoders and noise scales fused by a product of experts;
  :meth:`PoEVAE.pretraining_loss` is the VAE bound with a standard-normal prior (pretraining).
* :class:`CausalPIMA` - the same networks plus the Gaussian-mixture prior whose weights come from a
  learned DAG (and an optional physics curve expert); :meth:`CausalPIMA.mixture_loss` is the
  causalPIMA ELBO.

Configuration is split the same way (:mod:`causal_pima.core.model_config`). Training loops live in
:mod:`causal_pima.core.training`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from causal_pima.core.dag import CausalDAG
from causal_pima.core.elbo import elbo_terms
from causal_pima.core.fusion import product_of_experts
from causal_pima.core.modality_spec import MODALITY_SPECS, modality_spec
from causal_pima.core.model_config import ModelConfig, NetworkConfig, PhysicsConfig, PriorConfig
from causal_pima.core.outcomes import joint_outcomes
from causal_pima.core.physics import PhysicsCurveExpert
from causal_pima.core.prior import GaussianMixturePrior

# state-dict prefixes of the networks (what pretraining learns and a fit starts from)
NETWORK_PREFIXES = ("encoders.", "decoders.", "log_noise.")


def observed_rows(x: Tensor) -> Tensor:
    """bool ``[B]``: the rows of ``x`` ``[B, ...]`` without a NaN (a NaN row: the specimen misses the modality)."""
    if bool(torch.isfinite(x.sum())):  # a NaN anywhere makes the sum NaN: one reduction clears the usual batch
        return torch.ones(len(x), dtype=torch.bool, device=x.device)
    return ~torch.isnan(x).reshape(len(x), -1).any(-1)


def _network_state(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {k: v for k, v in state_dict.items() if k.startswith(NETWORK_PREFIXES)}


class PoEVAE(nn.Module):
    """Multimodal VAE: one encoder and decoder per modality, posteriors fused by a product of experts.

    Batches are dicts ``{"image": [B, C, H, W], "curve": [B, L]}`` (any subset of the model's
    modalities, :data:`~causal_pima.core.modality_spec.MODALITY_SPECS`); an optional ``mask`` dict
    ``{name: bool [B]}`` marks which specimens have each modality, and a modality absent from the
    batch is treated as missing for every specimen. A modality whose spec ``may_be_missing`` is also
    missing for the specimens whose row holds a NaN.
    """

    def __init__(self, network: NetworkConfig) -> None:
        super().__init__()
        self.network_config = network
        self.modalities = network.modalities
        self.specs = {m: MODALITY_SPECS[m] for m in self.modalities}
        self.encoders = nn.ModuleDict()
        self.decoders = nn.ModuleDict()
        for m, spec in self.specs.items():  # the registry's order: the state-dict order
            self.encoders[m] = spec.encoder(network)
            self.decoders[m] = spec.decoder(network)
        # one learned observation noise scale per modality (log sigma)
        self.log_noise = nn.ParameterDict(
            {m: nn.Parameter(torch.tensor(math.log(spec.noise_init(network)))) for m, spec in self.specs.items()}
        )
        if not 0.0 <= float(network.modality_balance) <= 1.0:
            raise ValueError(f"modality_balance must be in [0, 1], got {network.modality_balance!r}")

    @property
    def config(self) -> NetworkConfig:
        return self.network_config

    def modality_values(self) -> dict[str, int]:
        """Number of observed values per specimen of each modality (pixels x channels, curve points)."""
        return {m: int(math.prod(spec.shape(self.network_config))) for m, spec in self.specs.items()}

    def loss_weights(self) -> dict[str, float]:
        """Weight of each modality's log-likelihood in the training loss.

        ``w_m = (max_m' V_m' / V_m) ** modality_balance`` with ``V_m`` the modality's number of
        values: with balance 1 a 64-point curve beside a 3 x 32 x 32 image gets 48, with 0.5 about
        6.9; the largest modality keeps 1. The reported ELBO is never weighted.
        """
        values = self.modality_values()
        largest = max(values.values())
        power = float(self.network_config.modality_balance)
        return {m: (largest / v) ** power for m, v in values.items()}

    # ------------------------------------------------------------------ encoding
    def observed(self, batch: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """``(values, observed)``: the batch with missing rows zero-filled, and ``{m: bool [B]}`` for the
        modalities whose spec ``may_be_missing`` (a row with a NaN is missing; the others are left out:
        always observed)."""
        values, observed = dict(batch), {}
        for m, spec in self.specs.items():
            if spec.may_be_missing and m in batch:
                x = batch[m]
                present = observed_rows(x)
                if not bool(present.all()):  # the usual batch has every row: no copy
                    values[m] = torch.where(present.reshape(-1, *([1] * (x.dim() - 1))), x, torch.zeros((), dtype=x.dtype, device=x.device))
                observed[m] = present
        return values, observed

    def encode(self, batch: Mapping[str, Tensor], mask: Mapping[str, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """Fused posterior ``(mu, logvar)`` each ``[B, D]`` from whichever modalities are present."""
        present = [m for m in self.modalities if m in batch]
        if not present:
            raise ValueError(f"batch has none of the model's modalities {self.modalities}")
        batch, observed = self.observed(batch)
        mus, logvars, masks = [], [], []
        for m in present:
            mu_m, logvar_m = self.encoders[m](batch[m])
            mus.append(mu_m)
            logvars.append(logvar_m)
            b = mu_m.shape[0]
            keep = mask.get(m) if mask is not None else None
            keep = torch.ones(b, dtype=torch.bool, device=mu_m.device) if keep is None else keep.bool()
            masks.append(keep & observed[m] if m in observed else keep)
        return product_of_experts(torch.stack(mus), torch.stack(logvars), torch.stack(masks))

    def decode(self, z: Tensor) -> dict[str, Tensor]:
        """Likelihood means for every modality, ``{name: [B, ...]}``."""
        return {m: self.decoders[m](z) for m in self.modalities}

    def noise_scale(self, modality: str) -> Tensor:
        return self.log_noise[modality].clamp_min(math.log(self.network_config.noise_min))

    def reconstruction_log_likelihood(self, batch: Mapping[str, Tensor], z: Tensor) -> dict[str, Tensor]:
        """Per-specimen ``log p(x_m | z)`` ``[B]`` for every modality present in ``batch`` (0 for a
        specimen that misses a modality, see :meth:`observed`)."""
        means = self.decode(z)
        values, observed = self.observed(batch)
        terms = {m: self.specs[m].log_likelihood(values[m], means[m], self.noise_scale(m)) for m in self.modalities if m in batch}
        for m, present in observed.items():
            if not bool(present.all()):
                terms[m] = torch.where(present, terms[m], torch.zeros((), dtype=terms[m].dtype, device=terms[m].device))
        return terms

    @staticmethod
    def sample_latent(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        return mu + eps * torch.exp(0.5 * logvar)

    def _encode_and_reconstruct(
        self, batch: Mapping[str, Tensor], mask: Mapping[str, Tensor] | None, sample: bool
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """``(mu, logvar, {m: log p(x_m | z)})`` with ``z`` one sample of the fused posterior (its mean
        when ``sample`` is False). ``mask`` hides modalities from the encoder only: every present
        modality is still reconstructed."""
        mu, logvar = self.encode(batch, mask)
        z = self.sample_latent(mu, logvar) if sample else mu
        return mu, logvar, self.reconstruction_log_likelihood(batch, z)

    def _weighted_reconstruction(self, terms: Mapping[str, Tensor]) -> Tensor:
        """``sum_m w_m recon_m`` over the modalities present in ``terms`` (see :meth:`loss_weights`)."""
        weights = self.loss_weights()
        return sum(weights[m] * terms[f"recon_{m}"] for m in self.modalities if f"recon_{m}" in terms)

    # ------------------------------------------------------------------ objective
    def pretraining_loss(
        self,
        batch: Mapping[str, Tensor],
        kl_weight: float = 1.0,
        mask: Mapping[str, Tensor] | None = None,
        sample: bool = True,
    ) -> dict[str, Tensor]:
        """PoE VAE bound with a ``N(0, I)`` prior: ``recon_<m>``, ``kl``, ``elbo`` and ``loss`` (batch means).

        ``kl_weight`` < 1 (KL warm-up) changes only ``"loss"``; ``"elbo"`` is always the true bound.
        ``mask`` hides modalities from the encoder only: any q is a valid ELBO, and training with
        hidden modalities teaches each expert alone to locate z, which cross-modal prediction needs
        (see :meth:`modality_dropout_mask`).
        """
        mu, logvar, recon = self._encode_and_reconstruct(batch, mask, sample)
        # KL(N(mu, s^2) || N(0, I)) in closed form
        kl = 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar).sum(-1)
        terms = {f"recon_{m}": v.mean() for m, v in recon.items()}
        terms["kl"] = kl.mean()
        recon_total = sum(terms[f"recon_{m}"] for m in recon)
        terms["elbo"] = recon_total - terms["kl"]
        terms["loss"] = -(self._weighted_reconstruction(terms) - kl_weight * terms["kl"])
        return terms

    def modality_dropout_mask(self, batch: Mapping[str, Tensor], probability: float) -> dict[str, Tensor] | None:
        """Encoder mask that, for a fraction ``probability`` of specimens, keeps one random modality.

        Uses the global torch generator (seeded by the training loop). ``None`` when there is
        nothing to drop (probability 0 or a single modality).
        """
        present = [m for m in self.modalities if m in batch]
        if probability <= 0 or len(present) < 2:
            return None
        b = len(batch[present[0]])
        drop = torch.rand(b) < probability  # drawn on the CPU generator whatever the device: same stream
        keep = torch.randint(len(present), (b,))
        device = batch[present[0]].device
        return {m: (~drop | (keep == i)).to(device) for i, m in enumerate(present)}

    # ------------------------------------------------------------------ checkpoints
    def network_checkpoint(self) -> dict[str, Any]:
        """The networks only: ``{"config": NetworkConfig dict, "state_dict": encoders, decoders, noise}``."""
        state = _network_state(self.state_dict())
        return {"config": self.network_config.to_dict(), "state_dict": {k: v.detach().cpu().clone() for k, v in state.items()}}

    def checkpoint(self) -> dict[str, Any]:
        """Plain checkpoint dict: tensors and JSON-like config only (no pickled module)."""
        return self.network_checkpoint()

    @classmethod
    def from_checkpoint(cls, checkpoint: Mapping[str, Any]) -> PoEVAE:
        """The networks of any checkpoint (a causalPIMA one too: its prior is left out)."""
        model = PoEVAE(NetworkConfig.from_values(checkpoint["config"]))
        model.load_state_dict(_network_state(checkpoint["state_dict"]))
        return model


class CausalPIMA(PoEVAE):
    """Multimodal VAE whose latent prior is a Gaussian mixture over the 2^d outcomes of a learned DAG.

    Built from a flat :class:`ModelConfig` or from its parts (``network=``, ``prior=``,
    ``physics=``). Batches and masks as in :class:`PoEVAE`.
    """

    def __init__(
        self,
        config: ModelConfig | None = None,
        *,
        network: NetworkConfig | None = None,
        prior: PriorConfig | None = None,
        physics: PhysicsConfig | None = None,
    ) -> None:
        if config is None:
            if network is None or prior is None:
                raise TypeError("CausalPIMA needs a ModelConfig, or network= and prior= (and optionally physics=)")
            config = ModelConfig.from_parts(network, prior, physics)
        elif network is not None or prior is not None or physics is not None:
            raise TypeError("give either a ModelConfig or its parts, not both")
        super().__init__(config.network)
        self.model_config = config
        self.prior_config = p = config.prior
        self.physics_config = ph = config.physics
        if p.mixture_weights not in ("dag", "free"):
            raise ValueError(f"mixture_weights must be 'dag' or 'free', got {p.mixture_weights!r}")
        self.dag = CausalDAG(p.n_nodes, temperature=p.init_temperature, conditionals=p.conditionals)
        k = 2**p.n_nodes
        self.register_buffer("free_log_weights", torch.full((k,), -math.log(k)))
        self.physics: PhysicsCurveExpert | None = None
        if ph.curve_decoder not in ("neural", "physics"):
            raise ValueError(f"curve_decoder must be 'neural' or 'physics', got {ph.curve_decoder!r}")
        # the modality the physics expert models (the curve by default)
        self.physics_modality = ph.physics_modality
        if not modality_spec(ph.physics_modality).physics_capable:
            raise ValueError(f"physics_modality {ph.physics_modality!r} cannot have a physics expert; "
                             f"those that can: {[m for m, s in MODALITY_SPECS.items() if s.physics_capable]}")
        if ph.curve_decoder == "physics" and ph.physics_modality in self.modalities:
            if ph.curve_grid is None:
                raise ValueError("the physics curve decoder needs curve_grid (and curve_mean/curve_std)")
            self.physics = PhysicsCurveExpert(
                k, ph.physics_law, ph.curve_grid, ph.physics_ranges, ph.curve_mean, ph.curve_std,
                curve_asinh_scale=ph.curve_asinh_scale,
                initial_noise_scale=self.specs[ph.physics_modality].noise_init(self.network_config),
            )
        self.prior = GaussianMixturePrior(
            p.n_nodes, self.network_config.latent_dim, p.mean_structure, p.variance_floor,
            pseudo_count=p.mean_pseudo_count, interaction_pseudo_count=p.interaction_pseudo_count,
        )
        self.register_buffer("outcomes", torch.as_tensor(joint_outcomes(p.n_nodes), dtype=torch.float32), persistent=False)

    @property
    def config(self) -> ModelConfig:
        """The flat configuration (network, prior and physics settings together)."""
        return self.model_config

    @property
    def uses_dag(self) -> bool:
        return self.prior_config.mixture_weights == "dag"

    def log_weights(self) -> Tensor:
        """``[K]`` log mixture weights: from the DAG, or the free closed-form weights."""
        return self.dag.log_weights() if self.uses_dag else self.free_log_weights

    @torch.no_grad()
    def set_free_weights(self, counts: Tensor) -> None:
        """Free mixture weights (PIMA baseline): the closed-form maximiser ``pi_k = S0_k / N`` of
        ``sum_k S0_k log pi_k`` for soft (or hard) outcome counts ``S0`` ``[K]``."""
        self.free_log_weights.copy_(torch.log(counts.clamp_min(1e-8) / counts.sum()))

    def component_log_scores(
        self, batch: Mapping[str, Tensor], mu: Tensor, var: Tensor, mask: Mapping[str, Tensor] | None = None
    ) -> Tensor:
        """``[B, K]``: ``-KL_k``, plus ``log p(y | theta_k)`` when a physics expert models an observed curve.

        The responsibilities are ``softmax(log pi + scores)`` and the prior term (with the physics
        curve term folded in) is ``logsumexp(log pi + scores)``. Specimens whose curve (the
        :attr:`physics_modality`) is masked out (``mask["curve"]`` False) get no curve term, whatever
        their curve holds.
        """
        scores = -self.prior.kl(mu, var)
        pm = self.physics_modality
        if self.physics is not None and pm in batch:
            hidden = mask.get(pm) if mask is not None else None
            scores = scores + self.physics_log_likelihood(batch[pm], None if hidden is None else hidden.bool())
        return scores

    def physics_log_likelihood(self, curves: Tensor, keep: Tensor | None = None) -> Tensor:
        """``[B, K]`` the physics expert's ``log p(curve | theta_k)`` of ``curves`` ``[B, L]``; 0 for a
        specimen whose curve is missing (a NaN row, :meth:`PoEVAE.observed`) or not kept (``keep`` bool ``[B]``)."""
        if self.specs[self.physics_modality].may_be_missing:
            present = observed_rows(curves)
            keep = present if keep is None else keep & present
        if keep is None or bool(keep.all()):
            return self.physics.log_likelihood(curves)
        keep = keep[:, None]
        ll = self.physics.log_likelihood(torch.where(keep, curves, torch.zeros_like(curves)))
        return torch.where(keep, ll, torch.zeros_like(ll))

    # ------------------------------------------------------------------ objectives
    def mixture_loss(
        self,
        batch: Mapping[str, Tensor],
        l1_weight: float = 0.0,
        mask: Mapping[str, Tensor] | None = None,
        sample: bool = True,
    ) -> dict[str, Tensor]:
        """The causalPIMA ELBO of docs/model.md "Model and ELBO": ``recon_<m>``, ``prior``, ``elbo``, ``l1`` and ``loss``.

        ``l1_weight`` penalises the DAG's adjacency (``loss`` only). With a physics curve expert the
        curve likelihood depends on the outcome and sits inside the prior's log-sum-exp. ``mask``
        as in :meth:`PoEVAE.pretraining_loss`.
        """
        mu, logvar, recon = self._encode_and_reconstruct(batch, mask, sample)
        kl = self.prior.kl(mu, logvar.exp())
        adj = self.dag.adjacency() if self.uses_dag else None
        log_pi = self.log_weights()
        pm = self.physics_modality
        if self.physics is None or pm not in batch:
            terms = elbo_terms(recon, log_pi, kl, adj, l1_weight)
            terms["loss"] = -(self._weighted_reconstruction(terms) + terms["prior"]) + terms["l1"]
            return terms
        # physics expert: the curve depends on the outcome, log p(y | n_k) = ll_k, so the exact
        # maximum over gamma of the bound is logsumexp_k(log pi_k - KL_k + ll_k); report its curve
        # part sum_k gamma_k ll_k as recon_curve and the rest as the prior term
        recon.pop(pm)
        ll = self.physics_log_likelihood(batch[pm])  # 0 for a specimen without a curve
        terms = elbo_terms(recon, log_pi, kl - ll, adj, l1_weight)
        gamma = torch.softmax(log_pi - kl + ll, dim=-1)
        curve_term = (gamma * ll).sum(-1).mean()
        terms[f"recon_{pm}"] = curve_term
        terms["prior"] = terms["prior"] - curve_term
        # the physics curve term lives inside the prior's logsumexp: only the other modalities' terms are re-weighted
        weights = self.loss_weights()
        for m in recon:
            terms["loss"] = terms["loss"] - (weights[m] - 1.0) * terms[f"recon_{m}"]
        return terms

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
        return self.decoders[self.physics_modality](mu)

    # ------------------------------------------------------------------ checkpoints
    def checkpoint(self) -> dict[str, Any]:
        """Plain checkpoint dict: the flat :class:`ModelConfig` and every tensor (no pickled module).

        :meth:`PoEVAE.network_checkpoint` holds the networks only (what a fit starts from).
        """
        return {"config": self.model_config.to_dict(), "state_dict": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()}}

    @classmethod
    def from_checkpoint(cls, checkpoint: Mapping[str, Any]) -> CausalPIMA:
        """A causalPIMA model from :meth:`checkpoint` (networks, prior, DAG and physics expert)."""
        if not any(k.startswith("prior.") for k in checkpoint["state_dict"]):
            raise ValueError(
                "this checkpoint holds the networks only (a pretrained PoE VAE): load it with "
                "PoEVAE.from_checkpoint, or start a causalPIMA model from it with CausalPIMA.from_pretrained"
            )
        model = cls(ModelConfig.from_dict(checkpoint["config"]))
        model.load_state_dict(checkpoint["state_dict"])
        return model

    @classmethod
    def from_pretrained(
        cls, pretrained: Mapping[str, Any], prior: PriorConfig, physics: PhysicsConfig | None = None
    ) -> CausalPIMA:
        """A causalPIMA model with the networks of ``pretrained`` and a fresh prior, DAG (and physics expert).

        ``pretrained`` is a checkpoint of either kind (networks only, or a whole model whose prior
        is ignored). ``physics`` defaults to the physics settings saved in ``pretrained``'s config,
        if any (the neural curve decoder otherwise).
        """
        if physics is None:
            physics = PhysicsConfig.from_values(pretrained["config"])
        model = cls(network=NetworkConfig.from_values(pretrained["config"]), prior=prior, physics=physics)
        networks = _network_state(pretrained["state_dict"])
        missing = [k for k in _network_state(model.state_dict()) if k not in networks]
        if missing:
            raise ValueError(f"pretrained model lacks network weights {missing[:5]}: was it pretrained with other model parameters?")
        model.load_state_dict(networks, strict=False)
        return model
