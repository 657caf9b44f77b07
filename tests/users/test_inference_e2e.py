"""`kedro run --pipelines=inference` end to end on the smoke benchmark with a trained MIL model."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from vad_kedro.core.errors import DataError

TRAIN_MIL = ["mil.load_bags", "mil.segment_bags", "mil.train"]


def _outputs(project, name: str) -> Path:
    return project.path / "data" / "smoke" / "08_reporting" / "inference" / name


@pytest.fixture(scope="module")
def trained(smoke_project):
    """The smoke project with a trained ``mil`` model (trained here unless an earlier test did)."""
    if not (smoke_project.path / "data" / "smoke" / "06_models" / "mil" / "model.pt").exists():
        smoke_project.run("weak_supervision", node_names=TRAIN_MIL)
    return smoke_project


def _snapshot(root: Path) -> dict[str, int]:
    """Every file under ``root`` with its modification time."""
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")} if root.exists() else {}


def _test_video(project) -> pd.Series:
    index = project.load("video_index")
    return index[index["split"] == "test"].iloc[0]


@pytest.mark.slow
def test_frame_folder_scores_match_the_method_pipeline(trained):
    video = _test_video(trained)
    folder = trained.path / video["source_path"]
    out = trained.run("inference", params={"video_path": str(folder), "method": "mil"})
    summary = out["inference.summary"]
    summary = summary.load() if hasattr(summary, "load") else summary   # Kedro 1.x returns the dataset
    result = _outputs(trained, folder.name)
    assert summary["output_dir"].endswith(folder.name)
    table = pd.read_csv(result / "scores.csv")
    assert list(table.columns) == ["frame", "time_s", "score", "is_anomaly"]
    assert table["frame"].tolist() == list(range(int(video["n_frames"])))
    np.testing.assert_allclose(table["time_s"], table["frame"] / float(video["fps"]), atol=1e-6)
    assert (table["is_anomaly"] == (table["score"] > summary["threshold"]).astype(int)).all()
    assert summary["anomalous_frames"] == int(table["is_anomaly"].sum())

    # Same features, same model: the scores equal the method pipeline's own test scores (first seed).
    trained.run("weak_supervision", node_names=["mil.score_videos", "mil.expand_to_frames"])
    own = trained.load("mil.frame_scores")
    own = own[(own["video_id"] == video["video_id"]) & (own["seed"] == own["seed"].min())].sort_values("frame")
    np.testing.assert_allclose(table["score"], own["score"], atol=1e-5)

    curve = cv2.imread(str(result / "score_curve.png"))
    assert curve is not None and curve.std() > 5          # a drawn figure, not a blank image
    cap = cv2.VideoCapture(str(result / "overlay.mp4"))
    n, ok, first = 0, True, None
    while ok:
        ok, frame = cap.read()
        if ok:
            first = frame if first is None else first
            n += 1
    cap.release()
    assert n == int(video["n_frames"])
    assert first.shape[0] > int(video["height"]) and first.shape[1] == int(video["width"])  # frame + curve strip
    assert not list(result.parent.glob(".*"))              # no temporary folder left behind


@pytest.mark.slow
def test_video_file_input(trained, tmp_path):
    video = _test_video(trained)
    folder = trained.path / video["source_path"]
    clip = tmp_path / "my_clip.mp4"
    files = sorted(p for p in folder.iterdir() if p.suffix in {".jpg", ".png", ".tif", ".bmp"})
    first = cv2.imread(str(files[0]))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), float(video["fps"]),
                             (first.shape[1], first.shape[0]))
    for f in files:
        writer.write(cv2.imread(str(f)))
    writer.release()
    trained.run("inference", params={"video_path": str(clip), "method": "mil"})
    table = pd.read_csv(_outputs(trained, "my_clip") / "scores.csv")
    assert len(table) == len(files) and np.isfinite(table["score"]).all()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["missing_path", "empty_file", "unknown_method", "untrained_method"])
def test_bad_requests_fail_before_writing_anything(trained, tmp_path, case):
    video = _test_video(trained)
    path, method = str(trained.path / video["source_path"]), "mil"
    expected = {"missing_path": "does not exist", "empty_file": "empty (zero-length) file",
                "unknown_method": "unknown method 'nope'", "untrained_method": "kedro run --pipelines=weak_supervision"}
    if case == "missing_path":
        path = str(tmp_path / "no_such_video.mp4")
    elif case == "empty_file":
        path = str(tmp_path / "empty.mp4")
        Path(path).write_bytes(b"")
    elif case == "unknown_method":
        method = "nope"
    models = trained.path / "data" / "smoke" / "06_models" / "rtfm"
    parked = tmp_path / "rtfm_parked"
    if case == "untrained_method":
        method = "rtfm"
        if models.exists():
            shutil.move(models, parked)
    before = _snapshot(_outputs(trained, ""))
    try:
        with pytest.raises(Exception) as err:
            trained.run("inference", params={"video_path": path, "method": method})
    finally:
        if parked.exists():
            shutil.move(parked, models)
    chain = [err.value, err.value.__cause__, err.value.__context__]
    assert any(isinstance(e, DataError) and expected[case] in str(e) for e in chain if e is not None), err.value
    assert _snapshot(_outputs(trained, "")) == before      # earlier outputs untouched, nothing new
