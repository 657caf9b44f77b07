"""Nodes of ``two_stream``: CRKR, "Context Recovery and Knowledge Retrieval: A Novel Two-Stream Framework for
Video Anomaly Detection" (Cao, Lu & Zhang, IEEE TIP 33:1810-1825, 2024; arXiv 2209.02899; reference code
zugexiaodui/TwoStreamUVAD ``release1``).

One-class: both streams learn only from normal training videos (``split in (train, val)`` and
``video_label == 0``); nothing here reads frame labels or selects anything on test data.

- CR stream: STUNet recovers frame s+16 from frames s, s+2, ..., s+14; maximum local error (MLE) per patch
  size; the patch size p* is chosen on pseudo-anomalies made from training videos.
- KR stream: encoder features of 8-frame snippets (interval 8) -> iL2SH hashing network trained
  Siamese-style -> hash tables of normal codes -> distance to the retrieved bucket centre.
- Fusion: per-video min-max, alignment offsets, Gaussian smoothing, weighted sum.

Training nodes read training videos only and write three checkpoints that hold everything the scoring of a
new video needs: ``crkr_cr.model`` (STUNet, MLE settings, p*, alignment), ``crkr_kr.model`` (the CR encoder,
hash net, hash tables, alignment) and ``crkr.model`` (fusion weights). Scoring nodes read the test videos of
``video_index``, their frames (or snippet features) and those checkpoints only, so ``inference`` reuses them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from vad_kedro.core.errors import DataError
from vad_kedro.core.params import TwoStreamParams
from vad_kedro.core.progress import progress
from vad_kedro.core.runtime import autocast, resolve_device, seed_everything, use_amp

from . import data, fusion, mle
from .losses import hash_pair_loss, recovery_loss
from .models import I3D_R50_BLOCKS, HashNet, I3DResNetEncoder, STUNet
from .tables import HashTables, retrieval_scores

logger = logging.getLogger(__name__)

# ----------------------------------------------------------------------------------------------- helpers


def split_videos(video_index: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(normal training video ids of train + val, test video ids), both sorted."""
    train = video_index[video_index["split"].isin(["train", "val"]) & (video_index["video_label"] == 0)]
    if train.empty:
        raise DataError("video_index", "no normal training videos (split train/val with video_label 0)")
    return sorted(train["video_id"].astype(str)), test_videos(video_index)


def test_videos(video_index: pd.DataFrame) -> list[str]:
    """Sorted ids of the videos to score (split ``test``); the scoring nodes need no training video."""
    test = video_index[video_index["split"] == "test"]
    if test.empty:
        raise DataError("video_index", "no test videos")
    return sorted(test["video_id"].astype(str))


def check_partitions(frames: dict[str, Any], video_ids: list[str]) -> None:
    """Raise a DataError naming the first video of ``video_ids`` that has no frames partition."""
    missing = [v for v in video_ids if v not in frames]
    if missing:
        raise DataError(missing[0], f"no frames partition ({len(missing)} videos of video_index missing)")


def checkpoint_part(checkpoint: dict[str, Any], keys: tuple[str, ...], name: str) -> dict[str, Any]:
    """``checkpoint`` after checking it holds ``keys`` (a checkpoint of an older version does not)."""
    missing = [k for k in keys if k not in checkpoint]
    if missing:
        raise DataError(name, f"checkpoint lacks {missing} (saved by an older version of two_stream); retrain "
                              "with `kedro run --pipelines=two_stream`")
    return checkpoint


def _n_frames(video_index: pd.DataFrame) -> dict[str, int]:
    return dict(zip(video_index["video_id"].astype(str), video_index["n_frames"].astype(int), strict=True))


def model_config(params: TwoStreamParams) -> dict[str, Any]:
    """Resolve the STUNet configuration; a local I3D weights file forces the faithful encoder."""
    enc = params["encoder"]
    weights = enc.get("weights_path")
    cfg = {
        "resolution": int(params["resolution"]),
        "width_div": int(enc["width_div"]),
        "blocks": [int(b) for b in enc["blocks"]],
        "remove_last_relu": bool(enc["remove_last_relu"]),
        "weights_path": str(weights) if weights else None,
        "finetune_rate": enc.get("finetune_rate"),
        "n_context": int(params["cr"]["n_context"]),
        "interval": int(params["cr"]["interval"]),
        "n_crops": int(params["n_crops"]),
    }
    if weights:
        cfg.update(resolution=int(enc["pretrained_resolution"]), width_div=1, blocks=list(I3D_R50_BLOCKS))
        if cfg["finetune_rate"] is None:
            cfg["finetune_rate"] = 0.0
    elif cfg["finetune_rate"] is None:
        cfg["finetune_rate"] = 1.0
    cfg["finetune_rate"] = float(cfg["finetune_rate"])
    return cfg


def build_stunet(cfg: dict[str, Any]) -> STUNet:
    """A fresh STUNet from a resolved config (seed torch before calling for a reproducible init)."""
    return STUNet(cfg["resolution"], cfg["width_div"], cfg["blocks"], cfg["remove_last_relu"])


