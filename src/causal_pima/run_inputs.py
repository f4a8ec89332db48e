"""A run that needs an artifact no earlier run has written stops before any node, saying which run writes it.

``kedro run --pipelines evaluation`` in a fresh clone used to fail inside Kedro with
``VersionNotFoundError ... fitted_model.pt`` and leave a failed MLflow run (issue 23, item 8).
:class:`MissingInputsHook` checks, before any node runs and before kedro-mlflow opens a run, every
input of the run's pipeline that some registered pipeline writes (so a raw input such as a
checkpoint location or your own manifest is left to its own checks) and names, for each missing
one, the smallest registered pipeline that writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kedro.framework.hooks import hook_impl

from causal_pima.run_refusal import RunRefusedError


class MissingInputsError(RuntimeError, RunRefusedError):
    """The run's pipeline reads artifacts that are not there yet."""


def missing_input_problems(inputs: set[str], exists, producers: Mapping[str, Any]) -> list[str]:
    """One line per input that a registered pipeline writes (``producers``: name -> pipeline) and that
    ``exists(name)`` says is absent, naming the smallest such pipeline."""
    problems = []
    for name in sorted(inputs):
        writers = sorted((len(p.nodes), pipeline_name) for pipeline_name, p in producers.items() if name in p.all_outputs())
        if writers and not exists(name):
            problems.append(f"{name} is not there yet: it is written by `kedro run --pipelines {writers[0][1]}`; run that first "
                            "(or the whole job, `kedro run`)")
    return problems


class MissingInputsHook:
    """Stops a run whose pipeline reads artifacts that no earlier run has written (see the module docstring)."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        from kedro.framework.project import pipelines

        inputs = {name for name in pipeline.inputs() if not name.startswith("params:") and name != "parameters"}
        if not inputs:
            return
        producers = {name: p for name, p in pipelines.items() if name != "__default__"}
        problems = missing_input_problems(inputs, lambda name: name in catalog and catalog.exists(name), producers)
        if problems:
            raise MissingInputsError("This run cannot start:\n- " + "\n- ".join(problems))
