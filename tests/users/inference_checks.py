"""Shared steps of the end-to-end inference tests: run ``inference`` on a smoke test video, check its outputs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd


def output_dir(project, name: str = "") -> Path:
    """``data/smoke/08_reporting/inference/<name>`` of the smoke project."""
    return project.path / "data" / "smoke" / "08_reporting" / "inference" / name


def first_test_video(project) -> pd.Series:
    """The first test video of the project's index."""
    index = project.load("video_index")
    return index[index["split"] == "test"].iloc[0]


def overlay_frames(path: Path) -> list[np.ndarray]:
    """Every frame of an mp4 as RGB."""
    cap = cv2.VideoCapture(str(path))
    frames, ok = [], True
    while ok:
        ok, frame = cap.read()
        if ok:
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def run_inference(project, video: pd.Series, method: str) -> tuple[pd.DataFrame, dict, Path]:
    """``kedro run --pipelines=inference`` on ``video``'s frame folder; returns (scores.csv, summary, output folder)."""
    folder = project.path / video["source_path"]
    out = project.run("inference", params={"video_path": str(folder), "method": method})
    summary = out["inference.summary"]
    summary = summary.load() if hasattr(summary, "load") else summary   # Kedro 1.x returns the dataset
    result = output_dir(project, folder.name)
    assert summary["output_dir"].endswith(folder.name)
    return pd.read_csv(result / "scores.csv"), summary, result


def check_outputs(table: pd.DataFrame, summary: dict, result: Path, video: pd.Series) -> None:
    """scores.csv columns and threshold, a drawn score_curve.png, overlay.mp4 = the video + a curve strip."""
    assert list(table.columns) == ["frame", "time_s", "score", "is_anomaly"]
    assert table["frame"].tolist() == list(range(int(video["n_frames"])))
    np.testing.assert_allclose(table["time_s"], table["frame"] / float(video["fps"]), atol=1e-6)
    assert (table["is_anomaly"] == (table["score"] > summary["threshold"]).astype(int)).all()
    assert summary["anomalous_frames"] == int(table["is_anomaly"].sum())

    curve = cv2.imread(str(result / "score_curve.png"))
    assert curve is not None and curve.std() > 5          # a drawn figure, not a blank image
    shown = overlay_frames(result / "overlay.mp4")
    assert len(shown) == int(video["n_frames"])
    first = shown[0]
    assert first.shape[0] > int(video["height"]) and first.shape[1] == int(video["width"])  # frame + curve strip
    assert not list(result.parent.glob(".*"))              # no temporary folder left behind
