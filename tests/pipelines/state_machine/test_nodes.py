"""state_machine node tests on tiny hand-made arrays (spec section 6 + bad inputs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from vad_kedro.core.errors import DataError
from vad_kedro.core.metrics import frame_metrics, macro_auc, micro_auc
from vad_kedro.pipelines.state_machine import nodes as N

from .fabricate import loaders


def _index(track_frames: dict[int, list[int]], areas: dict[int, list[int]] | None = None, video: int = 0) -> np.ndarray:
    rows = []
    for tid, frames in track_frames.items():
        for j, f in enumerate(frames):
            rows.append((video, tid, f, (areas or {}).get(tid, [100] * len(frames))[j]))
    return np.asarray(rows, np.int64)


# ---------------------------------------------------------------- windows


def test_forty_frame_track_gives_seven_windows_with_correct_starts():
    w = N.make_windows(_index({5: list(range(10, 50))}), stride=1)
    assert w["rows"].shape == (7, 34)
    assert w["meta"].tolist() == [[0, 5, 10 + s] for s in range(7)]
    assert w["rows"][0].tolist() == list(range(34))
    assert w["rows"][-1].tolist() == list(range(6, 40))


def test_window_starts_at_stride_include_last():
    w = N.make_windows(_index({0: list(range(46))}), stride=6)  # n - 34 = 12 -> starts 0, 6, 12
    assert w["meta"][:, 2].tolist() == [0, 6, 12]


def test_two_missing_frames_accepted_three_rejected():
    two = [f for f in range(36) if f not in (5, 6)]  # 34 observations over frames 0..35
    three = [f for f in range(37) if f not in (5, 6, 7)]
    assert len(N.make_windows(_index({0: two}), stride=1)["rows"]) == 1
    assert len(N.make_windows(_index({0: three}), stride=1)["rows"]) == 0


def test_short_tracks_give_no_windows():
    w = N.make_windows(_index({0: list(range(33)), 1: list(range(34))}), stride=1)
    assert w["meta"].tolist() == [[0, 1, 0]]


# ---------------------------------------------------------------- propagation


def _encoded(score, sim, cap, feats, vocab):
    return {"features": np.asarray(feats, np.float32), "score": np.asarray(score, np.float32),
            "sim": np.asarray(sim, np.float32), "caption_id": np.asarray(cap, np.int64), "vocab": vocab}


def test_propagation_rules():
    vocab = ["walking", "person falls down"]
    # one track, frames 0..4: frame 0 template (informative), then: smaller+yes, larger+yes, smaller+no, equal+yes
    index = _index({0: [0, 1, 2, 3, 4]}, {0: [100, 90, 120, 80, 100]})
    feats = np.arange(5 * 3, dtype=np.float32).reshape(5, 3)
    sim = [[0.1, 0.9], [0.1, 0.8], [0.1, 0.9], [0.1, 0.2], [0.1, 0.6]]
    enc = _encoded([5.0, 1, 1, 1, 1], sim, [1, 0, 0, 0, 0], feats, vocab)
    out = N.propagate_captions(enc, {"index": index}, {"generic": ["walking"]},
                               {"theta": 0.5, "min_caption_chars": 5, "enabled": True})
    assert out["inherited"].tolist() == [False, True, False, False, True]
    assert np.array_equal(out["features"][1], feats[0])  # inherited feature equals the template feature
    assert np.array_equal(out["features"][4], feats[0])
    assert np.array_equal(out["features"][2], feats[2])  # larger box never inherits
    assert np.array_equal(out["features"][3], feats[3])  # verifier "no" never inherits
    assert out["caption_id"].tolist() == [1, 1, 0, 0, 1]


def test_generic_or_short_captions_are_never_templates():
    vocab = ["walking", "run"]
    index = _index({0: [0, 1]}, {0: [100, 50]})
    enc = _encoded([9.0, 1.0], [[0.9, 0.9], [0.9, 0.9]], [0, 1], np.eye(2, 3), vocab)
    out = N.propagate_captions(enc, {"index": index}, {"generic": ["walking"]}, {"theta": 0.5, "min_caption_chars": 5, "enabled": True})
    assert not out["inherited"].any()


def test_template_is_per_track():
    vocab = ["walking", "person falls down"]
    index = _index({0: [0], 1: [1]}, {0: [100], 1: [10]})
    enc = _encoded([5.0, 1.0], [[0.1, 0.9], [0.1, 0.9]], [1, 0], np.eye(2, 3), vocab)
    out = N.propagate_captions(enc, {"index": index}, {"generic": ["walking"]}, {"theta": 0.5, "min_caption_chars": 5, "enabled": True})
    assert not out["inherited"].any()


# ---------------------------------------------------------------- frame scores


def test_frame_score_placement_max_and_empty_fill():
    meta = np.asarray([[0, 1, 0], [0, 2, 0], [0, 1, 3], [1, 7, 5]], np.int64)
    scores = np.asarray([1.0, 3.0, 2.0, 0.5], np.float32)
    per_video, n_empty = N.place_window_scores(scores, meta, np.asarray([40, 30]), offset=17, empty_fill="min")
    assert [len(v) for v in per_video] == [40, 30]
    assert per_video[0][17] == 3.0  # max over tracks
    assert per_video[0][20] == 2.0
    assert per_video[1][22] == 0.5
    assert per_video[0][0] == 0.5 and per_video[1][0] == 0.5  # lowest scored value over all videos
    assert n_empty == 40 + 30 - 3
    per_video, _ = N.place_window_scores(scores, meta, np.asarray([40, 30]), empty_fill=-1.0)
    assert per_video[0][5] == -1.0


def test_frame_scores_cover_every_video_and_smooth_per_video():
    bundle = {"videos": np.asarray(["a", "b"]), "n_frames": np.asarray([50, 40])}
    windows = {"meta": np.asarray([[0, 0, 10]], np.int64)}
    df = N.frame_scores(np.asarray([4.0], np.float32), windows, bundle,
                        {"score_offset": 17, "placement": "centre", "empty_fill": "min", "smooth_sigmas": []})
    assert len(df) == 90 and df.groupby("video_id").size().to_dict() == {"a": 50, "b": 40}
    assert df.loc[(df.video_id == "a") & (df.frame == 27), "score"].item() == 4.0
    smoothed = N.frame_scores(np.asarray([4.0], np.float32), windows, bundle,
                              {"score_offset": 17, "placement": "centre", "empty_fill": 0.0, "smooth_sigmas": [1, 2]})
    assert smoothed[smoothed.video_id == "b"]["score"].abs().max() == 0.0  # no leakage across videos
    assert smoothed["score"].sum() == pytest.approx(4.0, rel=1e-6)


def test_cumulative_smoothing_equals_successive_gaussians():
    from scipy.ndimage import gaussian_filter1d

    x = np.random.default_rng(0).random(50)
    expected = x
    for s in (1, 2, 3):
        expected = gaussian_filter1d(expected, s, mode="reflect")
    assert np.allclose(N.smooth_cumulative(x, [1, 2, 3]), expected)


# ---------------------------------------------------------------- SMM training


def _prop_and_windows(n_tracks=3, length=40, d=8, seed=0):
    rng = np.random.default_rng(seed)
    index = np.concatenate([_index({t: list(range(length))}) for t in range(n_tracks)])
    feats = rng.standard_normal((len(index), d)).astype(np.float32)
    return {"features": feats}, N.make_windows(index, stride=2)


SMM = {"d_model": 16, "n_layers": 3, "d_state": 8, "s4_mode": "diag", "conv": "auto", "dropout": 0.2,
       "lr": 5e-5, "lr_gamma": 0.99, "weight_decay": 0.0, "grad_clip": 100.0, "batch_size": 8, "epochs": 3,
       "shuffle_train": True, "faithful_flip_aug": False, "feature_norm": "standardize"}


def test_lr_schedule_values():
    assert [N.lr_at(5e-5, 0.99, e) for e in range(3)] == pytest.approx([5e-5, 4.95e-5, 4.9005e-5], rel=1e-12)
    prop, win = _prop_and_windows()
    _, hist = N.train_smm(prop, win, SMM, seed=0, device="cpu", deterministic=True)
    # lr used in epoch e+1 is the one set after epoch e
    assert hist["smm_lr"] == pytest.approx([5e-5, 5e-5, 4.95e-5], rel=1e-12)
    assert len(hist["smm_loss"]) == 3


def test_train_and_score_deterministic_and_flip_aug():
    prop, win = _prop_and_windows()
    s1, _ = N.train_smm(prop, win, SMM, 0, "cpu", True)
    s2, _ = N.train_smm(prop, win, SMM, 0, "cpu", True)
    a = N.score_windows(s1, prop, win, SMM, "cpu")
    b = N.score_windows(s2, prop, win, SMM, "cpu")
    assert a.shape == (len(win["rows"]),) and np.array_equal(a, b) and (a > 0).all()
    _, hist = N.train_smm(prop, win, {**SMM, "faithful_flip_aug": True, "epochs": 1}, 0, "cpu", True)
    assert len(hist["smm_loss"]) == 1
    x = torch.arange(7.0)
    assert N.flip_features(x).tolist() == [-0.0, 1, 2, -3, 4, 5, -6]


def test_train_smm_without_windows_is_a_clear_error():
    with pytest.raises(DataError, match="too short"):
        N.train_smm({"features": np.zeros((5, 4), np.float32)}, N.make_windows(_index({0: [0, 1, 2, 3, 4]}), 6),
                    SMM, 0, "cpu", True)


# ---------------------------------------------------------------- crops and bad input


def test_widen_and_clip_at_border():
    assert N.widen_and_clip(np.array([10, 10, 20, 40]), 0.33, 100, 100) == (6, 0, 24, 50)
    assert N.widen_and_clip(np.array([90, 90, 99, 99]), 0.33, 100, 100) == (87, 87, 100, 100)
    assert N.widen_and_clip(np.array([120, 10, 130, 40]), 0.0, 100, 100) is None


def _one_video(tracks: pd.DataFrame, t=6, h=40, w=50):
    frames = {"v": np.full((t, h, w, 3), 100, np.uint8)}
    flow = {"v": np.ones((t, h // 2, w // 2, 2), np.float16)}
    return loaders(frames), loaders({"v": tracks}), loaders(flow)


CROPS = {"size": 16, "widen": 0.33}


def test_crop_tracks_border_boxes_and_videos_without_tracks():
    tr = pd.DataFrame({"frame": [0, 1, 1, 2], "track_id": [1, 1, 1, 2], "x1": [0, 45, 45, 5], "y1": [0, 30, 30, 5],
                       "x2": [10, 50, 50, 5], "y2": [20, 40, 40, 10], "score": [1, 0.9, 0.5, 1]})
    f, t, fl = _one_video(tr)
    f["empty"] = lambda: np.zeros((4, 40, 50, 3), np.uint8)
    fl["empty"] = lambda: np.zeros((4, 20, 25, 2), np.float16)
    b = N.crop_tracks(f, t, fl, ["v", "empty"], CROPS)
    # duplicate (track 1, frame 1) keeps the higher score; the zero-width box is dropped
    assert b["crops"].shape == (2, 16, 16, 3)
    assert b["index"].tolist() == [[0, 1, 0, 200], [0, 1, 1, 50]]
    assert b["n_frames"].tolist() == [6, 4]
    assert b["speed"] == pytest.approx([np.sqrt(2)] * 2, rel=1e-3)
    assert b["flow_hist"].sum(1) == pytest.approx([1, 1])


def test_crop_tracks_bad_frame_index_and_missing_video():
    tr = pd.DataFrame({"frame": [9], "track_id": [1], "x1": [0], "y1": [0], "x2": [10], "y2": [10], "score": [1.0]})
    f, t, fl = _one_video(tr)
    with pytest.raises(DataError, match="tracks/v"):
        N.crop_tracks(f, t, fl, ["v"], CROPS)
    with pytest.raises(DataError, match="frames"):
        N.crop_tracks(f, t, fl, ["v", "nope"], CROPS)


def test_missing_weights_file_is_a_clear_error(tmp_path):
    bundle = {"index": np.zeros((1, 4), np.int64), "crops": np.zeros((1, 16, 16, 3), np.uint8)}
    params = {"blip2_weights_path": str(tmp_path / "missing.pth")}
    with pytest.raises(DataError, match="does not exist"):
        N.fit_local_encoder(bundle, ["a"], {"kind": "pseudo", "vocab": ["a"]}, params, 0, "cpu", True)


def test_select_videos_one_class():
    vi = pd.DataFrame({"video_id": ["train_a", "train_b", "val_c", "test_d"], "split": ["train", "train", "val", "test"],
                       "video_label": [0, 1, 0, 1]})
    assert N.train_videos(vi) == ["train_a", "val_c"]
    assert N.test_videos(vi) == ["test_d"]


# ---------------------------------------------------------------- captions and text


def test_hashed_text_embedding_is_deterministic_and_normalised():
    e = N.hashed_text_embedding(["person falls", "person falls", "walk"], 16, seed=0)
    assert np.allclose(np.linalg.norm(e, axis=1), 1)
    assert np.array_equal(e[0], e[1]) and not np.allclose(e[0], e[2])
    assert N.fnv1a("a") == 0xE40C292C


def test_label_captions_match_by_iou():
    bundle = {"index": np.asarray([[0, 1, 3, 100], [0, 1, 4, 100]], np.int64),
              "boxes": np.asarray([[10, 10, 20, 30], [50, 50, 60, 70]], np.float32), "videos": np.asarray(["test_01"])}
    vi = pd.DataFrame({"video_id": ["test_01"], "split": ["test"], "source_path": ["/d/testing/frames/01"]})
    objects = pd.DataFrame({"split": ["testing", "testing"], "video": ["01", "01"], "frame": [3, 4],
                            "x1": [11, 0], "y1": [10, 0], "x2": [21, 5], "y2": [30, 5], "action": ["fall", "walk"]})
    assert N.label_captions(bundle, objects, vi, 0.3) == ["fall", ""]


# ---------------------------------------------------------------- motion fusion, metrics


def test_motion_fusion_weight_zero_is_identity_and_positive_weight_adds_velocity():
    bundle = {"videos": np.asarray(["a"]), "n_frames": np.asarray([4]), "index": np.asarray([[0, 0, 2, 1]]),
              "speed": np.asarray([3.0], np.float32)}
    s = pd.DataFrame({"video_id": "a", "frame": np.arange(4), "score": [1.0, 1.0, 1.0, 1.0]})
    train = pd.DataFrame({"video_id": "t", "frame": np.arange(4), "score": [0.0, 2.0, 0.0, 2.0]})
    scoring = {"smooth_sigmas": []}
    assert N.fuse_motion(s, train, bundle, bundle, {"weight": 0.0}, scoring).equals(s)
    fused = N.fuse_motion(s, train, bundle, bundle, {"weight": 1.0}, scoring)
    assert fused["score"].idxmax() == 2 and len(fused) == 4


def test_auc_macro_skips_single_class_and_micro_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    df = pd.DataFrame({"video_id": ["a"] * 4 + ["b"] * 3, "label": [0, 0, 1, 1, 1, 1, 1],
                       "score": [0.1, 0.4, 0.35, 0.8, 0.2, 0.3, 0.9]})
    mac, skipped = macro_auc(df)
    assert skipped == ["b"] and mac == pytest.approx(0.75)
    assert micro_auc(df.label.to_numpy(), df.score.to_numpy()) == pytest.approx(roc_auc_score(df.label, df.score))
    assert frame_metrics(df)["n_skipped_macro"] == 1


# ---------------------------------------------------------------- optional deviations (off by default)


def test_pad_short_tracks_option():
    idx = _index({0: list(range(10))})
    assert len(N.make_windows(idx, stride=1)["rows"]) == 0  # faithful: no window
    w = N.make_windows(idx, stride=1, pad_short_from=8)
    assert w["rows"].shape == (3, 34)  # windows ending at observations 7, 8, 9
    assert w["rows"][0].tolist() == [0] * 26 + list(range(8))
    assert w["meta"][:, 2].tolist() == [7 - 33, 8 - 33, 9 - 33]
    assert N.test_windows({"index": idx}, {"test_stride": 1, "length": 34, "min_valid": 32, "short_tracks": "pad",
                                           "min_track_length": 8})["rows"].shape == (3, 34)


def test_track_placement_fills_the_whole_scored_track():
    index = _index({0: list(range(5, 45))})  # 40 observations -> 7 windows, centres 22..28
    w = N.make_windows(index, stride=1)
    scores = np.arange(7, dtype=np.float32)
    centre, n_c = N.place_window_scores(scores, w["meta"], np.asarray([50]), 17, "min")
    track, n_t = N.place_window_scores(scores, w["meta"], np.asarray([50]), 17, "min", index=index)
    assert n_c == 50 - 7 and n_t == 50 - 40
    assert np.array_equal(centre[0][22:29], scores) and np.array_equal(track[0][22:29], scores)
    assert (track[0][5:22] == 0).all() and (track[0][29:45] == 6).all()  # nearest window centre of the track
    assert (track[0][:5] == 0).all() and (track[0][45:] == 0).all()  # outside the track: empty_fill


def test_own_median_threshold_option():
    vocab = ["walking", "person falls down"]
    index = _index({0: [0, 1]}, {0: [100, 90]})
    enc = _encoded([5.0, 1.0], [[0.0, 0.2], [0.1, 0.15]], [1, 0], np.eye(2, 3), vocab)
    fixed = N.propagate_captions(enc, {"index": index}, {"generic": ["walking"]}, {"theta": 0.5, "min_caption_chars": 5, "enabled": True})
    assert not fixed["inherited"].any()  # 0.15 < 0.5
    # own-caption evidence: crop 0 -> 0.2, crop 1 -> 0.1; median 0.15 -> "yes"
    auto = N.propagate_captions(enc, {"index": index}, {"generic": ["walking"]},
                                {"theta": "own_median", "min_caption_chars": 5, "enabled": True})
    assert auto["inherited"].tolist() == [False, True]


def test_box_scores_fuse_the_track_window_score_with_the_box_speed():
    # Track 1 of video position 0: 40 observations on frames 5..44 -> 7 windows (centres 22..28) scored 0..6;
    # track 2: 3 observations (frames 0..2), too short for a window -> its boxes are not scored.
    index = np.concatenate([_index({1: list(range(5, 45))}), _index({2: [0, 1, 2]})])
    w = N.make_windows(index, stride=1)
    scores = np.arange(7, dtype=np.float32)
    bundle = {"index": index, "videos": np.asarray(["test_x"]), "n_frames": np.asarray([50]),
              "boxes": np.tile(np.asarray([[1, 2, 3, 4]], np.float32), (len(index), 1)),
              "speed": np.full(len(index), 2.0, np.float32)}
    model = {"params": {"scoring": {"score_offset": 17}, "motion_fusion": {"weight": 0.5}},
             "motion": {"smm_mean": 1.0, "smm_std": 2.0, "vel_mean": 0.0, "vel_std": 4.0}}
    table = N.box_scores_with_model(scores, w, bundle, model)
    assert len(table) == 40 and set(table["video_id"]) == {"test_x"}
    by_frame = table.set_index("frame")["score"]
    # frame 5: nearest centre 22 (score 0) -> (0 - 1) / 2 + 0.5 * (2 - 0) / 4 = -0.25;
    # frame 25: its own centre (score 3) -> (3 - 1) / 2 + 0.25 = 1.25; frame 44: centre 28 (6) -> 2.5 + 0.25
    assert by_frame[5] == pytest.approx(-0.25) and by_frame[25] == pytest.approx(1.25)
    assert by_frame[44] == pytest.approx(2.75)
    assert table[["x1", "y1", "x2", "y2"]].iloc[0].tolist() == [1.0, 2.0, 3.0, 4.0]
