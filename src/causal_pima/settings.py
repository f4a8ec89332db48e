"""Kedro project settings. See https://docs.kedro.org/en/stable/kedro_project_setup/settings.html."""

from pathlib import Path

from kedro.config import OmegaConfigLoader

from causal_pima.hooks import ModelArtifactHook
from causal_pima.mlflow_store import MlflowStoreHook
from causal_pima.pipelines.parameters import overlay
from causal_pima.validation_hook import ParameterValidationHook

# The project root (the folder holding pyproject.toml). Used to make the MLflow store independent of
# the working directory: conf/base/mlflow.yml refers to it as ${project_root:}.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "custom_resolvers": {
        "project_root": lambda: PROJECT_ROOT.as_posix(),
        # ${overlay:causal_pima,lattice_overrides.causal_pima}: a stage's parameters with a data set's
        # differences laid over them (causal_pima.pipelines.parameters; conf/base/parameters_lattice.yml)
        "overlay": overlay,
    },
}

# Hooks of installed plugins (kedro-mlflow) are registered automatically through entry points.
# Unit tests disable them with DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",) (underscore, STACK.md trap 4).

HOOKS = (ModelArtifactHook(), ParameterValidationHook(), MlflowStoreHook())
