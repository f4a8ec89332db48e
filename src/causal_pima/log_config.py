"""The console log of a run (used by ``conf/logging.yml``; plain ``logging``).

- :class:`ConsoleLogHook` (in ``settings.HOOKS``): when the session's context is created, Kedro's rich
  handler of ``conf/logging.yml`` is kept on a terminal and replaced by a plain one-line-per-record
  handler otherwise (``kedro run > log.txt 2>&1``, CI), where rich wraps every message at 80
  columns; every root handler gets :class:`NoiseFilter`. (Kedro's logging config accepts handler
  classes from ``logging`` and ``kedro.logging`` only, so this cannot be said in ``conf/logging.yml``.)
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

        return RichHandler(rich_tracebacks=rich_tracebacks)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(PLAIN_FORMAT, PLAIN_DATEFMT))
    return handler



def _is_rich(handler: logging.Handler) -> bool:
    return any(cls.__module__.startswith("rich.") for cls in type(handler).__mro__)


def tidy_console_logging(root: logging.Logger | None = None) -> None:
    """Replace root's rich handlers that do not write to a terminal by plain ones (same level and
    filters) and give every root handler a :class:`NoiseFilter` (idempotent)."""
    root = root or logging.getLogger()
    for index, handler in enumerate(list(root.handlers)):
        console = getattr(handler, "console", None)
        if _is_rich(handler) and console is not None and not console.is_terminal:
            plain = console_handler(stream=getattr(console, "file", None) or sys.stderr, force_plain=True)
            plain.setLevel(handler.level)
            for existing in handler.filters:
                plain.addFilter(existing)
            root.handlers[index] = plain
            handler.close()
    for handler in root.handlers:
        if not any(isinstance(f, NoiseFilter) for f in handler.filters):
            handler.addFilter(NoiseFilter())


class ConsoleLogHook:
    """Calls :func:`tidy_console_logging` as soon as the session's context exists."""

    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        tidy_console_logging()
