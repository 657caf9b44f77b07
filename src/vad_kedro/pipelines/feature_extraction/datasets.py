"""The manifest that makes feature extraction incremental.

``FeatureManifestDataset`` stores ``{video_id: content key}`` for one per-video output
(``tracks``, ``flow``, ``snippet_features``, ``object_features``). Two catalog entries point at the
same JSON file: ``feature_extraction.<output>_manifest_previous`` (read by the node) and
``feature_extraction.<output>_manifest`` (written by it), because a Kedro node cannot take its own
output as input.

- ``load`` returns ``{}`` when the file does not exist, and drops entries whose partition file
  is gone or fails validation, so that partition is recomputed: a file that cannot be read (a
  truncated ``.npy`` / ``.npz`` / ``.parquet``) and, with ``finite``, arrays holding NaN or inf
  (``finite: true`` for a ``.npy``, a list of array names for a ``.npz``). Each such file is named
  in a warning; without this, a corrupt cached partition failed every later run.
- ``save`` writes the JSON atomically and, with ``prune: true``, deletes partition files of videos
  that are no longer in the manifest (a video removed from the dataset, or a partition left by a
  run on another dataset), so ``PartitionedDataset.load`` lists exactly the current videos.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from kedro.io import AbstractDataset

from vad_kedro.io.datasets import atomic_write

logger = logging.getLogger(__name__)


def partition_problem(path: Path, finite: bool | list[str] = False) -> str | None:
    """What is wrong with one cached partition file, or None when it reads back fine.

    ``.npy`` files are opened memory-mapped (only the header is read unless ``finite``); ``.npz``
    archives are listed and, for the arrays named in ``finite`` (all when True), read; ``.parquet``
    files have their footer read.
    """
    try:
        if path.suffix == ".npy":
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
            if finite and np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
                return "contains NaN or inf"
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                names = data.files if finite is True else [n for n in (finite or []) if n in data.files]
                for name in names:
                    arr = data[name]
                    if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
                        return f"array '{name}' contains NaN or inf"
        elif path.suffix == ".parquet":
            pq.read_metadata(path)
    except Exception as exc:  # noqa: BLE001 - numpy, zipfile and pyarrow raise many types for corrupt files
        return f"cannot be read ({type(exc).__name__}: {exc})"
    return None


class FeatureManifestDataset(AbstractDataset[dict[str, str], dict[str, str]]):
    """JSON ``{video_id: key}`` beside a PartitionedDataset folder (see module docstring)."""

    def __init__(self, filepath: str, partitions_path: str, filename_suffix: str = "", prune: bool = True,
                 finite: bool | list[str] = False, metadata: dict | None = None) -> None:
        self._path = Path(filepath)
        self._partitions = Path(partitions_path)
        self._suffix = filename_suffix
        self._prune = prune
        self._finite = finite
        self.metadata = metadata

    def _partition_file(self, video_id: str) -> Path:
        return self._partitions / f"{video_id}{self._suffix}"

    def load(self) -> dict[str, str]:
        if not self._path.exists():
            return {}
        try:
            data = json.loads(self._path.read_text())
        except json.JSONDecodeError:
            logger.warning("%s: unreadable manifest, recomputing every video", self._path)
            return {}
        if not isinstance(data, dict):
            return {}
        kept = {}
        for key, value in data.items():
            path = self._partition_file(str(key))
            if not path.exists():
                continue
            problem = partition_problem(path, self._finite)
            if problem:
                logger.warning("%s: cached partition %s; it is recomputed", path, problem)
                continue
            kept[str(key)] = str(value)
        return kept

    def save(self, data: dict[str, str]) -> None:
        atomic_write(self._path, lambda p: p.write_text(json.dumps(dict(sorted(data.items())), indent=1)), ".json")
        if not self._prune or not self._partitions.is_dir():
            return
        removed = []
        for f in self._partitions.iterdir():
            if f.is_file() and f.name.endswith(self._suffix) and not f.name.startswith("."):
                vid = f.name[: len(f.name) - len(self._suffix)] if self._suffix else f.name
                if vid not in data:
                    f.unlink()
                    removed.append(vid)
        if removed:
            logger.info("%s: removed %d stale partitions not in video_index: %s", self._partitions, len(removed),
                        ", ".join(sorted(removed)[:10]))

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path), "partitions_path": str(self._partitions), "prune": self._prune,
                "finite": self._finite}
