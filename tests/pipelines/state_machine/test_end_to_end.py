"""End-to-end tests: the node chain on fabricated sprites (spec section 6) and the registered pipeline on smoke."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.metrics import roc_auc_score

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


def run_chain(frames, tracks, flow, video_index, p, seed=0):
    """The pipeline's node chain without Kedro (same order as pipeline.py)."""
    f, t, fl = loaders(frames), loaders(tracks), loaders(flow)
    bundles = {r: N.crop_tracks(f, t, fl, vids, p["crops"])
               for r, vids in (("train", N.train_videos(video_index)), ("test", N.test_videos(video_index)))}
    cap = N.fit_captioner(bundles["train"], p["captioner"], seed)
    caps = {r: N.caption_crops(b, cap, video_index, {"root": "."}, p["captioner"]) for r, b in bundles.items()}
    enc, enc_hist = N.fit_local_encoder(bundles["train"], caps["train"], cap, p["local_encoder"], seed, "cpu", True)
    prop = {r: N.propagate_captions(N.encode_local_patterns(enc, b, caps[r], p["local_encoder"], "cpu"), b, cap,
                                    p["propagation"]) for r, b in bundles.items()}
    smm, hist = N.train_smm(prop["train"], N.train_windows(bundles["train"], p["windows"]), p["smm"], seed, "cpu", True)
    scores = {}
    for r, b in bundles.items():
        w = N.test_windows(b, p["windows"])
        scores[r] = N.frame_scores(N.score_windows(smm, prop[r], w, p["smm"], "cpu"), w, b, p["scoring"])
    final = N.fuse_motion(scores["test"], scores["train"], bundles["test"], bundles["train"], p["motion_fusion"],
                          p["scoring"])
    return final, N.pack_model(enc, smm, cap), N.training_history(enc_hist, hist)


def test_synthetic_sprites_end_to_end_beats_chance():
    frames, tracks, flow, vi, labels = make_dataset(seed=0, n_frames=100)
    scores, model, history = run_chain(frames, tracks, flow, vi, _params())
    test_ids = N.test_videos(vi)
    assert scores.groupby("video_id").size().to_dict() == {v: 100 for v in test_ids}
    y = np.concatenate([labels[v] for v in test_ids])
    s = scores.sort_values(["video_id", "frame"])["score"].to_numpy()
    assert roc_auc_score(y, s) >= 0.75
    assert set(model) == {"method", "smm", "local_encoder", "captioner"}
    assert len(history["smm_loss"]) == 20 and len(history["encoder_loss"]) == 2
    # same seed -> bit-identical scores
    again, _, _ = run_chain(frames, tracks, flow, vi, _params())
    assert np.array_equal(again["score"].to_numpy(), scores["score"].to_numpy())


@pytest.mark.slow
def test_registered_pipeline_on_smoke(smoke_project):
    smoke_project.run("state_machine")
    scores = smoke_project.load("lpg.frame_scores")
    index = smoke_project.load("video_index")
    test = index[index["split"] == "test"]
    assert set(scores["video_id"]) == set(test["video_id"])
    assert len(scores) == int(test["n_frames"].sum())
    assert np.isfinite(scores["score"]).all()
    metrics = smoke_project.load("lpg.metrics")
    assert metrics["micro_auc"] > 0.55
