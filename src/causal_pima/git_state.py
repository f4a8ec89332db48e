"""The git commit and dirty state of a project checkout, as MLflow tags (the run's tags,
``run_naming``; the benchmark's header line, ``pipelines/benchmark/run_info.py``).

Imports nothing of the project, so a pipeline and a hook may both use it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

GIT_COMMIT_TAG = "mlflow.source.git.commit"


def git_tags(project_path: str | Path) -> dict[str, str]:
    """``mlflow.source.git.commit`` and ``git_dirty`` of a git checkout; ``{}`` elsewhere (a packaged run)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project_path, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=project_path,
                                capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {GIT_COMMIT_TAG: commit, "git_dirty": str(bool(status)).lower()} if commit else {}
