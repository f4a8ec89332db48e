"""Raw data sets published as one unit: a checksum file, written last, verified on every load.

A *raw set* is a folder whose files are written by one run of one pipeline and must only ever be used
together (circles: ``features.csv``, ``specimens.npz``, ``true_dag.json``; the lattice stand-in: the
specimen manifest with its images and curves, and ``true_dag.json``). Each catalog entry of the set is
a *member*; a member may own one file or many (a manifest and every file it references).

Protocol (``checksums.json`` in the set's folder):

1. Before a member writes anything, the checksum file is set to ``state: writing`` with a token of
   this run (process). From then on no load outside this run accepts any member of the set.
2. Every file is written atomically (temporary file + rename); its sha256 is recorded under its member.
3. When every expected member has been written by this run, ``state`` becomes ``complete``.

On load, a member is accepted only if the set is complete and each of its files has the recorded sha256
(or the set is being written by this very run and the member was written by it, so a pipeline can
read what it has just written). A run killed half-way therefore leaves a set that every later load
refuses with a message naming the folder and which files were and were not rewritten; a file changed
or replaced afterwards is refused naming the file and both checksums. Temporary files of interrupted
writes (``.<name>.<random>.tmp``) are never read and are removed when the set is written again.

A folder without a checksum file (data placed there by hand) is refused when ``require_checksums``
is true and accepted unverified otherwise. Local file system only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kedro.io import DatasetError

from causal_pima.datasets.atomic import atomic_write

logger = logging.getLogger(__name__)

CHECKSUM_FILE = "checksums.json"
FORMAT = 1

# One token per process: a set being written by this process may be read back by it.
RUN_TOKEN = f"pid {os.getpid()} {uuid.uuid4().hex[:12]}"
_LOCK = threading.RLock()
# Files this process wrote: resolved path -> (sha256, size, mtime_ns, inode). Lets a run read back
# what it has just written without hashing it again; any later change of the file shows in its stat.
_WRITTEN: dict[str, tuple[str, int, int, int]] = {}


class RawSetError(DatasetError):
    """A raw set is incomplete, mixed or changed since it was written."""


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def remember_written(path: str | Path, sha256: str) -> None:
    """Note that this process has just written ``path`` with content ``sha256``."""
    stat = os.stat(path)
    with _LOCK:
        _WRITTEN[str(Path(path).resolve())] = (sha256, stat.st_size, stat.st_mtime_ns, stat.st_ino)


def current_sha256(path: str | Path) -> str:
    """sha256 of a file; not re-hashed when this process wrote it and its stat is unchanged."""
    stat = os.stat(path)
    known = _WRITTEN.get(str(Path(path).resolve()))
    if known is not None and known[1:] == (stat.st_size, stat.st_mtime_ns, stat.st_ino):
        return known[0]
    return sha256_file(path)


def remove_orphan_temp_files(directory: str | Path) -> list[str]:
    """Delete the temporary files that interrupted atomic writes left in ``directory``."""
    directory = Path(directory)
    removed = []
    if directory.is_dir():
        for path in directory.glob(".*.tmp"):
            if path.is_file() and not path.is_symlink():
                path.unlink(missing_ok=True)
                removed.append(path.name)
    if removed:
        logger.info(
            "removed %d temporary file(s) of an interrupted write in %s", len(removed), directory
        )
    return removed


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RawSet:
    """The checksum file of one raw set folder (see the module docstring).

    Args:
        folder: the set's folder (holds ``checksums.json``).
        members: names of every member of the set (each member's key in the checksum file).
        require_checksums: refuse a folder without a checksum file (else accept it unverified).
        rewrite_with: the command that writes the set again, quoted in error messages.
    """

    def __init__(
        self,
        folder: str | Path,
        members: Sequence[str],
        require_checksums: bool = True,
        rewrite_with: str | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.members = list(dict.fromkeys(members))
        self.require_checksums = require_checksums
        self.rewrite_with = rewrite_with

    @property
    def checksum_path(self) -> Path:
        return self.folder / CHECKSUM_FILE

    # ------------------------------------------------------------------ reading the checksum file

    def read(self) -> dict[str, Any] | None:
        path = self.checksum_path
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text())
            if not isinstance(record, dict) or record.get("state") not in ("writing", "complete"):
                raise ValueError("no 'state' of 'writing' or 'complete'")
            if not isinstance(record.get("members"), dict):
                raise ValueError("no 'members' table")
        except (OSError, ValueError) as exc:
            raise RawSetError(
                f"the set of files in {self.folder}: its checksum file {path} cannot be read ({exc}). "
                f"{self._hint()}"
            ) from exc
        return record

    def _write(self, record: Mapping[str, Any]) -> None:
        text = json.dumps(record, indent=1, sort_keys=True)
        atomic_write(self.checksum_path, lambda tmp: tmp.write_text(text))

    # ------------------------------------------------------------------ writing a member

    def begin_write(self, member: str) -> None:
        """Mark the set as being written by this run (before ``member`` writes any file)."""
        with _LOCK:
            record = self.read_quietly()
            ours = (
                record is not None
                and record["state"] == "writing"
                and record.get("run") == RUN_TOKEN
            )
            if not ours:
                previous = None
                if record is not None:
                    previous = (
                        record["members"]
                        if record["state"] == "complete"
                        else record.get("previous")
                    )
                record = {
                    "format": FORMAT,
                    "state": "writing",
                    "run": RUN_TOKEN,
                    "started": _now(),
                    "finished": None,
                    "expected": list(self.members),
                    "members": {},
                    "previous": previous,
                }
                self.folder.mkdir(parents=True, exist_ok=True)
                remove_orphan_temp_files(self.folder)
            record["members"].pop(member, None)
            record["expected"] = list(dict.fromkeys([*record.get("expected", []), *self.members]))
            self._write(record)

    def finish_write(self, member: str, files: Mapping[str, str]) -> None:
        """Record the files (relative path -> sha256) of ``member``; complete the set if it is whole."""
        with _LOCK:
            record = self.read_quietly()
            if record is None or record["state"] != "writing" or record.get("run") != RUN_TOKEN:
                raise RawSetError(
                    f"the set of files in {self.folder}: another run started writing it while '{member}' was "
                    f"being written ({self.checksum_path} changed); write it again. {self._hint()}"
                )
            record["members"][member] = dict(files)
            if all(name in record["members"] for name in record["expected"]):
                record["state"] = "complete"
                record["finished"] = _now()
                record.pop("previous", None)
            self._write(record)
        if record["state"] == "complete":
            n_files = sum(len(v) for v in record["members"].values())
            logger.info(
                "the set of files in %s is complete: %d file(s) recorded in %s",
                self.folder,
                n_files,
                self.checksum_path,
            )

    def forget(self) -> None:
        """Remove the checksum file (the folder is about to be written without checksums)."""
        with _LOCK:
            self.checksum_path.unlink(missing_ok=True)

    def read_quietly(self) -> dict[str, Any] | None:
        try:
            return self.read()
        except RawSetError:
            return None  # an unreadable checksum file is replaced by a new write

    # ------------------------------------------------------------------ loading a member

    def verify(self, member: str) -> dict[str, str] | None:
        """Check ``member`` before it is loaded; its recorded files, or ``None`` if the folder has none.

        Raises:
            RawSetError: the set is incomplete (an interrupted or unfinished write), the member is not
                recorded, or one of its files is missing or has another sha256 than recorded.
        """
        record = self.read()
        if record is None:
            if self.require_checksums:
                raise RawSetError(
                    f"the set of files in {self.folder} has no checksum file {self.checksum_path}, so it was "
                    "not completely written by this project's pipeline (an interrupted or older write) "
                    f"and its files may come from different runs. {self._hint()}"
                )
            logger.info(
                "%s has no %s: its files are not verified (data placed there by hand)",
                self.folder,
                CHECKSUM_FILE,
            )
            return None
        members = record["members"]
        if record["state"] != "complete":
            if not (record.get("run") == RUN_TOKEN and member in members):
                raise RawSetError(self._incomplete_message(record, member))
        elif member not in members:
            raise RawSetError(
                f"the set of files in {self.folder}: '{member}' is not recorded in its checksum file "
                f"{self.checksum_path} (it holds {sorted(members)}), so it was not written with this "
                f"set. {self._hint()}"
            )
        files = members[member]
        problems = []
        for relative, expected in files.items():
            path = self.folder / relative
            if not path.is_file():
                problems.append(f"{relative}: missing")
                continue
            found = current_sha256(path)
            if found != expected:
                problems.append(f"{relative}: sha256 {found[:12]}..., recorded {expected[:12]}...")
        if problems:
            shown = "; ".join(problems[:5]) + ("; ..." if len(problems) > 5 else "")
            raise RawSetError(
                f"the set of files in {self.folder} does not match its checksum file {self.checksum_path}: "
                f"{len(problems)} of the {len(files)} file(s) of '{member}' differ ({shown}). They were "
                f"changed or replaced after the set was written. {self._hint(edited=True)}"
            )
        return dict(files)

    def _incomplete_message(self, record: Mapping[str, Any], member: str) -> str:
        written = sorted(record["members"])
        missing = [m for m in record.get("expected", self.members) if m not in record["members"]]
        return (
            f"the set of files in {self.folder} is incomplete: a write started at {record.get('started')} "
            f"({record.get('run')}) did not finish (rewritten: {', '.join(written) or 'nothing yet'}; "
            f"not rewritten: {', '.join(missing) or 'none'}; state 'writing' in {self.checksum_path}). "
            f"'{member}' is refused so that files of different runs are never used together. "
            f"{self._hint()}"
        )

    def _hint(self, edited: bool = False) -> str:
        command = f"`{self.rewrite_with}`" if self.rewrite_with else "the pipeline that produces it"
        text = f"Write the set again with {command}."
        if edited and not self.require_checksums:
            text += f" If you changed the files on purpose, delete {self.checksum_path}."
        return text
