"""Run refusals: one message under `kedro run` (click), a normal exception from Python (issue 23, item 8)."""

from __future__ import annotations

import io

import click
import pytest
from click.testing import CliRunner

from causal_pima.parameter_schemas import InvalidParametersError
from causal_pima.pipelines.benchmark.shape import BenchmarkShapeError
from causal_pima.run_inputs import MissingInputsError
from causal_pima.run_lock import RunLockError
from causal_pima.run_refusal import TRACEBACK_ENV, RunRefusedError
from causal_pima.session_parameters import UnknownEnvironmentError


@pytest.mark.parametrize(("error", "base"), [
    (InvalidParametersError(["circles.seed = -1: must be >= 0"]), ValueError),
    (MissingInputsError("circles.fitted_model is not there yet: run `kedro run --pipelines causal_pima` first"), RuntimeError),
    (RunLockError("Another run is writing to this project (pid 1)"), RuntimeError),
    (BenchmarkShapeError("benchmark.seeds = [0] in this run"), ValueError),
    (UnknownEnvironmentError("--env nope: there is no folder conf/nope"), ValueError),
])
def test_every_refusal_keeps_its_builtin_base_and_its_message(error, base):
    assert isinstance(error, base) and isinstance(error, RunRefusedError)
    assert str(error) == error.message == error.args[0] and error.message


def _command(error: Exception) -> click.Command:
    @click.command()
    def run() -> None:  # as `kedro run` raises what a hook raised inside session.run
        raise error

    return run


def test_kedro_run_prints_the_message_alone_and_exits_with_1(monkeypatch):
    monkeypatch.delenv(TRACEBACK_ENV, raising=False)
    error = InvalidParametersError(["causal_pima_latice (from --params): ...; did you mean causal_pima_lattice?"])
    result = CliRunner().invoke(_command(error), [])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines == [
        "InvalidParametersError: Invalid parameters; the run was stopped before any node ran or wrote anything "
        "(conf/base/parameters_*.yml, conf/local/ or kedro run --params):",
        "  - causal_pima_latice (from --params): ...; did you mean causal_pima_lattice?",
        f"(set {TRACEBACK_ENV}=1 to see the traceback)",
    ]
    assert "Traceback" not in result.output


def test_the_traceback_is_shown_when_asked(monkeypatch):
    monkeypatch.setenv(TRACEBACK_ENV, "1")
    try:
        raise RunLockError("Another run is writing to this project (pid 7)")
    except RunLockError as error:
        out = io.StringIO()
        error.show(file=out)
    text = out.getvalue()
    assert text.startswith("Traceback (most recent call last):") and text.rstrip().endswith(
        "RunLockError: Another run is writing to this project (pid 7)")
