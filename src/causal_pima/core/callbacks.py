"""Epoch callbacks for the training loops: progress display and in-memory checkpoint keeping."""

from __future__ import annotations

from tqdm.auto import tqdm

from causal_pima.core.training import EpochRecord


class ProgressBar:
    """A tqdm bar per phase showing the epoch, the ELBO and (when fitting) the temperature."""

    def __init__(self, total_epochs: int, description: str, disable: bool | None = None) -> None:
        self._bar = tqdm(total=total_epochs, desc=description, unit="epoch", disable=disable, leave=True)

    def __call__(self, record: EpochRecord) -> None:
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
