"""Training speed: one epoch of the project's PoE VAE against the peer method's library VAE (pythae,
``causal_pima.evaluation.peer``) of the same size, on the same batches, as a ratio measured in one run.

Both models are built from one ``NetworkConfig`` (the default circles sizes of
``conf/base/parameters_pretraining.yml``: images 3x32x32, curves of 64, latent 8, channels
(16, 32, 32), hidden 128, curve MLP (128, 128)): the same decoders and latent dimension, encoders of
the same widths (the project's two experts fused by a product of experts; the library's one joint
encoder on the concatenated branches), about 238,5xx parameters each. Random data (speed does not
depend on the values). The project's epoch is its pretraining epoch (``core.epoch_loop.train_epoch``:
Adam with its two learning rates, modality dropout 0.3, the finiteness check); the library's is Adam
steps on pythae's ``VAE`` loss (``peer.peer_epoch``). Both step over the same index batches (one
seeded permutation per round). Timings are interleaved (project, library, project, ...) after one
warm-up round; the median of ``--repeats`` rounds is reported. Target: ratio (project / library) <= 1.0.

    .venv/bin/python benchmarks/peer_speed.py                     # N = 4800, batch 128, 5 repeats
    .venv/bin/python benchmarks/peer_speed.py --threads 1 --n 1200 --repeats 3
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time

import torch

from causal_pima.core.batching import batch_indices
from causal_pima.core.epoch_loop import adam, parameter_groups, train_epoch
from causal_pima.core.model import PoEVAE
from causal_pima.core.model_config import NetworkConfig
from causal_pima.core.networks import count_parameters
from causal_pima.evaluation.peer import flatten_specimens, peer_epoch, peer_vae

NETWORK = NetworkConfig(image_shape=(3, 32, 32), curve_length=64, latent_dim=8, image_channels=(16, 32, 32),
                        image_hidden_dim=128, curve_hidden_dims=(128, 128))
LEARNING_RATE, NOISE_LEARNING_RATE, MODALITY_DROPOUT = 1e-3, 2e-2, 0.3  # parameters_pretraining.yml


def random_data(n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {"image": torch.rand(n, 3, 32, 32, generator=generator), "curve": torch.randn(n, 64, generator=generator)}


def epoch_ratio(n: int, batch_size: int, repeats: int) -> tuple[str, float]:
    """The markdown table and the ratio of median epoch times (project / library)."""
    data = random_data(n)
    rows = flatten_specimens(data, NETWORK)
    torch.manual_seed(0)
    project = PoEVAE(NETWORK)
    project_optimiser = adam(parameter_groups(project, LEARNING_RATE, NOISE_LEARNING_RATE))  # the trainer's Adam
    torch.manual_seed(0)
    library = peer_vae(NETWORK)
    library_optimiser = torch.optim.Adam(library.parameters(), lr=LEARNING_RATE)
    times: dict[str, list[float]] = {"project": [], "library": []}
    for round_ in range(repeats + 1):  # round 0 is the warm-up
        seed = 1000 + round_
        batches = batch_indices(n, batch_size, torch.Generator().manual_seed(seed))
        start = time.perf_counter()
        # the same permutation: train_epoch draws it from a generator seeded alike
        train_epoch(project, project_optimiser, data, batch_size, torch.Generator().manual_seed(seed), "standard",
                    "pretrain", round_, None, modality_dropout=MODALITY_DROPOUT)
        project_seconds = time.perf_counter() - start
        start = time.perf_counter()
        peer_epoch(library, library_optimiser, rows, batches)
        library_seconds = time.perf_counter() - start
        if round_ > 0:
            times["project"].append(project_seconds)
            times["library"].append(library_seconds)
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["project"] / medians["library"]
    sizes = {"project": count_parameters(project), "library": count_parameters(library)}
    names = {"project": "project PoE VAE (core.epoch_loop.train_epoch)", "library": "library VAE (pythae VAE, peer.peer_epoch)"}
    lines = [
        f"Epoch of gradient steps, N = {n}, batch {batch_size}, the same batches, median of {repeats} interleaved rounds after 1 warm-up",
        "",
        "| model | parameters | s / epoch (median) | all rounds (s) |",
        "|---|---:|---:|---|",
    ]
    for name in ("project", "library"):
        lines.append(f"| {names[name]} | {sizes[name]:,} | {medians[name]:.3f} | {', '.join(f'{t:.3f}' for t in times[name])} |")
    verdict = "met" if ratio <= 1.0 else "NOT met"
    lines += ["", f"Ratio project / library: {ratio:.3f} (target <= 1.0: {verdict})"]
    return "\n".join(lines), ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=4800, help="specimens per epoch (default 4800)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds after the warm-up (default 5)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{datetime.date.today()}  torch {torch.__version__}  python {platform.python_version()}  nproc {os.cpu_count()}  "
          f"torch threads {torch.get_num_threads()}  device cpu\n")
    print(epoch_ratio(args.n, args.batch_size, args.repeats)[0])


if __name__ == "__main__":
    main()
