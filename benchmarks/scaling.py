"""How causalPIMA's structure search and E-step scale with the number of nodes d.

Prints, measured in one run (markdown tables):

1. the exact table-conditional structure search (``core.table_search.search_tables``, dynamic
   programming over node subsets) on soft outcome counts of N = 4800 specimens, d = 3..12: wall time
   (median of 3) and the number of family fits ``d * 2**(d-1)``;
2. the E-step over N latents (KL to all K = 2**d components, responsibilities, sufficient statistics
   and outcome counts) for d = 3..10 at N = 100,000, latent dimension 8: peak extra resident memory
   and time, batched (512 specimens at a time, as ``core.mixture_update``) against the whole ``[N, K]``
   matrix at once. Each measurement runs in a fresh process; memory is its peak RSS (``ru_maxrss``)
   minus the RSS after the latents were made;
3. one training epoch (gradient steps) of a plain PoE VAE and of causalPIMA with table conditionals
   at d = 3..10 (``benchmarks/speed.py``'s networks, N = ``--n``), and their ratio.

    .venv/bin/python benchmarks/scaling.py --threads 1
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
from speed import NETWORKS, random_data, time_epoch  # the sibling benchmark script's networks

from causal_pima.core.model import CausalPIMA
from causal_pima.core.model_config import ModelConfig
from causal_pima.core.prior import GaussianMixturePrior, SufficientStatistics
from causal_pima.core.table_search import search_tables


def search_table(dims: range, n: int) -> str:
    rows = ["| d | K | family fits | search time (s, median of 3) |", "|---:|---:|---:|---:|"]
    for d in dims:
        rng = np.random.default_rng(d)
        counts = rng.dirichlet(np.full(2**d, 0.3)) * n
        times = []
        for _ in range(3):
            start = time.perf_counter()
            search_tables(counts, max_orders=0)
            times.append(time.perf_counter() - start)
        rows.append(f"| {d} | {2**d} | {d * 2 ** (d - 1)} | {statistics.median(times):.4f} |")
    return "\n".join(rows)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def e_step_child(d: int, n: int, batched: bool) -> dict:
    """One E-step in this process; returns time and peak extra memory (MB)."""
    torch.manual_seed(0)
    latent = 8
    mu, var = torch.randn(n, latent), torch.rand(n, latent) + 0.1
    prior = GaussianMixturePrior(d, latent)
    prior.means.copy_(torch.randn(2**d, latent))
    log_pi = torch.full((2**d,), -d * float(np.log(2.0)))
    baseline = _rss_mb()
    start = time.perf_counter()
    if batched:
        stats = SufficientStatistics.zeros(2**d, latent)
        for index in torch.arange(n).split(512):
            gamma = torch.softmax(log_pi - prior.kl(mu[index], var[index]), dim=-1)
            stats = stats + SufficientStatistics.from_batch(gamma, mu[index], var[index])
    else:
        gamma = torch.softmax(log_pi - prior.kl(mu, var), dim=-1)  # [N, K] at once
        stats = SufficientStatistics.from_batch(gamma, mu, var)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "extra_mb": _rss_mb() - baseline, "s0": float(stats.s0.sum())}


def e_step_table(dims: range, n: int, threads: int) -> str:
    rows = [
        "| d | K | batched: peak extra MB | batched: s | whole [N, K]: peak extra MB | whole: s | [N, K] float32 MB |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for d in dims:
        out = {}
        for batched in (True, False):
            code = (
                f"import json, torch; torch.set_num_threads({threads}); import sys; sys.path.insert(0, 'benchmarks'); "
                f"from scaling import e_step_child; print(json.dumps(e_step_child({d}, {n}, {batched})))"
            )
            result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            out[batched] = json.loads(result.stdout.strip().splitlines()[-1])
        rows.append(
            f"| {d} | {2**d} | {out[True]['extra_mb']:.0f} | {out[True]['seconds']:.2f} | "
            f"{out[False]['extra_mb']:.0f} | {out[False]['seconds']:.2f} | {n * 2**d * 4 / 2**20:.0f} |"
        )
    return "\n".join(rows)


def epoch_table(dims: range, n: int, batch_size: int) -> str:
    data = random_data(n)
    rows = ["| model | s / epoch | ratio to plain VAE |", "|---|---:|---:|"]

    def timed(model: CausalPIMA, prior: str) -> float:
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-4)
        time_epoch(model, optimiser, data, batch_size, prior)  # warm-up
        return time_epoch(model, optimiser, data, batch_size, prior)

    torch.manual_seed(0)
    base = timed(CausalPIMA(ModelConfig(**NETWORKS, n_nodes=3)), "standard")
    rows.append(f"| plain PoE VAE | {base:.3f} | 1.000 |")
    for d in dims:
        torch.manual_seed(0)
        seconds = timed(CausalPIMA(ModelConfig(**NETWORKS, n_nodes=d, conditionals="table")), "mixture")
        rows.append(f"| causalPIMA d = {d} (K = {2**d}, table conditionals) | {seconds:.3f} | {seconds / base:.3f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n", type=int, default=1200, help="specimens per training epoch")
    parser.add_argument("--estep-n", type=int, default=100_000)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{datetime.date.today()}  torch {torch.__version__}  python {platform.python_version()}  "
          f"torch threads {args.threads}  device cpu\n")
    print("Structure search (table conditionals, exact), N = 4800 soft counts\n")
    print(search_table(range(3, 13), 4800), "\n")
    print(f"E-step over N = {args.estep_n} latents (latent dim 8)\n")
    print(e_step_table(range(3, 11), args.estep_n, args.threads), "\n")
    print(f"Training epoch, N = {args.n}, batch 128\n")
    print(epoch_table(range(3, 11), args.n, 128))


if __name__ == "__main__":
    main()
