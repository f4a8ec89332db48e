"""Scale-out measurements (docs/scaling.md): data-parallel throughput and training from disk.

Prints, measured in one run (markdown tables):

1. ``throughput``: pretraining and fitting epochs of the default circles networks on N = ``--n``
   circles specimens (80 % train), in one process and in 2 data-parallel gloo processes
   (``core.launch.run_data_parallel``), with the torch thread settings used; specimens per second
   = training specimens / median epoch time (epochs 2.. of ``--epochs``; an epoch includes the
   validation pass and, when fitting, the closed-form mixture update).
2. ``streaming``: for N = 6,000, 24,000 and 96,000 circles specimens: generation (features, images,
   spectra, processing, written as memory-mapped ``.npy`` model inputs) time, then, each in a fresh
   process, one pretraining epoch reading the training set from disk through the DataLoader
   (``ArrayFolderDataset`` memory maps) against the same epoch with the set read into memory: epoch
   time, the process's peak anonymous memory (``RssAnon``, without the mapped files) and its peak RSS
   (``VmHWM``, which counts the mapped pages it touched), and the size of the training images.

    .venv/bin/python benchmarks/scale_out.py throughput
    .venv/bin/python benchmarks/scale_out.py streaming --sizes 6000 24000 96000 --folder /tmp/scale_out
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch
import yaml

from causal_pima.core.batching import specimen_data, specimen_tensors
from causal_pima.core.launch import TrainingJob, run_data_parallel
from causal_pima.core.model import CausalPIMA, PoEVAE
from causal_pima.core.training import fit, pretrain
from causal_pima.core.training_config import FitConfig, PretrainConfig
from causal_pima.data.circles_set import generate_features, render_specimens
from causal_pima.data.processing import (
    build_model_input,
    fit_curve_scaler,
    split_specimens,
    validate_specimens,
)
from causal_pima.datasets import ArrayFolderDataset
from causal_pima.model_input import model_config_from_data

ROOT = Path(__file__).resolve().parents[1]


def _parameters(name: str) -> dict:
    return yaml.safe_load((ROOT / "conf" / "base" / f"parameters_{name}.yml").read_text())


def make_sets(n: int, seed: int = 0) -> tuple[dict, dict, dict]:
    """Default circles (``parameters_circles.yml``) with ``n`` specimens, processed as the pipelines do."""
    circles = {**_parameters("circles")["circles"], "n_specimens": n, "seed": seed}
    processing = _parameters("data_processing")["data_processing"]
    features, _ = generate_features(circles)
    raw = render_specimens(features, circles)
    report = validate_specimens(raw, features, processing)
    split = split_specimens(report, {**processing, "seed": seed})
    scaler = fit_curve_scaler(raw, split, processing)
    return build_model_input(raw, features, split, scaler, report)


def _header() -> str:
    return (f"{datetime.date.today()}  torch {torch.__version__}  python {platform.python_version()}  "
            f"nproc {os.cpu_count()}  device cpu")


# ---------------------------------------------------------------------------- 1. throughput
def throughput(n: int, epochs: int) -> str:
    train_set, val_set, _ = make_sets(n)
    model_params = _parameters("pretraining")["model"]
    config = model_config_from_data(train_set, model_params)  # prior: ModelConfig defaults (d = 3)
    n_train = len(train_set["images"])
    rows = []
    for task in ("pretrain", "fit"):
        for processes, threads in ((1, os.cpu_count() or 1), (1, 1), (2, 1)):
            torch.manual_seed(0)
            model: torch.nn.Module = PoEVAE(config.network) if task == "pretrain" else CausalPIMA(config)
            train = specimen_data(train_set, model.modalities)
            val = specimen_data(val_set, model.modalities)
            if task == "pretrain":
                run_config = PretrainConfig(epochs=epochs, batch_size=128, seed=0)
            else:
                run_config = FitConfig(epochs=epochs, batch_size=128, seed=0)
            start = time.perf_counter()
            if processes == 1:
                previous = torch.get_num_threads()
                torch.set_num_threads(threads)
                result = pretrain(model, train, val, run_config) if task == "pretrain" else fit(model, train, val, run_config)
                torch.set_num_threads(previous)
            else:
                result = run_data_parallel(TrainingJob(task, model, train, val, run_config), processes, threads_per_process=threads)
            wall = time.perf_counter() - start
            history = result if task == "pretrain" else result["history"]
            seconds = [row["seconds"] for row in history[1:]] or [history[0]["seconds"]]
            epoch = statistics.median(seconds)
            rows.append((task, processes, threads, epoch, n_train / epoch, wall, history[-1]["val_elbo"]))
    base = {task: next(r[4] for r in rows if r[0] == task and r[1] == 1 and r[2] == 1) for task in ("pretrain", "fit")}
    lines = [
        _header(),
        "",
        f"Data-parallel throughput, default circles networks, N = {n} ({n_train} train), batch 128, "
        f"{epochs} epochs; median of epochs 2..{epochs}",
        "",
        "| task | processes | torch threads each | s / epoch | train specimens / s | vs 1 process x 1 thread | wall s (with start-up) | final val ELBO |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for task, processes, threads, epoch, rate, wall, val_elbo in rows:
        lines.append(f"| {task} | {processes} | {threads} | {epoch:.2f} | {rate:.0f} | {rate / base[task]:.2f}x | {wall:.1f} | {val_elbo:.1f} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- 2. streaming
def _epoch_in_fresh_process(folder: Path, mode: str) -> dict:
    """One pretraining epoch in a new process; returns its time and peak RSS."""
    out = subprocess.run(
        [sys.executable, __file__, "_epoch", str(folder), mode], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _status_mib(field: str) -> float:
    """A memory field of /proc/self/status (Linux) in MiB, e.g. ``RssAnon`` (resident memory that is
    not a mapped file: what the process holds itself, without the pages of the memory-mapped model
    inputs, which the kernel can drop and read again) or ``VmHWM`` (peak resident memory of this
    process image; unlike ``ru_maxrss`` it does not carry over the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _anonymous_rss_mib() -> float:
    return _status_mib("RssAnon")


class _PeakSampler(threading.Thread):
    """The largest anonymous RSS seen, sampled every 20 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = _anonymous_rss_mib()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.02):
            self.peak = max(self.peak, _anonymous_rss_mib())

    def stop(self) -> float:
        self._stop_event.set()
        self.join()
        return max(self.peak, _anonymous_rss_mib())


def _epoch(folder: Path, mode: str) -> None:
    torch.set_num_threads(1)
    train_set = ArrayFolderDataset(filepath=str(folder / "train")).load()
    val_set = ArrayFolderDataset(filepath=str(folder / "val")).load()
    config = model_config_from_data(train_set, _parameters("pretraining")["model"])
    torch.manual_seed(0)
    model = PoEVAE(config.network)
    pick = specimen_data if mode == "streamed" else specimen_tensors  # memory maps, or everything read in
    sampler = _PeakSampler()
    sampler.start()
    start = time.perf_counter()
    train, val = pick(train_set, model.modalities), pick(val_set, model.modalities)
    history = pretrain(model, train, val, PretrainConfig(epochs=1, batch_size=128, seed=0))
    seconds = time.perf_counter() - start
    peak_anonymous = sampler.stop()
    peak_mib = _status_mib("VmHWM")
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak_mib, "peak_anonymous_mib": peak_anonymous,
                      "val_elbo": history[-1]["val_elbo"]}))


def streaming(sizes: list[int], folder: Path) -> str:
    lines = [
        _header(),
        "",
        "One pretraining epoch (default circles networks, batch 128, 1 torch thread, validation pass included) "
        "in a fresh process. Peak RSS = VmHWM of that process (/proc/self/status), which counts the pages of the "
        "memory-mapped files it touched; peak anon = the largest RssAnon (/proc/self/status, sampled every 20 ms): the "
        "memory the process holds itself, without the mapped files",
        "",
        "| N | train images (MiB) | generate + write (s) | streamed: epoch (s) | streamed: peak anon (MiB) | streamed: peak RSS (MiB) "
        "| in memory: epoch (s) | in memory: peak anon (MiB) | in memory: peak RSS (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        target = folder / f"n{n}"
        shutil.rmtree(target, ignore_errors=True)
        start = time.perf_counter()
        train, val, _ = make_sets(n)
        ArrayFolderDataset(filepath=str(target / "train")).save(train)
        ArrayFolderDataset(filepath=str(target / "val")).save(val)
        image_mib = train["images"].nbytes / 2**20
        del train, val
        generation = time.perf_counter() - start
        streamed = _epoch_in_fresh_process(target, "streamed")
        in_memory = _epoch_in_fresh_process(target, "in_memory")
        lines.append(f"| {n} | {image_mib:.0f} | {generation:.1f} | {streamed['seconds']:.1f} | {streamed['peak_anonymous_mib']:.0f} "
                     f"| {streamed['peak_rss_mib']:.0f} | {in_memory['seconds']:.1f} | {in_memory['peak_anonymous_mib']:.0f} "
                     f"| {in_memory['peak_rss_mib']:.0f} |")
        print(lines[-1], file=sys.stderr, flush=True)
        shutil.rmtree(target, ignore_errors=True)
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_epoch":
        _epoch(Path(sys.argv[2]), sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("throughput", help="1 vs 2 data-parallel processes")
    t.add_argument("--n", type=int, default=6000)
    t.add_argument("--epochs", type=int, default=3)
    s = sub.add_parser("streaming", help="epoch time and peak RSS by N, from disk and in memory")
    s.add_argument("--sizes", type=int, nargs="+", default=[6000, 24000, 96000])
    s.add_argument("--folder", type=Path, default=Path("/tmp/causal_pima_scale_out"))
    args = parser.parse_args()
    print(throughput(args.n, args.epochs) if args.what == "throughput" else streaming(args.sizes, args.folder))


if __name__ == "__main__":
    main()