def load_i3d_weights(model: STUNet, path: str | Path) -> None:
    """Load a local PySlowFast I3D_8x8_R50 state dict (plain, or under ``model_state``) into the encoder.

    Never downloads. Raises DataError naming the file when it is missing, not a plain state dict, or does
    not fit the encoder (missing keys or shape mismatch). The classification head is ignored.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "I3D weights file not found (encoder.weights_path); set it to null to train "
                              "the encoder from scratch")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickled objects (e.g. a yacs cfg) are refused by weights_only
        raise DataError(path, f"not a plain state dict loadable with weights_only=True ({exc.__class__.__name__});"
                              " save checkpoint['model_state'] alone with torch.save") from exc
    if isinstance(state, dict) and "model_state" in state:
        state = state["model_state"]
    if not isinstance(state, dict):
        raise DataError(path, "expected a dict of tensors")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = model.encoder.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise DataError(path, f"{len(missing)} encoder weights missing, e.g. {missing[:3]}")
    bad = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if bad:
        raise DataError(path, f"shape mismatch for {bad[:3]} (is this I3D_8x8_R50?)")
    model.encoder.load_state_dict({k: state[k] for k in own if k in state}, strict=False)
    logger.info("loaded I3D encoder weights from %s", path)


def load_stunet(cr_model: dict[str, Any], device: torch.device) -> STUNet:
    """Rebuild the trained STUNet from its saved state (eval mode, on ``device``)."""
    model = build_stunet(cr_model["config"])
    model.load_state_dict(cr_model["state_dict"])
    return model.to(device).eval()


def encoder_part(cr_network: dict[str, Any]) -> dict[str, Any]:
    """The trained STUNet's encoder alone (config + state dict): what the KR stream embeds snippets with."""
    state = {k.removeprefix("encoder."): v for k, v in cr_network["state_dict"].items() if k.startswith("encoder.")}
    return {"config": dict(cr_network["config"]), "state_dict": state}


def load_encoder(encoder: dict[str, Any], device: torch.device) -> I3DResNetEncoder:
    """Rebuild an :func:`encoder_part` (eval mode, on ``device``)."""
    cfg = encoder["config"]
    model = I3DResNetEncoder(cfg["resolution"], cfg["width_div"], cfg["blocks"], cfg["remove_last_relu"])
    model.load_state_dict(encoder["state_dict"])
    return model.to(device).eval()


def _batches(n: int, size: int):
    for b0 in range(0, n, size):
        yield slice(b0, min(n, b0 + size))


def _crop_stack(clips: np.ndarray, offsets: list[int], resolution: int) -> np.ndarray:
    """uint8 [n, L, H, W, 3] -> [n * n_crops, L, R, R, 3] (crop-major inside each row)."""
    crops = np.stack([data.crop(clips, o, resolution) for o in offsets], 1)
    return crops.reshape(-1, *crops.shape[2:])


def _long_side(video: np.ndarray) -> int:
    return max(video.shape[1], video.shape[2])


@torch.no_grad()
def recovery_scores(model: STUNet, video: np.ndarray, cfg: dict[str, Any], mle_cfg: dict[str, Any],
                    device: torch.device, batch_size: int = 32) -> np.ndarray:
    """MLE scores of one resized video (uint8 [T,H',W',3]): float32 [T-16, P]; row i <-> target frame i+16."""
    r = cfg["resolution"]
    idx = data.context_indices(len(video), cfg["n_context"], cfg["interval"])
    patches = mle.patch_sizes_for(r, mle_cfg.get("patch_sizes"))
    stride = mle.stride_for(r, mle_cfg.get("patch_stride"))
    offsets = data.crop_offsets(_long_side(video), r, cfg["n_crops"])
    out = np.zeros((len(idx), len(patches)), dtype=np.float32)
    for sl in _batches(len(idx), batch_size):
        x = data.to_input(_crop_stack(video[idx[sl]], offsets, r), device)  # [n*c, 3, 9, R, R]
        with autocast(device):
            pred = model(x[:, :, :-1])
        s = mle.maximum_local_error(x[:, :, -1], pred[:, :, 0].float(), patches, stride,
                                    float(mle_cfg["lam_l1"]), bool(mle_cfg["channel_l2"]))
        out[sl] = mle.fuse_crops(s.view(-1, len(offsets), len(patches)), mle_cfg["crop_fuse"]).cpu().numpy()
    return out


@torch.no_grad()
def snippet_features(model: I3DResNetEncoder, video: np.ndarray, cfg: dict[str, Any], kr_cfg: dict[str, Any],
                     device: torch.device, stride: int = 1, batch_size: int = 32) -> np.ndarray:
    """Encoder features of the 8-frame snippets of one resized video: float16 [n, n_crops, F]."""
    r = cfg["resolution"]
    idx = data.snippet_indices(len(video), int(kr_cfg["snippet_len"]), int(kr_cfg["interval"]), stride)
    offsets = data.crop_offsets(_long_side(video), r, cfg["n_crops"])
    out = np.zeros((len(idx), len(offsets), model.feature_dim), dtype=np.float16)
    for sl in _batches(len(idx), batch_size):
        x = data.to_input(_crop_stack(video[idx[sl]], offsets, r), device)
        with autocast(device):
            f = model.features(x)
        out[sl] = f.float().flatten(1).view(-1, len(offsets), model.feature_dim).cpu().numpy()
    return out


# ------------------------------------------------------------------------------------------- CR stream


