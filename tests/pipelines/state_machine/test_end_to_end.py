"""End-to-end tests: the node chain on fabricated sprites (spec section 6) and the registered pipeline on smoke."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from vad_kedro.core.runtime import shifted_seed
from vad_kedro.pipelines.state_machine import nodes as N

from .fabricate import loaders, make_dataset

BASE = Path(__file__).resolve().parents[3] / "conf" / "base" / "parameters_state_machine.yml"


def _params() -> dict:
    p = copy.deepcopy(yaml.safe_load(BASE.read_text())["state_machine"])
    p["crops"]["size"] = 32
    p["captioner"]["n_clusters"] = 8
    p["local_encoder"].update(d_model=64, d_token=32, grid=4, epochs=2, max_train_crops=600)
    p["smm"]["epochs"] = 20
    return p


def run_chain(frames, tracks, flow, video_index, p, seed=None):
    """The pipeline's node chain without Kedro (same order as pipeline.py): train, pack, score from the model.

    ``seed`` None = 0 shifted by ``VAD_SEED_OFFSET``."""
    seed = shifted_seed(0) if seed is None else seed
    f, t, fl = loaders(frames), loaders(tracks), loaders(flow)
    train = N.crop_tracks(f, t, fl, N.train_videos(video_index), p["crops"])
    cap = N.fit_captioner(train, p["captioner"], seed)
    train_caps = N.caption_crops(train, cap, video_index, {"root": "."}, p["captioner"])
    enc, enc_hist = N.fit_local_encoder(train, train_caps, cap, p["local_encoder"], seed, "cpu", True)
    prop = N.propagate_captions(N.encode_local_patterns(enc, train, train_caps, p["local_encoder"], "cpu"), train, cap,
                                p["propagation"])
    smm, hist = N.train_smm(prop, N.train_windows(train, p["windows"]), p["smm"], seed, "cpu", True)
    w = N.test_windows(train, p["windows"])
    train_scores = N.frame_scores(N.score_windows(smm, prop, w, p["smm"], "cpu"), w, train, p["scoring"])
    model = N.pack_model(enc, smm, cap, N.motion_statistics(train_scores, train, p["scoring"]), p)
    return score_with_model(model, f, t, fl, video_index), model, N.training_history(enc_hist, hist)


def score_with_model(model, f, t, fl, video_index):
    """The scoring nodes: test videos from the checkpoint alone."""
    test = N.crop_with_model(f, t, fl, video_index, model)
    caps = N.caption_with_model(test, model, video_index, {"root": "."})
    prop = N.propagate_with_model(N.encode_with_model(model, test, caps, "cpu"), test, model)
    w = N.windows_with_model(test, model)
    smm_scores = N.frame_scores_with_model(N.score_windows_with_model(model, prop, w, "cpu"), w, test, model)
    return N.fuse_with_model(smm_scores, test, model)


def test_synthetic_sprites_end_to_end_beats_chance():
    """Fused frame AUC on the sprite videos. Measured, training seeds 0..4 (VAD_SEED_OFFSET 0..4), 1 and
    2 threads (identical): 0.861 0.728 0.863 0.745 0.793 -> bar 0.65, 0.078 below the worst (the former
    bar 0.75 failed for seeds 1 and 3)."""
    frames, tracks, flow, vi, labels = make_dataset(seed=0, n_frames=100)
    scores, model, history = run_chain(frames, tracks, flow, vi, _params())
    test_ids = N.test_videos(vi)
    assert scores.groupby("video_id").size().to_dict() == {v: 100 for v in test_ids}
    y = np.concatenate([labels[v] for v in test_ids])
    s = scores.sort_values(["video_id", "frame"])["score"].to_numpy()
    assert roc_auc_score(y, s) >= 0.65
    assert set(model) == {"method", "smm", "local_encoder", "captioner", "motion", "params"}
    assert len(history["smm_loss"]) == 20 and len(history["encoder_loss"]) == 2
    # same seed -> bit-identical scores
    again, _, _ = run_chain(frames, tracks, flow, vi, _params())
    assert np.array_equal(again["score"].to_numpy(), scores["score"].to_numpy())


@pytest.mark.slow
def test_registered_pipeline_on_smoke(smoke_project):
    """Smoke micro AUC, measured for seeds 42..46 (VAD_SEED_OFFSET 0..4): 1 thread 0.800 0.802 0.848 0.753
    0.827; 2 threads identical -> bar 0.68, 0.07 under the worst."""
    smoke_project.run("state_machine")
    scores = smoke_project.load("lpg.frame_scores")
    index = smoke_project.load("video_index")
    test = index[index["split"] == "test"]
    assert set(scores["video_id"]) == set(test["video_id"])
    assert len(scores) == int(test["n_frames"].sum())
    assert np.isfinite(scores["score"]).all()
    metrics = smoke_project.load("lpg.metrics")
    assert metrics["micro_auc"] > 0.68


@pytest.fixture(scope="module")
def trained():
    frames, tracks, flow, vi, _ = make_dataset(seed=1, n_frames=80)
    scores, model, _ = run_chain(frames, tracks, flow, vi, _params())
    return scores, model, (loaders(frames), loaders(tracks), loaders(flow)), vi


def test_checkpoint_holds_everything_the_scoring_needs(trained):
    """Scoring from the saved and reloaded ``lpg.model`` (weights_only) gives the same scores."""
    import io

    import torch

    scores, model, (f, t, fl), vi = trained
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=True)
    assert loaded["params"]["windows"] == _params()["windows"] and set(loaded["motion"]) == {
        "smm_mean", "smm_std", "vel_mean", "vel_std"}
    again = score_with_model(loaded, f, t, fl, vi)
    np.testing.assert_array_equal(again["score"].to_numpy(), scores["score"].to_numpy())


def test_scores_depend_on_the_other_videos_only_through_the_min_fill(trained):
    """A video scored alone equals its score among all test videos once ``empty_fill`` is a number; with
    ``min`` (the default) the fill is the lowest scored value of the scored pool, so it differs."""
    _, model, (f, t, fl), vi = trained
    fixed = {**model, "params": {**model["params"], "scoring": {**model["params"]["scoring"], "empty_fill": -1.0}}}
    test_ids = N.test_videos(vi)
    alone = vi[(vi["split"] != "test") | (vi["video_id"] == test_ids[0])]
    pool = score_with_model(fixed, f, t, fl, vi)
    one = score_with_model(fixed, f, t, fl, alone)
    np.testing.assert_allclose(one["score"].to_numpy(), pool.loc[pool["video_id"] == test_ids[0], "score"].to_numpy(),
                               rtol=1e-5, atol=1e-6)


def test_scoring_reads_only_per_video_data_and_the_checkpoint():
    from vad_kedro.pipelines import state_machine
    from vad_kedro.pipelines.inference.pipeline import scoring_part, unsupported_inputs

    part = scoring_part(state_machine)
    assert unsupported_inputs(part) == set() and "lpg.frame_scores" in part.outputs()
    assert {d for d in part.inputs() if not d.startswith("params:")} == {
        "frames", "tracks", "flow", "video_index", "lpg.model"}
