"""Shared fixtures: a temporary copy of the project on the smoke benchmark.

``smoke_project`` copies ``conf/`` and ``pyproject.toml`` into a temporary folder, runs
``preprocessing`` (and ``feature_extraction`` when it exists) once per test session with
``--env=smoke``, and lets tests run any registered pipeline there and load catalog datasets.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from vad_kedro.core.layout import DATA_LAYERS

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

REPO = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def working_directory(path: Path):
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


class SmokeProject:
    """A throw-away copy of the project: run pipelines and load datasets in it."""

    def __init__(self, path: Path, env: str = "smoke") -> None:
        self.path = path
        self.env = env
        path.mkdir(parents=True, exist_ok=True)
        shutil.copytree(REPO / "conf", path / "conf", ignore=shutil.ignore_patterns("local"))
        (path / "conf" / "local").mkdir(exist_ok=True)
        shutil.copy(REPO / "pyproject.toml", path / "pyproject.toml")
        (path / "src").mkdir()   # bootstrap wants it; the package itself is installed (pip -e)
        (path / ".telemetry").write_text("consent: false\n")
        for layer in DATA_LAYERS:
            (path / "data" / layer).mkdir(parents=True, exist_ok=True)

    def _session(self, extra_params: dict[str, Any] | None = None):
        from kedro.framework.session import KedroSession
        from kedro.framework.startup import bootstrap_project

        bootstrap_project(self.path)
        return KedroSession.create(project_path=self.path, env=self.env, runtime_params=extra_params or {})

    def run(self, pipeline: str | None = None, params: dict[str, Any] | None = None, **kwargs) -> dict:
        """Run a registered pipeline (default: ``__default__``) in this project."""
        import mlflow

        try:
            with working_directory(self.path), self._session(params) as session:
                return session.run(pipeline_names=[pipeline] if pipeline else None, **kwargs)
        finally:
            while mlflow.active_run():   # each run gets its own MLflow run, as from the command line
                mlflow.end_run()

    def catalog(self, params: dict[str, Any] | None = None):
        with working_directory(self.path), self._session(params) as session:
            return session.load_context().catalog

    def load(self, name: str) -> Any:
        """Load one catalog dataset (PartitionedDatasets return their dict of loaders)."""
        with working_directory(self.path):
            return self.catalog().load(name)

    def params(self) -> dict[str, Any]:
        with working_directory(self.path), self._session() as session:
            return session.load_context().params


@pytest.fixture(scope="session", autouse=True)
def runtime_threads():
    """Node functions called directly get the same torch settings as a ``kedro run`` (RuntimeHook)."""
    from vad_kedro.core.runtime import torch_threads

    with torch_threads(None) as n:
        yield n


@pytest.fixture(scope="session")
def smoke_project(tmp_path_factory) -> SmokeProject:
    """The project on the smoke benchmark with preprocessing (+ feature_extraction) already run."""
    project = SmokeProject(tmp_path_factory.mktemp("smoke_project"))
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project.path)
    upstream = "feature_extraction" if "feature_extraction" in pipelines else "preprocessing"
    project.run(upstream)
    return project


@pytest.fixture
def fresh_project(tmp_path) -> SmokeProject:
    """An empty copy of the project (nothing run yet)."""
    return SmokeProject(tmp_path / "project")
