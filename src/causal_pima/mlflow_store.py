"""Health of the embedded MLflow store (``mlflow.db``): a clear error for a broken store, and no run
left ``RUNNING`` forever by a killed ``kedro run``.

- :func:`check_store`: at the start of every Kedro session (before kedro-mlflow opens the store) the
  sqlite file of ``server.mlflow_tracking_uri`` is checked: a folder, a file that is not an SQLite
  database, a malformed database or a read-only file / folder stops the run with
  :class:`MlflowStoreError`, naming the file and how to recover (move it aside).
- :func:`close_stale_runs`: every run started by a Kedro run is tagged with the process that runs it
  (``causal_pima.pid``, ``causal_pima.host``, ``causal_pima.process``). At the start of the next run,
  runs still ``RUNNING`` whose process on this host is gone are marked ``KILLED`` (and tagged
  ``causal_pima.stale``), with a warning naming them. Runs of live processes (a concurrent
  ``kedro run``) and runs of other hosts are never touched.
- The same by hand, without a Kedro run::

      python -m causal_pima.mlflow_store --check
      python -m causal_pima.mlflow_store --close-stale [--include-untagged]

  ``--include-untagged`` also closes ``RUNNING`` runs that carry no process tag (runs made before
  this check existed, or by other tools) and started before this command: make sure no other run is
  going on.

The checks use the MLflow client API (``search_runs``, ``set_terminated``); only the store's health
check opens the sqlite file directly, read-only apart from an immediately rolled-back write probe.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sqlite3
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from kedro.framework.hooks import hook_impl

from causal_pima.project_path import project_root, set_session_project

logger = logging.getLogger(__name__)

TAG_PID, TAG_HOST, TAG_PROCESS, TAG_STALE = "causal_pima.pid", "causal_pima.host", "causal_pima.process", "causal_pima.stale"
MLFLOW_CONFIG_PATTERNS = ["mlflow*", "mlflow*/**", "**/mlflow*"]  # as kedro-mlflow registers them
SQLITE_HEADER = b"SQLite format 3\x00"


class MlflowStoreError(RuntimeError):
    """The MLflow store cannot be used; the message names the file and how to recover."""


def sqlite_path(tracking_uri: str | None) -> Path | None:
    """The database file of a ``sqlite:///<path>`` tracking URI, as SQLAlchemy reads it (``sqlite:////abs``
    is absolute, ``sqlite:///rel`` relative to the working directory); ``None`` for other stores."""
    prefix = "sqlite:///"
    if not tracking_uri or not str(tracking_uri).startswith(prefix):
        return None
    raw = unquote(str(tracking_uri)[len(prefix):].split("?", 1)[0])
    if not raw or raw == ":memory:":
        return None
    path = Path(raw)
    return path if path.is_absolute() else Path.cwd() / path


_WHERE = "The store is set by server.mlflow_tracking_uri in conf/base/mlflow.yml (override it in conf/local/mlflow.yml)."


def _error(path: Path, problem: str, fix: str = "") -> MlflowStoreError:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return MlflowStoreError(
        f"The MLflow store {path} {problem}. {fix}To recover, move it aside and run again (a new, empty store is "
        "created; the old runs stay in the moved file, the run artifacts where they are):\n"
        f"    mv {path} {path}.broken-{stamp}\n{_WHERE}"
    )


def check_store(path: Path) -> None:
    """Raise :class:`MlflowStoreError` if the sqlite store at ``path`` cannot be read and written.

    A missing file is fine (MLflow creates it) if its folder exists and is writable. A write lock
    held by a concurrent run is not an error.
    """
    if path.is_dir():
        raise _error(path, "is a folder, not an SQLite database file")
    folder = path.parent
    if not folder.is_dir():
        raise MlflowStoreError(f"The MLflow store {path} cannot be created: its folder {folder} does not exist "
                               "(server.mlflow_tracking_uri in conf/base/mlflow.yml or conf/local/mlflow.yml).")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise MlflowStoreError(
            f"The MLflow store {path} cannot be written: its folder {folder} is read-only (SQLite writes a journal "
            f"there). Make the folder writable (chmod u+w {folder}; remount it read-write if the file system is "
            f"read-only), or point the store at a writable folder. {_WHERE}"
        )
    if not path.exists():
        return
    if not os.access(path, os.R_OK | os.W_OK):
        raise _error(path, "is read-only or unreadable", f"Make it readable and writable (chmod u+rw {path}) and run again. ")
    with path.open("rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header and header != SQLITE_HEADER:
        raise _error(path, "is not an SQLite database (it lacks the SQLite file header)")
    try:
        connection = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=5)
    except sqlite3.Error as exc:
        raise _error(path, f"cannot be opened ({exc})") from exc
    try:
        result = connection.execute("PRAGMA quick_check").fetchall()
        if [tuple(row) for row in result] != [("ok",)]:
            detail = "; ".join(str(row[0]) for row in result[:3])
            raise _error(path, f"is a malformed SQLite database (integrity check: {detail})")
        try:  # a write probe, rolled back at once: a read-only file system or file shows here
            connection.execute("BEGIN IMMEDIATE")
            connection.rollback()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                logger.info("MLflow store %s is busy (another run is writing): not probed for writing", path)
            else:
                raise
        _check_schema_revision(connection, path)
    except sqlite3.DatabaseError as exc:
        message = str(exc)
        if "locked" in message or "busy" in message:
            raise MlflowStoreError(
                f"The MLflow store {path} is busy: another process has held a lock on it for more than 5 seconds "
                "(another kedro run, a benchmark or the MLflow UI writing to it). The file is not damaged: do not move "
                "it. Wait for that process to finish, then run again."
            ) from exc
        if "not a database" in message:
            problem = f"is not an SQLite database ({message})"
        elif "malformed" in message:
            problem = f"is a malformed SQLite database ({message})"
        elif "readonly" in message or "read-only" in message:
            problem = f"is read-only ({message}; a read-only file system?)"
        else:
            problem = f"cannot be used ({message})"
        raise _error(path, problem) from exc
    finally:
        connection.close()


