"""Metrics for MLflow in plain Python shapes: ``{name: value}``, ``{name: [v0, v1, ...]}`` or
``{name: [{"value": v, "step": s}, ...]}``.

kedro-mlflow's ``MlflowMetricsHistoryDataset`` wants ``{"value": v, "step": s}`` dicts; nodes here
return plain floats and lists. This dataset converts them, logs them in one batch to the active
MLflow run (one metric history per list) and keeps a JSON copy on disk when ``filepath`` is given,
so notebooks can read training curves without MLflow.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from .datasets import atomic_write


class MetricsDataset(AbstractDataset):
    """Save-mostly metrics: logged to the active MLflow run (if any) and to an optional JSON file."""

    def __init__(self, prefix: str | None = None, filepath: str | None = None, metadata: dict | None = None) -> None:
        self._prefix = prefix
        self._path = Path(filepath) if filepath else None
        self.metadata = metadata

    def _points(self, data: dict[str, Any]):
        for name, value in data.items():
            key = f"{self._prefix}.{name}" if self._prefix else name
            values = value if isinstance(value, (list, tuple)) else [value]
            for i, v in enumerate(values):
                step = i
                if isinstance(v, dict):  # kedro-mlflow style {"value": v, "step": s}
                    v, step = v.get("value"), int(v.get("step", i))
                if v is None or not isinstance(v, (int, float)) or math.isnan(float(v)):
                    continue
                yield key, float(v), step

    def save(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict):
            raise DatasetError(f"metrics must be a dict of name -> float or list of floats, got {type(data)}")
        if self._path is not None:
            atomic_write(self._path, lambda p: p.write_text(json.dumps(data, indent=1, default=float)), ".json")
        import mlflow
        from mlflow.entities import Metric

        run = mlflow.active_run()
        if run is None:
            return
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, s) for k, v, s in self._points(data)]
        client = mlflow.tracking.MlflowClient()
        for i in range(0, len(metrics), 1000):  # mlflow's batch limit
            client.log_batch(run.info.run_id, metrics=metrics[i : i + 1000])

    def load(self) -> dict[str, Any]:
        if self._path is None or not self._path.exists():
            raise DatasetError(f"no local copy of these metrics ({self._path})")
        return json.loads(self._path.read_text())

    def _exists(self) -> bool:
        return self._path is not None and self._path.exists()

    def _describe(self) -> dict[str, Any]:
        return {"prefix": self._prefix, "filepath": str(self._path)}
