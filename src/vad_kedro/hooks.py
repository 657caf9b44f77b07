"""Project hooks: parameter checks before the run, torch threads for the run, per-node wall-clock timings (summed per method namespace for
the leaderboard) and MLflow tracking."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import RunStatus
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH
from kedro.config import MissingConfigException
from kedro.framework import project
from kedro.framework.hooks import hook_impl
from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook
from kedro_mlflow.framework.hooks.utils import _flatten_dict
from kedro_mlflow.pipeline.pipeline_ml import PipelineML

from vad_kedro.core.errors import DataError, RunInterrupted
from vad_kedro.core.params import Params
from vad_kedro.core.requirements import requirement_error, unmet_requirements
from vad_kedro.core.runtime import cpu_precision, seed_offset, torch_threads
from vad_kedro.io.datasets import atomic_write, process_alive, remove_stale_temporaries

logger = logging.getLogger(__name__)
#: What the terminal shows by default (conf/logging.yml): one line per node and the run summary.
progress_logger = logging.getLogger("vad_kedro.progress")

TIMINGS_FILE = Path("08_reporting/node_timings.json")   # under globals.data_root (data, or data/smoke)


#: Pipelines every method pipeline carries as its upstream: their nodes are attributed to them first.
UPSTREAM = ("feature_extraction", "preprocessing")


def node_owners(registered: Mapping[str, Any]) -> dict[str, str]:
    """Node name -> the registered pipeline it belongs to (``__default__``, ``inference`` and the
    ``package_<method>`` pipelines, which reuse method nodes, aside).

    Method pipelines are registered with their upstream, so a preprocessing node belongs to
    ``preprocessing``, a feature node to ``feature_extraction``, other nodes to the smallest
    pipeline holding them (``lpg.train_smm`` to ``state_machine``).
    """
    owners: dict[str, str] = {}
    candidates = [(name, p) for name, p in registered.items()
                  if name not in ("__default__", "inference") and not isinstance(p, PipelineML)]
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
    (:func:`vad_kedro.core.runtime.torch_threads`) and the CPU precision
    (:func:`vad_kedro.core.runtime.cpu_precision`), restored when the run ends or fails."""

    def __init__(self) -> None:
        self._runtime: Mapping[str, Any] = {}
        self._stack = contextlib.ExitStack()

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._runtime = context.params["runtime"]

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._stack.close()
        threads = self._stack.enter_context(torch_threads(self._runtime["num_threads"]))
        precision = self._stack.enter_context(cpu_precision(self._runtime["cpu_precision"]))
        logger.info("torch CPU threads: %d (runtime.num_threads: %s), CPU precision %s; seed offset %d", threads,
                    self._runtime["num_threads"], precision, seed_offset())

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._stack.close()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._stack.close()


def auc_text(auc: float, std: float, n_seeds: int) -> str:
    """``micro AUC 0.715 ± 0.022`` (the spread only over several seeds)."""
    spread = f" ± {std:.3f}" if (n_seeds or 0) > 1 else ""
    return f"micro AUC {auc:.3f}{spread}"


def headline(outputs: Mapping[str, Any]) -> str:
    """The headline metric among a node's outputs (a ``<method>.metrics`` summary), else ''."""
    for name, value in outputs.items():
        if name.split(".")[-1] == "metrics" and isinstance(value, Mapping) and "micro_auc" in value:
            return auc_text(value["micro_auc"], value.get("micro_auc_std", float("nan")), value.get("n_seeds", 1))
    return ""


