"""A served model's request: snippets are put in order per video, and a bad request is one sentence."""

import numpy as np
import pandas as pd
import pytest

from vad_kedro.core.errors import DataError
from vad_kedro.pipelines.serving.nodes import request_features


def _rows(video_id: str, snippets: list[int], shape=(2, 3)) -> list[dict]:
    return [{"video_id": video_id, "snippet": t, "features": np.full(shape, t, dtype=float).tolist()} for t in snippets]


def test_snippets_are_stacked_in_order_per_video():
    request = pd.DataFrame(_rows("b", [1, 0]) + _rows("a", [0, 2, 1]))
    videos = request_features(request)
    assert list(videos) == ["b", "a"]
    assert videos["a"].shape == (3, 2, 3) and videos["a"].dtype == np.float32
    assert videos["a"][:, 0, 0].tolist() == [0, 1, 2] and videos["b"][:, 0, 0].tolist() == [0, 1]


@pytest.mark.parametrize(("rows", "message"), [
    (pd.DataFrame(_rows("a", [0])).drop(columns="features"), "misses the column(s) features"),
    (pd.DataFrame(columns=["video_id", "snippet", "features"]), "has no rows"),
    (pd.DataFrame(_rows("a", [0, 2])), "a: snippets must be 0 … 1, each once; got [0, 2]"),
    (pd.DataFrame(_rows("a", [0]) + _rows("a", [1], shape=(2, 4))), "a: features must be n_crops lists"),
])
def test_bad_requests_say_what_is_wrong(rows, message):
    with pytest.raises(DataError) as err:
        request_features(rows)
    assert message in str(err.value)
