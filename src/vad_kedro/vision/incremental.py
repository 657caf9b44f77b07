"""Content keys for incremental feature extraction.

A per-video output is recomputed only when its *key* changes. The key is a SHA-256 over
(the video's fingerprint, the node's parameters, a code version, upstream keys, the stat of
any extra input file). The fingerprint is taken from ``video_index`` plus the file-system stat
of the video's source (``source_path``; several ``|``-joined paths for I3D feature lists):
mtime (ns) and size for files and, for frame folders, the name, size and mtime (ns) of every
file in the folder (a frame replaced in place under the same name changes the key; the folder's
own mtime and entry count do not see that). Re-running the preprocessing, which rewrites the
``frames`` partitions, therefore does not invalidate features when the source videos did not change.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any


def folder_digest(path: str | os.PathLike) -> list[int | str]:
    """[number of files, SHA-256 of (name, size, mtime_ns) of every file] of a folder (not recursive)."""
    entries = []
    with os.scandir(path) as it:
        for entry in it:
            if entry.is_file():
                st = entry.stat()
                entries.append(f"{entry.name}\0{st.st_size}\0{st.st_mtime_ns}")
    entries.sort()
    return [len(entries), hashlib.sha256("\n".join(entries).encode()).hexdigest()]


def path_stat(path: str | os.PathLike | None) -> list[int | str] | None:
    """[mtime_ns, size] of a file, :func:`folder_digest` of a folder; None when it does not exist."""
    if not path:
        return None
    try:
        if os.path.isdir(path):
            return folder_digest(path)
        st = os.stat(path)
    except OSError:
        return None
    return [int(st.st_mtime_ns), int(st.st_size)]


def video_fingerprint(row: Mapping[str, Any]) -> dict[str, Any]:
    """Identity of one ``video_index`` row and of its source on disk."""
    src = str(row.get("source_path", ""))
    return {
        "video_id": str(row["video_id"]),
        "source_path": src,
        "source_stat": [path_stat(p) for p in src.split("|")] if src else None,
        "n_frames": int(row.get("n_frames", -1)),
        "height": int(row.get("height", -1)),
        "width": int(row.get("width", -1)),
        "fps": float(row.get("fps", 0.0) or 0.0),
    }


def content_key(*parts: Any) -> str:
    """Stable SHA-256 hex digest of JSON-serialisable parts (dict keys sorted)."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def plan_videos(keys: Mapping[str, str], previous: Mapping[str, str] | None) -> tuple[list[str], list[str]]:
    """Split videos into (to compute, unchanged) by comparing new keys with the previous manifest."""
    previous = previous or {}
    todo = [v for v in sorted(keys) if previous.get(v) != keys[v]]
    skip = [v for v in sorted(keys) if previous.get(v) == keys[v]]
    return todo, skip
