"""The console log of a run (used by ``conf/logging.yml``; plain ``logging``).

- :class:`ConsoleLogHook` (in ``settings.HOOKS``): ``conf/logging.yml`` starts every run with one plain
  line per record, so a log redirected to a file (``kedro run > log.txt 2>&1``, CI) is plain from its
  first line; when the session's context is created the hook swaps that handler for Kedro's rich one
  if it writes to a terminal (and a rich handler that does not for a plain one), gives every root
  handler :class:`NoiseFilter`, and off a terminal turns off MLflow's artifact progress bars. (Kedro's
  logging config accepts handler classes from ``logging`` and ``kedro.logging`` only, so this cannot
  be said in ``conf/logging.yml``.)
- :class:`NoiseFilter`: drops the per-task and per-dataset chatter that says nothing a user acts on
  (Kedro's "Completed node: X" next to its "Completed 3 out of 31 tasks", the runner's "Using synchronous mode", kedro-mlflow's
  "Mlflow run '__default__' has started", which ``causal_pima.run_naming`` replaces by the run's name).
- Importing this module (``settings.py`` does) ignores omegaconf's
  ``register_new_resolver() is deprecated`` warning: Kedro 1.7's config loader calls that function
  for every custom resolver of every loader (5 identical warnings a run); there is nothing the
  project can change, and the project's resolvers are registered through ``CONFIG_LOADER_ARGS`` as
  Kedro documents.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import warnings

from kedro.framework.hooks import hook_impl

warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning)

PLAIN_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
PLAIN_DATEFMT = "%H:%M:%S"

NOISE = (
    r"^Completed node: ",  # the next line says "Completed 3 out of 31 tasks"
    r"Using synchronous mode for loading and saving data",
    r"Mlflow run '.*' - '.*' has started",
    r"No typed parameter requirements found",
    r"Registering new custom resolver: 'km\.",
)


class NoiseFilter(logging.Filter):
    """Drops records whose message matches one of ``patterns`` (default :data:`NOISE`)."""

    def __init__(self, patterns: tuple[str, ...] | list[str] = NOISE) -> None:
        super().__init__()
        self._pattern = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is left to the handler
            return True
        return self._pattern.search(message) is None


def console_handler(stream=None, rich_tracebacks: bool = True, force_plain: bool | None = None) -> logging.Handler:
    """Kedro's ``RichHandler`` when ``stream`` (default stderr) is a terminal, else a plain
    ``StreamHandler`` writing one line per record (``force_plain`` overrides the choice)."""
    stream = stream if stream is not None else sys.stderr
    plain = force_plain if force_plain is not None else not (hasattr(stream, "isatty") and stream.isatty())
    if not plain:
        from kedro.logging import RichHandler
        from rich.console import Console

        return RichHandler(rich_tracebacks=rich_tracebacks, console=Console(file=stream))
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(PLAIN_FORMAT, PLAIN_DATEFMT))
    return handler



def _is_rich(handler: logging.Handler) -> bool:
    return any(cls.__module__.startswith("rich.") for cls in type(handler).__mro__)


def _swap(root: logging.Logger, index: int, old: logging.Handler, new: logging.Handler) -> None:
    new.setLevel(old.level)
    for existing in old.filters:
        new.addFilter(existing)
    root.handlers[index] = new
    if not isinstance(old, logging.StreamHandler) or old.stream not in (sys.stderr, sys.stdout):
        old.close()


def tidy_console_logging(root: logging.Logger | None = None) -> None:
    """One console handler per stream, of the kind its stream wants (idempotent):

    - a rich handler that does not write to a terminal becomes a plain one (same level and filters);
    - the plain ``console`` handler of ``conf/logging.yml`` becomes Kedro's rich one when its stream is
      a terminal;
    - every root handler gets a :class:`NoiseFilter`; off a terminal, MLflow's artifact download
      progress bars (``\r``-redrawn lines) are turned off (``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR``).
    """
    root = root or logging.getLogger()
    for index, handler in enumerate(list(root.handlers)):
        console = getattr(handler, "console", None)
        if _is_rich(handler) and console is not None and not console.is_terminal:
            _swap(root, index, handler, console_handler(stream=getattr(console, "file", None) or sys.stderr, force_plain=True))
        elif handler.name == "console" and not _is_rich(handler) and isinstance(handler, logging.StreamHandler):
            if hasattr(handler.stream, "isatty") and handler.stream.isatty():
                _swap(root, index, handler, console_handler(stream=handler.stream, force_plain=False))
    for handler in root.handlers:
        if not any(isinstance(f, NoiseFilter) for f in handler.filters):
            handler.addFilter(NoiseFilter())
    if not sys.stderr.isatty():
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


class ConsoleLogHook:
    """Calls :func:`tidy_console_logging` as soon as the session's context exists."""

    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        tidy_console_logging()
