"""Epoch callbacks for the training loops: progress display and in-memory checkpoint keeping."""

from __future__ import annotations

import logging
import math
import time

from tqdm.auto import tqdm

from causal_pima.core.epoch_loop import EpochRecord

logger = logging.getLogger(__name__)


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(max(seconds, 0.0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class EpochLogger:
    """One INFO log line per epoch (plain ``logging``, logger ``causal_pima.core.callbacks``), e.g.::

        pretraining epoch 3/40: train ELBO -812.4, val ELBO -790.1, elapsed 0:09, remaining 1:51
        causalPIMA fit epoch 2/30: train ELBO -830.2, val ELBO -801.7, temperature 0.812, elapsed 0:05, remaining 1:10

    Seen whatever the output is (a file, a pipe, CI), unlike the tqdm bar. The remaining time is the
    mean time of the epochs seen so far times the epochs left.
    """

    def __init__(self, total_epochs: int, description: str, log: logging.Logger | None = None,
                 clock=time.perf_counter) -> None:
        self.total_epochs = total_epochs
        self.description = description
        self._log = log or logger
        self._clock = clock
        self._start = clock()
        self._seen = 0

    def __call__(self, record: EpochRecord) -> None:
        self._seen += 1
        elapsed = self._clock() - self._start
        remaining = elapsed / self._seen * max(self.total_epochs - record.epoch, 0)
        metrics = record.metrics
        parts = [f"train ELBO {metrics.get('train_elbo', float('nan')):.1f}",
                 f"val ELBO {metrics.get('val_elbo', float('nan')):.1f}"]
        if "temperature" in metrics:
            parts.append(f"temperature {metrics['temperature']:.3f}")
        parts += [f"elapsed {_duration(elapsed)}", f"remaining {_duration(remaining)}"]
        self._log.info("%s epoch %d/%d: %s", self.description, record.epoch, self.total_epochs, ", ".join(parts))


class ProgressBar:
    """A tqdm bar per phase showing the epoch, the ELBO and (when fitting) the temperature (shown on a
    terminal only: ``disable=None``), and one log line per epoch in every mode (:class:`EpochLogger`;
    ``log_epochs=False`` leaves it out)."""

    def __init__(self, total_epochs: int, description: str, disable: bool | None = None,
                 log_epochs: bool = True) -> None:
        self._bar = tqdm(total=total_epochs, desc=description, unit="epoch", disable=disable, leave=True)
        self._log = EpochLogger(total_epochs, description) if log_epochs else None

    def __call__(self, record: EpochRecord) -> None:
        if self._log is not None:
            self._log(record)
        post = {"elbo": f"{record.metrics.get('train_elbo', float('nan')):.1f}",
                "val_elbo": f"{record.metrics.get('val_elbo', float('nan')):.1f}"}
        if "temperature" in record.metrics:
            post["tau"] = f"{record.metrics['temperature']:.3f}"
        self._bar.set_postfix(post, refresh=False)
        self._bar.update(1)
        if self._bar.n >= (self._bar.total or 0):
            self._bar.close()


class KeepLastCheckpoint:
    """Keeps the checkpoint dict of the last completed epoch in memory (``.last``).

    ``on_save`` (optional) is called with it, e.g. to write it atomically to disk so that an
    interrupted fit can resume from its last epoch.
    """

    def __init__(self, on_save=None) -> None:
        self.last: dict | None = None
        self._on_save = on_save

    def __call__(self, record: EpochRecord) -> None:
        self.last = record.checkpoint()
        if self._on_save is not None:
            self._on_save(self.last)
