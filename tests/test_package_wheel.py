"""The project's wheel for the MLflow model: built from a copy of the source, cached by the source's hash."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from causal_pima.package_wheel import CACHE_FOLDER, project_wheel, source_hash, source_root


def _copy_project(root: Path, target: Path) -> Path:
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(root / name, target / name)
    shutil.copytree(root / "src" / "causal_pima", target / "src" / "causal_pima", ignore=shutil.ignore_patterns("__pycache__"))
    return target


def test_the_wheel_is_built_once_per_source_hash_and_holds_the_source(tmp_path):
    root = source_root()
    assert root is not None and (root / "src" / "causal_pima").is_dir()
    project = _copy_project(root, tmp_path)
    first = project_wheel(project)
    assert first.parent == project / CACHE_FOLDER / source_hash(project) and first.name == "causal_pima-0.1.0-py3-none-any.whl"
    assert not (project / "src" / "causal_pima.egg-info").exists()  # built from a copy: the source tree is left as it was
    stamp = first.stat().st_mtime_ns
    assert project_wheel(project) == first and first.stat().st_mtime_ns == stamp  # cached: not built again

    (project / "src" / "causal_pima" / "__pycache__").mkdir()
    (project / "src" / "causal_pima" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert project_wheel(project) == first  # compiled files are not source
    module = project / "src" / "causal_pima" / "run_naming.py"
    module.write_text(module.read_text() + "\nMARK = 1\n")
    second = project_wheel(project)
    assert second != first and second.parent.name == source_hash(project) != first.parent.name
    with zipfile.ZipFile(second) as archive:
        assert archive.read("causal_pima/run_naming.py").decode().endswith("\nMARK = 1\n")


def test_an_installed_package_has_no_source_tree_and_the_model_pins_its_version(tmp_path, monkeypatch):
    import causal_pima
    from causal_pima.mlflow_model import model_requirements

    installed = tmp_path / "site-packages" / "causal_pima" / "__init__.py"
    installed.parent.mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n')  # not ours: ignored
    monkeypatch.setattr(causal_pima, "__file__", str(installed))
    assert source_root() is None
    with pytest.raises(FileNotFoundError, match=r"site-packages/causal_pima, not from a source tree"):
        project_wheel()
    assert model_requirements(None)[0] == "causal_pima==0.1.0"
