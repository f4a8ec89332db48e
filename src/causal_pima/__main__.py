"""``causal-pima`` / ``python -m causal_pima``: run the project's pipelines (same as ``kedro run``).

It runs in a project folder (the one holding ``conf/`` and ``data/``; a source checkout, or the folder
where a packaged project's ``conf`` archive was unpacked); elsewhere it says so and exits with 2.

``--help`` lists the pipelines: the fixed ones, and ``<name>`` / ``<name>_ingestion`` for every manifest
data set of the folder's catalog (``<name>.raw_manifest`` entries, :mod:`causal_pima.manifest_datasets`;
``--env`` and ``--conf-source`` given with ``--help`` are read too).
"""

import os
import sys
from pathlib import Path

from kedro.framework.cli.utils import find_run_command
from kedro.framework.project import configure_project

from causal_pima import project_path
from causal_pima.manifest_datasets import ManifestDataset, manifest_datasets
from causal_pima.session_parameters import file_catalog, file_parameters

PIPELINES_HELP = """Run the causal-pima pipelines in this project folder (the one holding conf/ and data/;
the MLflow store mlflow.db and mlartifacts/ are written there too).

\b
Pipelines (--pipelines NAME[,NAME...]; default __default__):
  __default__        circles end to end: generation, processing, pretraining, causalPIMA fit, evaluation
  circles            synthetic circles data from the configured true DAG (circles.configuration)
  data_processing    validate, split train/val/test, standardise the curves
  pretraining        encoders/decoders as a PoE VAE with a N(0, I) prior
  causal_pima        the causalPIMA fit: mixture, DAG structure search, annealed training
  evaluation         learned vs true DAG, clusters, interventions (data/08_reporting/<dataset>/)
  benchmark          methods x seeds x configurations (circles and the lattice stand-in)
  lattice_synthetic  physics-based stand-in lattice specimens (data/01_raw/lattice/)
{manifest_lines}

\b
Examples:
  causal-pima
  causal-pima --pipelines circles --params circles.configuration=chain
  causal-pima --env local --params causal_pima.seed=1

Parameters: conf/base/parameters_<stage>.yml (README "Parameters"). The options below are kedro run's.
"""


MANIFEST_NOTE = '  (data sets read from a specimen manifest: a pair per <name>.raw_manifest catalog entry; README "Your own data set")'


def manifest_help_lines(datasets: list[ManifestDataset]) -> list[str]:
    """Two help lines per manifest data set: ``<name>`` (its path, with its curve decoder) and ``<name>_ingestion``."""
    width = max([19, *(len(f"{d.name}_ingestion") + 2 for d in datasets)])  # the name column of PIPELINES_HELP
    lines = []
    for d in datasets:
        decoder = "physics curve expert" if d.physics else "neural curve decoder"
        lines.append(f"  {d.name:<{width}}ingestion of the manifest in {d.path or '?'}, then processing ... evaluation ({decoder})")
        lines.append(f"  {d.name + '_ingestion':<{width}}its ingestion alone (data/02_intermediate/{d.name}/, rejected.csv, overview.png)")
    return lines


def _option(argv: list[str], name: str) -> str | None:
    """The value of ``--name VALUE`` / ``--name=VALUE`` (or ``-e VALUE`` for ``--env``) in ``argv``."""
    for i, arg in enumerate(argv):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if (arg == name or (name == "--env" and arg == "-e")) and i + 1 < len(argv):
            return argv[i + 1]
    return None


def pipelines_help(argv: list[str]) -> str:
    """The help text: the fixed pipelines and the manifest data sets of the catalog that ``argv``'s
    ``--conf-source`` / ``--env`` (else the project's ``conf`` and ``$KEDRO_ENV``) give."""
    conf_source, env = _option(argv, "--conf-source"), _option(argv, "--env")
    try:
        catalog, where = file_catalog(conf_source, env)
        datasets = manifest_datasets(catalog, file_parameters(conf_source, env)[0], where)
        lines = manifest_help_lines(datasets) or [f"  (no <name>.raw_manifest entry in the catalog of {where})"]
    except project_path.ProjectNotFoundError:
        lines = ["  (no project folder here: run causal-pima --help in one to list its manifest data sets)"]
    except Exception as error:  # help must still show; say why the data sets are not listed
        lines = [f"  (the manifest data sets are not listed: {error})"]
    return PIPELINES_HELP.format(manifest_lines="\n".join([*lines, MANIFEST_NOTE]))


def _argv(args, kwargs) -> list[str]:
    if args and args[0] is not None:
        return list(args[0])
    if kwargs.get("args") is not None:
        return list(kwargs["args"])
    return sys.argv[1:]


def _wants_help(argv: list[str]) -> bool:
    return any(a in ("-h", "--help") for a in argv)


def _conf_source_given(argv: list[str]) -> bool:
    return any(a == "--conf-source" or a.startswith("--conf-source=") for a in argv)


def main(*args, **kwargs):
    package_name = Path(__file__).parent.name
    argv = _argv(args, kwargs)
    standalone = not hasattr(sys, "ps1")
    if not (_wants_help(argv) or _conf_source_given(argv)) and project_path.ENV_VAR not in os.environ:
        if project_path.find_project() is None:
            print(project_path.not_found_message(), file=sys.stderr)
            if standalone:
                sys.exit(2)
            return 2
    configure_project(package_name)
    kwargs["standalone_mode"] = standalone
    run = find_run_command(package_name)
    if _wants_help(argv):
        run.help = pipelines_help(argv) + "\n" + (run.help or "")
    return run(*args, **kwargs)


if __name__ == "__main__":
    main()
