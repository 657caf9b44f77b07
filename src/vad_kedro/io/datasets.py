"""Local-file datasets for arrays and torch state dicts.

All saves are atomic: data is written to a temporary file next to the target and moved into
place with ``os.replace``, so a crash never leaves a half-written file behind.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
from kedro.io import AbstractDataset, AbstractVersionedDataset, MemoryDataset
from kedro.io.core import Version
from kedro_datasets.partitions import PartitionedDataset


def atomic_write(path: Path, write: Callable[[Path], None], suffix: str = "") -> None:
    """Call ``write(tmp)`` on a temporary file in ``path``'s folder, then move it to ``path``.

    The temporary name is unique (``.<name>.<pid>-<random><suffix>.tmp``) and carries the writer's
    process id, so :func:`remove_stale_temporaries` can tell a file left by a killed process from
    one another run is writing.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}-", suffix=suffix + ".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


_TMP_PID = re.compile(r"^\..+\.(\d+)-[^.]+\..*tmp$")
#: A temporary file without a process id in its name (written before ids were added) is stale after this.
_UNOWNED_TMP_AGE_S = 3600.0


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (signal 0 probes without signalling)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # it exists (another user's)
        return True
    return True


def _writer_alive(name: str, mtime: float) -> bool:
    match = _TMP_PID.match(name)
    if not match:
        return time.time() - mtime < _UNOWNED_TMP_AGE_S
    return process_alive(int(match.group(1)))


def remove_stale_temporaries(root: Path, skip: tuple[str, ...] = ("01_raw",)) -> list[Path]:
    """Delete :func:`atomic_write` temporaries left by killed processes, and the version folders they leave empty.

    A save killed mid-write (SIGKILL, power loss) leaves ``.model.pt.<pid>-<random>.pt.tmp`` in a
    version folder without ``model.pt``; loading ignores such a folder (Kedro picks the newest
    version that has the file), and this removes it. Files of writers still running are kept.
    Returns the removed paths (files and folders).
    """
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root:
            dirnames[:] = [d for d in dirnames if d not in skip]
        for name in filenames:
            if not (name.startswith(".") and name.endswith(".tmp")):
                continue
            path = Path(dirpath) / name
            try:
                if _writer_alive(name, path.stat().st_mtime):
                    continue
                path.unlink()
            except FileNotFoundError:   # its writer finished meanwhile
                continue
            removed.append(path)
            folder = path.parent
            try:
                if folder != root and not any(folder.iterdir()):
                    folder.rmdir()      # a version folder that never received its file
                    removed.append(folder)
            except OSError:
                pass
    return removed


class _LocalVersioned(AbstractVersionedDataset):
    def __init__(self, filepath: str, version: Version | None = None, metadata: dict | None = None) -> None:
        super().__init__(PurePosixPath(filepath), version)
        self.metadata = metadata

    def _exists(self) -> bool:
        try:
            path = self._get_load_path()
        except Exception:  # no version saved yet
            return False
        return Path(str(path)).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}


class NpyDataset(_LocalVersioned):
    """One numpy array in a ``.npy`` file (``mmap_mode`` optional on load)."""

    def __init__(self, filepath: str, version: Version | None = None, mmap_mode: str | None = None,
                 metadata: dict | None = None) -> None:
        super().__init__(filepath, version, metadata)
        self._mmap_mode = mmap_mode

    def load(self) -> np.ndarray:
        return np.load(str(self._get_load_path()), mmap_mode=self._mmap_mode, allow_pickle=False)

    def save(self, data: np.ndarray) -> None:
        def write(p: Path) -> None:
            with open(p, "wb") as fh:  # a file handle: np.save would append ".npy" to the temporary name
                np.save(fh, np.asarray(data), allow_pickle=False)

        atomic_write(Path(str(self._get_save_path())), write, ".npy")


