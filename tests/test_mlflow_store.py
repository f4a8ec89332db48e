"""The MLflow store (issue 9, item 8): a broken mlflow.db is named with how to recover, before
kedro-mlflow fails on it; a run killed mid-way does not stay RUNNING forever."""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from causal_pima import mlflow_store
from causal_pima.mlflow_store import (
    TAG_HOST,
    TAG_PID,
    TAG_PROCESS,
    TAG_STALE,
    MlflowStoreError,
    MlflowStoreHook,
    check_store,
    close_stale_runs,
    process_identity,
    process_tags,
    sqlite_path,
)
from tests.conftest import copy_project


@pytest.fixture(scope="module")
def template_store(tmp_path_factory) -> Path:
    """An initialised MLflow sqlite store with one experiment (made once: the migrations take seconds)."""
    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").create_experiment("causal_pima")
    return path


@pytest.fixture
def store(template_store, tmp_path) -> Path:
    path = tmp_path / "mlflow.db"
    shutil.copy(template_store, path)
    return path


def _recovery(path: Path) -> str:
    return rf"To recover, move it aside and run again .*\n    mv {re.escape(str(path))} {re.escape(str(path))}\.broken-\d{{8}}-\d{{6}}\n"


def test_a_healthy_or_missing_store_passes(store, tmp_path):
    check_store(store)
    check_store(tmp_path / "absent.db")  # MLflow creates it
    with pytest.raises(MlflowStoreError, match="cannot be created: its folder .*missing does not exist"):
        check_store(tmp_path / "missing" / "mlflow.db")


def test_a_file_that_is_not_a_database_is_named_with_how_to_recover(tmp_path):
    path = tmp_path / "mlflow.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(MlflowStoreError) as info:
        check_store(path)
    message = str(info.value)
    assert message.startswith(f"The MLflow store {path} is not an SQLite database (it lacks the SQLite file header). ")
    assert re.search(_recovery(path), message)
    assert "server.mlflow_tracking_uri in conf/base/mlflow.yml" in message
    (tmp_path / "folder.db").mkdir()
    with pytest.raises(MlflowStoreError, match="folder.db is a folder, not an SQLite database file"):
        check_store(tmp_path / "folder.db")


def test_a_malformed_database_is_named_with_how_to_recover(tmp_path):
    path = tmp_path / "mlflow.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, name TEXT)")
    connection.executemany("INSERT INTO runs (name) VALUES (?)", [(f"run {i}" * 20,) for i in range(3000)])
    connection.execute("CREATE INDEX by_name ON runs (name)")
    connection.commit()
    connection.close()
    data = bytearray(path.read_bytes())
    for offset in range(8192, len(data) - 4096, 4096 * 5):  # scribble over pages, keep the header
        data[offset + 100 : offset + 900] = bytes(range(200)) * 4
    path.write_bytes(bytes(data))
    with pytest.raises(MlflowStoreError) as info:
        check_store(path)
    assert str(info.value).startswith(f"The MLflow store {path} is a malformed SQLite database (")
    assert re.search(_recovery(path), str(info.value))


def test_a_read_only_store_or_folder_is_named(store, monkeypatch):
    real_access = os.access
    denied: set[str] = set()
    monkeypatch.setattr(mlflow_store.os, "access", lambda p, mode: False if str(p) in denied else real_access(p, mode))
    denied.add(str(store))
    with pytest.raises(MlflowStoreError, match=rf"{re.escape(str(store))} is read-only or unreadable\. Make it readable and writable \(chmod u\+rw "):
        check_store(store)
    denied.add(str(store.parent))
    with pytest.raises(MlflowStoreError, match=rf"{re.escape(str(store))} cannot be written: its folder {re.escape(str(store.parent))} is read-only"):
        check_store(store)


