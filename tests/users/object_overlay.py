"""Checks of the object boxes that ``inference`` draws for object-level methods (not a test module)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .inference_checks import overlay_frames


def write_outputs_inputs(project) -> list[str]:
    """Inputs of the registered ``inference.write_outputs`` node."""
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project.path)
    return next(n for n in pipelines["inference"].nodes if n.name == "inference.write_outputs").inputs


def check_top_boxes_drawn(project, result: Path, video: pd.Series, inference: dict) -> None:
    """overlay.mp4 shows the boxes of the top-scoring tracked objects: along the box outlines the overlay
    departs from the video much more than inside the boxes (where only mp4 compression changes it)."""
    h, w = int(video["height"]), int(video["width"])
    shown = [f[:h] for f in overlay_frames(result / "overlay.mp4")]
    original = project.load("frames")[video["video_id"]]()
    boxes = project.load("tracks")[video["video_id"]]()
    boxes = boxes.sort_values("score", ascending=False).groupby("frame").head(int(inference.get("top_boxes", 3)))
    edge, inside = [], []
    for b in boxes.itertuples():
        x1, y1, x2, y2 = int(b.x1), int(b.y1), int(b.x2), int(b.y2)
        if x1 < 5 or y1 < 5 or x2 > w - 6 or y2 > h - 6 or x2 - x1 < 6 or y2 - y1 < 6:
            continue   # away from the red frame border of anomalous frames, large enough to have an inside
        diff = np.abs(shown[int(b.frame)].astype(int) - original[int(b.frame)].astype(int)).sum(axis=2)
        edge += [np.median(diff[y1, x1:x2 + 1]), np.median(diff[y2, x1:x2 + 1])]
        inside.append(np.median(diff[y1 + 2:y2 - 1, x1 + 2:x2 - 1]))
    assert len(inside) >= 3, "too few tracked boxes to check the overlay"
    assert np.median(edge) > np.median(inside) + 20, (np.median(edge), np.median(inside))