def _cr_optimizer(model: STUNet, lr: float, finetune_rate: float) -> torch.optim.Optimizer:
    """Adam over the decoder and skips at ``lr`` and the encoder at ``lr * finetune_rate``; rate 0 freezes
    the encoder weights (its BN statistics still update in train mode)."""
    enc = list(model.encoder.parameters())
    groups = [{"params": [p for n, p in model.named_parameters() if not n.startswith("encoder.")], "lr": lr}]
    if finetune_rate > 0:
        groups.append({"params": enc, "lr": lr * finetune_rate})
    else:
        for p in enc:
            p.requires_grad_(False)
    return torch.optim.Adam(groups)


def _sample_clips(videos: data.ResizedVideos, video_ids: list[str], cfg: dict[str, Any], iterations: int,
                  rng: np.random.Generator) -> np.ndarray:
    """``iterations`` random training clips per video (random start and crop offset), shuffled:
    uint8 [n, n_context + 1, R, R, 3]."""
    r, clips = cfg["resolution"], []
    for vid in video_ids:
        video = videos(vid)
        idx = data.context_indices(len(video), cfg["n_context"], cfg["interval"])
        if len(idx) == 0:
            raise DataError(vid, f"has {len(video)} frames, too few for one CR clip (video_index disagrees)")
        for _ in range(iterations):
            s = int(rng.integers(len(idx)))
            clips.append(data.crop(video[idx[s]], data.train_crop_offset(_long_side(video), r, float(rng.random())), r))
    return np.stack(clips)[rng.permutation(len(clips))]


