"""One writing run per project at a time: an advisory lock on ``.run.lock`` in the project folder held for the run (issue 24, item 1).

Two runs in the same project write the same files (``data/``, ``mlflow.db``): a second run started
during the first one's pretraining rewrote the model input the first one then fitted on, and both
ended with rc 0. So every ``kedro run`` (a Kedro session's ``run``) takes an exclusive lock on
``<project>/.run.lock`` before any node, and any other hook, of the run, and a second run in the
same project stops at once with a message naming the run that holds it (its pid, pipelines and start
time, written into the lock file). Runs in different projects (a copy of the folder) do not wait for
each other.

Why an OS lock (``fcntl.flock``) rather than a file that says "busy": the kernel releases it when the
holding process ends, however it ends (kill -9 included), so a crashed run never leaves a stale
lock behind; the text in the file is only there to name the holder. ParallelRunner's worker
processes share the run's lock (they inherit its open file); only process 0 of a torchrun job takes
it (the other processes write nothing). Sessions that do not run a pipeline (kedro-viz, a notebook
that only loads the catalog, ``kedro catalog``) take no lock. Within one process the lock is
re-entrant: a notebook can run again after a run that stopped early. On a system without ``fcntl``
(Windows) no lock is taken and a warning says so.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from causal_pima.run_refusal import RunRefusedError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

logger = logging.getLogger(__name__)

LOCK_FILE = Path(".run.lock")  # in the project folder, beside data/ and mlflow.db: a lock, not an artifact


class RunLockError(RuntimeError, RunRefusedError):
    """Another run is writing to the same project."""


class ProjectRunLock:
    """An exclusive, non-blocking ``flock`` on one file, with a note naming the holder written into it.

    Args:
        path: the lock file (created with its folder when missing).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._handle = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def acquire(self, details: dict[str, Any]) -> None:
        """Take the lock and write ``details`` (with this pid) into the file; refuse if another process holds it.

        Raises:
            RunLockError: naming the holder's pid, pipelines and start time.
        """
        if fcntl is None:
            logger.warning("no run lock on this system (no fcntl): do not start two runs in %s at once", self.path.parent)
            return
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+")  # noqa: SIM115 - held open for the whole run
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                holder = handle.read()
                handle.close()
                raise RunLockError(busy_message(self.path, holder)) from None
            self._handle = handle
        self._handle.seek(0)
        self._handle.truncate()
        self._handle.write(json.dumps({"pid": os.getpid(), **details}, default=str))
        self._handle.flush()

    def release(self) -> None:
        """Release the lock (the file stays; its text no longer names a live holder once the lock is free)."""
        if self._handle is None:
            return
        try:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
        finally:
            self._handle.close()
            self._handle = None


def busy_message(path: Path, holder_text: str) -> str:
    """What a refused run prints: who holds the lock on ``path`` (from its JSON note) and what to do."""
    try:
        holder = json.loads(holder_text)
        who = (f"pid {holder.get('pid')}, pipelines {', '.join(holder.get('pipelines') or ['__default__'])}, "
               f"started {holder.get('started')}" + (f", command `{holder['command']}`" if holder.get("command") else ""))
    except (ValueError, AttributeError):
        who = "a process whose note could not be read"
    return (
        f"Another run is writing to this project ({who}; lock {path}). Two runs at once would mix their data "
        "(one run's model input under the other's fit), so this run stopped before doing anything. Wait for "
        "that run to end, or run in a copy of the project folder. The lock is the operating system's: it "
        "ends with its process, however that process ends, so there is nothing to delete."
    )


def lock_details(run_params: dict[str, Any]) -> dict[str, Any]:
    """The note written into the lock: pipelines, start time (UTC), command line, session id."""
    pipelines = run_params.get("pipeline_names") or ([run_params["pipeline_name"]] if run_params.get("pipeline_name") else None)
    return {
        "pipelines": list(pipelines or ["__default__"]),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else None,
        "session_id": run_params.get("run_id"),
    }


class RunLockHook:
    """Hold ``<project>/.run.lock`` from before the run's first hook to its end (see the module docstring)."""

    def __init__(self) -> None:
        self._locks: dict[Path, ProjectRunLock] = {}
        self._current: ProjectRunLock | None = None

    @hook_impl(wrapper=True, tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog):
        from causal_pima.torchrun_hook import torchrun_rank

        if torchrun_rank() == 0:
            path = (Path(run_params.get("project_path") or Path.cwd()) / LOCK_FILE).resolve()
            lock = self._locks.setdefault(path, ProjectRunLock(path))
            lock.acquire(lock_details(run_params))
            self._current = lock
        try:
            return (yield)
        except BaseException:  # a later before_pipeline_run hook refused the run: it ends here
            self._release()
            raise

    @hook_impl
    def after_pipeline_run(self, **kwargs: Any) -> None:
        self._release()

    @hook_impl
    def on_pipeline_error(self, **kwargs: Any) -> None:
        self._release()

    def _release(self) -> None:
        if self._current is not None:
            self._current.release()
            self._current = None
