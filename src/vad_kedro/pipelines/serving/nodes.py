"""What a served model reads and answers.

A request is a table with one row per snippet: ``video_id`` (text), ``snippet`` (its position in
the video, 0, 1, …) and ``features`` (the snippet's features, ``n_crops`` lists of ``feature_dim``
numbers, as ``feature_extraction`` writes them). The answer has one row per snippet: ``video_id``,
``snippet`` and ``score``, the score of the method's first seed, as ``kedro run --pipelines=inference``
reports it (each frame gets the score of its 16-frame snippet).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from vad_kedro.core.errors import DataError
from vad_kedro.pipelines.weak_supervision.nodes import score_videos

REQUEST_COLUMNS = ("video_id", "snippet", "features")


def serving_checkpoint(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The trained checkpoint, saved once more without versions so the MLflow model holds exactly one."""
    return checkpoint


def request_features(request: pd.DataFrame) -> dict[str, np.ndarray]:
    """The request's snippets as one (T, n_crops, D) array per video, in snippet order."""
    missing = [c for c in REQUEST_COLUMNS if c not in request.columns]
    if missing:
        raise DataError("request", f"misses the column(s) {', '.join(missing)}; "
                                   f"expected one row per snippet with {', '.join(REQUEST_COLUMNS)}")
    if request.empty:
        raise DataError("request", "has no rows")
    videos = {}
    for vid, rows in request.groupby("video_id", sort=False):
        rows = rows.sort_values("snippet")
        if rows["snippet"].tolist() != list(range(len(rows))):
            raise DataError(vid, f"snippets must be 0 … {len(rows) - 1}, each once; got {rows['snippet'].tolist()}")
        try:
            videos[str(vid)] = np.stack([np.stack([np.asarray(crop, dtype=np.float32) for crop in snippet])
                                         for snippet in rows["features"]])
        except ValueError as exc:
            raise DataError(vid, f"features must be n_crops lists of the same length in every snippet ({exc})") from exc
    return videos


def score_request(request: pd.DataFrame, checkpoint: Mapping[str, Any], cfg: Mapping[str, Any],
                  device: str) -> pd.DataFrame:
    """Snippet scores of every video of the request with the method's first seed."""
    videos = request_features(request)
    expected = (int(checkpoint["n_crops"]), int(checkpoint["feature_dim"]))
    for vid, x in videos.items():
        if x.shape[1:] != expected:
            raise DataError(vid, f"features are {x.shape[1:]} per snippet; the {checkpoint['method']} model "
                                 f"expects {expected} (n_crops lists of feature_dim numbers)")
    index = pd.DataFrame({"video_id": list(videos), "split": "test"})
    loaders = {vid: (lambda x=x: x) for vid, x in videos.items()}
    scores = score_videos(loaders, index, checkpoint, cfg, device)
    first = int(np.argmin(scores["seeds"]))
    rows = [pd.DataFrame({"video_id": vid, "snippet": np.arange(len(videos[vid]), dtype=np.int64),
                          "score": scores[vid][first].astype(np.float64)}) for vid in videos]
    return pd.concat(rows, ignore_index=True)