def test_sqlite_paths_are_read_as_sqlalchemy_reads_them(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert sqlite_path("sqlite:////abs/mlflow.db") == Path("/abs/mlflow.db")
    assert sqlite_path("sqlite:///mlflow.db") == tmp_path / "mlflow.db"
    assert sqlite_path("http://127.0.0.1:5000") is None and sqlite_path(None) is None


@pytest.mark.slow
def test_a_kedro_run_on_a_broken_store_stops_with_the_store_error_before_kedro_mlflow_opens_it(tmp_path, monkeypatch):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    store = tmp_path / "store" / "mlflow.db"
    store.parent.mkdir()
    store.write_bytes(b"\x00garbage" * 512)
    project = copy_project(tmp_path / "project", store)
    monkeypatch.chdir(project)
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    bootstrap_project(project)
    with pytest.raises(MlflowStoreError, match=f"The MLflow store {re.escape(str(store))} is not an SQLite database"):
        with KedroSession.create(project_path=project) as session:
            session.run(pipeline_names=["circles"])
    assert not (project / "data").exists()  # nothing ran


def _dead_process() -> tuple[int, str]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    identity = process_identity(child.pid)
    child.kill()
    child.wait()
    return child.pid, identity


def _run(client: MlflowClient, name: str, tags: dict[str, str]) -> str:
    experiment = client.get_experiment_by_name("causal_pima").experiment_id
    run = client.create_run(experiment, run_name=name, tags=tags)
    return run.info.run_id


def test_runs_of_dead_processes_are_marked_killed_and_live_foreign_or_untagged_ones_are_kept(store, caplog, monkeypatch):
    uri = f"sqlite:///{store}"
    client = MlflowClient(tracking_uri=uri)
    pid, identity = _dead_process()
    here = socket.gethostname()
    dead = _run(client, "killed", {TAG_PID: str(pid), TAG_HOST: here, TAG_PROCESS: identity})
    # the same pid number reused by another process (another start time) counts as dead too
    reused = _run(client, "reused pid", {TAG_PID: str(os.getpid()), TAG_HOST: here, TAG_PROCESS: identity})
    alive = _run(client, "live", process_tags())
    other_host = _run(client, "other host", {TAG_PID: str(pid), TAG_HOST: here + "-elsewhere", TAG_PROCESS: identity})
    untagged = _run(client, "legacy", {})
    current = _run(client, "current", {TAG_PID: str(pid), TAG_HOST: here, TAG_PROCESS: identity})
    finished = _run(client, "done", {TAG_PID: str(pid), TAG_HOST: here, TAG_PROCESS: identity})
    client.set_terminated(finished, "FINISHED")

    closed = close_stale_runs(uri, exclude_run_id=current)
    assert sorted(r.run_name for r in closed) == ["killed", "reused pid"]
    status = {run_id: client.get_run(run_id).info.status for run_id in (dead, reused, alive, other_host, untagged, current, finished)}
    assert status == {dead: "KILLED", reused: "KILLED", alive: "RUNNING", other_host: "RUNNING", untagged: "RUNNING",
                      current: "RUNNING", finished: "FINISHED"}
    assert client.get_run(dead).info.end_time is not None
    assert f"its process {pid} on {here} is gone" in client.get_run(dead).data.tags[TAG_STALE]
    assert f"MLflow run 'killed' ({dead}, experiment causal_pima) was still RUNNING: its process {pid} on {here} is gone; marked KILLED" in caplog.text

    # untagged runs: only with include_untagged, and only those started before this process
    assert close_stale_runs(uri, exclude_run_id=current, include_untagged=True) == []
    monkeypatch.setattr(mlflow_store, "_process_start_ms", lambda: int(time.time() * 1000) + 1000)
    closed = close_stale_runs(uri, exclude_run_id=current, include_untagged=True)
    assert [r.run_name for r in closed] == ["legacy"]
    assert client.get_run(untagged).info.status == "KILLED" and client.get_run(alive).info.status == "RUNNING"


def test_the_hook_tags_the_active_run_with_its_process_and_closes_stale_runs(store, monkeypatch):
    uri = f"sqlite:///{store}"
    client = MlflowClient(tracking_uri=uri)
    pid, identity = _dead_process()
    dead = _run(client, "killed", {TAG_PID: str(pid), TAG_HOST: socket.gethostname(), TAG_PROCESS: identity})
    current = client.get_run(_run(client, "current", {}))  # as kedro-mlflow's before_pipeline_run starts it
    # the fluent API's global state is left alone (other tests' sessions may hold an active run)
    monkeypatch.setattr(mlflow, "active_run", lambda: current)
    monkeypatch.setattr(mlflow, "get_tracking_uri", lambda: uri)
    MlflowStoreHook().before_pipeline_run(run_params={}, pipeline=None, catalog=None)
    tags = client.get_run(current.info.run_id).data.tags
    assert tags[TAG_PID] == str(os.getpid()) and tags[TAG_PROCESS] == process_identity(os.getpid())
    assert tags[TAG_HOST] == socket.gethostname()
    assert client.get_run(current.info.run_id).info.status == "RUNNING"
    assert client.get_run(dead).info.status == "KILLED"


def test_the_command_checks_the_store_and_closes_stale_runs(store, tmp_path, capsys):
    uri = f"sqlite:///{store}"
    client = MlflowClient(tracking_uri=uri)
    pid, identity = _dead_process()
    _run(client, "killed", {TAG_PID: str(pid), TAG_HOST: socket.gethostname(), TAG_PROCESS: identity})
    legacy = _run(client, "legacy", {})
    assert mlflow_store.main(["--check", "--close-stale", "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out
    assert f"MLflow store {store}: OK" in out and "1 stale RUNNING run(s) marked KILLED\n  killed (" in out
    assert "1 RUNNING run(s) carry no process tag" in out and f"legacy ({legacy})" in out
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"nope" * 100)
    assert mlflow_store.main(["--check", "--tracking-uri", f"sqlite:///{broken}"]) == 1
    assert f"The MLflow store {broken} is not an SQLite database" in capsys.readouterr().err


def test_a_busy_store_is_not_called_broken(store):
    """Issue 24, item 7: a store locked by another process is busy, not damaged: no advice to move it."""
    holder = sqlite3.connect(store)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(MlflowStoreError) as info:
            check_store(store)
    finally:
        holder.rollback()
        holder.close()
    message = str(info.value)
    assert message.startswith(f"The MLflow store {store} is busy: another process has held a lock on it")
    assert "do not move it" in message and "mv " not in message
    check_store(store)  # free again


def test_a_store_from_a_newer_mlflow_is_named_with_what_to_do(store):
    """Issue 24, item 7: an unknown schema revision used to end in Alembic's "Can't locate revision"."""
    connection = sqlite3.connect(store)
    connection.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    connection.commit()
    connection.close()
    with pytest.raises(MlflowStoreError, match=r"has the schema revision ffffffffffff, which the installed MLflow \S+ does "
                                                r"not know: a newer MLflow wrote it\. Install that MLflow"):
        check_store(store)
