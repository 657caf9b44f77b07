"""Node behaviour on fabricated arrays: object table, bad input, padding, scoring, modalities (spec §6)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from vad_kedro.core.errors import DataError
from vad_kedro.core.runtime import shifted_seed
from vad_kedro.pipelines.memory_fusion import nodes as N

from .conftest import make_dataset


def run_shared(dataset, params, seed=None):
    seed = shifted_seed(0) if seed is None else seed
    tracks, feats, vi = dataset
    obj, pca = N.collect_objects(tracks, feats, vi, params, seed)
    ae, _ = N.fit_app_autoencoder(obj, params, seed, "cpu", True)
    app = N.encode_appearance(obj, ae, params)
    pose = N.pose_modality(obj, params)
    vel = N.velocity_modality(obj, params)
    mems = {}
    for mod in (app, pose):
        init = N.init_memory(mod, params, seed)
        mems[mod["name"]], _ = N.train_memory(mod, init, params, seed, "cpu", True)
    ap = N.make_pseudo_features(app, mems["app"], params)
    pp = N.make_pseudo_features(pose, mems["pose"], params)
    fs = N.build_frame_sets(obj, params)
    return {"objects": obj, "pca": pca, "ae": ae, "app": app, "pose": pose, "vel": vel, "mems": mems,
            "app_pseudo": ap, "pose_pseudo": pp, "frame_sets": fs}


def fit_score(s, params, variant, seed=None):
    seed = shifted_seed(0) if seed is None else seed
    fusion, hist = N.train_fusion(s["app_pseudo"], s["pose_pseudo"], s["vel"], s["frame_sets"],
                                  params["variants"][variant], params, seed, "cpu", True)
    return fusion, hist, N.score_frames(fusion, s["app_pseudo"], s["pose_pseudo"], s["vel"], s["frame_sets"],
                                        params, "cpu")


@pytest.fixture(scope="module")
def shared():
    from .conftest import small_params
    return run_shared(make_dataset(), small_params())


def test_object_table(shared, dataset):
    obj = shared["objects"]
    _, _, vi = dataset
    assert "train_abn" not in obj["video_ids"]  # abnormal training video never enters one-class training
    assert set(obj["roles"]) == {"train", "val", "test"}
    assert obj["app"].shape[1] == 16  # PCA 48 -> 16 fit on training objects
    np.testing.assert_allclose(np.linalg.norm(obj["app"], axis=1), 1.0, rtol=1e-5)
    good = obj["pose_valid"]
    assert (~good).sum() >= 1 and np.isnan(obj["pose"][~good]).all()
    assert obj["pose"][good].min() >= 0 and obj["pose"][good].max() <= 1  # box-relative keypoints
    assert shared["app"]["x"].shape == (len(obj["vid"]), 34)
    assert shared["pose"]["x"].shape == (len(obj["vid"]), 34) and np.isfinite(shared["pose"]["x"]).all()
    v = shared["vel"]["x"]
    np.testing.assert_allclose(v[:, 0], obj["vel"].mean(axis=1), rtol=1e-6)
    assert (v == v[:, :1]).all()


def test_pseudo_features_keep_shape_and_velocity_is_shared(shared):
    n = len(shared["objects"]["vid"])
    for key in ("app_pseudo", "pose_pseudo"):
        assert shared[key]["normal"].shape == (n, 34) and shared[key]["anomaly"].shape == (n, 34)
    # velocity has a single version: pseudo-normal and pseudo-anomaly frames get the identical real velocity
    fs = shared["frame_sets"]
    mods = ["app", "pose", "vel"]
    src = {"app": shared["app_pseudo"], "pose": shared["pose_pseudo"], "vel": shared["vel"]}
    nrm = N._frame_inputs(mods, src, fs["train_idx"], "normal")
    anm = N._frame_inputs(mods, src, fs["train_idx"], "anomaly")
    assert np.array_equal(nrm[2].numpy(), anm[2].numpy())
    assert not np.array_equal(nrm[0].numpy(), anm[0].numpy())


def test_velocity_boost_and_standardize(shared, params):
    obj = shared["objects"]
    p = {**params, "standardize": True, "pseudo": {**params["pseudo"], "velocity_boost": 3.0}}
    vel = N.velocity_modality(obj, p)
    train = N.object_roles(obj) == "train"
    z = vel["x"][train, 0]
    assert abs(z.mean()) < 1e-5 and abs(z.std() - 1) < 1e-4
    # pseudo-anomalous speed = v + 2 * mean training speed, in standardised units
    sd = obj["vel"].mean(axis=1)[train].std()
    np.testing.assert_allclose(vel["anomaly"] - vel["x"], 2 * vel["mean_speed"] / sd, rtol=1e-4)
    app = N.encode_appearance(obj, shared["ae"], p)
    np.testing.assert_allclose(app["x"][train].mean(axis=0), 0, atol=1e-5)
    # velocity is now a perturbed modality: the one-object mode trains and scores
    q = {**p, "fusion": {**p["fusion"], "anomaly_objects": "one", "epochs": 5}}
    fusion, hist = N.train_fusion(shared["app_pseudo"], shared["pose_pseudo"], vel, shared["frame_sets"],
                                  q["variants"]["smaff_nopose"], q, 0, "cpu", True)
    assert len(hist["fusion_loss"]) == 5 and np.isfinite(hist["fusion_loss"]).all()


def test_one_score_per_frame_and_empty_frames_score_zero(shared, params):
    p = {**params, "scoring": {"smooth_sigma": 0.0, "smooth_across_videos": False}}
    _, hist, df = fit_score(shared, p, "smaff")
    assert list(df.columns) == ["video_id", "frame", "score"]
    assert len(df) == 2 * 40 and set(df["video_id"]) == {"test_a", "test_b"}
    for _, g in df.groupby("video_id"):
        assert g["frame"].tolist() == list(range(40))
    empty = ~shared["frame_sets"]["test_valid"].any(axis=1)
    assert empty.sum() > 0
    assert (df["score"].to_numpy()[empty] == 0).all()
    assert (df["score"].to_numpy()[~empty] > 0).all()
    assert np.isfinite(hist["fusion_loss"]).all() and len(hist["fusion_loss"]) == p["fusion"]["epochs"]
    # frames 10..29 of the test videos hold a new appearance at 4x speed. Measured AUC, seeds 0..4
    # (VAD_SEED_OFFSET 0..4), 1 thread: 0.624 0.579 0.542 0.648 0.644; 2 threads identical: the bar is chance,
    # 0.042 under the worst (a sanity check; the quality bars are the pipeline's and the contract's).
    y = ((df["frame"] >= 10) & (df["frame"] < 30)).astype(int)
    assert roc_auc_score(y, df["score"]) > 0.5


def test_smoothing_never_crosses_videos(shared, params):
    fusion, _, base = fit_score(shared, params, "smaff_nopose")
    # perturb every object of test_a: test_b's smoothed scores must not move
    obj = shared["objects"]
    ida = int(np.flatnonzero(obj["video_ids"] == "test_a")[0])
    rows = obj["vid"] == ida
    app2 = {**shared["app_pseudo"], "normal": shared["app_pseudo"]["normal"].copy()}
    app2["normal"][rows] += 5.0
    p = {**params, "scoring": {"smooth_sigma": 5.0, "smooth_across_videos": False}}
    a = N.score_frames(fusion, shared["app_pseudo"], shared["pose_pseudo"], shared["vel"], shared["frame_sets"], p, "cpu")
    b = N.score_frames(fusion, app2, shared["pose_pseudo"], shared["vel"], shared["frame_sets"], p, "cpu")
    in_b = a["video_id"] == "test_b"
    np.testing.assert_array_equal(a.loc[in_b, "score"].to_numpy(), b.loc[in_b, "score"].to_numpy())
    assert not np.allclose(a.loc[~in_b, "score"], b.loc[~in_b, "score"])
    # the faithful switch smooths over the concatenated test set: test_b now moves
    pf = {**params, "scoring": {"smooth_sigma": 5.0, "smooth_across_videos": True}}
    af = N.score_frames(fusion, shared["app_pseudo"], shared["pose_pseudo"], shared["vel"], shared["frame_sets"], pf, "cpu")
    bf = N.score_frames(fusion, app2, shared["pose_pseudo"], shared["vel"], shared["frame_sets"], pf, "cpu")
    assert not np.array_equal(af.loc[in_b, "score"].to_numpy(), bf.loc[in_b, "score"].to_numpy())


def test_same_seed_bit_identical_and_checkpoint(shared, params):
    f1, h1, s1 = fit_score(shared, params, "smaff")
    _, _, s2 = fit_score(shared, params, "smaff")
    np.testing.assert_array_equal(s1["score"].to_numpy(), s2["score"].to_numpy())
    stats = N.feature_statistics(shared["app"], shared["pose"], shared["vel"])
    ck = N.pack_checkpoint(shared["pca"], shared["ae"], shared["mems"]["app"], shared["mems"]["pose"], f1, stats, params)
    assert ck["modalities"] == ["app", "pose", "vel"] and ck["pose_memory"].shape[1] == 34
    import io

    import torch
    buf = io.BytesIO()
    torch.save(ck, buf)
    buf.seek(0)
    back = torch.load(buf, weights_only=True)
    assert back["t_max"] == shared["frame_sets"]["t_max"]
    hist = N.merge_histories(h1, {"empty": []})
    assert "empty" not in hist and hist["fusion_loss"][0] == {"step": 0, "value": h1["fusion_loss"][0]}


def test_no_pose_dataset_runs_app_velocity_only(params, caplog):
    s = run_shared(make_dataset(pose=False), params)
    assert not s["pose"]["available"] and not s["pose_pseudo"]["available"]
    with caplog.at_level("WARNING"):
        f_full, _, full = fit_score(s, params, "smaff")
    assert "pose requested but unavailable" in caplog.text
    f_np, _, nopose = fit_score(s, params, "smaff_nopose")
    assert f_full["modalities"] == f_np["modalities"] == ["app", "vel"]
    np.testing.assert_array_equal(full["score"].to_numpy(), nopose["score"].to_numpy())
    stats = N.feature_statistics(s["app"], s["pose"], s["vel"])
    ck = N.pack_checkpoint(s["pca"], s["ae"], s["mems"]["app"], s["mems"]["pose"], f_full, stats, params)
    assert ck["pose_available"] is False and ck["pose_memory"] is None


def test_more_objects_than_t_max_keep_largest_boxes(shared, params):
    obj = shared["objects"]
    p = {**params, "padding": {"t_max": 1, "t_max_cap": None}}
    fs = N.build_frame_sets(obj, p)
    assert fs["t_max"] == 1 and fs["test_n_truncated"] > 0
    # in every test frame the kept object is the largest box of that frame
    roles = N.object_roles(obj)
    test = np.flatnonzero(roles == "test")
    df = pd.DataFrame({"vid": obj["vid"][test], "frame": obj["frame"][test], "area": obj["area"][test]})
    largest = df.groupby(["vid", "frame"])["area"].max()
    kept = fs["test_idx"][fs["test_valid"][:, 0], 0]
    got = pd.Series(obj["area"][kept], index=pd.MultiIndex.from_arrays([obj["vid"][kept], obj["frame"][kept]]))
    np.testing.assert_array_equal(got.sort_index().to_numpy(), largest.sort_index().to_numpy())


def test_default_t_max_is_largest_training_frame(shared):
    obj = shared["objects"]
    train = N.object_roles(obj) == "train"
    counts = pd.Series(list(zip(obj["vid"][train], obj["frame"][train]))).value_counts()
    assert shared["frame_sets"]["t_max"] == counts.max()
    assert shared["frame_sets"]["train_valid"].any(axis=1).all()  # no empty training frame


def test_memory_capped_by_training_objects(params):
    assert N.memory_size(1000, 500, 10, 10) == 100
    assert N.memory_size(50, 500, 10, 10) == 10
    assert N.memory_size(12, 500, 0, 10) == 12
    with pytest.raises(ValueError):
        N.memory_size(7, 500, 10, 10)
    few = {"name": "app", "available": True, "x": np.random.default_rng(0).normal(size=(9, 34)).astype(np.float32),
           "fit_rows": np.ones(9, bool)}
    with pytest.raises(DataError, match="appearance memory"):
        N.init_memory(few, params, 0)
    assert N.init_memory({**few, "name": "pose"}, params, 0)["available"] is False
    ok = N.init_memory({**few, "x": np.random.default_rng(1).normal(size=(27, 34)).astype(np.float32),
                      "fit_rows": np.ones(27, bool)}, params, 0)
    assert ok["centroids"].shape == (13, 34)  # min(16, 27 // 2)


def test_bad_inputs_raise_clear_errors(dataset, params):
    tracks, feats, vi = dataset
    bad = dict(feats)
    bad["test_a"] = lambda: {k: v[:-1] for k, v in feats["test_a"]().items()}
    with pytest.raises(DataError, match="test_a.*rows but tracks have"):
        N.collect_objects(tracks, bad, vi, params, 0)
    missing = {k: v for k, v in feats.items() if k != "test_b"}
    with pytest.raises(DataError, match="test_b: no object_features partition"):
        N.collect_objects(tracks, missing, vi, params, 0)
    novel = dict(feats)
    novel["val_a"] = lambda: {k: v for k, v in feats["val_a"]().items() if k != "vel"}
    with pytest.raises(DataError, match="missing array 'vel'"):
        N.collect_objects(tracks, novel, vi, params, 0)
    late = dict(tracks)
    late["test_a"] = lambda: tracks["test_a"]().assign(frame=lambda d: d["frame"] + 100)
    with pytest.raises(DataError, match="outside"):
        N.collect_objects(late, feats, vi, params, 0)
    with pytest.raises(DataError, match="no normal training videos"):
        N.collect_objects(tracks, feats, vi.assign(split="test"), params, 0)


def test_empty_test_video_is_scored(dataset, params):
    tracks, feats, vi = dataset
    t2, f2 = dict(tracks), dict(feats)
    t2["test_b"] = lambda: tracks["test_b"]().iloc[:0]
    f2["test_b"] = lambda: {k: v[:0] for k, v in feats["test_b"]().items()}
    s = run_shared((t2, f2, vi), params)
    _, _, df = fit_score(s, params, "smaff")
    b = df[df["video_id"] == "test_b"]
    assert len(b) == 40 and (b["score"] == 0).all()
