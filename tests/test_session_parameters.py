"""The session's conf source, environment and parameters, recorded before Kedro creates its pipelines
(causal_pima.session_parameters; the n_nodes: auto fan-out it enables: tests/pipelines/test_node_count_nodes.py)."""

from __future__ import annotations

import pytest


def test_an_unknown_environment_is_named_before_anything_runs(project):
    """Issue 24, item 7: ``--env nosuchenv`` used to end in an MLflow file-store exception."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from causal_pima.session_parameters import UnknownEnvironmentError

    bootstrap_project(project)
    with pytest.raises(UnknownEnvironmentError, match=r"--env nosuchenv: there is no folder .*conf/nosuchenv; the environments "
                                                      r"here are .*base.*local"):
        with KedroSession.create(project_path=project, env="nosuchenv") as session:
            session.run(pipeline_names=["circles"])
    assert not (project / "data" / "01_raw" / "circles").exists()
