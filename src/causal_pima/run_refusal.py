"""Errors that refuse a run before any node runs, for a reason the user fixes (issue 23, item 8).

A misspelt parameter group, a pipeline run before the one that writes its inputs, another run holding
the project, an unknown ``--env``: the message says what to do. Raised under ``kedro run``, a plain
exception made Python print a traceback of some 55 lines through click and Kedro before that message.
:class:`RunRefusedError` is a :class:`kedro.framework.cli.utils.KedroCliError` (a click exception),
so ``kedro run`` prints the error's own line(s) and exits with 1 (``CAUSAL_PIMA_TRACEBACK=1`` adds the
traceback); from Python (``KedroSession.run``, a notebook, the tests) it is raised like any
exception, and each subclass keeps its built-in base (``ValueError``, ``RuntimeError``).
"""

from __future__ import annotations

import os
import traceback
from typing import IO

import click
from kedro.framework.cli.utils import KedroCliError

TRACEBACK_ENV = "CAUSAL_PIMA_TRACEBACK"


class RunRefusedError(KedroCliError):
    """Base of the refusals; ``str(error)`` and ``error.message`` are the message it was raised with."""

    def __init__(self, message: str = "") -> None:
        Exception.__init__(self, message)

    @property
    def message(self) -> str:  # click reads .message; the exception's own args hold it
        return str(self.args[0]) if self.args else ""

    @message.setter
    def message(self, value: str) -> None:  # click's __init__ assigns it: the args already hold it
        pass

    def __str__(self) -> str:
        return self.message

    def show(self, file: IO | None = None) -> None:
        """What ``kedro run`` prints (on stderr): the error's name and message; the traceback too when
        ``CAUSAL_PIMA_TRACEBACK`` is set (``kedro run`` has no ``--verbose``).

        (Kedro's own ``show`` reads ``sys.exc_info()``, which is empty where click calls it.)
        """
        if self.VERBOSE_ERROR or os.environ.get(TRACEBACK_ENV):
            text = "".join(traceback.format_exception(self)).rstrip()
        else:
            text = f"{type(self).__name__}: {self.message}\n(set {TRACEBACK_ENV}=1 to see the traceback)"
        click.secho(text, fg="yellow", file=file, err=file is None)
