"""What a benchmark run ran on, and how fast that machine trains: ``benchmark.report.describe_run``.

The record (one per run, ``benchmark.run_info``) names the date, the source commit, the machine, the
torch version and its thread count (the header line of ``results.md``), and the time of one plain-VAE
(pretraining) epoch on fixed batches measured in the same run (``plain_epoch_seconds``). A row's
``wall_seconds`` divided by that epoch is a speed measure that travels between machines and loads: the
CI check (``causal_pima.benchmark_check``) compares it with the committed reference's.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from typing import Any

import torch

from causal_pima.core.batching import as_batches
from causal_pima.core.evaluate import objective
from causal_pima.core.model import PoEVAE
from causal_pima.core.model_config import NetworkConfig
from causal_pima.git_state import GIT_COMMIT_TAG, git_tags
from causal_pima.project_path import ProjectNotFoundError, project_root

# the timed epoch: the circles networks (NetworkConfig's defaults: images 3x32x32, curves of 64, latent 8)
# on EPOCH_BATCHES fixed random batches of BATCH_SIZE, as pretraining runs them (forward, backward, Adam)
BATCH_SIZE = 128
EPOCH_BATCHES = 8
TIMED_EPOCHS = 3  # after one warm-up epoch; the median is reported


def time_plain_epoch(batches: int = EPOCH_BATCHES, batch_size: int = BATCH_SIZE, repeats: int = TIMED_EPOCHS,
                     seed: int = 0) -> float:
    """Seconds of one plain-VAE pretraining epoch (``batches`` gradient steps on fixed random batches
    ``{"image": [batch_size, 3, 32, 32], "curve": [batch_size, 64]}``): the median of ``repeats``
    epochs after one warm-up epoch, with this process's torch threads. Speed does not depend on the
    values; the model, data and optimiser are seeded, so every run times the same computation."""
    torch.manual_seed(seed)
    model = PoEVAE(NetworkConfig())
    generator = torch.Generator().manual_seed(seed)
    n = batches * batch_size
    data = {"image": torch.rand(n, 3, 32, 32, generator=generator), "curve": torch.randn(n, 64, generator=generator)}
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_terms = objective(model, "standard")
    model.train()
    seconds = []
    for epoch in range(repeats + 1):  # epoch 0 is the warm-up
        start = time.perf_counter()
        for batch in as_batches(data, batch_size):
            terms = loss_terms(batch)
            optimiser.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimiser.step()
        if epoch:
            seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def source_commit() -> str:
    """The project's git commit (``+dirty`` when tracked files differ from it), or ``unknown``."""
    try:
        tags = git_tags(project_root())
    except ProjectNotFoundError:
        return "unknown"
    if not tags:
        return "unknown"
    return tags[GIT_COMMIT_TAG][:12] + ("+dirty" if tags["git_dirty"] == "true" else "")


def describe_run() -> dict[str, Any]:
    """``date`` (UTC, ISO), ``commit``, ``machine`` (platform, processor and core count), ``torch``
    (version), ``threads`` (torch threads of the process computing it: a ParallelRunner worker's), and
    ``plain_epoch_seconds`` (:func:`time_plain_epoch`)."""
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": source_commit(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "plain_epoch_seconds": time_plain_epoch(),
    }


def header_line(run_info: dict[str, Any]) -> str:
    """``Run: 2026-12-08T10:00:00Z, commit abc, Linux x86_64 (2 cores), torch 2.13.0+cpu, 1 torch thread(s);
    plain-VAE epoch 0.81 s``: the first line of ``results.md``."""
    return (f"Run: {run_info['date']}, commit {run_info['commit']}, {run_info['machine']}, torch {run_info['torch']}, "
            f"{run_info['threads']} torch thread(s); one plain-VAE epoch ({EPOCH_BATCHES} batches of {BATCH_SIZE}) "
            f"{run_info['plain_epoch_seconds']:.3f} s.")