def train_context_recovery(frames: dict[str, Any], video_index: pd.DataFrame, params: TwoStreamParams, seed: int,
                           device: str, deterministic: bool) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Train STUNet to recover frame s+16 from frames s, s+2, ..., s+14 of normal training videos.

    Loss MSE + lam * L1, Adam, MultiStepLR. Each epoch draws ``iterations`` clips per training video
    (random start, random horizontal crop offset). Videos too short for one clip are skipped (logged).
    Returns the trained network (``state_dict`` + ``config``; :func:`cr_checkpoint` completes it into the
    CR checkpoint once p* is chosen) and the history {cr_loss, cr_lr} per epoch.
    """
    cfg = model_config(params)
    if cfg["weights_path"] and not Path(cfg["weights_path"]).is_file():
        raise DataError(cfg["weights_path"], "I3D weights file not found (encoder.weights_path); set it to null "
                                             "to train the encoder from scratch")
    tr = params["cr"]
    train_ids, _ = split_videos(video_index)
    n_frames = _n_frames(video_index)
    span = cfg["n_context"] * cfg["interval"]
    usable = [v for v in train_ids if n_frames[v] > span]
    if len(usable) < len(train_ids):
        logger.warning("CR training skips %d videos shorter than %d frames", len(train_ids) - len(usable), span + 1)
    if not usable:
        raise DataError("video_index", f"no normal training video has more than {span} frames (CR context)")
    check_partitions(frames, usable)

    seed_everything(seed, deterministic)
    dev = resolve_device(device)
    rng = np.random.default_rng(seed)
    model = build_stunet(cfg)
    if cfg["weights_path"]:
        load_i3d_weights(model, cfg["weights_path"])
    model.to(dev).train()
    opt = _cr_optimizer(model, float(tr["lr"]), cfg["finetune_rate"])
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(m) for m in tr["milestones"]], float(tr["gamma"]))
    scaler = torch.amp.GradScaler(enabled=use_amp(dev))
    videos = data.ResizedVideos(frames, cfg["resolution"], float(tr["cache_mb"]))
    bs, chunk = int(tr["batch_size"]), int(tr["videos_per_chunk"])
    history: dict[str, list[float]] = {"cr_loss": [], "cr_lr": []}
    for epoch in progress(range(int(tr["epochs"])), desc="CR epochs"):
        order = [usable[i] for i in rng.permutation(len(usable))]
        losses = []
        for c0 in range(0, len(order), chunk):  # a chunk of videos in memory at a time
            clips = _sample_clips(videos, order[c0 : c0 + chunk], cfg, int(tr["iterations"]), rng)
            for sl in _batches(len(clips), bs):
                x = data.to_input(clips[sl], dev)
                with autocast(dev):
                    pred = model(x[:, :, :-1])
                    loss = recovery_loss(pred.float(), x[:, :, -1:], float(tr["lam_l1"]))
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                losses.append(float(loss.detach()))
        history["cr_loss"].append(float(np.mean(losses)))
        history["cr_lr"].append(float(opt.param_groups[0]["lr"]))
        sched.step()
        logger.info("CR epoch %d/%d loss %.4f", epoch + 1, int(tr["epochs"]), history["cr_loss"][-1])
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return {"state_dict": state, "config": cfg, "train_videos": usable}, history


def cr_checkpoint(cr_network: dict[str, Any], patch_selection: dict[str, Any],
                  params: TwoStreamParams) -> dict[str, Any]:
    """The CR checkpoint: the trained STUNet plus what scoring a new video needs besides it, the MLE settings
    (patch sizes and stride resolved), p* (``selection``, chosen on pseudo-anomalies) and ``to_frames``
    (row i <-> frame i + front, ``span`` frames without a score, Gaussian sigma)."""
    cfg, m = cr_network["config"], params["mle"]
    r, span = cfg["resolution"], cfg["n_context"] * cfg["interval"]
    return {
        **cr_network,
        "mle": {"patch_sizes": mle.patch_sizes_for(r, m.get("patch_sizes")),
                "patch_stride": mle.stride_for(r, m.get("patch_stride")), "lam_l1": float(m["lam_l1"]),
                "channel_l2": bool(m["channel_l2"]), "crop_fuse": str(m["crop_fuse"])},
        "selection": dict(patch_selection),
        "to_frames": {"front": span, "span": span, "repeat": 1, "sigma": cr_sigma(params)},
    }


def score_context_recovery(frames: dict[str, Any], video_index: pd.DataFrame, cr_model: dict[str, Any],
                           params: TwoStreamParams, device: str) -> dict[str, np.ndarray]:
    """MLE scores of every test video at every patch size of the CR checkpoint: {video_id: float32 [T-16, P]}.

    Videos of at most 16 frames get an empty [0, P] array (a constant score after fusion; logged). Only
    ``cr.score_batch_size`` is read from ``params``.
    """
    test_ids = test_videos(video_index)
    check_partitions(frames, test_ids)
    checkpoint_part(cr_model, ("mle", "selection", "to_frames"), "crkr_cr.model")
    dev = resolve_device(device)
    model = load_stunet(cr_model, dev)
    cfg = cr_model["config"]
    videos = data.ResizedVideos(frames, cfg["resolution"], cache_mb=0)
    out = {}
    for vid in progress(test_ids, desc="CR scoring"):
        out[vid] = recovery_scores(model, videos(vid), cfg, cr_model["mle"], dev, int(params["cr"]["score_batch_size"]))
        if len(out[vid]) == 0:
            logger.warning("%s: shorter than the CR context (%d frames); constant CR score", vid,
                           cfg["n_context"] * cfg["interval"] + 1)
    return out


def make_pseudo_anomalies(video_index: pd.DataFrame, params: TwoStreamParams, seed: int) -> dict[str, Any]:
    """Plan the pseudo-anomaly set: ``n_per_scene`` seeded normal training videos per scene, each frame
    flipped and rotated by 2-5 degrees; the middle of each video blended with frame t+2 (labels 1)."""
    train_ids, _ = split_videos(video_index)
    p = params["pseudo"]
    span = int(params["cr"]["n_context"]) * int(params["cr"]["interval"])
    n_frames = _n_frames(video_index)
    candidates = [v for v in train_ids if n_frames[v] > span]
    return data.pseudo_anomaly_plan(candidates, n_frames, int(p["n_per_scene"]), p["mode"],
                                    float(p["anomaly_ratio"]), tuple(p["angle_range"]), int(p["jitter"]), seed)


def score_pseudo_anomalies(frames: dict[str, Any], pseudo_plan: dict[str, Any], cr_network: dict[str, Any],
                           params: TwoStreamParams, device: str) -> dict[str, np.ndarray]:
    """MLE scores [T-16, P] of every pseudo-anomaly video (rendered on the fly from its source video)."""
    dev = resolve_device(device)
    model = load_stunet(cr_network, dev)
    cfg = cr_network["config"]
    videos = data.ResizedVideos(frames, cfg["resolution"], cache_mb=0)
    out = {}
    for k, item in enumerate(progress(pseudo_plan["videos"], desc="pseudo-anomaly scoring")):
        video = data.render_pseudo_video(videos(item["source"]), item)
        out[_pseudo_key(k, item)] = recovery_scores(model, video, cfg, params["mle"], dev,
                                                                 int(params["cr"]["score_batch_size"]))
    return out


def _pseudo_key(k: int, item: dict[str, Any]) -> str:
    return f"pseudo{k:03d}_{item['source']}"


def select_patch_size(pseudo_scores: dict[str, np.ndarray], pseudo_plan: dict[str, Any],
                      params: TwoStreamParams) -> dict[str, Any]:
    """Choose the MLE patch size p* by micro AUC on the pseudo-anomaly set (never on test labels).

    Scores go through the same per-video processing as the fusion (min-max, offset, smoothing).
    """
    r = model_config(params)["resolution"]
    patches = mle.patch_sizes_for(r, params["mle"].get("patch_sizes"))
    front = int(params["cr"]["n_context"]) * int(params["cr"]["interval"])
    sigma = cr_sigma(params)
    labels, cols = [], [[] for _ in patches]
    for k, item in enumerate(pseudo_plan["videos"]):
        s, y = pseudo_scores[_pseudo_key(k, item)], np.asarray(item["labels"])
        labels.append(y)
        for j in range(len(patches)):
            cols[j].append(fusion.stream_to_frames(s[:, j], len(y), front, sigma))
    aucs = []
    y_all = np.concatenate(labels) if labels else np.zeros(0)
    for j in range(len(patches)):
        ok = y_all.size and 0 < y_all.sum() < y_all.size
        aucs.append(float(roc_auc_score(y_all, np.concatenate(cols[j]))) if ok else float("nan"))
    if np.all(np.isnan(aucs)):
        best = int(params["pseudo"]["default_patch_index"])
        logger.warning("pseudo-anomaly set unusable; MLE patch size falls back to %d", patches[best])
    else:
        best = int(np.nanargmax(aucs))
    logger.info("MLE patch sizes %s: pseudo-anomaly AUC %s -> p* = %d", patches,
                [round(a, 4) for a in aucs], patches[best])
    return {"patch_sizes": patches, "pseudo_auc": aucs, "index": best, "patch_size": patches[best],
            "n_pseudo_videos": len(labels)}


# ------------------------------------------------------------------------------------------- KR stream


def kr_layout(params: TwoStreamParams) -> dict[str, int]:
    """How KR rows map to frames: ``front`` offset / ``span`` (frames not covered), or ``repeat`` per row."""
    kr = params["kr"]
    if kr["feature_source"] == "snippet_features":
        return {"front": 0, "span": 0, "repeat": int(kr["snippet_frames"])}
    length, itv = int(kr["snippet_len"]), int(kr["interval"])
    return {"front": length // 2 * itv, "span": (length - 1) * itv, "repeat": 1}


def extract_kr_features(frames: dict[str, Any], video_index: pd.DataFrame, cr_network: dict[str, Any],
                        params: TwoStreamParams, device: str) -> dict[str, np.ndarray]:
    """KR training features from the CR-trained encoder (``kr.feature_source: cr_encoder``).

    Snippet = frames s, s+8, ..., s+56 at every ``kr.train_stride``-th start s of the normal training
    videos, 3 crops. Returns {features float16 [N, 3, F], video int32 [N], row int32 [N]}. Test videos are
    embedded by :func:`score_knowledge_retrieval` with the encoder saved in the KR checkpoint.
    """
    kr = params["kr"]
    if kr["feature_source"] != "cr_encoder":
        raise ValueError("two_stream: kr.feature_source is 'snippet_features' but the pipeline was built for "
                         "'cr_encoder'; build it with create_pipeline(kr_feature_source='snippet_features')")
    train_ids, _ = split_videos(video_index)
    check_partitions(frames, train_ids)
    dev = resolve_device(device)
    encoder = load_encoder(encoder_part(cr_network), dev)
    cfg = cr_network["config"]
    videos = data.ResizedVideos(frames, cfg["resolution"], cache_mb=0)
    bs = int(params["cr"]["score_batch_size"])
    feats, vids, rows = [], [], []
    for k, vid in enumerate(progress(train_ids, desc="KR train features")):
        f = snippet_features(encoder, videos(vid), cfg, kr, dev, int(kr["train_stride"]), bs)
        feats.append(f)
        vids.append(np.full(len(f), k, np.int32))
        rows.append(np.arange(len(f), dtype=np.int32))
    return _stack_train(feats, vids, rows, encoder.feature_dim, cfg["n_crops"])


def _snippet_rows(snippet_features: dict[str, Any], vid: str) -> np.ndarray:
    """One video's shared snippet features [T_snip, n_crops, D] as float16."""
    if vid not in snippet_features:
        raise DataError(vid, "no snippet_features partition")
    src = snippet_features[vid]
    arr = np.asarray(src() if callable(src) else src)
    if arr.ndim != 3:
        raise DataError(vid, f"snippet features must be [T_snip, n_crops, D], got {arr.shape}")
    return arr.astype(np.float16)


