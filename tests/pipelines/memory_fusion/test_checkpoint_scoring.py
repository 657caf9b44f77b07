"""Scoring from the checkpoint alone (what the pipeline and ``inference`` run on test videos)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch

from vad_kedro.pipelines.memory_fusion import nodes as N

from .conftest import make_dataset, small_params


def _params(standardize: bool) -> dict:
    p = small_params()
    p["standardize"] = standardize
    p["pseudo"]["velocity_boost"] = 3.0 if standardize else None
    return p


def train_checkpoint(dataset, params, variant, seed=0) -> dict:
    """The pipeline's training nodes: train / val objects only, then the checkpoint (saved and reloaded)."""
    tracks, feats, vi = dataset
    obj, pca = N.collect_training_objects(tracks, feats, vi, params, seed)
    assert set(obj["roles"]) == {"train", "val"}
    ae, _ = N.fit_app_autoencoder(obj, params, seed, "cpu", True)
    app = N.encode_appearance(obj, ae, params)
    pose, vel = N.pose_modality(obj, params), N.velocity_modality(obj, params)
    mems = {m["name"]: N.train_memory(m, N.init_memory(m, params, seed), params, seed, "cpu", True)[0]
            for m in (app, pose)}
    fs = N.build_frame_sets(obj, params)
    assert len(fs["test_idx"]) == 0
    fusion, _ = N.train_fusion(N.make_pseudo_features(app, mems["app"], params),
                               N.make_pseudo_features(pose, mems["pose"], params), vel, fs,
                               params["variants"][variant], params, seed, "cpu", True)
    ck = N.pack_checkpoint(pca, ae, mems["app"], mems["pose"], fusion, N.feature_statistics(app, pose, vel), params)
    buf = io.BytesIO()
    torch.save(ck, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


_CHECKPOINTS: dict[tuple[str, bool], dict] = {}


def checkpoint(variant: str, standardize: bool) -> dict:
    """A checkpoint trained on the fabricated dataset (trained once per module)."""
    key = (variant, standardize)
    if key not in _CHECKPOINTS:
        _CHECKPOINTS[key] = train_checkpoint(make_dataset(), _params(standardize), variant)
    return _CHECKPOINTS[key]


def score(ck, tracks, feats, vi) -> pd.DataFrame:
    """The pipeline's scoring nodes."""
    objects = N.collect_test_objects(tracks, feats, vi, ck)
    return N.score_test_frames(ck, N.memorised_test_features(objects, ck), N.test_frame_sets(objects, ck), "cpu")


def score_all_in_one(dataset, params, variant, seed=0) -> pd.DataFrame:
    """The former chain: one object table of train, val and test videos, scored in memory."""
    tracks, feats, vi = dataset
    obj, _ = N.collect_objects(tracks, feats, vi, params, seed)
    ae, _ = N.fit_app_autoencoder(obj, params, seed, "cpu", True)
    app = N.encode_appearance(obj, ae, params)
    pose, vel = N.pose_modality(obj, params), N.velocity_modality(obj, params)
    mems = {m["name"]: N.train_memory(m, N.init_memory(m, params, seed), params, seed, "cpu", True)[0]
            for m in (app, pose)}
    ap, pp = N.make_pseudo_features(app, mems["app"], params), N.make_pseudo_features(pose, mems["pose"], params)
    fs = N.build_frame_sets(obj, params)
    fusion, _ = N.train_fusion(ap, pp, vel, fs, params["variants"][variant], params, seed, "cpu", True)
    return N.score_frames(fusion, ap, pp, vel, fs, params, "cpu")


@pytest.mark.parametrize(("variant", "standardize"), [("smaff", True), ("smaff_nopose", False)])
def test_checkpoint_scoring_equals_scoring_with_the_training_table(variant, standardize):
    """Training without the test videos and scoring them from the reloaded checkpoint gives the scores of the
    in-memory chain over one table of every video."""
    dataset, params = make_dataset(), _params(standardize)
    ck = checkpoint(variant, standardize)
    assert set(ck["statistics"]["app"]) == ({"mean", "std"} if standardize else set())
    assert ("pose" in ck["statistics"]) == (variant == "smaff")
    got = score(ck, *dataset)
    want = score_all_in_one(dataset, params, variant)
    pd.testing.assert_frame_equal(got[["video_id", "frame"]], want[["video_id", "frame"]])
    np.testing.assert_allclose(got["score"], want["score"], rtol=1e-5, atol=1e-7)


def test_a_video_scores_the_same_alone_or_among_others():
    """Per-video smoothing: a test video's scores do not depend on the other scored videos (inference
    scores a new video beside reference videos)."""
    ck = checkpoint("smaff", True)
    tracks, feats, vi = make_dataset()
    pool = score(ck, tracks, feats, vi)
    alone = score(ck, tracks, feats, vi[vi["video_id"] != "test_a"])
    np.testing.assert_allclose(alone["score"], pool.loc[pool["video_id"] == "test_b", "score"], rtol=1e-5, atol=1e-7)


def test_videos_without_pose_or_objects_are_scored():
    """A new video without pose (no AlphaPose file) takes the mean training pose; without objects it scores 0."""
    ck = checkpoint("smaff", True)
    tracks, feats, vi = make_dataset()
    no_pose = dict(feats)
    no_pose["test_a"] = lambda: {k: v for k, v in feats["test_a"]().items() if k != "pose"}
    df = score(ck, tracks, no_pose, vi[vi["video_id"] == "test_a"].assign(video_label=-1))
    assert len(df) == 40 and np.isfinite(df["score"]).all()
    t2, f2 = dict(tracks), dict(feats)
    t2["test_a"] = lambda: tracks["test_a"]().iloc[:0]
    f2["test_a"] = lambda: {k: v[:0] for k, v in feats["test_a"]().items()}
    empty = score(ck, t2, f2, vi[vi["video_id"] == "test_a"])
    assert len(empty) == 40 and (empty["score"] == 0).all()


def test_apply_pca_is_sklearn_transform():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 60)).astype(np.float32)
    pca = PCA(n_components=20, svd_solver="randomized", random_state=0).fit(x)
    state = {"fitted": True, "mean": torch.from_numpy(pca.mean_.astype(np.float32)),
             "components": torch.from_numpy(pca.components_.astype(np.float32))}
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    new = rng.normal(size=(50, 60)).astype(np.float32)
    for s in (state, torch.load(buf, weights_only=True)):
        np.testing.assert_array_equal(N.apply_pca(new, s), pca.transform(new).astype(np.float32))


