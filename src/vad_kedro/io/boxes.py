"""Readers for box, track and pose files that users already have.

Formats (each tested with tiny fabricated files):

- **MOT-style track text** (``frame,id,left,top,width,height[,conf,...]``, frame 1-based by default):
  the embedded benchmark's ``annotations/tracks/<training|testing>/<video>.txt`` and MOTChallenge files.
- **Per-video JSON box lists with an ``idx`` identity key** (RegionCLIP RPN output as organised by
  Local-Patterns-Generalize-Better-for-Novel-Anomalies ``detection_results/{train,test}/``, or
  AlphaPose tracking output): ``[{"image_id": "000.jpg", "box": [x, y, w, h], "score": s, "idx": 1}, ...]``.
  ``image_id`` is a frame file name (its digits give the frame, 0-based by default) or an integer.
- **AlphaPose JSON with keypoints** (``keypoints`` = 17 COCO keypoints as [x, y, s] * 17, ``box``,
  ``idx``, ``score``, ``image_id``, ``category_id``).

All readers return tables in source-file pixels with 0-based frames; they raise
:class:`~vad_kedro.core.errors.DataError` naming the file for anything malformed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from vad_kedro.core.errors import DataError

BOX_COLUMNS = ["frame", "track_id", "x1", "y1", "x2", "y2", "score"]
N_KEYPOINTS = 17


def _empty_boxes() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=np.float64) for c in BOX_COLUMNS})


def read_mot_tracks(path: str | Path, frame_base: int = 1) -> pd.DataFrame:
    """Read a MOT-style ``frame,id,left,top,width,height[,conf,...]`` text file.

    Args:
        path: the text file (comma or whitespace separated; ``#`` comments allowed).
        frame_base: number of the first frame in the file (MOTChallenge: 1).

    Returns:
        DataFrame frame (0-based), track_id, x1, y1, x2, y2, score (conf column when present and
        >= 0, else 1).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "track file not found")
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [p for p in re.split(r"[,\s]+", line) if p]
        if len(parts) < 6:
            raise DataError(path, f"line {lineno}: expected at least 6 fields frame,id,left,top,width,height, got {len(parts)}")
        try:
            vals = [float(p) for p in parts]
        except ValueError as exc:
            raise DataError(path, f"line {lineno}: non-numeric field ({exc})") from None
        if not np.all(np.isfinite(vals[:6])):
            raise DataError(path, f"line {lineno}: NaN/inf in frame, id or box")
        conf = vals[6] if len(vals) > 6 and np.isfinite(vals[6]) and vals[6] >= 0 else 1.0
        rows.append(vals[:6] + [conf])
    if not rows:
        return _empty_boxes()
    a = np.asarray(rows, dtype=np.float64)
    if np.any(a[:, 0] != np.round(a[:, 0])) or np.any(a[:, 1] != np.round(a[:, 1])):
        raise DataError(path, "frame and id must be integers")
    if np.any(a[:, 4] < 0) or np.any(a[:, 5] < 0):
        raise DataError(path, "negative box width or height")
    frame = a[:, 0] - frame_base
    if np.any(frame < 0):
        raise DataError(path, f"frame numbers below frame_base={frame_base}")
    df = pd.DataFrame({"frame": frame.astype(np.int64), "track_id": a[:, 1].astype(np.int64),
                       "x1": a[:, 2], "y1": a[:, 3], "x2": a[:, 2] + a[:, 4], "y2": a[:, 3] + a[:, 5],
                       "score": a[:, 6]})
    if df.duplicated(["frame", "track_id"]).any():
        raise DataError(path, "the same track id appears twice in one frame")
    return df.sort_values(["frame", "track_id"], kind="stable").reset_index(drop=True)


def parse_image_id(image_id: object, frame_base: int = 0, where: str | Path = "") -> int:
    """Frame index (0-based) from an ``image_id``: an int, or a file name whose last digits are the frame."""
    if isinstance(image_id, bool):
        raise DataError(where, f"image_id {image_id!r} is not a frame number or frame file name")
    if isinstance(image_id, int | np.integer):
        num = int(image_id)
    elif isinstance(image_id, float) and float(image_id).is_integer():
        num = int(image_id)
    elif isinstance(image_id, str):
        digits = re.findall(r"\d+", Path(image_id).stem)
        if not digits:
            raise DataError(where, f"image_id {image_id!r} has no frame number")
        num = int(digits[-1])
    else:
        raise DataError(where, f"image_id {image_id!r} is not a frame number or frame file name")
    frame = num - frame_base
    if frame < 0:
        raise DataError(where, f"image_id {image_id!r} is below frame_base={frame_base}")
    return frame


def _load_json_list(path: Path) -> list:
    if not path.is_file():
        raise DataError(path, "box/pose file not found")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(path, f"not valid JSON ({exc})") from None
    if isinstance(data, dict):  # some tools write {"annotations": [...]} or {image_id: [...]}
        if isinstance(data.get("annotations"), list):
            data = data["annotations"]
        else:
            raise DataError(path, "expected a JSON list of detections")
    if not isinstance(data, list):
        raise DataError(path, "expected a JSON list of detections")
    return data