def _check_schema_revision(connection: sqlite3.Connection, path: Path) -> None:
    """A store whose schema revision the installed MLflow does not know (written by a newer MLflow)
    is named with what to do, instead of Alembic's "Can't locate revision"."""
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:  # no such table: a new store, MLflow creates its tables
        return
    if row is None:
        return
    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import _get_alembic_config

    script = ScriptDirectory.from_config(_get_alembic_config(f"sqlite:///{path}"))
    if row[0] not in {revision.revision for revision in script.walk_revisions()}:
        raise MlflowStoreError(
            f"The MLflow store {path} has the schema revision {row[0]}, which the installed MLflow {mlflow_version()} "
            "does not know: a newer MLflow wrote it. Install that MLflow version (or newer) in this environment, or "
            f"point this project at another store; the file is not damaged, do not move it. {_WHERE}"
        )


def mlflow_version() -> str:
    from importlib.metadata import version

    return version("mlflow")


# ---------------------------------------------------------------------------- stale RUNNING runs
def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_identity(pid: int) -> str | None:
    """``<boot id>:<start time>`` of a live process (Linux), so that a reused pid is not taken for it;
    ``None`` where ``/proc`` has no such process or is not available."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return f"{_boot_id()}:{fields[19]}"  # field 22 of proc(5): start time after boot


def process_alive(pid: int, identity: str | None) -> bool:
    """Whether the process ``pid`` (with ``identity`` from :func:`process_identity`) still runs."""
    if identity and Path("/proc/self/stat").exists():
        return process_identity(pid) == identity
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_tags() -> dict[str, str]:
    """The tags that identify this process on a run."""
    pid = os.getpid()
    return {TAG_PID: str(pid), TAG_HOST: socket.gethostname(), TAG_PROCESS: process_identity(pid) or ""}


@dataclass
class StaleRun:
    run_id: str
    run_name: str
    experiment: str
    reason: str


def _process_start_ms() -> int:
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return int((time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")) * 1000)
    except (OSError, ValueError, IndexError):
        return int(time.time() * 1000)


def find_stale_runs(client, exclude_run_id: str | None = None, include_untagged: bool = False,
                    untagged_started_before_ms: int | None = None) -> list[StaleRun]:
    """``RUNNING`` runs whose process is gone (this host only); with ``include_untagged`` also runs
    without process tags that started before this process (or ``untagged_started_before_ms``)."""
    host = socket.gethostname()
    started = _process_start_ms() if untagged_started_before_ms is None else untagged_started_before_ms
    experiments = {e.experiment_id: e.name for e in client.search_experiments()}
    stale: list[StaleRun] = []
    if not experiments:
        return stale
    token = None
    while True:
        page = client.search_runs(list(experiments), filter_string="attributes.status = 'RUNNING'", max_results=1000, page_token=token)
        for run in page:
            if run.info.run_id == exclude_run_id:
                continue
            tags = run.data.tags
            name = run.info.run_name or ""
            experiment = experiments.get(run.info.experiment_id, run.info.experiment_id)
            if TAG_PID in tags:
                if tags.get(TAG_HOST) != host:
                    continue
                pid = int(tags[TAG_PID])
                if process_alive(pid, tags.get(TAG_PROCESS) or None):
                    continue
                stale.append(StaleRun(run.info.run_id, name, experiment, f"its process {pid} on {host} is gone"))
            elif include_untagged and (run.info.start_time or 0) < started:
                stale.append(StaleRun(run.info.run_id, name, experiment,
                                      "it has no process tag and started before this process (--include-untagged)"))
        token = page.token
        if not token:
            return stale


def close_stale_runs(tracking_uri: str, exclude_run_id: str | None = None, include_untagged: bool = False,
                     status: str = "KILLED") -> list[StaleRun]:
    """Mark stale ``RUNNING`` runs (see :func:`find_stale_runs`) as ``status``; returns them."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    stale = find_stale_runs(client, exclude_run_id, include_untagged)
    for run in stale:
        client.set_tag(run.run_id, TAG_STALE, f"marked {status} at {time.strftime('%Y-%m-%d %H:%M:%S')}: {run.reason}")
        client.set_terminated(run.run_id, status=status)
        logger.warning("MLflow run '%s' (%s, experiment %s) was still RUNNING: %s; marked %s",
                       run.run_name, run.run_id, run.experiment, run.reason, status)
    return stale


