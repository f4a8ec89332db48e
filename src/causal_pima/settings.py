"""Kedro project settings. See https://docs.kedro.org/en/stable/kedro_project_setup/settings.html."""

from causal_pima import mlflow_parallel
from causal_pima.benchmark_shape import BenchmarkShapeHook
from causal_pima.config_loader import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS  # noqa: F401 - Kedro reads them from settings
from causal_pima.hooks import ModelArtifactHook
from causal_pima.log_config import ConsoleLogHook
from causal_pima.mlflow_store import MlflowStoreHook
from causal_pima.run_inputs import MissingInputsHook
from causal_pima.run_lock import RunLockHook
from causal_pima.run_naming import RunNamingHook
from causal_pima.run_summary import RunSummaryHook
from causal_pima.session_parameters import SessionParametersHook
from causal_pima.torchrun_hook import TorchrunWriterHook, torchrun_rank
from causal_pima.validation_hook import ParameterValidationHook

# CONFIG_LOADER_CLASS / CONFIG_LOADER_ARGS: the OmegaConfigLoader with the project_root and overlay resolvers,
# defined in causal_pima.config_loader (which the code reading the configuration outside Kedro shares)

# Hooks of installed plugins (kedro-mlflow) are registered automatically through entry points.
# Unit tests disable them with DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",) (with an underscore;
# with a dash Kedro silently disables nothing).

# kedro-mlflow's MlflowArtifactDataset made picklable, or ParallelRunner refuses every pipeline
# (causal_pima.mlflow_parallel)
mlflow_parallel.install()

# SessionParametersHook: the session's conf source, --env and parameters, recorded before Kedro creates the
# pipelines whose nodes depend on parameters (causal_pima.session_parameters: the benchmark's rows, the
# candidate fits of n_nodes: auto); BenchmarkShapeHook: a run whose --params change the benchmark's shape
# lists stops (causal_pima.benchmark_shape)
# MissingInputsHook: a run that reads an artifact no earlier run wrote stops, naming the pipeline that writes it
# RunLockHook: one writing run per project at a time (.run.lock; a second run stops naming the first)
# RunSummaryHook: the run ends with its answer (headline metrics, reports, MLflow run and model URIs)
HOOKS = (RunLockHook(), SessionParametersHook(), ModelArtifactHook(), ParameterValidationHook(), MissingInputsHook(), MlflowStoreHook(), RunNamingHook(), ConsoleLogHook(), BenchmarkShapeHook(),
         TorchrunWriterHook(), RunSummaryHook())

# under torchrun (several machines, README "Scaling out") only process 0 records the MLflow run
if torchrun_rank() > 0:
    DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow", "kedro-mlflow")  # the distribution's name, as it was published
