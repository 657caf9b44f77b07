"""`kedro run --pipelines=inference` end to end on the smoke benchmark with a trained MIL model."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from vad_kedro.core.errors import DataError

from .inference_checks import check_outputs, first_test_video, output_dir, run_inference

TRAIN_MIL = ["mil.load_bags", "mil.segment_bags", "mil.train"]


@pytest.fixture(scope="module")
def trained(smoke_project):
    """The smoke project with a trained ``mil`` model (trained here unless an earlier test did)."""
    if not (smoke_project.path / "data" / "smoke" / "06_models" / "mil" / "model.pt").exists():
        smoke_project.run("weak_supervision", node_names=TRAIN_MIL)
    return smoke_project


def _snapshot(root: Path) -> dict[str, int]:
    """Every file under ``root`` with its modification time."""
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")} if root.exists() else {}


@pytest.mark.slow
def test_frame_folder_scores_match_the_method_pipeline(trained):
    video = first_test_video(trained)
    table, summary, result = run_inference(trained, video, "mil")
    check_outputs(table, summary, result, video)

    # Same features, same model: the scores equal the method pipeline's own test scores (first seed).
    trained.run("weak_supervision", node_names=["mil.score_videos", "mil.expand_to_frames"])
    own = trained.load("mil.frame_scores")
    own = own[(own["video_id"] == video["video_id"]) & (own["seed"] == own["seed"].min())].sort_values("frame")
    np.testing.assert_allclose(table["score"], own["score"], atol=1e-5)


@pytest.mark.slow
def test_video_file_input(trained, tmp_path):
    video = first_test_video(trained)
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
    table = pd.read_csv(output_dir(trained, "my_clip") / "scores.csv")
    assert len(table) == len(files) and np.isfinite(table["score"]).all()


@pytest.mark.slow
@pytest.mark.parametrize("case", ["missing_path", "empty_file", "unknown_method", "untrained_method"])
def test_bad_requests_fail_before_writing_anything(trained, tmp_path, case):
    video = first_test_video(trained)
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
    before = _snapshot(output_dir(trained, ""))
    try:
        with pytest.raises(Exception) as err:
            trained.run("inference", params={"video_path": path, "method": method})
    finally:
        if parked.exists():
            shutil.move(parked, models)
    chain = [err.value, err.value.__cause__, err.value.__context__]
    assert any(isinstance(e, DataError) and expected[case] in str(e) for e in chain if e is not None), err.value
    assert _snapshot(output_dir(trained, "")) == before      # earlier outputs untouched, nothing new
