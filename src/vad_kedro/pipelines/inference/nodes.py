"""Score your own video: index it beside a few normal reference videos, run a trained method's
scoring nodes on it, and write scores.csv, score_curve.png and overlay.mp4.

The threshold is the ``threshold_percentile`` of the method's scores on normal reference videos
taken from the training data (the validation split's normal videos, else the training normals),
scored in the same run by the same nodes.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from vad_kedro.core.errors import DataError
from vad_kedro.core.params import InferenceParams
from vad_kedro.io import LazyCheckpoint, readers

logger = logging.getLogger(__name__)

INPUT_ID = "input"
SKIPPED = "skipped: another method was asked for"


def input_source(video_path: str | None) -> readers.VideoSource:
    """Validate the user's video (a video file or a folder of frames) without decoding it all."""
    if not video_path:
        raise DataError("video_path", "not set: pass --params=\"video_path=<file or frame folder>,method=<name>\"")
    path = Path(video_path).expanduser()
    if not path.exists():
        raise DataError(path, "does not exist")
    if path.is_dir():
        files = readers.list_frames(path)
        if not files:
            raise DataError(path, "is a folder without image frames (.jpg, .png, .tif, .bmp)")
        readers.read_frame(files[0])
        return readers.VideoSource(INPUT_ID, "test", path.name, path, files, len(files))
    if path.stat().st_size == 0:
        raise DataError(path, "is an empty (zero-length) file")
    if path.suffix.lower() in readers.IMAGE_SUFFIXES:
        raise DataError(path, "is a single image; give a video file or a folder of frames")
    n = readers.count_video_frames(path)
    if n == 0:
        raise DataError(path, "cannot be decoded as a video (no readable frame)")
    return readers.VideoSource(INPUT_ID, "test", path.stem, path, [], n)


def check_request(video_path: str | None, method: str | None, *models: Any, model_names: list[str],
                  trainers: dict[str, str], needed_models: dict[str, list[str]],
                  object_level: list[str]) -> dict[str, Any]:
    """Fail fast, before any feature is computed: a readable video, a known method, a trained model.

    ``trainers`` maps method -> the pipeline that trains it; ``needed_models`` method -> the model
    datasets its scoring reads; ``models`` holds the datasets ``model_names`` as lazy checkpoints.
    """
    if not method:
        raise DataError("method", f"not set: choose one of {', '.join(sorted(trainers))}")
    if method not in trainers:
        raise DataError("method", f"unknown method '{method}': choose one of {', '.join(sorted(trainers))}")
    source = input_source(video_path)
    missing = [name for name, m in zip(model_names, models)
               if isinstance(m, LazyCheckpoint) and not m.available and name in needed_models.get(method, ())]
    if missing:
        raise DataError(method, f"has no trained model; train it first with "
                                f"`kedro run --pipelines={trainers[method]}`")
    return {"video_path": str(source.path), "name": source.name, "n_frames": source.n_frames, "method": method,
            "object_level": method in object_level}


def build_inference_index(request: dict[str, Any], video_index: pd.DataFrame,
                          inference: InferenceParams) -> pd.DataFrame:
    """The input video plus up to ``n_reference_videos`` normal training videos, all as split ``test``."""
    train = video_index[video_index["split"].isin(["train", "val"])]
    normals = train[train["video_label"] == 0]
    refs = pd.concat([normals[normals["split"] == "val"], normals[normals["split"] == "train"]])
    refs = refs.head(int(inference["n_reference_videos"])).copy()
    if refs.empty:
        raise DataError("video_index", "has no normal training video to calibrate the threshold on")
    size = train[["height", "width"]].mode().iloc[0]
    row = {"video_id": INPUT_ID, "split": "test", "source_path": request["video_path"],
           "n_frames": request["n_frames"], "fps": float(refs["fps"].iloc[0]), "height": int(size["height"]),
           "width": int(size["width"]), "video_label": -1, "anomaly_types": ""}
    refs["split"] = "test"
    refs["video_id"] = refs["video_id"].astype(str)
    return pd.concat([pd.DataFrame([row]), refs], ignore_index=True)[list(video_index.columns)]


def inference_frames(index: pd.DataFrame, frames: dict[str, Callable[[], np.ndarray]]) -> dict[str, Callable]:
    """Frames of the input video (decoded at the training resolution) and of the reference videos."""
    out: dict[str, Callable[[], np.ndarray]] = {}
    for row in index.itertuples():
        if row.video_id == INPUT_ID:
            path = Path(row.source_path)
            files = readers.list_frames(path) if path.is_dir() else []
            src = readers.VideoSource(INPUT_ID, "test", path.name, path, files, int(row.n_frames))
            size = (int(row.height), int(row.width))
            out[INPUT_ID] = lambda src=src, size=size: readers.read_video_frames(src, size)
        else:
            if row.video_id not in frames:
                raise DataError(row.video_id, "reference video has no decoded frames (run preprocessing)")
            out[row.video_id] = frames[row.video_id]
    return out


def pick_scores(request: dict[str, Any], *candidates: Any) -> pd.DataFrame:
    """The frame scores of the requested method (every other method's nodes returned ``SKIPPED``)."""
    found = [c for c in candidates if isinstance(c, pd.DataFrame)]
    if len(found) != 1:
        raise DataError(request["method"], f"expected one set of frame scores, got {len(found)}")
    scores = found[0]
    if "seed" in scores:
        scores = scores[scores["seed"] == scores["seed"].min()]
    return scores[["video_id", "frame", "score"]].reset_index(drop=True)


