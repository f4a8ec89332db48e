"""Suite-wide test hygiene."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_mlflow_run_left_active():
    """End any MLflow run a test leaves active, so the next test in the worker starts clean.

    kedro-mlflow starts a run in the test process for every Kedro session; a test whose session
    stops early (or that starts a run itself) would otherwise hand its active run, and its tracking
    URI, to whichever test the same xdist worker runs next.
    """
    yield
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()
