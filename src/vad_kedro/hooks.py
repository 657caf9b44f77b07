"""Project hooks: parameter checks before the run, torch threads for the run, per-node wall-clock timings (summed per method namespace for
the leaderboard) and MLflow tracking."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH
from kedro.framework import project
from kedro.framework.hooks import hook_impl
from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook
from kedro_mlflow.framework.hooks.utils import _flatten_dict

from vad_kedro.core.runtime import seed_offset, torch_threads

logger = logging.getLogger(__name__)

TIMINGS_FILE = Path("08_reporting/node_timings.json")   # under globals.data_root (data, or data/smoke)


#: Pipelines every method pipeline carries as its upstream: their nodes are attributed to them first.
UPSTREAM = ("feature_extraction", "preprocessing")


def node_owners(registered: Mapping[str, Any]) -> dict[str, str]:
    """Node name -> the registered pipeline it belongs to (``__default__`` and ``inference`` aside).

    Method pipelines are registered with their upstream, so a preprocessing node belongs to
    ``preprocessing``, a feature node to ``feature_extraction``, other nodes to the smallest
    pipeline holding them (``lpg.train_smm`` to ``state_machine``).
    """
    owners: dict[str, str] = {}
    candidates = [(name, p) for name, p in registered.items() if name not in ("__default__", "inference")]
    # later assignments win: method pipelines from the largest to the smallest, then the shared upstream
    order = sorted(candidates, key=lambda item: (item[0] in UPSTREAM, -len(item[1].nodes)))
    for name, pipeline in order:
        for node in pipeline.nodes:
            owners[node.name] = name
    return owners


def _registered_pipelines() -> Mapping[str, Any]:
    try:
        return dict(project.pipelines)
    except Exception:  # noqa: BLE001 - outside a configured project (unit tests): no owners
        return {}


class RuntimeHook:
    """Applies the ``runtime`` parameter group to the whole run: torch threads and denormal flushing
    through :func:`vad_kedro.core.runtime.torch_threads`, restored when the run ends or fails."""

    def __init__(self) -> None:
        self._runtime: Mapping[str, Any] = {}
        self._stack = contextlib.ExitStack()

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._runtime = context.params.get("runtime") or {}

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._stack.close()
        threads = self._stack.enter_context(torch_threads(self._runtime.get("num_threads")))
        logger.info("torch CPU threads: %d (runtime.num_threads: %s); seed offset %d", threads,
                    self._runtime.get("num_threads"), seed_offset())

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._stack.close()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._stack.close()


class ParameterCheckHook:
    """Checks parameter combinations that cannot work before any node runs (first of the hooks), so a
    long run does not fail halfway: ``dataset.format: i3d_features`` with a frame-based snippet
    extractor, when the run extracts snippet features."""

    def __init__(self) -> None:
        self._params: Mapping[str, Any] = {}

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._params = context.params

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, pipeline: Any) -> None:
        if any(node.name.endswith("extract_snippet_features") for node in pipeline.nodes):
            from vad_kedro.pipelines.feature_extraction.nodes import check_snippet_source

            fe = self._params.get("feature_extraction") or {}
            check_snippet_source(self._params.get("dataset") or {}, fe.get("snippets") or {})


class NodeTimingHook:
    """Records how long every node took (``data/08_reporting/node_timings.json``).

    The file maps node name -> seconds of its latest run; the leaderboard sums a method's nodes.
    It also logs which node is starting and, in a run of several pipelines, which pipeline it
    belongs to (``(__default__ 97/137) state_machine: lpg.train_smm``), so long runs show where they are.
    """

    def __init__(self) -> None:
        self._started: dict[str, float] = {}
        self._n_done = 0
        self._n_total = 0
        self._label = "__default__"
        self._owners: dict[str, str] = {}
        self._timings = Path("data") / TIMINGS_FILE

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        data_root = context.config_loader["globals"].get("data_root", "data")
        self._timings = Path(context.project_path) / data_root / TIMINGS_FILE

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any) -> None:
        self._n_total = len(pipeline.nodes)
        self._n_done = 0
        names = run_params.get("pipeline_names") or ["__default__"]
        self._label = ",".join(names) if isinstance(names, (list, tuple)) else str(names)
        self._owners = node_owners(_registered_pipelines())

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        self._started[node.name] = time.perf_counter()
        owner = self._owners.get(node.name)
        where = f"{owner}: " if owner and owner != self._label else ""
        logger.info("(%s %d/%d) %s%s", self._label, self._n_done + 1, self._n_total, where, node.name)

    @hook_impl
    def after_node_run(self, node: Any) -> None:
        seconds = time.perf_counter() - self._started.pop(node.name, time.perf_counter())
        self._n_done += 1
        path = self._timings
        try:
            data = json.loads(path.read_text()) if path.exists() else {}
        except json.JSONDecodeError:
            data = {}
        data[node.name] = round(seconds, 3)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(path)


class BatchedMlflowHook(MlflowHook):
    """kedro-mlflow's hook with a cheaper ``before_node_run`` (same parameters, same run).

    The stock hook re-opens the run and calls ``mlflow.log_param`` once per flattened parameter before
    every node, although most nodes repeat parameters already logged: on the smoke run that was 2,600
    sqlite transactions and 149 run re-openings, 24 s of a 2-minute run. This one re-opens the run only
    when the current thread has another active run (as the stock hook intends for threaded runners),
    and logs the parameters not yet logged in this run in one ``mlflow.log_params`` batch.
    Registered in ``settings.py`` in place of the plugin's own instance.
    """

    def __init__(self) -> None:
        super().__init__()
        self._logged: set[str] = set()

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        self._logged = set()
        super().before_pipeline_run(run_params=run_params, pipeline=pipeline, catalog=catalog)

    @hook_impl
    def before_node_run(self, node: Any, catalog: Any, inputs: dict[str, Any], is_async: bool) -> None:
        active = mlflow.active_run()
        if self.run_id is not None and (active is None or active.info.run_id != self.run_id):
            mlflow.start_run(run_id=self.run_id, nested=self.mlflow_config.tracking.run.nested)
        if not self._is_mlflow_enabled:
            return
        params = {k.removeprefix("params:"): v for k, v in inputs.items() if k.startswith("params:") or k == "parameters"}
        if self.flatten:
            params = _flatten_dict(d=params, recursive=self.recursive, sep=self.sep)
        fresh = {self.sanitize_param_name(k): v for k, v in params.items()}
        fresh = {k: v for k, v in fresh.items() if k not in self._logged}
        short = {k: v for k, v in fresh.items() if len(str(v)) <= MAX_PARAM_VAL_LENGTH}
        if short:
            mlflow.log_params(short)
        for k in fresh.keys() - short.keys():
            self._log_param(k, fresh[k])  # the configured long_params_strategy
        self._logged.update(fresh)