def test_object_scores_are_the_head_on_each_object_alone():
    ck = checkpoint("smaff", True)
    tracks, feats, vi = make_dataset()
    objects = N.collect_test_objects(tracks, feats, vi, ck)
    features = N.memorised_test_features(objects, ck)
    table = N.score_test_objects(ck, features, objects, "cpu")
    assert len(table) == len(objects["vid"]) > 0
    assert np.array_equal(table[["x1", "y1", "x2", "y2"]].to_numpy(), objects["box"].astype(np.float64))
    assert ((table["score"] > 0) & (table["score"] < 1)).all()                      # sigmoid outputs
    # an object alone in its frame is scored exactly as its frame is before smoothing (same set, same head)
    sets = N.test_frame_sets(objects, ck)
    frame_raw = N.set_scores(N._checkpoint_fusion(ck), features, sets["test_idx"], sets["test_valid"], "cpu")
    single = sets["test_valid"].sum(axis=1) == 1
    assert single.any()
    frames = pd.DataFrame({"video_id": sets["test_video"][single].astype(str), "frame": sets["test_frame"][single],
                           "frame_raw": frame_raw[single]})
    joined = frames.merge(table, on=["video_id", "frame"])
    assert len(joined) == single.sum()
    np.testing.assert_allclose(joined["score"], joined["frame_raw"], rtol=1e-6)