def _box_of(item: dict, path: Path, i: int, box_format: str) -> list[float]:
    box = item.get("box", item.get("bbox"))
    if not isinstance(box, list | tuple) or len(box) != 4:
        raise DataError(path, f"entry {i}: 'box' must be a list of 4 numbers, got {box!r}")
    try:
        b = [float(v) for v in box]
    except (TypeError, ValueError):
        raise DataError(path, f"entry {i}: non-numeric box {box!r}") from None
    if not np.all(np.isfinite(b)):
        raise DataError(path, f"entry {i}: NaN/inf in box")
    if box_format == "xywh":
        if b[2] < 0 or b[3] < 0:
            raise DataError(path, f"entry {i}: negative box width or height")
        return [b[0], b[1], b[0] + b[2], b[1] + b[3]]
    if box_format == "xyxy":
        if b[2] < b[0] or b[3] < b[1]:
            raise DataError(path, f"entry {i}: box x2 < x1 or y2 < y1")
        return b
    raise ValueError(f"box_format must be 'xywh' or 'xyxy', got {box_format!r}")


def _idx_of(item: dict, path: Path, i: int) -> int:
    idx = item.get("idx")
    if isinstance(idx, list | tuple):  # AlphaPose PoseFlow sometimes writes [id]
        idx = idx[0] if idx else None
    if idx is None:
        raise DataError(path, f"entry {i}: missing identity key 'idx'")
    try:
        f = float(idx)
    except (TypeError, ValueError):
        raise DataError(path, f"entry {i}: 'idx' {idx!r} is not a number") from None
    if not np.isfinite(f) or f != round(f):
        raise DataError(path, f"entry {i}: 'idx' {idx!r} is not an integer")
    return int(f)


def read_json_boxes(path: str | Path, frame_base: int = 0, box_format: str = "xywh",
                    require_idx: bool = True) -> pd.DataFrame:
    """Read a per-video JSON list of boxes with an ``idx`` identity (RegionCLIP / AlphaPose style).

    Args:
        path: the JSON file.
        frame_base: number of the first frame in ``image_id`` (``000.jpg`` -> 0 with base 0).
        box_format: ``xywh`` (AlphaPose / RegionCLIP / COCO) or ``xyxy``.
        require_idx: without it, entries lacking ``idx`` get track_id -1 (the pipeline re-tracks).

    Returns:
        DataFrame frame (0-based), track_id (= idx), x1, y1, x2, y2, score (1 when absent).
    """
    path = Path(path)
    data = _load_json_list(path)
    rows = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise DataError(path, f"entry {i} is not an object")
        if "image_id" not in item:
            raise DataError(path, f"entry {i}: missing 'image_id'")
        frame = parse_image_id(item["image_id"], frame_base, path)
        box = _box_of(item, path, i, box_format)
        tid = _idx_of(item, path, i) if (require_idx or "idx" in item) else -1
        score = float(item.get("score", 1.0))
        if not np.isfinite(score):
            raise DataError(path, f"entry {i}: NaN/inf score")
        rows.append([frame, tid, *box, score])
    if not rows:
        return _empty_boxes()
    df = pd.DataFrame(rows, columns=BOX_COLUMNS)
    return df.sort_values(["frame", "track_id"], kind="stable").reset_index(drop=True)


def read_alphapose(path: str | Path, frame_base: int = 0, box_format: str = "xywh"
                   ) -> tuple[pd.DataFrame, np.ndarray]:
    """Read an AlphaPose-format JSON list (``keypoints`` [x, y, s] * 17, ``box``, ``idx``).

    Returns:
        (table frame, track_id (= idx, -1 when absent), x1, y1, x2, y2, score;
         keypoints float32 [N, 17, 3] = x, y, confidence in source pixels).
    """
    path = Path(path)
    data = _load_json_list(path)
    rows, kps = [], []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise DataError(path, f"entry {i} is not an object")
        if "image_id" not in item:
            raise DataError(path, f"entry {i}: missing 'image_id'")
        frame = parse_image_id(item["image_id"], frame_base, path)
        kp = item.get("keypoints")
        if not isinstance(kp, list | tuple) or len(kp) != 3 * N_KEYPOINTS:
            n = len(kp) if isinstance(kp, list | tuple) else type(kp).__name__
            raise DataError(path, f"entry {i}: 'keypoints' must hold {3 * N_KEYPOINTS} numbers (17 x [x, y, s]), got {n}")
        k = np.asarray(kp, dtype=np.float64).reshape(N_KEYPOINTS, 3)
        if not np.all(np.isfinite(k)):
            raise DataError(path, f"entry {i}: NaN/inf in keypoints")
        if "box" in item or "bbox" in item:
            box = _box_of(item, path, i, box_format)
        else:  # AlphaPose without boxes: the keypoints' extent
            box = [k[:, 0].min(), k[:, 1].min(), k[:, 0].max(), k[:, 1].max()]
        tid = _idx_of(item, path, i) if "idx" in item else -1
        score = float(item.get("score", 1.0))
        rows.append([frame, tid, *box, score if np.isfinite(score) else 0.0])
        kps.append(k)
    if not rows:
        return _empty_boxes(), np.zeros((0, N_KEYPOINTS, 3), dtype=np.float32)
    df = pd.DataFrame(rows, columns=BOX_COLUMNS)
    order = np.lexsort((df["track_id"].to_numpy(), df["frame"].to_numpy()))
    return df.iloc[order].reset_index(drop=True), np.stack(kps)[order].astype(np.float32)


BOX_READERS = {"mot_txt": read_mot_tracks, "json_idx": read_json_boxes}