def _score_plot(df: pd.DataFrame, threshold: float, title: str) -> Figure:
    fig = Figure(figsize=(9, 2.8))
    ax = fig.subplots()
    ax.plot(df["time_s"], df["score"], color="tab:blue", lw=1.2, label="anomaly score")
    ax.axhline(threshold, color="tab:red", ls="--", lw=1, label="threshold")
    ax.fill_between(df["time_s"], 0, 1, where=df["is_anomaly"].to_numpy() > 0, color="tab:red", alpha=0.15,
                    transform=ax.get_xaxis_transform(), label="above threshold")
    ax.set(xlabel="time (s)", ylabel="score", title=title)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def _curve_strip(df: pd.DataFrame, threshold: float, width: int, height: int) -> np.ndarray:
    """An RGB strip with the whole score curve and the threshold, drawn once with OpenCV."""
    strip = np.full((height, width, 3), 255, np.uint8)
    s = df["score"].to_numpy(dtype=float)
    lo, hi = float(min(s.min(), threshold)), float(max(s.max(), threshold))
    span = hi - lo if hi > lo else 1.0
    xs = np.linspace(0, width - 1, len(s)).astype(np.int32)
    ys = (height - 4 - (s - lo) / span * (height - 8)).astype(np.int32)
    ty = int(height - 4 - (threshold - lo) / span * (height - 8))
    cv2.line(strip, (0, ty), (width - 1, ty), (220, 40, 40), 1)
    cv2.polylines(strip, [np.stack([xs, ys], 1).reshape(-1, 1, 2)], False, (30, 90, 200), 1, cv2.LINE_AA)
    return strip


def _overlay(frames: np.ndarray, df: pd.DataFrame, threshold: float, boxes: pd.DataFrame | None,
             path: Path, fps: float) -> None:
    t, h, w = frames.shape[:3]
    strip_h = max(40, h // 4)
    strip = _curve_strip(df, threshold, w, strip_h)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h + strip_h))
    if not writer.isOpened():
        raise DataError(path, "OpenCV cannot write mp4 here")
    xs = np.linspace(0, w - 1, len(df)).astype(int)
    for i in range(t):
        frame = frames[i].copy()
        if boxes is not None:
            for b in boxes[boxes["frame"] == i].itertuples():
                cv2.rectangle(frame, (int(b.x1), int(b.y1)), (int(b.x2), int(b.y2)), (255, 60, 60), 1)
        if df["is_anomaly"].iloc[min(i, len(df) - 1)]:
            cv2.rectangle(frame, (0, 0), (w - 1, h - 1), (255, 0, 0), 3)
        bar = strip.copy()
        cv2.line(bar, (int(xs[min(i, len(xs) - 1)]), 0), (int(xs[min(i, len(xs) - 1)]), strip_h - 1), (0, 0, 0), 1)
        writer.write(cv2.cvtColor(np.vstack([frame, bar]), cv2.COLOR_RGB2BGR))
    writer.release()


def write_outputs(request: dict[str, Any], scores: pd.DataFrame, index: pd.DataFrame,
                  frames: dict[str, Callable[[], np.ndarray]], inference: InferenceParams, tracks: Any = None) -> dict:
    """Threshold from the reference videos, then scores.csv, score_curve.png and overlay.mp4.

    Everything is written into a temporary folder that replaces ``<output_dir>/<video>`` at the
    end, so a failure leaves no partial output behind.
    """
    ref = scores[scores["video_id"] != INPUT_ID]["score"].to_numpy(dtype=float)
    threshold = float(np.percentile(ref, float(inference["threshold_percentile"])))
    mine = scores[scores["video_id"] == INPUT_ID].sort_values("frame").reset_index(drop=True)
    fps = float(index.loc[index["video_id"] == INPUT_ID, "fps"].iloc[0])
    table = pd.DataFrame({"frame": mine["frame"].astype(int), "time_s": mine["frame"] / fps,
                          "score": mine["score"].astype(float)})
    table["is_anomaly"] = (table["score"] > threshold).astype(int)
    boxes = None
    if isinstance(tracks, dict) and INPUT_ID in tracks and request.get("object_level"):
        boxes = tracks[INPUT_ID]()
        boxes = boxes.sort_values("score", ascending=False).groupby("frame").head(int(inference["top_boxes"]))

    out_root = Path(inference["output_dir"])
    out_root.mkdir(parents=True, exist_ok=True)
    final = out_root / request["name"]
    tmp = Path(tempfile.mkdtemp(dir=out_root, prefix=f".{request['name']}."))
    tmp.chmod(0o755)  # mkdtemp makes it private; the outputs are for the user
    try:
        table.to_csv(tmp / "scores.csv", index=False, float_format="%.6f")
        fig = _score_plot(table, threshold, f"{request['method']} on {request['name']}")
        fig.savefig(tmp / "score_curve.png", dpi=110)
        _overlay(frames[INPUT_ID](), table, threshold, boxes, tmp / "overlay.mp4", fps)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    summary = {"video": request["name"], "method": request["method"], "threshold": threshold,
               "n_frames": int(len(table)), "anomalous_frames": int(table["is_anomaly"].sum()),
               "output_dir": str(final)}
    logger.info("inference: %s frames above the threshold %.4f; outputs in %s", summary["anomalous_frames"],
                threshold, final)
    return summary
