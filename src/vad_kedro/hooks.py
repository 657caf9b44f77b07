"""Project hooks: per-node wall-clock timings, summed per method namespace for the leaderboard."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.framework import project
from kedro.framework.hooks import hook_impl

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