class RunSummaryHook:
    """Ends a run with what a person wants to see: the leaderboard rows of the methods the run evaluated,
    where the leaderboard and the report are, and the total time."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._reporting = Path("data") / "08_reporting"
        self._methods: set[str] = set()
        self._table: Any = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        data_root = context.config_loader["globals"].get("data_root", "data")
        self._reporting = Path(context.project_path) / data_root / "08_reporting"

    @hook_impl
    def before_pipeline_run(self, pipeline: Any) -> None:
        self._start, self._table = time.perf_counter(), None
        self._methods = {n.name.removesuffix(".evaluate") for n in pipeline.nodes if n.name.endswith(".evaluate")}

    @hook_impl
    def after_node_run(self, node: Any, outputs: dict[str, Any]) -> None:
        for name, value in outputs.items():
            if name.split(".")[-1] == "leaderboard" and hasattr(value, "itertuples"):
                self._table = value

    @hook_impl
    def after_pipeline_run(self) -> None:
        lines = [f"Run finished in {time.perf_counter() - self._start:.0f} s."]
        if self._table is not None and self._methods:
            from vad_kedro.pipelines.evaluation.nodes import is_object_level

            rows = self._table[self._table["method"].isin(self._methods)]
            for r in rows.itertuples():
                regions = f"  RBDC {r.rbdc:.3f}  TBDC {r.tbdc:.3f}" if is_object_level(r) else ""
                lines.append(f"  {r.method:<16s} {auc_text(r.micro_auc, r.micro_auc_std, r.n_seeds)}  AP {r.ap:.3f}"
                             f"  ({r.n_seeds} seed(s)){regions}")
            lines.append(f"Leaderboard: {self._reporting / 'leaderboard.md'}")
            report = self._reporting / "report.html"
            if report.exists():
                lines.append(f"Report: {report}")
        progress_logger.info("\n".join(lines))


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
    It also logs one line per finished node: its position in the run, the pipeline it belongs to in a
    run of several pipelines, its time and the headline metric of an evaluation node
    (``(__default__ 97/137) state_machine: lpg.train_smm done in 3.1 s``).
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

    @hook_impl
    def after_node_run(self, node: Any, outputs: dict[str, Any]) -> None:
        seconds = time.perf_counter() - self._started.pop(node.name, time.perf_counter())
        self._n_done += 1
        owner = self._owners.get(node.name)
        named = owner in (None, self._label) or node.name.startswith(f"{owner}.")   # the name says it already
        where = "" if named else f"{owner}: "
        metric = headline(outputs)
        progress_logger.info("(%s %d/%d) %s%s done in %.1f s%s", self._label, self._n_done, self._n_total, where,
                             node.name, seconds, f"; {metric}" if metric else "")
        path = self._timings
        try:
            data = json.loads(path.read_text()) if path.exists() else {}
        except json.JSONDecodeError:
            data = {}
        data[node.name] = round(seconds, 3)
        # a unique temporary name per write: two runs at once must not write through the same file
        atomic_write(path, lambda p: p.write_text(json.dumps(data, indent=1, sort_keys=True)), ".json")


class RunStartHook:
    """Checks and clean-up at the start of every run, before any node runs.

    - checks what each method pipeline needs from the dataset (:mod:`vad_kedro.core.requirements`,
      e.g. abnormal training videos for weak_supervision): the default pipeline leaves out the
      pipelines the dataset cannot feed (one warning; the leaderboard notes it), and a run that
      selects such a pipeline stops at once with a DataError saying what is missing;
    - stops a run that selects a ``package_<method>`` pipeline beside others (kedro-mlflow logs the
      model only when that pipeline runs alone, otherwise it would train and silently register nothing);
    - removes temporary files that killed saves left behind (and version folders left without
      their file), naming them in one warning.
    Ctrl-C during the run is :class:`InterruptHook`'s.
    """

    def __init__(self) -> None:
        self._data_root = Path("data")
        self._skipped: dict[str, str] = {}

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._data_root = Path(context.project_path) / context.config_loader["globals"].get("data_root", "data")
        dataset = context.config_loader["parameters"].get("dataset")
        self._skipped = unmet_requirements(dataset) if isinstance(dataset, Mapping) else {}
        if self._skipped:   # the session looks "__default__" up after this hook
            from vad_kedro.pipeline_registry import register_pipelines

            project.pipelines["__default__"] = register_pipelines(self._skipped)["__default__"]

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        from vad_kedro.pipeline_registry import method_node_names

        names = run_params.get("pipeline_names") or []
        packages = [n for n in names if isinstance(project.pipelines.get(n), PipelineML)]
        if packages and len(names) > 1:
            raise DataError(packages[0], "logs its MLflow model only when it is the run's one pipeline",
                            hint=f"run `kedro run --pipelines={packages[0]}` alone, the others in their own runs")
        selected = {n.name for n in pipeline.nodes}
        for name, reason in self._skipped.items():
            if selected & method_node_names(name):
                raise requirement_error(name, reason)
            if not run_params.get("pipeline_names"):
                logger.warning("%s skipped: %s (the leaderboard notes it)", name, reason)
        removed = remove_stale_temporaries(self._data_root)
        if removed:
            logger.warning("removed %d files and folders left by an interrupted save: %s", len(removed),
                           ", ".join(str(p) for p in removed[:10]))


class InterruptHook:
    """While the pipeline runs, Ctrl-C raises :class:`~vad_kedro.core.errors.RunInterrupted`, so Kedro prints its
    ``--from-nodes`` resume suggestion and the MLflow run is marked KILLED. Installed after every other hook's
    ``before_pipeline_run`` (trylast): Kedro calls no ``on_pipeline_error`` when a run fails to start, so a
    handler installed earlier would outlive such a run."""

    def __init__(self) -> None:
        self._previous_sigint: Any = None

    @hook_impl(trylast=True)
    def before_pipeline_run(self) -> None:
        self._previous_sigint = install_interrupt_handler()

    @hook_impl
    def after_pipeline_run(self) -> None:
        restore_interrupt_handler(self._previous_sigint)

    @hook_impl
    def on_pipeline_error(self) -> None:
        restore_interrupt_handler(self._previous_sigint)


def _raise_interrupted(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)   # a second Ctrl-C stops at once
    raise RunInterrupted("interrupted by Ctrl-C")


def install_interrupt_handler() -> Any:
    """Make Ctrl-C raise :class:`RunInterrupted` (an Exception Kedro handles); returns the previous handler."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.signal(signal.SIGINT, _raise_interrupted)
    # a run whose start failed after the handler was installed never restored it: do not keep it as "previous"
    return signal.default_int_handler if previous is _raise_interrupted else previous


