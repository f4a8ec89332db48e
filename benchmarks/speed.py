"""Speed of the causal prior: causalPIMA training epoch vs a plain PoE VAE, and the closed-form pieces.

Prints, measured in one run (markdown tables):

1. the time of one training epoch (gradient steps only) of a plain PoE VAE (``prior="standard"``) and
   of causalPIMA (``prior="mixture"``: DAG mixture weights and the KL to all K = 2^d components) with
   the same networks, at d = 3 and d = 10, and their ratio. Target: at most 1.2x at d = 3.
2. for d = 3..12: the time of computing ``log pi`` (``mixture_log_weights``, forward and
   forward+backward), of the E-step statistics from N latents (KL to all components,
   responsibilities, sufficient statistics) and of one ``GaussianMixturePrior.update``.

The networks are the default circles sizes of ``conf/base/parameters_pretraining.yml`` (images
3x32x32, curves of 64, latent 8, channels (16, 32, 32), hidden 128); the data are random (speed does
not depend on the values). Epoch timings are interleaved (plain, d = 3, d = 10, plain, ...) after
one warm-up round and reported as the median over ``--repeats`` rounds.

    .venv/bin/python benchmarks/speed.py                # N = 4800, batch 128, 3 repeats
    .venv/bin/python benchmarks/speed.py --threads 1 --n 1200 --repeats 2
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time

import torch

from causal_pima.core.batching import as_batches
from causal_pima.core.dag import mixture_log_weights
from causal_pima.core.evaluate import objective
from causal_pima.core.model import CausalPIMA
from causal_pima.core.model_config import ModelConfig
from causal_pima.core.prior import GaussianMixturePrior, SufficientStatistics, responsibilities

NETWORKS = {
    "image_shape": (3, 32, 32),
    "curve_length": 64,
    "latent_dim": 8,
    "image_channels": (16, 32, 32),
    "image_hidden_dim": 128,
    "curve_hidden_dims": (128, 128),
}


def make_model(n_nodes: int, seed: int = 0) -> CausalPIMA:
    """Same network weights for every ``n_nodes``; a DAG with random order and edges, and distinct
    mixture components, so that every prior computation is a real one."""
    torch.manual_seed(seed)
    model = CausalPIMA(ModelConfig(**NETWORKS, n_nodes=n_nodes))
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        model.dag.node_scores.copy_(torch.randperm(n_nodes, generator=generator).float())
        model.dag.edge_weights.copy_(torch.randn(n_nodes, n_nodes, generator=generator))
        model.dag.biases.copy_(torch.randn(n_nodes, generator=generator))
        model.dag.temperature.fill_(0.5)
        model.prior.means.copy_(torch.randn(model.prior.means.shape, generator=generator))
        model.prior.variances.copy_(
            torch.rand(model.prior.variances.shape, generator=generator) + 0.5
        )
    return model


def random_data(n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "image": torch.rand(n, 3, 32, 32, generator=generator),
        "curve": torch.randn(n, 64, generator=generator),
    }


def time_epoch(
    model: CausalPIMA, optimiser: torch.optim.Optimizer, data, batch_size: int, prior: str
) -> float:
    """Seconds for one epoch of gradient steps (forward, backward, Adam step) over ``data``."""
    model.train()
    loss_terms = objective(model, prior)
    batches = as_batches(data, batch_size)
    start = time.perf_counter()
    for batch in batches:
        terms = loss_terms(batch)
        optimiser.zero_grad(set_to_none=True)
        terms["loss"].backward()
        optimiser.step()
    return time.perf_counter() - start


def epoch_table(n: int, batch_size: int, repeats: int, dims: tuple[int, ...]) -> str:
    data = random_data(n)
    runs = [("plain PoE VAE", "standard", make_model(3))]
    runs += [(f"causalPIMA d = {d} (K = {2**d})", "mixture", make_model(d)) for d in dims]
    optimisers = [torch.optim.Adam(model.parameters(), lr=1e-4) for _, _, model in runs]
    times: list[list[float]] = [[] for _ in runs]
    for round_ in range(repeats + 1):  # round 0 is the warm-up
        for i, (_, prior, model) in enumerate(runs):
            seconds = time_epoch(model, optimisers[i], data, batch_size, prior)
            if round_ > 0:
                times[i].append(seconds)
    medians = [statistics.median(t) for t in times]
    lines = [
        f"Epoch of gradient steps, N = {n}, batch {batch_size}, median of {repeats} interleaved rounds after 1 warm-up",
        "",
        "| model | s / epoch (median) | all rounds (s) | ratio to plain VAE |",
        "|---|---:|---|---:|",
    ]
    for (name, _, _), median, rounds in zip(runs, medians, times, strict=True):
        lines.append(
            f"| {name} | {median:.3f} | {', '.join(f'{t:.3f}' for t in rounds)} | {median / medians[0]:.3f} |"
        )
    ratio = medians[1] / medians[0] if len(dims) and dims[0] == 3 else None
    if ratio is not None:
        verdict = "met" if ratio <= 1.2 else "NOT met"
        lines += [
            "",
            f"Target (causal prior overhead <= 1.2x the plain VAE epoch at d = 3): {verdict} ({ratio:.3f}x)",
        ]
    return "\n".join(lines)


def per_call_ms(fn, round_seconds: float = 0.03, rounds: int = 7) -> float:
    """Median over ``rounds`` of the mean time per call (ms); a round repeats ``fn`` for at least
    ``round_seconds`` (at least one call), after one warm-up call."""
    fn()  # warm-up
    results = []
    for _ in range(rounds):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= round_seconds:
                break
        results.append(1e3 * elapsed / calls)
    return statistics.median(results)


def prior_table(n: int, latent_dim: int, dims: range) -> str:
    lines = [
        f"Prior pieces, latent dim {latent_dim}, statistics from N = {n} latents (ms per call, median of 7 rounds)",
        "",
        "| d | K | log pi | log pi fwd+bwd | E-step stats (N x K) | update, free means | update, additive means |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    generator = torch.Generator().manual_seed(0)
    mu = torch.randn(n, latent_dim, generator=generator)
    var = torch.rand(n, latent_dim, generator=generator) * 0.1 + 0.01
    for d in dims:
        k = 2**d
        scores = torch.randperm(d, generator=generator).float()
        weights = torch.randn(d, d, generator=generator)
        biases = torch.randn(d, generator=generator, requires_grad=True)
        adj = (
            weights * torch.relu(torch.tanh((scores[None, :] - scores[:, None]) / 0.5))
        ).requires_grad_(True)

        def log_pi_forward(adj=adj, biases=biases):
            with torch.no_grad():
                mixture_log_weights(adj, biases)

        def log_pi_backward(adj=adj, biases=biases):
            mixture_log_weights(adj, biases).sum().backward()

        priors = {}
        for structure in ("free", "additive"):
            prior = GaussianMixturePrior(d, latent_dim, structure)
            with torch.no_grad():
                prior.means.copy_(torch.randn(k, latent_dim, generator=generator))
            priors[structure] = prior
        with torch.no_grad():
            log_pi = mixture_log_weights(adj, biases)

        def e_step(prior=priors["free"], log_pi=log_pi):
            with torch.no_grad():
                gamma = responsibilities(log_pi, prior.kl(mu, var))
                return SufficientStatistics.from_batch(gamma, mu, var)

        stats = e_step()
        state = {
            s: {key: v.clone() for key, v in p.state_dict().items()} for s, p in priors.items()
        }

        def update(structure, stats=stats, state=state, priors=priors):
            # each call starts from the same state (the update is idempotent only for free means)
            priors[structure].load_state_dict(state[structure])
            priors[structure].update(stats)

        def reset_only(structure, state=state, priors=priors):
            priors[structure].load_state_dict(state[structure])

        times = {
            "log_pi": per_call_ms(log_pi_forward),
            "log_pi_bwd": per_call_ms(log_pi_backward),
            "e_step": per_call_ms(e_step),
        }
        for structure in ("free", "additive"):
            reset = per_call_ms(lambda s=structure: reset_only(s))
            times[structure] = max(per_call_ms(lambda s=structure: update(s)) - reset, 0.0)
        lines.append(
            f"| {d} | {k} | {times['log_pi']:.3f} | {times['log_pi_bwd']:.3f} | {times['e_step']:.2f} "
            f"| {times['free']:.3f} | {times['additive']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n", type=int, default=4800, help="specimens per epoch and latents for the statistics"
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (after one warm-up)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)"
    )
    parser.add_argument(
        "--dims", type=int, nargs="+", default=[3, 10], help="d for the epoch timings"
    )
    parser.add_argument("--prior-dims", type=int, nargs=2, default=[3, 12], metavar=("FROM", "TO"))
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(
        f"{datetime.date.today().isoformat()}  torch {torch.__version__}  python {platform.python_version()}  "
        f"nproc {os.cpu_count()}  torch threads {torch.get_num_threads()}  device cpu"
    )
    print()
    print(epoch_table(args.n, args.batch_size, args.repeats, tuple(args.dims)))
    print()
    print(
        prior_table(
            args.n, NETWORKS["latent_dim"], range(args.prior_dims[0], args.prior_dims[1] + 1)
        )
    )


if __name__ == "__main__":
    main()
