"""The import graph of ``src/causal_pima`` (issue 21, item 4): no cycle, and no import that runs upward
through the layers of docs/architecture.md ("Layers").

Every module is parsed with ``ast`` (imports inside functions and ``TYPE_CHECKING`` blocks included:
a deferred import is still a dependency); an edge joins a module to each project module it imports.
The layer of a module is that of its top-level name below ``causal_pima`` (``pipelines`` for
``causal_pima.pipelines.benchmark.shape``). A module may import its own layer and the layers below.
Within ``pipelines`` a folder does not import another folder (docs/architecture.md): checked too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "causal_pima"

# the layers, lowest first (docs/architecture.md "Layers"); every top-level name of the package is listed
LAYERS: tuple[tuple[str, ...], ...] = (
    ("", "core"),  # "": the package itself (causal_pima/__init__.py, its version); core: plain PyTorch and numpy
    ("data",),  # generators, ingestion and processing, no Kedro
    ("evaluation", "plots", "model_input", "datasets"),  # metrics, figures, the model-input bridge, Kedro datasets
    # helpers that import nothing of the project: where the project is, the run refusals' base, the git state
    ("project_path", "run_refusal", "git_state"),
    ("pipelines",),  # one folder per pipeline, their shared namespaces and parameter names
    # Kedro's entry points, hooks, the configuration and its schemas, MLflow, the command-line tools
    ("config_loader", "session_parameters", "parameter_schemas", "validation_hook", "benchmark_shape", "manifest_datasets",
     "run_inputs", "run_lock", "run_naming", "run_summary", "torchrun_hook", "log_config", "hooks", "mlflow_inputs",
     "mlflow_model", "mlflow_parallel", "mlflow_store", "package_wheel", "benchmark_check", "readme_tables", "side_by_side",
     "pipeline_registry", "settings", "__main__"),
)
LAYER_OF = {name: level for level, names in enumerate(LAYERS) for name in names}


def module_files(src: Path = SRC, package: str = PACKAGE) -> dict[str, Path]:
    """``{dotted module name: file}`` for every ``.py`` file of the package."""
    modules = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def import_graph(modules: dict[str, Path]) -> nx.DiGraph:
    """Module -> every project module it imports (``from a.b import c`` is ``a.b.c`` when that is a module)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for item in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(item, ast.Import):
                targets = [alias.name for alias in item.names]
            elif isinstance(item, ast.ImportFrom):
                base = item.module or ""
                if item.level:
                    parts = name.split(".") if is_package else name.split(".")[:-1]
                    parts = parts[: len(parts) - (item.level - 1)]
                    base = ".".join([*parts, base] if base else parts)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in item.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph.add_edge(name, target, line=item.lineno)
    return graph


def top_name(module: str) -> str:
    """``pipelines`` for ``causal_pima.pipelines.benchmark.shape``, ``""`` for ``causal_pima``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def upward_imports(graph: nx.DiGraph) -> list[str]:
    """``importer:line -> imported (layer i -> layer j)`` for every import into a higher layer."""
    found = []
    for importer, imported, data in graph.edges(data=True):
        low, high = LAYER_OF[top_name(importer)], LAYER_OF[top_name(imported)]
        if high > low:
            found.append(f"{importer}:{data['line']} -> {imported} (layer {low} -> {high})")
    return sorted(found)


def cross_pipeline_imports(graph: nx.DiGraph) -> list[str]:
    """Imports from one pipeline folder into another (``causal_pima.pipelines.<folder>``)."""
    def folder(module: str) -> str | None:
        parts = module.split(".")
        return parts[2] if len(parts) > 3 and parts[1] == "pipelines" else None

    return sorted(f"{a} -> {b}" for a, b in graph.edges if folder(a) and folder(b) and folder(a) != folder(b))


@pytest.fixture(scope="module")
def graph() -> nx.DiGraph:
    return import_graph(module_files())


def test_every_top_level_module_has_a_layer(graph):
    unplaced = sorted({top_name(m) for m in graph} - set(LAYER_OF))
    assert unplaced == [], f"add these to LAYERS here and to docs/architecture.md 'Layers': {unplaced}"


def top_level_graph(graph: nx.DiGraph) -> nx.DiGraph:
    """The graph between top-level names (``pipelines``, ``session_parameters``...)."""
    return nx.DiGraph((top_name(a), top_name(b)) for a, b in graph.edges if top_name(a) != top_name(b))


def test_the_import_graph_has_no_cycle(graph):
    """Neither between modules nor between top-level names (before issue 21: pipelines -> session_parameters
    -> config_loader -> pipelines, and pipelines -> run_naming -> pipelines)."""
    assert list(nx.simple_cycles(graph)) == []
    assert list(nx.simple_cycles(top_level_graph(graph))) == []


def test_no_import_runs_upward(graph):
    assert upward_imports(graph) == []


def test_pipelines_do_not_import_each_other(graph):
    assert cross_pipeline_imports(graph) == []


def test_the_checks_find_a_cycle_and_an_upward_import(tmp_path):
    """The checks themselves: a made-up package with a cycle, an upward import inside a function and a
    relative import."""
    package = tmp_path / PACKAGE
    (package / "core").mkdir(parents=True)
    (package / "pipelines").mkdir()
    (package / "__init__.py").write_text("")
    (package / "core" / "__init__.py").write_text("")
    (package / "core" / "a.py").write_text("from . import b\n")
    (package / "core" / "b.py").write_text("def f():\n    from causal_pima.core import a\n    from causal_pima.pipelines.p import x\n")
    (package / "pipelines" / "__init__.py").write_text("")
    (package / "pipelines" / "p.py").write_text("x = 1\n")
    made_up = import_graph(module_files(tmp_path))
    assert sorted(map(sorted, nx.simple_cycles(made_up))) == [["causal_pima.core.a", "causal_pima.core.b"]]
    assert upward_imports(made_up) == [f"causal_pima.core.b:3 -> causal_pima.pipelines.p (layer 0 -> {LAYER_OF['pipelines']})"]
