"""preprocessing + evaluation on the smoke benchmark, in a temporary copy of the project."""

import numpy as np
import pytest


@pytest.mark.slow
def test_preprocessing_and_baseline_leaderboard(smoke_project):
    smoke_project.run("evaluation")
    index = smoke_project.load("video_index")
    assert set(index["split"]) == {"train", "val", "test"}
    labels = smoke_project.load("frame_labels")
    assert set(labels["video_id"]) == set(index.loc[index.split == "test", "video_id"])
    frames = smoke_project.load("frames")
    first = index.iloc[0]
    arr = frames[first.video_id]()
    assert arr.dtype == np.uint8 and arr.shape == (first.n_frames, first.height, first.width, 3)
    board = smoke_project.load("leaderboard")
    row = board.set_index("method").loc["motion_baseline"]
    assert 0.0 <= row["micro_auc"] <= 1.0 and row["n_frames"] == len(labels)
    md = (smoke_project.path / "data" / "smoke" / "08_reporting" / "leaderboard.md").read_text()
    assert "| motion_baseline |" in md
    assert (smoke_project.path / "data" / "smoke" / "08_reporting" / "methods" / "motion_baseline" / "roc.png").stat().st_size > 0
