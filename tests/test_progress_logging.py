"""Progress a user can follow (issue 11, item 4): one log line per epoch in every mode, a quiet log."""

from __future__ import annotations

import logging
import re
import warnings

import pytest

from causal_pima.core.callbacks import EpochLogger, ProgressBar
from causal_pima.core.epoch_loop import EpochRecord
from causal_pima.log_config import NoiseFilter, tidy_console_logging


def _record(phase, epoch, **metrics):
    return EpochRecord(phase, epoch, {"train_elbo": -812.44, "val_elbo": -790.06, **metrics}, model=None,
                       checkpoint=lambda: {})


class _Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_the_epoch_logger_writes_one_line_per_epoch_with_every_field(caplog):
    clock = _Clock()
    log = EpochLogger(4, "causalPIMA fit", clock=clock)
    with caplog.at_level(logging.INFO, logger="causal_pima.core.callbacks"):
        for epoch in (1, 2):
            clock.now += 10.0
            log(_record("fit", epoch, temperature=0.8123))
    lines = [r.getMessage() for r in caplog.records if r.name == "causal_pima.core.callbacks"]
    assert lines == [
        "causalPIMA fit epoch 1/4: train ELBO -812.4, val ELBO -790.1, temperature 0.812, elapsed 0:10, remaining 0:30",
        "causalPIMA fit epoch 2/4: train ELBO -812.4, val ELBO -790.1, temperature 0.812, elapsed 0:20, remaining 0:20",
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records)


def test_pretraining_lines_have_no_temperature_and_a_resumed_fit_counts_from_its_epoch(caplog):
    clock = _Clock()
    log = EpochLogger(10, "pretraining", clock=clock)
    with caplog.at_level(logging.INFO, logger="causal_pima.core.callbacks"):
        clock.now += 65.0
        log(_record("pretraining", 8))  # resumed at epoch 8: 2 epochs left at 65 s each
    (message,) = [r.getMessage() for r in caplog.records]
    assert message == "pretraining epoch 8/10: train ELBO -812.4, val ELBO -790.1, elapsed 1:05, remaining 2:10"


def test_the_progress_bar_logs_each_epoch_even_when_the_bar_is_disabled(caplog):
    bar = ProgressBar(3, "pretraining", disable=True)  # as when the output is not a terminal
    with caplog.at_level(logging.INFO, logger="causal_pima.core.callbacks"):
        for epoch in (1, 2, 3):
            bar(_record("pretraining", epoch))
    lines = [r.getMessage() for r in caplog.records]
    assert [re.match(r"pretraining epoch (\d)/3: train ELBO", m).group(1) for m in lines] == ["1", "2", "3"]
    assert all("elapsed" in m and "remaining" in m for m in lines)
    silent = ProgressBar(1, "pretraining", disable=True, log_epochs=False)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="causal_pima.core.callbacks"):
        silent(_record("pretraining", 1))
    assert caplog.records == []


@pytest.mark.parametrize("message, kept", [
    ("Completed node: generate_features", False),
    ("Completed 3 out of 22 tasks", True),
    ("Using synchronous mode for loading and saving data. Use the --async flag", False),
    ("Mlflow run '__default__' - 'abc123' has started", False),
    ("Running node: generate_features: generate_features([params:circles])", True),
    ("pretraining epoch 1/3: train ELBO -1.0", True),
])
def test_the_noise_filter_drops_only_the_chatter(message, kept):
    record = logging.LogRecord("kedro.runner", logging.INFO, __file__, 1, message, None, None)
    assert NoiseFilter().filter(record) is kept


def test_a_rich_handler_that_writes_to_a_file_becomes_one_plain_line_per_record(tmp_path):
    from kedro.logging import RichHandler
    from rich.console import Console

    out = (tmp_path / "log.txt").open("w")
    root = logging.Logger("test-root")
    root.addHandler(RichHandler(console=Console(file=out)))
    tidy_console_logging(root)
    tidy_console_logging(root)  # idempotent
    (handler,) = root.handlers
    assert not isinstance(handler, RichHandler) and sum(isinstance(f, NoiseFilter) for f in handler.filters) == 1
    long = "Running node: " + "x" * 200
    root.warning(long)
    root.info("Completed node: x")  # filtered
    root.warning("Completed node: x")
    out.close()
    lines = (tmp_path / "log.txt").read_text().splitlines()
    assert len(lines) == 1 and lines[0].endswith(long)


def test_the_plain_console_handler_becomes_rich_on_a_terminal_only(tmp_path, monkeypatch):
    import io

    from kedro.logging import RichHandler

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", raising=False)
    root = logging.Logger("test-root")
    for stream in (Terminal(), (tmp_path / "log.txt").open("w")):
        handler = logging.StreamHandler(stream)
        handler.name = "console"  # as conf/logging.yml names it
        handler.setLevel(logging.INFO)
        root.addHandler(handler)
    tidy_console_logging(root)
    on_terminal, to_file = root.handlers
    assert isinstance(on_terminal, RichHandler) and on_terminal.level == logging.INFO
    assert type(to_file) is logging.StreamHandler and to_file.stream.name.endswith("log.txt")
    tidy_console_logging(root)  # idempotent
    assert root.handlers == [on_terminal, to_file]
    # pytest's stderr is not a terminal: MLflow's \r progress bars are turned off
    import os

    assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "false"


def test_the_resolver_deprecation_warning_is_ignored_after_the_import():
    import causal_pima.log_config  # noqa: F401 - the import installs the filter

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        import importlib

        importlib.reload(causal_pima.log_config)
        warnings.warn("register_new_resolver() is deprecated and will be removed", UserWarning, stacklevel=1)
        warnings.warn("a real warning", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["a real warning"]
