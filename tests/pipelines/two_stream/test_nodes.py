"""Node functions end to end on fabricated moving-blob videos (spec section 6), plus bad inputs and
reproducibility. The spec's full-size synthetic check (3 crops, 120-frame videos) is
``benchmarks/two_stream_synthetic.py``; here 1 crop keeps the test fast."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch

from vad_kedro.core.errors import DataError
from vad_kedro.core.metrics import micro_auc
from vad_kedro.core.runtime import shifted_seed
from vad_kedro.pipelines.two_stream import nodes

from .conftest import tiny_params


def train_and_score(blobs, seed: int) -> dict:
    """Every node of the chain on the blob videos with 1 crop: models, scores, fused frame scores."""
    frames, index, labels = blobs
    p = tiny_params(n_crops=1)
    out = {"params": p, "labels": labels, "index": index}
    out["cr_network"], out["cr_hist"] = nodes.train_context_recovery(frames, index, p, seed, "cpu", True)
    out["plan"] = nodes.make_pseudo_anomalies(index, p, seed)
    out["pseudo"] = nodes.score_pseudo_anomalies(frames, out["plan"], out["cr_network"], p, "cpu")
    out["selection"] = nodes.select_patch_size(out["pseudo"], out["plan"], p)
    out["cr_model"] = nodes.cr_checkpoint(out["cr_network"], out["selection"], p)
    out["cr_scores"] = nodes.score_context_recovery(frames, index, out["cr_model"], p, "cpu")
    out["kr_train"] = nodes.extract_kr_features(frames, index, out["cr_network"], p, "cpu")
    out["hashnet"], out["kr_hist"] = nodes.train_hashnet(out["kr_train"], p, seed, "cpu", True)
    out["kr_model"] = nodes.build_hash_tables(out["hashnet"], out["kr_train"], p, "cpu", out["cr_network"])
    out["kr_scores"] = nodes.score_knowledge_retrieval(frames, index, out["kr_model"], p, "cpu")
    out["fusion_model"] = nodes.fusion_checkpoint(p)
    out["frame_scores"] = nodes.fuse_scores(out["cr_scores"], out["kr_scores"], index, out["cr_model"],
                                            out["kr_model"], out["fusion_model"])
    return out


def stream_aucs(run: dict) -> dict[str, float]:
    """Micro AUC of each stream's frame scores against the blob labels."""
    labels = run["labels"]
    y = np.concatenate([labels[v] for v in sorted(labels)])
    auc = {}
    for name, df in zip(["cr", "kr", "fused", "nominmax"], run["frame_scores"], strict=True):
        df = df.sort_values(["video_id", "frame"])
        assert len(df) == len(y)
        auc[name] = micro_auc(y, df["score"].to_numpy())
    return auc


@pytest.fixture(scope="module")
def run(blobs):
    return train_and_score(blobs, shifted_seed(0))


def test_stage_shapes(run):
    cfg = run["cr_model"]["config"]
    assert cfg["resolution"] == 64 and cfg["width_div"] == 16
    for vid in run["labels"]:
        assert run["cr_scores"][vid].shape == (120 - 16, 5)
        assert run["kr_scores"][vid].shape == (120 - 56,)
    assert run["kr_model"]["in_dim"] == 128 * 4
    # 6 normal training videos (one in val), train_stride 2 -> 32 snippets each
    assert run["kr_train"]["features"].shape == (6 * 32, 1, 512)
    assert run["kr_train"]["features"].dtype == np.float16
    assert len(run["plan"]["videos"]) == 2 and len(run["pseudo"]) == 2
    sel = run["selection"]
    assert sel["patch_sizes"] == [64, 32, 16, 8, 4] and sel["patch_size"] == sel["patch_sizes"][sel["index"]]
    assert all(0 <= a <= 1 for a in sel["pseudo_auc"])
    assert len(run["cr_hist"]["cr_loss"]) == 3 and len(run["kr_hist"]["kr_loss"]) == 10
    assert run["cr_hist"]["cr_loss"][-1] < run["cr_hist"]["cr_loss"][0]


def _roundtrip(state: dict) -> dict:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_checkpoints_are_plain_state_dicts(run):
    for state in (run["cr_model"], run["kr_model"], run["fusion_model"]):
        assert set(_roundtrip(state)) == set(state)
    km = run["kr_model"]
    assert km["tables"]["table0.keys"].dtype == torch.int64 and km["tables"]["table0.centres"].shape[1] == 32
    assert sum(int(km["tables"][f"table{i}.counts"].sum()) for i in range(8)) == 8 * 6 * 32
    cm = run["cr_model"]
    assert cm["selection"]["index"] == run["selection"]["index"] and cm["mle"]["patch_sizes"] == [64, 32, 16, 8, 4]
    assert cm["to_frames"] == {"front": 16, "span": 16, "repeat": 1, "sigma": 9.0}
    assert km["to_frames"] == {"front": 32, "span": 56, "repeat": 1, "sigma": 32.0}
    # the KR checkpoint carries the CR encoder (and nothing of the decoder)
    enc = km["features"]["encoder"]["state_dict"]
    assert enc and all(torch.equal(v, cm["state_dict"][f"encoder.{k}"]) for k, v in enc.items())


