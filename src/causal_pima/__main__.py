"""``causal-pima`` / ``python -m causal_pima``: run the project's pipelines (same as ``kedro run``).

It runs in a project folder (the one holding ``conf/`` and ``data/``; a source checkout, or the folder
where a packaged project's ``conf`` archive was unpacked); elsewhere it says so and exits with 2.
"""

import os
import sys
from pathlib import Path

from kedro.framework.cli.utils import find_run_command
from kedro.framework.project import configure_project

from causal_pima import project_path

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
  lattice            ingestion of a specimen manifest, then processing ... evaluation (physics curve expert)
  lattice_ingestion  the lattice's ingestion alone

\b
Examples:
  causal-pima
  causal-pima --pipelines circles --params circles.configuration=chain
  causal-pima --env local --params causal_pima.seed=1

Parameters: conf/base/parameters_<stage>.yml (README "Parameters"). The options below are kedro run's.
"""


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
        run.help = PIPELINES_HELP + "\n" + (run.help or "")
    return run(*args, **kwargs)


if __name__ == "__main__":
    main()