# ---------------------------------------------------------------------------- Kedro hook
def _mlflow_config(context) -> dict[str, Any]:
    loader = context.config_loader
    patterns = getattr(loader, "config_patterns", None)
    if patterns is not None and "mlflow" not in patterns:
        patterns.update({"mlflow": list(MLFLOW_CONFIG_PATTERNS)})
    try:
        return loader["mlflow"] or {}
    except Exception:  # no mlflow.yml: kedro-mlflow's defaults (its own file store), nothing to check here
        return {}


class MlflowStoreHook:
    """Checks the store before kedro-mlflow opens it; tags runs with their process and closes stale ones."""

    def __init__(self) -> None:
        self._tracking_uri: str | None = None

    @hook_impl(tryfirst=True)  # before kedro-mlflow's after_context_created, which opens the store
    def after_context_created(self, context) -> None:
        # ${project_root:} in mlflow.yml is this session's project (causal_pima.project_path)
        set_session_project(getattr(context, "project_path", None))
        uri = ((_mlflow_config(context).get("server") or {}).get("mlflow_tracking_uri"))
        self._tracking_uri = uri
        path = sqlite_path(uri)
        if path is not None:
            check_store(path)

    @hook_impl(trylast=True)  # after kedro-mlflow's before_pipeline_run, which starts the run
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        try:
            import mlflow
            from mlflow.tracking import MlflowClient
        except ImportError:  # pragma: no cover - mlflow is a declared dependency
            return
        active = mlflow.active_run()
        uri = mlflow.get_tracking_uri() if active is not None else self._tracking_uri
        if active is not None:
            client = MlflowClient(tracking_uri=uri)
            for key, value in process_tags().items():
                client.set_tag(active.info.run_id, key, value)
        if not uri or sqlite_path(uri) is None:
            return
        try:
            close_stale_runs(uri, exclude_run_id=active.info.run_id if active is not None else None)
        except Exception as exc:  # never fail a run over this housekeeping
            logger.warning("could not check the MLflow store for stale RUNNING runs: %s", exc)


# ---------------------------------------------------------------------------- command line
def _project_tracking_uri() -> str:
    from causal_pima.config_loader import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS

    with warnings.catch_warnings():  # omegaconf's resolver-registration deprecation notes
        warnings.simplefilter("ignore")
        loader = CONFIG_LOADER_CLASS(
            conf_source=str(project_root() / "conf"),
            **CONFIG_LOADER_ARGS,
            config_patterns={"mlflow": list(MLFLOW_CONFIG_PATTERNS)},
        )
        return loader["mlflow"]["server"]["mlflow_tracking_uri"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m causal_pima.mlflow_store", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracking-uri", help="default: server.mlflow_tracking_uri of the project's conf (mlflow.db)")
    parser.add_argument("--check", action="store_true", help="check that the sqlite store can be read and written")
    parser.add_argument("--close-stale", action="store_true", help="mark RUNNING runs whose process is gone as KILLED")
    parser.add_argument("--include-untagged", action="store_true",
                        help="with --close-stale: also RUNNING runs without a process tag (make sure no other run is going on)")
    args = parser.parse_args(argv)
    if not (args.check or args.close_stale):
        parser.error("give --check and/or --close-stale")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    uri = args.tracking_uri or _project_tracking_uri()
    path = sqlite_path(uri)
    try:
        if path is not None:
            check_store(path)
            print(f"MLflow store {path}: OK")
    except MlflowStoreError as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.close_stale:
        closed = close_stale_runs(uri, include_untagged=args.include_untagged)
        print(f"{len(closed)} stale RUNNING run(s) marked KILLED" + "".join(f"\n  {r.run_name} ({r.run_id}): {r.reason}" for r in closed))
        if not args.include_untagged:
            from mlflow.tracking import MlflowClient

            untagged = find_stale_runs(MlflowClient(tracking_uri=uri), include_untagged=True, untagged_started_before_ms=2**62)
            if untagged:
                print(f"{len(untagged)} RUNNING run(s) carry no process tag (made before this check, or by other tools), "
                      "so whether their process is gone is unknown: if no other run is going on, close them with "
                      "--close-stale --include-untagged" + "".join(f"\n  {r.run_name} ({r.run_id})" for r in untagged))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
