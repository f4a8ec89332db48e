"""The project's own wheel, built from the source tree that is running, cached by a hash of that source.

The logged MLflow model (:mod:`causal_pima.mlflow_model`) carries this wheel so that its
``requirements.txt`` installs ``causal_pima`` anywhere. :func:`project_wheel` builds it with the
``build`` frontend (the one ``kedro package`` uses), without build isolation (setuptools and wheel
are already in the environment), from a copy of ``pyproject.toml``, ``README.md`` and ``src/`` in a
temporary folder, so the source tree gets no build files and two processes never build in the same
folder. A build takes about 1.5 s; the wheel is kept under ``<project>/.build-wheel/mlflow_model/<hash>/``
and reused while the source is unchanged.

When ``causal_pima`` runs from an installed wheel (no source tree above the package), there is
nothing to build: :func:`source_root` is None and the model pins ``causal_pima==<version>`` instead.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import tomllib
import warnings
from pathlib import Path

import causal_pima

PACKAGE = "causal_pima"
CACHE_FOLDER = Path(".build-wheel") / "mlflow_model"
_PROJECT_FILES = ("pyproject.toml", "README.md")


def source_root() -> Path | None:
    """The folder of the ``pyproject.toml`` that builds the running ``causal_pima`` (``<root>/src/causal_pima``), or None."""
    root = Path(causal_pima.__file__).resolve().parent.parent.parent
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return None
    with pyproject.open("rb") as handle:
        name = tomllib.load(handle).get("project", {}).get("name")
    return root if name == PACKAGE else None


def _source_files(root: Path) -> list[Path]:
    """The files a wheel is built from, relative to ``root``, sorted (no ``__pycache__``, no egg-info)."""
    files = [Path(name) for name in _PROJECT_FILES if (root / name).is_file()]
    package = root / "src" / PACKAGE
    files += sorted(p.relative_to(root) for p in package.rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"))
    return files


def source_hash(root: Path) -> str:
    """sha256 (first 16 hex digits) over the names and contents of :func:`_source_files`."""
    digest = hashlib.sha256()
    for relative in _source_files(root):
        digest.update(relative.as_posix().encode() + b"\0" + (root / relative).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build_wheel(root: Path, out_dir: Path) -> Path:
    """Build the wheel of the project at ``root`` into ``out_dir`` and return its path."""
    from build import ProjectBuilder
    from pyproject_hooks import BuildBackendWarning, quiet_subprocess_runner

    with tempfile.TemporaryDirectory(prefix="causal_pima_wheel_") as staging:
        staging = Path(staging)
        for relative in _source_files(root):
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / relative, target)
        builder = ProjectBuilder(staging, python_executable=sys.executable, runner=quiet_subprocess_runner)
        with warnings.catch_warnings():  # setuptools' note that [tool.distutils] is experimental, once per build
            warnings.simplefilter("ignore", BuildBackendWarning)
            return Path(builder.build("wheel", str(out_dir)))


def project_wheel(root: Path | None = None) -> Path:
    """The wheel of ``root`` (default :func:`source_root`), built once per source hash and cached.

    Raises FileNotFoundError when there is no source tree to build from.
    """
    root = root if root is not None else source_root()
    if root is None:
        raise FileNotFoundError(f"{PACKAGE} runs from {Path(causal_pima.__file__).parent}, not from a source tree with a "
                                "pyproject.toml: there is no wheel to build (install it from its wheel instead)")
    cache = root / CACHE_FOLDER / source_hash(root)
    found = sorted(cache.glob(f"{PACKAGE}-*.whl"))
    if found:
        return found[0]
    cache.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{cache.name}.", dir=cache.parent))
    try:
        build_wheel(root, building)
        os.replace(building, cache)  # atomic: a concurrent build of the same source may have won
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return sorted(cache.glob(f"{PACKAGE}-*.whl"))[0]
