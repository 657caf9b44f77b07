"""Score contract of the weak_supervision methods (mil, rtfm, mgfn, s3r).

Checked against facts that no trained figure can hide: every test video gets exactly one score per
snippet (T, not the crop count N) and so one score per frame; MIL, which scores each snippet on its
own, is exactly equivariant to a reordering of snippets; and a planted event in snippets [a, b] of a
test video puts the video's peak frame inside [16a − w, 16(b + 1) + w) with w = 16 frames (one
snippet: RTFM / MGFN / S3R mix neighbouring snippets through their temporal convolutions).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from vad_kedro.core.runtime import shifted_seed
from vad_kedro.pipelines.weak_supervision import METHODS, nodes
from vad_kedro.pipelines.weak_supervision.models import build_model, video_to_bag
from vad_kedro.pipelines.weak_supervision.training import score_snippets

from ..pipelines.weak_supervision.synthetic import make_synthetic
from ..pipelines.weak_supervision.test_nodes import SMALL, train
from .checks import assert_one_score_per_frame

SNIPPET = 16
WINDOW = 16          # frames: one snippet either side of the planted event
EVENT = (21, 26)     # snippets [a, b] of the planted event in a 40-snippet test video
N_CROPS = 3          # != T, so a crop / time mix-up changes the number of scores
ITERATIONS = 60
SHIFT = 3.0          # the generator's anomaly shift
N_SEEDS = 5          # the planted-event check reads the seed-mean score curve


DIM = 64


def _trained(method: str, seed: int = 0, n_seeds: int = 1) -> tuple[dict, dict]:
    """A small detector trained on the spec §7 synthetic set (anomalies: a shift along one direction)."""
    feats, index, _ = make_synthetic(n_train=12, n_test=2, n_val=4, n_crops=N_CROPS, dim=DIM, t_range=(20, 48), shift=SHIFT,
                                     seed=3)
    cfg = {**SMALL[method], "iterations": ITERATIONS, "batch_size": 6, "eval_every": 10, "n_seeds": n_seeds}
    if method != "mgfn":   # no dropout: the contract is about where the scores land, not about regularisation
        cfg["model"] = {**cfg.get("model", {}), "dropout": 0.0}
    ckpt, _ = train(method, feats, index, cfg, seed)
    direction = np.random.default_rng(3).normal(size=DIM)   # make_synthetic's first draw: its anomaly direction
    return ckpt, {"cfg": cfg, "direction": direction / np.linalg.norm(direction)}


@pytest.fixture(scope="module", params=METHODS)
def trained(request):
    return request.param, *_trained(request.param, seed=shifted_seed(0), n_seeds=N_SEEDS)


def _planted_video(direction: np.ndarray, t: int = 40, seed: int = 11) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(t, 1, direction.size)) + 0.1 * rng.normal(size=(t, N_CROPS, direction.size))
    x[EVENT[0]: EVENT[1] + 1] += SHIFT * direction * np.sqrt(direction.size) / 4
    return x.astype(np.float32)


def test_video_to_bag_is_crop_major_and_checks_the_crop_axis():
    video = np.arange(5 * 3 * 2, dtype=np.float32).reshape(5, 3, 2)   # (T=5, N=3, C=2)
    bag = video_to_bag(video, n_crops=3)
    assert bag.shape == (1, 3, 5, 2)
    np.testing.assert_array_equal(bag[0, 1, 4].numpy(), video[4, 1])   # crop 1 of snippet 4
    with pytest.raises(ValueError, match="crops on axis 1"):
        video_to_bag(video.transpose(1, 0, 2), n_crops=3)              # (N, T, C) by mistake
    with pytest.raises(ValueError, match=r"\(T, n_crops, C\)"):
        video_to_bag(video[None], n_crops=3)
    model = build_model("mil", {"hidden": [8, 4], "dropout": 0.6}, 2)
    with pytest.raises(ValueError, match=r"\(B, n_crops, T, C\)"):
        model(torch.from_numpy(video))


def test_mil_scores_follow_the_snippets_exactly():
    """MIL scores each snippet alone: permuting the snippets permutes the scores, bit for bit."""
    torch.manual_seed(0)
    model = build_model("mil", {"hidden": [16, 8], "dropout": 0.0}, 8).eval()
    video = np.random.default_rng(0).normal(size=(7, N_CROPS, 8)).astype(np.float32)
    perm = np.random.default_rng(1).permutation(7)
    scores = score_snippets(model, video, N_CROPS, torch.device("cpu"))
    assert scores.shape == (7,)
    np.testing.assert_allclose(score_snippets(model, video[perm], N_CROPS, torch.device("cpu")), scores[perm],
                               rtol=1e-6)


def test_one_score_per_snippet_and_per_frame(trained):
    method, ckpt, extra = trained
    video = _planted_video(extra["direction"])
    index = pd.DataFrame({"video_id": ["test_x"], "split": ["test"], "n_frames": [40 * SNIPPET - 5]})
    snippet = nodes.score_videos({"test_x": lambda: video}, index, ckpt, extra["cfg"], "cpu")
    assert snippet["test_x"].shape == (N_SEEDS, 40)      # (seeds, T): not (seeds, n_crops)
    assert_one_score_per_frame(nodes.expand_to_frames(snippet, index), index, method)


def test_planted_event_holds_the_peak(trained):
    """Peak of the seed-mean frame score curve inside the event ± one snippet.

    Measured margin (highest seed-mean score inside the event window minus the highest outside it;
    the test fails at a margin <= 0), 5 seeds each, VAD_SEED_OFFSET 0 / 100 / 200, 1 torch thread
    (2 threads gave the same figures): mil 0.21 / 0.35 / 0.22, rtfm 0.33 / 0.35 / 0.37,
    mgfn 0.38 / 0.13 / 0.17, s3r 0.20 / 0.39 / 0.27. With dropout 0.7, rtfm missed the event at
    offset 100 (-0.04): single tiny runs are noisy, hence no dropout and the seed mean.
    """
    method, ckpt, extra = trained
    video = _planted_video(extra["direction"])
    index = pd.DataFrame({"video_id": ["test_x"], "split": ["test"], "n_frames": [40 * SNIPPET]})
    frames = nodes.expand_to_frames(nodes.score_videos({"test_x": lambda: video}, index, ckpt, extra["cfg"], "cpu"),
                                    index)
    curve = frames.groupby("frame")["score"].mean()
    peak = int(curve.index[int(np.argmax(curve.to_numpy()))])
    lo, hi = EVENT[0] * SNIPPET - WINDOW, (EVENT[1] + 1) * SNIPPET + WINDOW
    assert lo <= peak < hi, (method, peak, (lo, hi))
