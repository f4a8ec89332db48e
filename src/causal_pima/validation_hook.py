"""Validate a run's parameters before any node runs (issue 9, item 3).

``ParameterValidationHook.before_pipeline_run`` is called by ``KedroSession.run`` after the
catalog is built and before the runner starts, so nothing has been written yet. It runs
``tryfirst``, ahead of kedro-mlflow's ``before_pipeline_run``, so an invalid parameter does not
even open an MLflow run. It checks the parameter groups that the run's pipeline reads
(``params:<group>...`` inputs, ``parameters`` = every group) plus every group given on the command
line (``kedro run --params``); a command-line group that no stage knows is refused as a typo.

A run whose stages read ``compute`` or ``distributed`` (the training stages) is also checked against
the machine: the processes it would start (``distributed.processes x (1 + compute.workers)``) against
the CPU count and the available memory, with the limits of the ``resources`` group
(``parameter_schemas.resource_problems``; not under torchrun).
"""

from __future__ import annotations

import difflib
import logging
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)


class ParameterValidationHook:
    """Stop a run whose parameters are invalid, naming each parameter, its value and what is allowed."""

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        # imported here: the schemas import torch (through the core configs), which every other
        # kedro command (kedro -h, registry list...) should not pay for
        from causal_pima.parameter_schemas import (
            PROCESS_GROUPS,
            SCHEMAS,
            InvalidParametersError,
            generated_image_problems,
            parameter_groups,
            resource_problems,
            schema_for,
            validate_parameters,
        )

        inputs = set(pipeline.inputs())
        params = catalog["parameters"].load() if "parameters" in catalog else {}
        groups = set(params) if "parameters" in inputs else parameter_groups(inputs)
        runtime = run_params.get("runtime_params") or {}
        unknown = sorted(g for g in runtime if schema_for(g) is None and g not in groups)
        # a data set's group (causal_pima_<name>) given only on the command line, for a data set that no
        # parameter file defines: a misspelt name (causal_pima_latice) would otherwise be accepted and unused
        from causal_pima.session_parameters import file_parameters

        in_files = set(file_parameters()[0]) if runtime else set()
        stray = sorted(g for g in runtime if g not in in_files and g not in groups and schema_for(g) is not None and g not in SCHEMAS)
        groups |= {g for g in runtime if schema_for(g) is not None and g not in stray}
        if groups & set(PROCESS_GROUPS) and "resources" in params:
            groups.add("resources")  # the limits the training processes are checked against (read by no node)
        problems = [
            f"{group} (from --params): unknown parameter group; no stage of this run reads it"
            for group in unknown
        ]
        for group in stray:
            close = difflib.get_close_matches(group, sorted(in_files), n=1)
            problems.append(f"{group} (from --params): no data set of the parameter files has this group, so nothing would "
                            "read it" + (f"; did you mean {close[0]}?" if close else ""))
        problems += missing_group_problems(inputs, params)
        try:
            validate_parameters(params, sorted(g for g in groups if g in params))  # a missing group: named just above
        except InvalidParametersError as error:
            problems = error.problems + problems
        problems += resource_problems(params, groups)
        problems += generated_image_problems(params, groups)
        if problems:
            raise InvalidParametersError(problems)
        logger.info("Parameters valid: %s", ", ".join(sorted(g for g in groups if g in params)) or "none read")


def missing_group_problems(inputs: set[str], params: dict[str, Any]) -> list[str]:
    """A ``params:<group>`` that the pipeline reads and no parameter file defines, named with what to add.

    Kedro alone stops later with "Pipeline input(s) {'params:causal_pima_mydata'} not found in the
    DataCatalog"; a data set's stage group (``<stage>_<dataset>``) missing means its parameter file
    (README "Your own data set", step 1) is missing or does not define it.
    """
    from causal_pima.pipelines.parameters import SHARED_STAGES

    problems = []
    for name in sorted(i for i in inputs if i.startswith("params:")):
        group = name.removeprefix("params:").split(".")[0]
        if group in params:
            continue
        stage = next((s for s in SHARED_STAGES if group.startswith(f"{s}_")), None)
        if stage is None:
            problems.append(f"{name}: this run's pipeline reads the parameter group {group!r}, which no parameter file defines")
            continue
        dataset = group.removeprefix(f"{stage}_")
        problems.append(
            f"{name}: the data set {dataset!r} has no parameter group {group!r}. Add conf/base/parameters_{dataset}.yml "
            f"(README \"Your own data set\", step 1) with {dataset}_overrides (your differences) and the four stage groups, "
            f"e.g. {group}: ${{overlay:{stage},{dataset}_overrides.{stage}}}"
        )
    return problems
