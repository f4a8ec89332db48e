"""How the project reads its configuration: the config loader class and its arguments.

``settings.py`` hands these to Kedro (``CONFIG_LOADER_CLASS``, ``CONFIG_LOADER_ARGS``); the code that
reads the configuration outside Kedro's own loading (the parameters a pipeline is built from,
:mod:`causal_pima.session_parameters`; the MLflow store's command, :mod:`causal_pima.mlflow_store`)
imports them from here rather than from ``settings.py``, which imports the hooks that use them.
"""

from __future__ import annotations

from kedro.config import OmegaConfigLoader

from causal_pima.pipelines.parameters import overlay
from causal_pima.project_path import project_root

# conf/base/mlflow.yml places the MLflow store in the running project as ${project_root:}: the Kedro
# session's project path (or $CAUSAL_PIMA_PROJECT, or the project holding the working directory),
# never the installed package's folder (causal_pima.project_path).
CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {
        "project_root": lambda: project_root().as_posix(),
        # ${overlay:causal_pima,lattice_overrides.causal_pima}: a stage's parameters with a data set's
        # differences laid over them (causal_pima.pipelines.parameters; conf/base/parameters_lattice.yml)
        "overlay": overlay,
    },
}