def restore_interrupt_handler(previous: Any) -> None:
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, previous)


PID_TAG, HOST_TAG = "vad_kedro.pid", "vad_kedro.host"
#: A RUNNING run without a process tag (started before tags were set) is taken as orphaned after this.
UNTAGGED_RUN_AGE_S = 24 * 3600


def fail_orphaned_runs(client: Any, experiment_id: str, current_run_id: str) -> list[str]:
    """Mark FAILED the RUNNING runs of an experiment whose process is gone; returns their ids.

    A run killed by SIGKILL (or a power cut) never ends, so MLflow shows it RUNNING for ever. Each
    run is tagged with its host and process id; a RUNNING run of this host whose process no longer
    exists is an orphan. Runs of other hosts are left alone; untagged runs count as orphans after a day.
    """
    host, now_ms = socket.gethostname(), time.time() * 1000
    orphans = []
    for run in client.search_runs([experiment_id], filter_string="attributes.status = 'RUNNING'"):
        if run.info.run_id == current_run_id:
            continue
        tags = run.data.tags
        if PID_TAG in tags:
            orphan = tags.get(HOST_TAG) == host and not process_alive(int(tags[PID_TAG]))
        else:
            orphan = now_ms - (run.info.start_time or now_ms) > UNTAGGED_RUN_AGE_S * 1000
        if orphan:
            client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
            orphans.append(run.info.run_id)
    return orphans


def absolute_sqlite_uri(uri: str | None, project_path: str | Path) -> str | None:
    """``sqlite:///<relative file>`` → ``sqlite:///<project>/<file>``; any other URI unchanged.

    MLflow keeps one database engine per URI string, so in a process that runs several projects (a test
    session, a notebook) a relative URI kept writing into the first project's database.
    """
    prefix = "sqlite:///"
    if not (isinstance(uri, str) and uri.startswith(prefix)) or uri[len(prefix):].startswith("/"):
        return uri
    return prefix + str((Path(project_path) / uri[len(prefix):]).resolve())


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
    def after_context_created(self, context: Any) -> None:
        """The plugin's set-up, with a relative ``sqlite:///<file>`` tracking URI made absolute first."""
        loader = context.config_loader
        loader.config_patterns.setdefault("mlflow", ["mlflow*", "mlflow*/**", "**/mlflow*"])
        with contextlib.suppress(MissingConfigException):
            conf = dict(loader["mlflow"])
            server = dict(conf.get("server") or {})
            server["mlflow_tracking_uri"] = absolute_sqlite_uri(server.get("mlflow_tracking_uri"), context.project_path)
            loader["mlflow"] = {**conf, "server": server}   # the loader returns a key set this way as it is
        super().after_context_created(context)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        self._logged = set()
        super().before_pipeline_run(run_params=run_params, pipeline=pipeline, catalog=catalog)
        active = mlflow.active_run()
        if not self._is_mlflow_enabled or active is None:
            return
        mlflow.set_tags({PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()})
        orphans = fail_orphaned_runs(mlflow.MlflowClient(), active.info.experiment_id, active.info.run_id)
        if orphans:
            logger.warning("marked %d MLflow runs FAILED that a killed process had left RUNNING: %s", len(orphans),
                           ", ".join(orphans))

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params: dict[str, Any], pipeline: Any, catalog: Any) -> None:
        """Ctrl-C ends the run as KILLED (the plugin marks every error FAILED; without this hook, FINISHED)."""
        if not (isinstance(error, RunInterrupted) and self._is_mlflow_enabled and not self._already_active_mlflow):
            super().on_pipeline_error(error=error, run_params=run_params, pipeline=pipeline, catalog=catalog)
            return
        while mlflow.active_run():
            mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
        if self.run_id is not None:
            client = mlflow.MlflowClient()
            if client.get_run(self.run_id).info.status == "RUNNING":
                client.set_terminated(self.run_id, RunStatus.to_string(RunStatus.KILLED))
            logger.warning("MLflow run %s marked KILLED (interrupted)", self.run_id)

    @hook_impl
    def before_node_run(self, node: Any, catalog: Any, inputs: dict[str, Any], is_async: bool) -> None:
        active = mlflow.active_run()
        if self.run_id is not None and (active is None or active.info.run_id != self.run_id):
            mlflow.start_run(run_id=self.run_id, nested=self.mlflow_config.tracking.run.nested)
        if not self._is_mlflow_enabled:
            return
        params = {k.removeprefix("params:"): v.to_dict() if isinstance(v, Params) else v
                  for k, v in inputs.items() if k.startswith("params:") or k == "parameters"}
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