def kr_features_from_snippets(snippet_features: dict[str, Any], video_index: pd.DataFrame,
                              params: TwoStreamParams) -> dict[str, np.ndarray]:
    """KR training features from the shared ``snippet_features`` ([T_snip, n_crops, D], 16-frame snippets)."""
    if params["kr"]["feature_source"] != "snippet_features":
        raise ValueError("two_stream: pipeline built for snippet_features but kr.feature_source is "
                         f"{params['kr']['feature_source']!r}")
    train_ids, _ = split_videos(video_index)
    feats = [_snippet_rows(snippet_features, v) for v in train_ids]
    vids = [np.full(len(f), k, np.int32) for k, f in enumerate(feats)]
    rows = [np.arange(len(f), dtype=np.int32) for f in feats]
    return _stack_train(feats, vids, rows, feats[0].shape[2], feats[0].shape[1])


def _stack_train(feats: list[np.ndarray], vids: list[np.ndarray], rows: list[np.ndarray], dim: int,
                 n_crops: int) -> dict[str, np.ndarray]:
    if sum(len(f) for f in feats) == 0:
        raise DataError("video_index", "no normal training video is long enough for one KR snippet")
    return {"features": np.concatenate(feats) if feats else np.zeros((0, n_crops, dim), np.float16),
            "video": np.concatenate(vids), "row": np.concatenate(rows)}


def _positive_rows(rng: np.random.Generator, rows: np.ndarray, n_rows: np.ndarray, window: int) -> np.ndarray:
    """Positive row t' ~ U{max(t-w, 0) ... min(t+w, n-1) - 1} (at least one choice) for anchor rows t."""
    lo = np.maximum(rows - window, 0)
    hi = np.maximum(np.minimum(rows + window, n_rows - 1), lo + 1)
    return lo + np.floor(rng.random(len(rows)) * (hi - lo)).astype(np.int64)