class NpzDataset(_LocalVersioned):
    """A dict of numpy arrays in one ``.npz`` file (uncompressed unless ``compress``)."""

    def __init__(self, filepath: str, version: Version | None = None, compress: bool = False,
                 metadata: dict | None = None) -> None:
        super().__init__(filepath, version, metadata)
        self._compress = compress

    def load(self) -> dict[str, np.ndarray]:
        with np.load(str(self._get_load_path()), allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def save(self, data: dict[str, np.ndarray]) -> None:
        writer = np.savez_compressed if self._compress else np.savez

        def write(p: Path) -> None:
            with open(p, "wb") as fh:
                writer(fh, **{k: np.asarray(v) for k, v in data.items()})

        atomic_write(Path(str(self._get_save_path())), write, ".npz")


class TorchStateDataset(_LocalVersioned):
    """A checkpoint: dict of tensors, arrays and plain values, loaded with ``weights_only=True``.

    Never pickles whole modules; use ``versioned: true`` so a run never overwrites a good model.
    """

    def load(self) -> dict[str, Any]:
        return torch.load(str(self._get_load_path()), map_location="cpu", weights_only=True)

    def save(self, data: dict[str, Any]) -> None:
        atomic_write(Path(str(self._get_save_path())), lambda p: torch.save(data, p), ".pt")


class OptionalJSONDataset(AbstractDataset):
    """A JSON file that loads as ``default`` (an empty dict) when it does not exist yet."""

    def __init__(self, filepath: str, default: Any = None, metadata: dict | None = None) -> None:
        self._path = Path(filepath)
        self._default = {} if default is None else default
        self.metadata = metadata

    def load(self) -> Any:
        if not self._path.exists():
            return self._default
        return json.loads(self._path.read_text())

    def save(self, data: Any) -> None:
        atomic_write(self._path, lambda p: p.write_text(json.dumps(data, indent=2, default=float)), ".json")

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path)}


class LazyCheckpoint:
    """A checkpoint that is only read when called; ``available`` is False when none was ever saved."""

    def __init__(self, path: str | None, where: str) -> None:
        self.path = path
        self.where = where

    @property
    def available(self) -> bool:
        return self.path is not None

    def __call__(self) -> dict[str, Any]:
        if self.path is None:
            raise FileNotFoundError(f"{self.where}: no trained model saved")
        return torch.load(self.path, map_location="cpu", weights_only=True)


class LazyCheckpointDataset(TorchStateDataset):
    """Read-only view of a versioned checkpoint that loads lazily and tolerates its absence.

    Lets a pipeline take many methods' models as inputs while reading only the one it needs.
    """

    def load(self) -> LazyCheckpoint:
        if not self._exists():
            return LazyCheckpoint(None, str(self._filepath))
        return LazyCheckpoint(str(self._get_load_path()), str(self._filepath))

    def save(self, data: Any) -> None:
        raise NotImplementedError("LazyCheckpointDataset is read-only")


class OptionalPartitionedDataset(PartitionedDataset):
    """A PartitionedDataset that loads as ``{}`` when it has no partitions (instead of raising).

    Used for per-video data that some datasets legitimately lack, e.g. ``frames`` and ``flow`` of
    an I3D feature release.
    """

    def load(self) -> dict[str, Callable[[], Any]]:
        if not self._list_partitions():
            return {}
        return super().load()


class CachedPartitionsDataset(MemoryDataset):
    """An in-memory dataset whose lazy partitions (``{key: callable}``) are each computed at most once.

    Feature nodes return their per-video outputs as callables that compute on demand; a
    ``PartitionedDataset`` calls each once and stores the result, but a ``MemoryDataset`` hands the
    same callables to every consumer, which would recompute them (inference's ``tracks`` had three
    consumers). Each call returns a deep copy of the one result, so a consumer that modifies what it
    loaded cannot change what the next one sees (as with partitions re-read from disk). Anything that
    is not such a dict is kept as it is (``copy_mode: assign``).
    """

    def __init__(self, metadata: dict | None = None) -> None:
        super().__init__(copy_mode="assign", metadata=metadata)

    def save(self, data: Any) -> None:
        if isinstance(data, dict) and data and all(callable(v) for v in data.values()):
            data = {k: _computed_once(v) for k, v in data.items()}
        super().save(data)


def _computed_once(load: Callable[[], Any]) -> Callable[[], Any]:
    once = functools.cache(load)
    return functools.update_wrapper(lambda: copy.deepcopy(once()), load)
