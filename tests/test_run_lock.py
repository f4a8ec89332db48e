"""One writing run per project at a time (issue 24, item 1): real processes, kill -9, a real Kedro session."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from kedro.framework.hooks import hook_impl
from kedro.framework.hooks.manager import _create_hook_manager

from causal_pima.run_lock import LOCK_FILE, ProjectRunLock, RunLockError, RunLockHook

HOLDER = textwrap.dedent(
    """
    import sys, time
    from causal_pima.run_lock import ProjectRunLock
    lock = ProjectRunLock(sys.argv[1])  # kept: the lock lives as long as its open file
    lock.acquire({"pipelines": ["circles", "data_processing"], "started": "2026-12-07T21:00:00+00:00",
                  "command": "kedro run --pipelines circles,data_processing"})
    print("held", flush=True)
    time.sleep(120)
    """
)


@pytest.fixture
def holder():
    """Start a process that takes the lock on a path and keeps it; kill -9 it at the end."""
    started = []

    def start(path):
        process = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout.readline().strip() == "held"  # the lock is taken (bounded: the process sleeps 120 s at most)
        return process

    yield start
    for process in started:
        process.kill()
        process.wait(timeout=30)


def test_a_second_process_is_refused_naming_the_holder_and_kill_9_frees_the_lock(tmp_path, holder):
    path = tmp_path / ".run.lock"
    other = holder(path)
    with pytest.raises(RunLockError) as caught:
        ProjectRunLock(path).acquire({"pipelines": ["__default__"], "started": "now"})
    message = str(caught.value)
    assert f"pid {other.pid}, pipelines circles, data_processing, started 2026-12-07T21:00:00+00:00" in message
    assert "command `kedro run --pipelines circles,data_processing`" in message and str(path) in message
    other.kill()  # SIGKILL: no clean-up code runs in the holder; the kernel drops its lock
    other.wait(timeout=30)
    lock = ProjectRunLock(path)
    lock.acquire({"pipelines": ["__default__"], "started": "now"})
    assert lock.held and json.loads(path.read_text())["pipelines"] == ["__default__"]
    lock.release()
    assert not lock.held


def _run_params(project):
    return {"project_path": str(project), "pipeline_names": ["circles"], "run_id": "session-1"}


class _Refuser:
    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog):
        raise ValueError("refused by a later check")


def test_the_hook_holds_the_lock_for_the_run_and_releases_it_on_every_ending(tmp_path):
    manager = _create_hook_manager()
    hook = RunLockHook()
    manager.register(hook)
    manager.hook.before_pipeline_run(run_params=_run_params(tmp_path), pipeline=None, catalog=None)
    note = json.loads((tmp_path / LOCK_FILE).read_text())
    assert note["pipelines"] == ["circles"] and note["session_id"] == "session-1"
    with pytest.raises(RunLockError):  # another open file, even in this process, is refused while the run holds it
        ProjectRunLock(tmp_path / LOCK_FILE).acquire({})
    manager.hook.before_pipeline_run(run_params=_run_params(tmp_path), pipeline=None, catalog=None)  # re-entrant
    manager.hook.on_pipeline_error(error=RuntimeError(), run_params={}, pipeline=None, catalog=None)
    free = ProjectRunLock(tmp_path / LOCK_FILE)
    free.acquire({})
    free.release()

    manager.register(_Refuser())  # a later before_pipeline_run hook stops the run: no after/on_error hook follows
    with pytest.raises(ValueError, match="refused by a later check"):
        manager.hook.before_pipeline_run(run_params=_run_params(tmp_path), pipeline=None, catalog=None)
    free.acquire({})  # the wrapper released it
    free.release()


def test_a_kedro_run_while_another_run_writes_the_project_stops_before_any_node(project, holder):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    other = holder(project / LOCK_FILE)
    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        with pytest.raises(RunLockError, match=f"pid {other.pid}, pipelines circles, data_processing"):
            session.run(pipeline_names=["circles"])
    assert not (project / "data" / "01_raw").exists()  # nothing written
    if (project / "mlflow.db").exists():  # and no MLflow run opened
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
        assert [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])] == []