def test_scoring_reads_only_test_videos_and_checkpoints(run, blobs):
    """What ``inference`` relies on: no training video, and parameters changed after training are ignored."""
    frames, index, _ = blobs
    tests = index[index["split"] == "test"]
    only = {v: frames[v] for v in tests["video_id"]}
    other = tiny_params(n_crops=3, mle={"crop_fuse": "max", "lam_l1": 0.0, "patch_sizes": [8]},
                        kr={"snippet_len": 4, "interval": 2}, fusion={"w_kr": 5.0, "cr_sigma": 1.0})
    cr_model, kr_model, fusion_model = (_roundtrip(run[k]) for k in ("cr_model", "kr_model", "fusion_model"))
    cr = nodes.score_context_recovery(only, tests, cr_model, other, "cpu")
    kr = nodes.score_knowledge_retrieval(only, tests, kr_model, other, "cpu")
    for vid in tests["video_id"]:
        np.testing.assert_allclose(cr[vid], run["cr_scores"][vid], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(kr[vid], run["kr_scores"][vid], rtol=1e-5, atol=1e-6)
    fused = nodes.fuse_scores(cr, kr, tests, cr_model, kr_model, fusion_model)
    for got, want in zip(fused, run["frame_scores"], strict=True):
        np.testing.assert_allclose(got["score"], want["score"], rtol=1e-5, atol=1e-6)
    # one video alone: per-video min-max makes CR, KR and fused scores independent of the other videos;
    # crkr_nominmax min-maxes over the videos scored together, so it changes
    one = tests.iloc[:1]
    alone = nodes.fuse_scores(cr, kr, one, cr_model, kr_model, fusion_model)
    vid = one["video_id"].iloc[0]
    for got, want in zip(alone[:3], run["frame_scores"][:3], strict=True):
        np.testing.assert_allclose(got["score"], want.loc[want["video_id"] == vid, "score"], rtol=1e-5, atol=1e-6)
    with pytest.raises(DataError, match="older version"):
        nodes.score_context_recovery(only, tests, run["cr_network"], other, "cpu")


def test_scores_beat_chance(run):
    """CR and fused scores clearly beat chance on the blob videos.

    Measured (training seeds 0..4 = VAD_SEED_OFFSET 0..4; 1 thread | 2 threads):
    CR    0.940 0.818 0.706 0.749 0.806 | 0.825 0.795 0.720 0.791 0.743 -> bar 0.62 (0.086 below the worst)
    fused 0.924 0.856 0.791 0.786 0.760 | 0.774 0.863 0.785 0.830 0.763 -> bar 0.68 (0.080 below the worst)
    (the former bars, 0.70 and 0.75, sat 0.006 and 0.010 under the worst of these ten runs).
    """
    auc = stream_aucs(run)
    assert auc["cr"] >= 0.62, auc
    assert auc["fused"] >= 0.68, auc


def test_same_seed_same_models(blobs):
    frames, index, _ = blobs
    p = tiny_params(n_crops=1, cr={"epochs": 1, "iterations": 2, "milestones": []})
    a, _ = nodes.train_context_recovery(frames, index, p, 5, "cpu", True)
    b, _ = nodes.train_context_recovery(frames, index, p, 5, "cpu", True)
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    feats = {"features": np.random.default_rng(0).normal(size=(40, 3, 16)).astype(np.float16),
             "video": np.repeat(np.arange(2, dtype=np.int32), 20), "row": np.tile(np.arange(20, dtype=np.int32), 2)}
    h1, _ = nodes.train_hashnet(feats, p, 5, "cpu", True)
    h2, _ = nodes.train_hashnet(feats, p, 5, "cpu", True)
    assert all(torch.equal(h1["state_dict"][k], h2["state_dict"][k]) for k in h1["state_dict"])


def _index(rows):
    return pd.DataFrame(rows, columns=["video_id", "split", "n_frames", "video_label"])


def test_short_videos():
    rng = np.random.default_rng(0)
    frames = {"train_a": rng.integers(0, 255, (12, 64, 64, 3), dtype=np.uint8),
              "test_a": rng.integers(0, 255, (12, 64, 64, 3), dtype=np.uint8)}
    index = _index([("train_a", "train", 12, 0), ("test_a", "test", 12, 1)])
    p = tiny_params(n_crops=1)
    with pytest.raises(DataError, match="more than 16 frames"):
        nodes.train_context_recovery(frames, index, p, 0, "cpu", True)
    frames["train_b"] = rng.integers(0, 255, (20, 64, 64, 3), dtype=np.uint8)
    index = _index([("train_a", "train", 12, 0), ("train_b", "train", 20, 0), ("test_a", "test", 12, 1)])
    p = tiny_params(n_crops=1, cr={"epochs": 1, "iterations": 2})
    model, _ = nodes.train_context_recovery(frames, index, p, 0, "cpu", True)
    assert model["train_videos"] == ["train_b"]
    scores = nodes.score_context_recovery(frames, index, nodes.cr_checkpoint(model, {"index": 0}, p), p, "cpu")
    assert scores["test_a"].shape == (0, 5)
    with pytest.raises(DataError, match="KR snippet"):
        nodes.extract_kr_features(frames, index, model, p, "cpu")


def test_bad_inputs_name_the_problem(blobs, tmp_path):
    frames, index, _ = blobs
    p = tiny_params(encoder={"weights_path": str(tmp_path / "nope.pyth")}, cr={"epochs": 1, "iterations": 1})
    with pytest.raises(DataError, match="nope.pyth"):
        nodes.train_context_recovery(frames, index, p, 0, "cpu", True)
    missing = {k: v for k, v in frames.items() if k != "train_02"}
    with pytest.raises(DataError, match="train_02"):
        nodes.train_context_recovery(missing, index, tiny_params(cr={"epochs": 1, "iterations": 1}), 0, "cpu", True)
    no_normal = index.assign(video_label=1)
    with pytest.raises(DataError, match="no normal training videos"):
        nodes.make_pseudo_anomalies(no_normal, tiny_params(), 0)
    with pytest.raises(ValueError, match="snippet_features"):
        nodes.extract_kr_features(frames, index, {}, tiny_params(kr={"feature_source": "snippet_features"}), "cpu")


def test_kr_from_shared_snippet_features():
    rng = np.random.default_rng(0)
    feats = {"train_a": rng.normal(size=(10, 2, 24)).astype(np.float32),
             "train_b": rng.normal(size=(8, 2, 24)).astype(np.float32),
             "test_a": rng.normal(size=(6, 2, 24)).astype(np.float32)}
    index = _index([("train_a", "train", 160, 0), ("train_b", "val", 128, 0), ("test_a", "test", 90, 1)])
    p = tiny_params(kr={"feature_source": "snippet_features"})
    loaders = {k: (lambda v=v: v) for k, v in feats.items()}
    kr_train = nodes.kr_features_from_snippets(loaders, index, p)
    assert kr_train["features"].shape == (18, 2, 24)
    hashnet, _ = nodes.train_hashnet(kr_train, p, 0, "cpu", True)
    kr_model = nodes.build_hash_tables(hashnet, kr_train, p, "cpu")
    assert kr_model["features"] == {"source": "snippet_features"}
    assert kr_model["to_frames"] == {"front": 0, "span": 0, "repeat": 16, "sigma": 8.0}
    kr_scores = nodes.score_kr_from_snippets(loaders, index, kr_model, "cpu")
    assert kr_scores["test_a"].shape == (6,)
    with pytest.raises(ValueError, match="snippet_features"):
        nodes.score_knowledge_retrieval({}, index, kr_model, p, "cpu")
    cr = {"test_a": np.random.default_rng(1).uniform(size=(90 - 16, 5)).astype(np.float32)}
    cr_model = {"selection": {"index": 0}, "to_frames": {"front": 16, "span": 16, "repeat": 1, "sigma": 9.0}}
    _, kr_df, fused, _ = nodes.fuse_scores(cr, kr_scores, index, cr_model, kr_model, nodes.fusion_checkpoint(p))
    assert len(kr_df) == 90 and len(fused) == 90


def test_snippet_scores_must_cover_the_video():
    """KR scores from 16-frame snippet features: one per snippet; one per crop (10) is refused."""
    index = pd.DataFrame({"video_id": ["test_a"], "split": ["test"], "n_frames": [97 * 16]})
    model = {"to_frames": {"repeat": 16, "span": 0, "front": 0, "sigma": 1.0}}
    ok = nodes._stream_scores({"test_a": np.zeros(97)}, index, model, "KR")
    assert len(ok["test_a"]) == 97
    with pytest.raises(DataError, match="10 KR snippet scores do not cover n_frames=1552"):
        nodes._stream_scores({"test_a": np.zeros(10)}, index, model, "KR")
