"""The parameters a pipeline is built from, for the pipelines whose nodes depend on parameters.

Two pipelines have parameter-dependent nodes (Kedro's "dynamic pipelines"): the benchmark (one
namespace per configuration and seed, :mod:`causal_pima.pipelines.benchmark.shape`) and a causalPIMA
fit with ``prior.n_nodes: auto`` (one fit node per candidate node count,
:mod:`causal_pima.pipelines.causal_pima.node_count`). Kedro creates pipelines before any node runs,
lazily, on the first access to its pipeline registry, which ``KedroSession.run`` makes after the
session's context exists. :class:`SessionParametersHook` records that context first (conf source,
``--env`` and its parameters with ``--params`` applied), so:

- :func:`file_parameters`: the parameter files of the session's conf source and environment
  (``--params`` left out: the benchmark's shape comes from files only);
- :func:`run_parameters`: the run's parameters, ``--params`` applied
  (``kedro run --params causal_pima.prior.n_nodes=auto`` builds the candidate fits).

``pipeline_registry.register_pipelines`` reads them and passes what each pipeline is built from into
its ``create_pipeline`` (the benchmark's shape, ``causal_pima.benchmark_shape``; the candidate node
counts); no pipeline module reads this one (``tests/test_import_layers.py``).

The manifest data sets (``<name>.raw_manifest`` catalog entries, :mod:`causal_pima.manifest_datasets`)
are found in the same session's catalog files: :func:`file_catalog`.

Outside a session (``kedro registry list``, ``kedro viz`` without a session, a unit test) all read
the files of the project holding the working directory (:func:`causal_pima.project_path.project_root`)
and ``$KEDRO_ENV``, else the loader's default environment (``local``).

Kedro caches the pipelines it created in a process; the hook makes Kedro create them again for every
session, so a later session in the same process (a notebook, a test) gets pipelines of its own parameters.

This module imports no torch: ``settings.py`` imports it for the hook.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from causal_pima.config_loader import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS
from causal_pima.project_path import project_root
from causal_pima.run_refusal import RunRefusedError

# The one process-wide record (issue 21, item 4): Kedro calls register_pipelines() with no argument and has no
# API that returns the running session, so the session's conf source, env and parameters reach the registry here.
# Nothing else is kept: what the pipelines were built from is passed into them (pipeline_registry).
_session: dict[str, Any] = {"conf_source": None, "env": None, "parameters": None}


def set_session(conf_source: str | Path | None, env: str | None, parameters: Mapping[str, Any] | None = None) -> None:
    """Record the conf source, environment and run parameters of the Kedro session that is starting
    (all ``None``: forget the session)."""
    _session["conf_source"] = str(conf_source) if conf_source is not None else None
    _session["env"] = env
    _session["parameters"] = dict(parameters) if parameters is not None else None


def _file_config(key: str, conf_source: str | Path | None, env: str | None) -> tuple[dict[str, Any], str]:
    """The config loader's ``key`` (``parameters``, ``catalog``) of the conf source and environment, and where it
    was read (``<conf source> (env <env>)``); defaults as for :func:`file_parameters`."""
    if conf_source is None:
        conf_source = _session["conf_source"] or project_root() / "conf"
    if env is None:
        env = _session["env"] or os.environ.get("KEDRO_ENV") or None
    loader = CONFIG_LOADER_CLASS(conf_source=str(conf_source), env=env, **CONFIG_LOADER_ARGS)
    used_env = env or getattr(loader, "default_run_env", None) or "base only"
    return dict(loader[key]), f"{conf_source} (env {used_env})"


def file_parameters(conf_source: str | Path | None = None, env: str | None = None) -> tuple[dict[str, Any], str]:
    """Every parameter group as the parameter files give it (no ``--params``), and where they were read.

    ``conf_source`` / ``env``: default the session's, else the project's ``conf`` folder and
    ``$KEDRO_ENV`` (``None``: the loader's ``default_run_env``). The project's config loader
    (:mod:`causal_pima.config_loader`) reads them, so the ``overlay`` resolver works.
    """
    return _file_config("parameters", conf_source, env)


def file_catalog(conf_source: str | Path | None = None, env: str | None = None) -> tuple[dict[str, Any], str]:
    """Every catalog entry of the catalog files (``{name: entry}``, factory patterns such as
    ``{dataset}.features`` included as written), and where they were read; conf source and environment as
    for :func:`file_parameters`. The manifest data sets are found here (:mod:`causal_pima.manifest_datasets`)."""
    return _file_config("catalog", conf_source, env)


def run_parameters() -> dict[str, Any]:
    """The running session's parameters (``--params`` applied), else the files' (:func:`file_parameters`)."""
    parameters = _session["parameters"]
    return parameters if parameters is not None else file_parameters()[0]


def _recreate_pipelines() -> None:
    """Make Kedro's pipeline registry call ``register_pipelines()`` again on its next access."""
    from kedro.framework.project import PACKAGE_NAME, pipelines

    if PACKAGE_NAME:
        pipelines.configure(f"{PACKAGE_NAME}.pipeline_registry")


class UnknownEnvironmentError(ValueError, RunRefusedError):
    """``--env`` names no folder of the conf source."""


def check_environment(conf_source: str | Path | None, env: str | None, default_env: str | None = None) -> None:
    """``--env NAME`` must be a folder of the conf source (Kedro reads a missing one as empty, and
    kedro-mlflow then failed on a file store it made up); the default environment may be absent."""
    if conf_source is None or not env or env == default_env or not Path(conf_source).is_dir():
        return
    if not (Path(conf_source) / env).is_dir():
        known = sorted(p.name for p in Path(conf_source).iterdir() if p.is_dir() and not p.name.startswith("."))
        raise UnknownEnvironmentError(
            f"--env {env}: there is no folder {Path(conf_source) / env}; the environments here are {', '.join(known)}. "
            f"Create conf/{env}/ with the files that differ from conf/base, or choose one of those"
        )


class SessionParametersHook:
    """Records the session's conf source, environment and parameters before Kedro creates its pipelines,
    and has Kedro create them again for this session: a later session in the same process (a notebook, a
    test) may have other parameters, conf source or environment (whose catalog may declare other
    manifest data sets). Creating them is cheap: Kedro does it on the first access, once per session."""

    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        loader = context.config_loader
        env = context.env or getattr(loader, "env", None)
        check_environment(getattr(loader, "conf_source", None), env, getattr(loader, "default_run_env", None))
        parameters = context.params
        set_session(getattr(loader, "conf_source", None), env, parameters)
        _recreate_pipelines()