def train_hashnet(kr_train: dict[str, np.ndarray], params: TwoStreamParams, seed: int, device: str,
                  deterministic: bool) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Train the iL2SH hashing network Siamese-style (no negatives) with the mutual loss.

    Pairs: anchor (video, row t, random crop); positive from the same video with a row within
    ``pos_window`` frames and a random crop. Loss 1 - cos + 0.64 * mean mutual loss; SGD with momentum.
    """
    kr = params["kr"]
    seed_everything(seed, deterministic)
    dev = resolve_device(device)
    rng = np.random.default_rng(seed)
    feats = torch.from_numpy(kr_train["features"].astype(np.float32))
    n, n_crops, dim = feats.shape
    video = kr_train["video"].astype(np.int64)
    vids = np.unique(video)
    n_rows = np.bincount(video, minlength=vids.max() + 1)
    first = np.zeros(vids.max() + 2, np.int64)
    first[1:] = np.cumsum(n_rows)  # rows of a video are contiguous and ordered
    layout = kr_layout(params)
    unit = layout["repeat"] if layout["repeat"] > 1 else int(kr["train_stride"])
    window = max(1, math.ceil(int(kr["pos_window"]) / unit))
    net = HashNet(dim, int(kr["n_heads"]), int(kr["code_len"])).to(dev).train()
    opt = torch.optim.SGD(net.parameters(), lr=float(kr["lr"]), momentum=float(kr["momentum"]),
                          weight_decay=float(kr["weight_decay"]))
    bs = int(kr["batch_size"])
    history: dict[str, list[float]] = {"kr_loss": []}
    for _ in progress(range(int(kr["epochs"])), desc="hashnet epochs"):
        n_pairs = len(vids) * int(kr["pairs_per_video"])
        a_vid = vids[rng.integers(len(vids), size=n_pairs)]
        a_row = np.floor(rng.random(n_pairs) * n_rows[a_vid]).astype(np.int64)
        p_row = _positive_rows(rng, a_row, n_rows[a_vid], window)
        a_idx, p_idx = first[a_vid] + a_row, first[a_vid] + p_row
        a_crop, p_crop = rng.integers(n_crops, size=n_pairs), rng.integers(n_crops, size=n_pairs)
        losses = []
        for sl in _batches(n_pairs, bs):
            h = net(feats[a_idx[sl], a_crop[sl]].to(dev))
            hp = net(feats[p_idx[sl], p_crop[sl]].to(dev))
            loss = hash_pair_loss(h, hp, net.n_heads, float(kr["mutual_weight"]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        history["kr_loss"].append(float(np.mean(losses)))
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    return {"state_dict": state, "in_dim": dim, "n_heads": net.n_heads, "code_len": net.code_len}, history


@torch.no_grad()
def _codes(net: HashNet, feats: np.ndarray, device: torch.device, batch_size: int = 4096) -> np.ndarray:
    """Real-valued codes [N, n_crops, b, r] of features [N, n_crops, F]."""
    n, c, d = feats.shape
    flat = feats.reshape(n * c, d)
    out = np.zeros((n * c, net.n_heads, net.code_len), np.float32)
    for sl in _batches(len(flat), batch_size):
        out[sl] = net(torch.from_numpy(flat[sl].astype(np.float32)).to(device)).cpu().numpy()
    return out.reshape(n, c, net.n_heads, net.code_len)


def _load_hashnet(state: dict[str, Any], device: torch.device) -> HashNet:
    net = HashNet(int(state["in_dim"]), int(state["n_heads"]), int(state["code_len"]))
    net.load_state_dict(state["state_dict"])
    return net.to(device).eval()


def build_hash_tables(hashnet: dict[str, Any], kr_train: dict[str, np.ndarray], params: TwoStreamParams, device: str,
                      cr_network: dict[str, Any] | None = None) -> dict[str, Any]:
    """Hash every training snippet x crop into one table per head (count + running-mean centre).

    Returns the KR checkpoint: hash net state, the tables as plain tensors, ``features`` (how a video is
    embedded: the CR encoder's config and weights with the snippet length and interval, or the shared
    ``snippet_features``) and ``to_frames`` (alignment and Gaussian sigma of the KR rows).
    ``cr_network`` (the trained STUNet) is required for ``kr.feature_source: cr_encoder``.
    """
    dev = resolve_device(device)
    net = _load_hashnet(hashnet, dev)
    codes = _codes(net, kr_train["features"], dev)
    tables = HashTables(net.n_heads, net.code_len)
    tables.insert(codes.reshape(-1, net.n_heads, net.code_len))
    logger.info("hash tables: %s buckets per head for %d codes", tables.n_buckets(), codes.shape[0] * codes.shape[1])
    kr = params["kr"]
    features: dict[str, Any] = {"source": kr["feature_source"]}
    if kr["feature_source"] == "cr_encoder":
        if cr_network is None:
            raise ValueError("two_stream: KR features from the CR encoder need the trained CR network")
        features.update(snippet_len=int(kr["snippet_len"]), interval=int(kr["interval"]),
                        encoder=encoder_part(cr_network))
    return {"hashnet": hashnet["state_dict"], "in_dim": hashnet["in_dim"], "n_heads": hashnet["n_heads"],
            "code_len": hashnet["code_len"], "tables": tables.state_dict(), "features": features,
            "to_frames": {**kr_layout(params), "sigma": kr_sigma(params)}}


def retrieval_scorer(kr_model: dict[str, Any], device: torch.device) -> Callable[[np.ndarray], np.ndarray]:
    """Scores snippet features [n, n_crops, F] with the KR checkpoint: per crop the min over heads of the
    distance to the retrieved bucket centre (sqrt(r) for an absent key), mean over crops -> float32 [n]."""
    net = _load_hashnet({"state_dict": kr_model["hashnet"], **{k: kr_model[k] for k in ("in_dim", "n_heads",
                                                                                           "code_len")}}, device)
    tables = HashTables.from_state_dict(kr_model["tables"], net.n_heads, net.code_len)

    def score(feats: np.ndarray) -> np.ndarray:
        if len(feats) == 0:
            return np.zeros(0, np.float32)
        codes = _codes(net, feats, device)
        d = tables.distances(codes.reshape(-1, net.n_heads, net.code_len)).reshape(*codes.shape[:2], net.n_heads)
        return retrieval_scores(d).astype(np.float32)

    return score


def score_knowledge_retrieval(frames: dict[str, Any], video_index: pd.DataFrame, kr_model: dict[str, Any],
                              params: TwoStreamParams, device: str) -> dict[str, np.ndarray]:
    """KR score per snippet of every test video, embedded by the encoder saved in the KR checkpoint:
    {video_id: float32 [T-56]} (empty for videos of at most 56 frames; logged). Only
    ``cr.score_batch_size`` is read from ``params``."""
    feats = checkpoint_part(kr_model, ("features", "to_frames"), "crkr_kr.model")["features"]
    if feats["source"] != "cr_encoder":
        raise ValueError("two_stream: this KR checkpoint scores shared snippet_features; build the pipeline "
                         "with create_pipeline(kr_feature_source='snippet_features')")
    test_ids = test_videos(video_index)
    check_partitions(frames, test_ids)
    dev = resolve_device(device)
    encoder = load_encoder(feats["encoder"], dev)
    cfg = feats["encoder"]["config"]
    videos = data.ResizedVideos(frames, cfg["resolution"], cache_mb=0)
    score = retrieval_scorer(kr_model, dev)
    bs = int(params["cr"]["score_batch_size"])
    out = {}
    for vid in progress(test_ids, desc="KR scoring"):
        f = snippet_features(encoder, videos(vid), cfg, feats, dev, 1, bs)
        if len(f) == 0:
            logger.warning("%s: shorter than a KR snippet (%d frames); constant KR score", vid,
                           kr_model["to_frames"]["span"] + 1)
        out[vid] = score(f)
    return out


def score_kr_from_snippets(snippet_features: dict[str, Any], video_index: pd.DataFrame, kr_model: dict[str, Any],
                           device: str) -> dict[str, np.ndarray]:
    """KR score per shared snippet of every test video: {video_id: float32 [T_snip]}."""
    checkpoint_part(kr_model, ("features", "to_frames"), "crkr_kr.model")
    score = retrieval_scorer(kr_model, resolve_device(device))
    return {vid: score(_snippet_rows(snippet_features, vid)) for vid in test_videos(video_index)}


# ---------------------------------------------------------------------------------------------- fusion


def cr_sigma(params: TwoStreamParams) -> float:
    """CR smoothing sigma: ``fusion.cr_sigma`` or slen * itv / 2 with slen = n_context + 1 (9 * 2 / 2 = 9)."""
    s = params["fusion"].get("cr_sigma")
    cr = params["cr"]
    return float(s) if s is not None else (int(cr["n_context"]) + 1) * int(cr["interval"]) / 2


def kr_sigma(params: TwoStreamParams) -> float:
    """KR smoothing sigma: ``fusion.kr_sigma`` or slen * itv / 2 (8 * 8 / 2 = 32)."""
    s = params["fusion"].get("kr_sigma")
    kr = params["kr"]
    if s is not None:
        return float(s)
    if kr["feature_source"] == "snippet_features":
        return float(kr["snippet_frames"]) / 2
    return int(kr["snippet_len"]) * int(kr["interval"]) / 2


def _frame_table(per_video: dict[str, np.ndarray]) -> pd.DataFrame:
    parts = [pd.DataFrame({"video_id": vid, "frame": np.arange(len(s), dtype=np.int64),
                           "score": np.asarray(s, dtype=np.float64)}) for vid, s in sorted(per_video.items())]
    return pd.concat(parts, ignore_index=True)


def fusion_checkpoint(params: TwoStreamParams) -> dict[str, float]:
    """The checkpoint of the fused methods (``crkr``, ``crkr_nominmax``): the stream weights. Each stream's
    alignment and smoothing are in its own checkpoint."""
    fp = params["fusion"]
    return {"w_cr": float(fp["w_cr"]), "w_kr": float(fp["w_kr"])}


def _stream_scores(scores: dict[str, np.ndarray], video_index: pd.DataFrame, model: dict[str, Any],
                   stream: str) -> dict[str, np.ndarray]:
    """Raw scores of one stream (``CR``: the p* column) per test video, checked against ``n_frames``."""
    keys = ("selection", "to_frames") if stream == "CR" else ("to_frames",)
    checkpoint_part(model, keys, "crkr_cr.model" if stream == "CR" else "crkr_kr.model")
    n_frames, to_frames = _n_frames(video_index), model["to_frames"]
    out = {}
    for vid in test_videos(video_index):
        if vid not in scores:
            raise DataError(vid, f"test video has no {stream} scores")
        s = np.asarray(scores[vid])
        s = s[:, int(model["selection"]["index"])] if stream == "CR" else s
        repeat = int(to_frames["repeat"])
        if repeat == 1 and len(s) != max(n_frames[vid] - to_frames["span"], 0):
            raise DataError(vid, f"{len(s)} {stream} scores do not match n_frames={n_frames[vid]} in video_index")
        if repeat > 1 and abs(len(s) - n_frames[vid] / repeat) > 1:   # one score per snippet of `repeat` frames
            raise DataError(vid, f"{len(s)} {stream} snippet scores do not cover n_frames={n_frames[vid]} "
                                 f"({repeat} frames per snippet) in video_index")
        out[vid] = s
    return out


def _stream_frames(raw: dict[str, np.ndarray], video_index: pd.DataFrame, to_frames: dict[str, Any],
                   pooled_minmax: bool = False) -> dict[str, np.ndarray]:
    """Per video: min-max (per video, or once over all videos of ``raw``), zero-pad / repeat to the video
    length, Gaussian smoothing (constant mode)."""
    n_frames = _n_frames(video_index)
    front, sigma, repeat = int(to_frames["front"]), float(to_frames["sigma"]), int(to_frames["repeat"])
    if not pooled_minmax:
        return {v: fusion.stream_to_frames(s, n_frames[v], front, sigma, repeat=repeat) for v, s in raw.items()}
    bounds = _global_range(list(raw.values()))
    return {v: fusion.stream_to_frames(_scale(s, bounds), n_frames[v], front, sigma, normalise=False, repeat=repeat)
            for v, s in raw.items()}


def cr_frame_scores(cr_patch_scores: dict[str, np.ndarray], video_index: pd.DataFrame,
                    cr_model: dict[str, Any]) -> pd.DataFrame:
    """``crkr_cr``: the CR stream at p*, per-video min-max, zero-padded (+16 in front), smoothed (sigma 9)."""
    raw = _stream_scores(cr_patch_scores, video_index, cr_model, "CR")
    return _frame_table(_stream_frames(raw, video_index, cr_model["to_frames"]))


def kr_frame_scores(kr_scores: dict[str, np.ndarray], video_index: pd.DataFrame,
                    kr_model: dict[str, Any]) -> pd.DataFrame:
    """``crkr_kr``: the KR stream, per-video min-max, zero-padded (+32 in front, the rest behind), smoothed
    (sigma 32)."""
    raw = _stream_scores(kr_scores, video_index, kr_model, "KR")
    return _frame_table(_stream_frames(raw, video_index, kr_model["to_frames"]))


def fused_frame_scores(cr_patch_scores: dict[str, np.ndarray], kr_scores: dict[str, np.ndarray],
                       video_index: pd.DataFrame, cr_model: dict[str, Any], kr_model: dict[str, Any],
                       fusion_model: dict[str, float], pooled_minmax: bool = False) -> pd.DataFrame:
    """``crkr``: w_cr * CR + w_kr * KR of the two streams processed as in :func:`cr_frame_scores` /
    :func:`kr_frame_scores`. ``pooled_minmax`` (``crkr_nominmax``) replaces the (transductive) per-video
    min-max by one min-max per stream over all scored videos (the test set; in ``inference`` the input and
    its reference videos); everything else is identical."""
    streams = [(_stream_scores(scores, video_index, model, name), model["to_frames"])
               for scores, model, name in ((cr_patch_scores, cr_model, "CR"), (kr_scores, kr_model, "KR"))]
    c, k = (_stream_frames(raw, video_index, to_frames, pooled_minmax) for raw, to_frames in streams)
    w_cr, w_kr = float(fusion_model["w_cr"]), float(fusion_model["w_kr"])
    return _frame_table({v: fusion.fuse(c[v], k[v], w_cr, w_kr) for v in c})


def nominmax_frame_scores(cr_patch_scores: dict[str, np.ndarray], kr_scores: dict[str, np.ndarray],
                          video_index: pd.DataFrame, cr_model: dict[str, Any], kr_model: dict[str, Any],
                          fusion_model: dict[str, float]) -> pd.DataFrame:
    """``crkr_nominmax``: :func:`fused_frame_scores` with one min-max per stream over all scored videos."""
    return fused_frame_scores(cr_patch_scores, kr_scores, video_index, cr_model, kr_model, fusion_model, True)


def fuse_scores(cr_patch_scores: dict[str, np.ndarray], kr_scores: dict[str, np.ndarray], video_index: pd.DataFrame,
                cr_model: dict[str, Any], kr_model: dict[str, Any], fusion_model: dict[str, float],
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The frame scores of ``crkr_cr``, ``crkr_kr``, ``crkr`` and ``crkr_nominmax`` at once (the pipeline
    has one node per method, so ``inference`` computes only the requested one)."""
    both = (cr_patch_scores, kr_scores, video_index, cr_model, kr_model, fusion_model)
    return (cr_frame_scores(cr_patch_scores, video_index, cr_model), kr_frame_scores(kr_scores, video_index, kr_model),
            fused_frame_scores(*both), nominmax_frame_scores(*both))


def _global_range(parts: list[np.ndarray]) -> tuple[float, float]:
    s = np.concatenate([np.asarray(p, dtype=np.float64) for p in parts]) if parts else np.zeros(0)
    return (float(s.min()), float(s.max())) if s.size else (0.0, 1.0)


def _scale(scores: np.ndarray, bounds: tuple[float, float]) -> np.ndarray:
    lo, hi = bounds
    return (np.asarray(scores, dtype=np.float64) - lo) / (hi - lo) if hi > lo else np.zeros(len(scores))
