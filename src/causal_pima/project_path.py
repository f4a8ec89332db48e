"""Where the running project lives (the folder of ``conf/``, ``data/`` and the MLflow store).

Not the installed package's folder: with a wheel (``kedro package``, ``pip install .``) the package
sits in site-packages, and a store built from ``Path(__file__)`` landed there (issue 11, item 3).
The project is, in this order:

1. the environment variable ``CAUSAL_PIMA_PROJECT`` (a folder), when set;
2. the project path of the running Kedro session (recorded by ``MlflowStoreHook.after_context_created``
   before kedro-mlflow reads ``conf/base/mlflow.yml``);
3. the Kedro project holding the working directory (``find_kedro_project``: the folder, or a parent,
   with a ``pyproject.toml`` that has ``[tool.kedro]``);
4. the working directory if it holds ``conf/base`` (a packaged project's run folder).

Otherwise :class:`ProjectNotFoundError` says to run in the project folder.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "CAUSAL_PIMA_PROJECT"

_session_project: Path | None = None


class ProjectNotFoundError(RuntimeError):
    """No Kedro project (conf/ folder) was found for this run."""


def set_session_project(path: str | Path | None) -> None:
    """Record the project path of the Kedro session that is starting (``None`` forgets it)."""
    global _session_project
    _session_project = Path(path).resolve() if path is not None else None


def find_project(cwd: str | Path | None = None) -> Path | None:
    """The project folder for ``cwd`` (default: the working directory) without the session or the
    environment variable: the Kedro project holding it, else ``cwd`` if it holds ``conf/base``."""
    from kedro.utils import find_kedro_project

    here = Path(cwd if cwd is not None else Path.cwd()).resolve()
    found = find_kedro_project(here)
    if found is not None:
        return Path(found).resolve()
    if (here / "conf" / "base").is_dir():
        return here
    return None


def not_found_message(cwd: str | Path | None = None) -> str:
    here = Path(cwd if cwd is not None else Path.cwd()).resolve()
    return (
        f"No causal-pima project found in {here} or its parents (a folder with conf/base/ or a pyproject.toml "
        "with [tool.kedro]). Run causal-pima (or kedro run) in the project folder, the one holding conf/ and "
        f"data/, or set {ENV_VAR}=/path/to/the/project."
    )


def project_root(cwd: str | Path | None = None) -> Path:
    """The project folder of this run (see the module docstring for the order)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    if _session_project is not None:
        return _session_project
    found = find_project(cwd)
    if found is None:
        raise ProjectNotFoundError(not_found_message(cwd))
    return found
