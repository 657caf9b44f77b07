"""Score contract of ``crkr_cr``, ``crkr_kr``, ``crkr`` and ``crkr_nominmax`` (two_stream pipeline):
``create_pipeline()`` run in memory on fabricated moving-blob videos (CR training, pseudo-anomaly patch
selection, KR features from the CR encoder, hash net and tables, scoring of the test videos from the
checkpoints, then ``cr_frame_scores``, ``kr_frame_scores``, ``fuse_scores`` and ``fuse_scores_nominmax``, which
write the four ``<method>.frame_scores``), with the configured context / snippet layout, crops and fusion and
the two_stream tests' thin encoder and short training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from vad_kedro.pipelines.two_stream import METHODS, create_pipeline

from ..pipelines.two_stream.conftest import blob_video, tiny_params
from .checks import assert_one_score_per_frame, assert_peak_in_window, run_pipeline

REPO = Path(__file__).resolve().parents[2]
EVENT = (40, 47)   # inclusive: a bright yellow square slides through test_00 (a shape never seen in training)


def _params() -> dict:
    base = yaml.safe_load((REPO / "conf/base/parameters_two_stream.yml").read_text())["two_stream"]
    layout = {"cr": {k: base["cr"][k] for k in ("n_context", "interval")},
              "kr": {k: base["kr"][k] for k in ("snippet_len", "interval")}}
    return tiny_params(n_crops=base["n_crops"], fusion=base["fusion"], mle=base["mle"], **layout)


def _runtime(p: dict) -> dict:
    return {"two_stream": p, "seed": 0, "device": "cpu", "deterministic": True}


@pytest.fixture(scope="module")
def run():
    """Five normal training videos (one of them val), five test videos of different lengths: test_03 (40
    frames) is shorter than a KR snippet (57 frames), test_04 (16 frames) has no CR target."""
    p = _params()
    frames, rows = {}, []
    for i in range(5):
        frames[f"train_{i:02d}"], _ = blob_video(100 + i, 96)
        rows.append((f"train_{i:02d}", "train" if i else "val", 96))
    for i, n in enumerate((220, 100, 72, 40, 16)):
        anomaly = "shape" if i == 0 else None
        frames[f"test_{i:02d}"], _ = blob_video(200 + i, n, anomaly=anomaly, window=(EVENT[0], EVENT[1] + 1))
        rows.append((f"test_{i:02d}", "test", n))
    index = pd.DataFrame(rows, columns=["video_id", "split", "n_frames"]).assign(video_label=0)
    partitions = {k: (lambda v=v: v) for k, v in frames.items()}   # as the catalog's PartitionedDataset
    out = run_pipeline(create_pipeline(), {"frames": partitions, "video_index": index}, _runtime(p))
    return p, index, {m: out[f"{m}.frame_scores"] for m in METHODS}


def _cr_window(p: dict) -> int:
    return int(p["cr"]["n_context"]) * int(p["cr"]["interval"])


def _kr_window(p: dict) -> int:
    front = int(p["kr"]["snippet_len"]) // 2 * int(p["kr"]["interval"])
    span = (int(p["kr"]["snippet_len"]) - 1) * int(p["kr"]["interval"])
    return max(front, span - front)


@pytest.mark.parametrize("method", METHODS)
def test_one_score_per_frame_and_peak_on_the_planted_shape(run, method):
    """w, from the configured layout: ``crkr_cr`` 16 = n_context * interval (the error of target frame t
    comes from its context t - 16 .. t - 2 and itself, so the event raises targets a .. b + 16); ``crkr_kr``
    32 = max(front, span - front) with front = snippet_len // 2 * interval = 32, span = (snippet_len - 1) *
    interval = 56 (the snippet of frames s .. s + 56 is placed at s + 32); the fused ``crkr`` and
    ``crkr_nominmax`` 32, the larger of the two. The Gaussian smoothing (sigma 9 and 32, zero-padded) is
    symmetric inside the video but pulls a peak away from the nearer end, and a stream that ignores the event
    peaks mid-video: so the event sits 40 frames from the start of a 220-frame video, where that bias stays
    inside w and a mid-video peak (~110) does not pass. Observed for the event in frames [40, 47]: peaks at 44
    (crkr_cr), 62 (crkr_kr: raw snippet scores 0.07-0.11 on the snippets that contain the event, 0.03-0.06 on
    the others), 45 (crkr and crkr_nominmax)."""
    p, index, scores = run
    w = {"crkr_cr": _cr_window(p), "crkr_kr": _kr_window(p)}.get(method, max(_cr_window(p), _kr_window(p)))
    assert_one_score_per_frame(scores[method], index, method)
    assert_peak_in_window(scores[method], "test_00", EVENT, w, method)


def test_kr_from_shared_snippet_features_one_score_per_frame_and_peak_on_the_novel_snippet():
    """``crkr_kr`` with ``kr.feature_source: snippet_features`` (the shared [T_snip, n_crops, D] features): the
    part of ``create_pipeline(kr_feature_source="snippet_features")`` that writes ``crkr_kr.frame_scores`` (KR
    training from the snippets, hash tables, scoring, frame scores), run on fabricated features whose
    snippet 3 (frames 48..63) of test_00 is a new pattern on every crop. w = 0: each snippet score is repeated over
    its own 16 frames (no offset), and the Gaussian smoothing (sigma 8) is symmetric around that plateau, far
    from the video ends. A score per crop instead of per snippet would be expanded over the first 48 frames
    (the repeat layout pads or cuts to n_frames, so only the peak can catch it). Observed: the novel snippet
    scores sqrt(code_len) = 5.66 (absent key), the others 0.07-0.12; peak at frame 55."""
    rng = np.random.default_rng(0)
    lengths = {"train_00": 160, "train_01": 128, "train_02": 144, "test_00": 190, "test_01": 100, "test_02": 37}
    centres = rng.normal(size=(4, 32))   # normal snippets: one of 4 patterns (per crop) + noise

    def snippets(n: int) -> np.ndarray:
        t_snip = -(-n // 16)
        return (centres[rng.integers(0, 4, (t_snip, 3))] + 0.1 * rng.normal(size=(t_snip, 3, 32))).astype(np.float32)

    feats = {v: snippets(n) for v, n in lengths.items()}
    feats["test_00"][3] = rng.normal(size=(3, 32))   # a pattern never seen in training, on every crop
    index = pd.DataFrame([(v, "val" if v == "train_00" else v.split("_")[0], n, 0) for v, n in lengths.items()],
                         columns=["video_id", "split", "n_frames", "video_label"])
    p = _params()
    p["kr"] = {**p["kr"], "feature_source": "snippet_features"}
    p["fusion"] = {**p["fusion"], "kr_sigma": None}
    kr_part = create_pipeline(kr_feature_source="snippet_features").to_outputs("crkr_kr.frame_scores")
    out = run_pipeline(kr_part, {"snippet_features": {k: (lambda v=v: v) for k, v in feats.items()},
                                 "video_index": index}, _runtime(p))
    scores = out["crkr_kr.frame_scores"]
    assert_one_score_per_frame(scores, index, "crkr_kr")
    assert_peak_in_window(scores, "test_00", (48, 63), 0, "crkr_kr")
