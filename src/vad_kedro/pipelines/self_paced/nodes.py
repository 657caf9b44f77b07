"""Nodes of the ``self_paced`` pipeline: LBR-SPR, unsupervised anomaly discovery.

Yu, Wang, Cai, Liu, Xu, Wu, "Deep Anomaly Discovery from Unlabeled Videos via Normality Advantage
and Self-Paced Refinement", CVPR 2022 (arXiv 2108.01975); reference code yuguangnudt/LBR_SPR.

Stages: unlabeled pool -> foreground boxes -> spatio-temporal cubes (STCs) -> one autoencoder per
spatial block trained with self-paced refinement on the pool -> z-normalised cube errors -> frame
scores (max over the frame's cubes) -> per-video smoothing. No node here reads a label.

Training (``train_model``) writes a checkpoint with everything scoring a cube of a new video needs: the
block models, the block statistics (mu_b, sigma_b over the pool) and the box, cube and scoring parameters.
Scoring (``score_videos`` -> ``scored_frames``) reads only the test videos' frames, tracks and flow and that
checkpoint, so ``inference`` reuses it on a new video.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch

from vad_kedro.core.errors import DataError
from vad_kedro.core.params import SelfPacedParams, plain
from vad_kedro.core.progress import progress
from vad_kedro.core.runtime import resolve_device, seed_everything
from vad_kedro.core.smoothing import moving_average

from .boxes import filter_detections, flow_to_frame, flow_unit_scale, motion_boxes, remove_covered, resolve_min_area
from .cubes import block_of, video_cubes
from .training import (
    TrainConfig,
    block_errors,
    block_stats,
    load_block_models,
    train_block,
    z_scores,
)

logger = logging.getLogger(__name__)

POOL_MODES = ("partial", "merge")
TRACK_COLUMNS = ("frame", "x1", "y1", "x2", "y2", "score")
BOX_COLUMNS = ["video_id", "frame", "x1", "y1", "x2", "y2", "source"]
#: Parameter groups that define how a video is scored; saved in the checkpoint (``params``).
SCORING_GROUPS = ("boxes", "cubes", "model", "scoring")


def _video_row(video_index: pd.DataFrame, vid: str) -> pd.Series:
    rows = video_index.loc[video_index["video_id"] == vid]
    if rows.empty:
        raise DataError(vid, "not in video_index")
    return rows.iloc[0]


def _load(partitions: dict[str, Callable[[], Any]], vid: str, what: str) -> Any:
    if vid not in partitions:
        raise DataError(vid, f"no '{what}' partition for this video")
    return partitions[vid]()


def select_pool(video_index: pd.DataFrame, params: SelfPacedParams) -> list[str]:
    """The unlabeled training pool (paper Sec. 4.1): ``partial`` = the test videos, ``merge`` = train ∪ test.

    Only ``video_id`` and ``split`` are read; ``merge_splits`` lists the splits merged (val is part of
    the source's training set). The pool is sorted for reproducibility.
    """
    mode = params["mode"]
    if mode not in POOL_MODES:
        raise ValueError(f"self_paced.mode must be one of {POOL_MODES}, got {mode!r}")
    if params["merge_auc_includes_train"]:
        raise ValueError(
            "self_paced.merge_auc_includes_train=true (the reference's inflated merge-mode AUC, counting "
            "training frames as normal) is not supported: scores are written for test frames only"
        )
    splits = ["test"] if mode == "partial" else list(params["merge_splits"])
    index = video_index[["video_id", "split"]]
    pool = sorted(index.loc[index["split"].isin(splits), "video_id"].astype(str))
    if not pool:
        raise DataError("video_index", f"no video in splits {splits} for the {mode} pool")
    n_test = int((index["split"] == "test").sum())
    logger.info("LBR-SPR %s pool: %d videos (%d test videos scored)", mode, len(pool), n_test)
    return pool


def _detector_boxes(tracks: pd.DataFrame, vid: str, n_frames: int, cfg: dict[str, Any], min_area: float
                    ) -> dict[int, np.ndarray]:
    missing = [c for c in TRACK_COLUMNS if c not in tracks.columns]
    if missing:
        raise DataError(vid, f"tracks lack columns {missing}")
    if len(tracks) and (tracks["frame"].min() < 0 or tracks["frame"].max() >= n_frames):
        raise DataError(vid, f"tracks frame index outside [0, {n_frames - 1}]")
    out = {}
    for t, g in tracks.groupby("frame", sort=True):
        b = filter_detections(g[["x1", "y1", "x2", "y2"]].to_numpy(), g["score"].to_numpy(),
                              cfg["score_threshold"], min_area)
        out[int(t)] = remove_covered(b, cfg["cover_threshold"])
    return out


def video_boxes(tracks: pd.DataFrame, flow: Callable[[], np.ndarray], vid: str, info: pd.Series,
                cfg: dict[str, Any]) -> list[tuple]:
    """Foreground box rows (video_id, frame, x1, y1, x2, y2, source) of one video; ``flow`` is a loader,
    called only when motion boxes are on. See :func:`foreground_boxes`."""
    mcfg = cfg["motion"]
    n_frames, height, width = int(info["n_frames"]), int(info["height"]), int(info["width"])
    min_area = resolve_min_area(cfg["min_area"], cfg["min_side_fraction"], height)
    det = _detector_boxes(tracks, vid, n_frames, cfg, min_area)
    mot: dict[int, np.ndarray] = {}
    if mcfg["enabled"]:
        fl = flow()
        if fl.ndim != 4 or fl.shape[0] != n_frames or fl.shape[3] != 2:
            raise DataError(vid, f"flow shape {fl.shape} does not match [T={n_frames}, h, w, 2]")
        scale = flow_unit_scale(cfg["flow_units"], height, width)
        empty = np.zeros((0, 4), np.float32)
        for t in range(n_frames):
            f = flow_to_frame(fl[t], height, width, scale)
            mot[t] = motion_boxes(f, det.get(t, empty), min_area, mcfg["binary_threshold"],
                                  int(mcfg["extend"]), mcfg["max_aspect_ratio"])
    rows = []
    n_det = n_mot = 0
    for t in range(n_frames):
        for source, group in (("det", det.get(t)), ("motion", mot.get(t))):
            if group is None:
                continue
            for b in group:
                rows.append((vid, t, *map(float, b), source))
            n_det += len(group) if source == "det" else 0
            n_mot += len(group) if source == "motion" else 0
    logger.info("%s: %d detector + %d motion boxes over %d frames (A = %.0f px²)", vid, n_det, n_mot,
                n_frames, min_area)
    return rows


def _box_table(rows: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=BOX_COLUMNS)
    return df.astype({"frame": "int32", "x1": "float32", "y1": "float32", "x2": "float32", "y2": "float32"})


def foreground_boxes(
    tracks: dict[str, Callable[[], pd.DataFrame]],
    flow: dict[str, Callable[[], np.ndarray]],
    video_index: pd.DataFrame,
    pool: list[str],
    params: SelfPacedParams,
) -> pd.DataFrame:
    """Per-frame foreground boxes of the pool videos: filtered detector boxes ∪ motion boxes.

    Detector boxes (shared ``tracks``): score > threshold, area (w+1)(h+1) >= A, cover filter. Motion
    boxes: contours of u² + v² > 1 outside the (grown) detector boxes (see :func:`boxes.motion_boxes`),
    the flow upsampled to frame size and scaled per ``flow_units``. Returns a DataFrame with columns
    video_id, frame, x1, y1, x2, y2, source ("det" / "motion").
    """
    cfg = params["boxes"]
    rows = []
    for vid in progress(pool, desc="LBR boxes"):
        rows += video_boxes(_load(tracks, vid, "tracks"), functools.partial(_load, flow, vid, "flow"), vid,
                            _video_row(video_index, vid), cfg)
    df = _box_table(rows)
    if df.empty:
        logger.warning("LBR-SPR found no foreground box in the pool: every frame will score the empty value")
    return df


def _video_frames(frames: dict[str, Callable[[], np.ndarray]], vid: str, info: pd.Series, context: int) -> np.ndarray:
    """One video's frames as uint8 [T, H, W, 3] (grey -> 3 channels), checked against ``video_index``."""
    fr = _load(frames, vid, "frames")
    if fr.ndim == 3:  # grey video -> 3 identical channels
        fr = np.repeat(fr[..., None], 3, axis=3)
    if fr.ndim != 4 or fr.shape[0] == 0 or fr.shape[3] not in (1, 3):
        raise DataError(vid, f"frames have shape {fr.shape}, expected [T, H, W, 3]")
    if fr.shape[3] == 1:
        fr = np.repeat(fr, 3, axis=3)
    if fr.shape[0] != int(info["n_frames"]):
        raise DataError(vid, f"{fr.shape[0]} frames but video_index says {int(info['n_frames'])}")
    if fr.shape[0] < 2 * context + 1:
        logger.warning("%s: %d frames, shorter than the %d-frame cube: edge frames repeat", vid, fr.shape[0],
                       2 * context + 1)
    return fr


def video_stcs(fr: np.ndarray, flow: Callable[[], np.ndarray], boxes: pd.DataFrame | None, pos: int,
               params: Mapping[str, Any]) -> dict[str, np.ndarray] | None:
    """The cubes of one video's boxes: ``raw``, ``flow`` (motion enhancement only; ``flow`` is a loader),
    ``index`` (``pos``, frame, block) and ``boxes``; None when the video has no box."""
    if boxes is None or boxes.empty:
        return None
    cfg = params["cubes"]
    context, patch = int(cfg["context"]), int(cfg["patch_size"])
    n_frames, height, width = fr.shape[:3]
    b = boxes[["x1", "y1", "x2", "y2"]].to_numpy(np.float32)
    t = boxes["frame"].to_numpy(np.int64)
    fl_full = None
    if params["model"]["use_flow"]:
        fl = flow()
        scale = flow_unit_scale(params["boxes"]["flow_units"], height, width)
        fl_full = np.stack([flow_to_frame(fl[s], height, width, scale) for s in range(n_frames)])
    raw, fcub = video_cubes(np.asarray(fr), t, b, context, patch, fl_full)
    blk = block_of(b, height, width, int(cfg["h_block"]), int(cfg["w_block"]))
    out = {"raw": raw, "index": np.stack([np.full(len(t), pos), t, blk], axis=1).astype(np.int32), "boxes": b}
    if fcub is not None:
        out["flow"] = fcub
    return out


def _concat(parts: list[dict[str, np.ndarray]], key: str, empty: np.ndarray) -> np.ndarray:
    return np.concatenate([p[key] for p in parts]) if parts else empty


def build_stcs(
    frames: dict[str, Callable[[], np.ndarray]],
    flow: dict[str, Callable[[], np.ndarray]],
    boxes: pd.DataFrame,
    video_index: pd.DataFrame,
    pool: list[str],
    params: SelfPacedParams,
) -> dict[str, np.ndarray]:
    """Pack the cubes of every pool box into arrays (one video loaded at a time).

    Returns ``raw`` uint8 [N, L, P, P, 3]; ``flow`` float16 [N, L, P, P, 2] only with motion
    enhancement; ``index`` int32 [N, 3] = (video position in ``videos``, frame, block); ``boxes``
    float32 [N, 4]; ``videos`` str [V]; ``n_frames`` int32 [V]; ``n_blocks`` int32 scalar.
    """
    cfg = params["cubes"]
    context, patch = int(cfg["context"]), int(cfg["patch_size"])
    use_flow = bool(params["model"]["use_flow"])
    parts, lengths = [], []
    by_video = dict(tuple(boxes.groupby("video_id", sort=False))) if len(boxes) else {}
    for pos, vid in enumerate(progress(pool, desc="LBR cubes")):
        fr = _video_frames(frames, vid, _video_row(video_index, vid), context)
        lengths.append(len(fr))
        part = video_stcs(fr, functools.partial(_load, flow, vid, "flow"), by_video.get(vid), pos, params)
        if part is None:
            logger.warning("%s: no foreground box in any frame", vid)
            continue
        parts.append(part)
    length = 2 * context + 1
    out = {
        "raw": _concat(parts, "raw", np.zeros((0, length, patch, patch, 3), np.uint8)),
        "index": _concat(parts, "index", np.zeros((0, 3), np.int32)),
        "boxes": _concat(parts, "boxes", np.zeros((0, 4), np.float32)),
        "videos": np.asarray(pool, dtype=str),
        "n_frames": np.asarray(lengths, dtype=np.int32),
        "n_blocks": np.asarray(int(cfg["h_block"]) * int(cfg["w_block"]), dtype=np.int32),
    }
    if use_flow:
        out["flow"] = _concat(parts, "flow", np.zeros((0, length, patch, patch, 2), np.float16))
    logger.info("LBR-SPR cubes: %d from %d videos (%.1f MB)", len(out["raw"]), len(pool), out["raw"].nbytes / 2**20)
    return out


def _train_config(params: Mapping[str, Any], variant: Mapping[str, Any]) -> TrainConfig:
    train = {**params["train"], **(variant.get("train") or {})}     # a variant may override train / model keys
    model = {**params["model"], **(variant.get("model") or {})}
    return TrainConfig(
        epochs=int(train["epochs"]),
        warmup_epochs=int(train["warmup_epochs"]),
        shrink_rate=float(train["shrink_rate"]),
        sp_mode=str(train["sp_mode"]),
        refine=bool(variant["refine"]),
        batch_size=int(train["batch_size"]),
        lr=float(train["lr"]),
        weight_decay=float(train["weight_decay"]),
        nf=int(model["nf"]),
        use_flow=bool(model["use_flow"]),
        lambda_raw=float(model["lambda_raw"]),
        lambda_of=float(model["lambda_of"]),
        max_train_stcs=train["max_train_stcs"],
        score_batch_size=int(train["score_batch_size"]),
    )


def _as_metric_history(values: list[float]) -> list[dict[str, float]]:
    """Per-epoch values in the form kedro-mlflow's MlflowMetricsHistoryDataset logs (one step each)."""
    return [{"step": i, "value": float(v)} for i, v in enumerate(values)]


def train_lbr(
    stcs: dict[str, np.ndarray],
    params: SelfPacedParams,
    variant: Mapping[str, Any],
    seed: int,
    device: str,
    deterministic: bool = True,
) -> tuple[dict[str, Any], dict[str, list[dict[str, float]]], np.ndarray]:
    """Train one autoencoder set per block on the unlabeled pool cubes (paper Alg. 1).

    ``variant["refine"]`` switches self-paced refinement on (LBR-SPR) or off (plain reconstruction,
    every weight 1). Returns the checkpoint (per-block state dicts, mu_b and sigma_b of the final
    eval-mode SSE over all the block's pool cubes, configuration, and in ``params`` the box, cube, model
    and scoring parameters the scoring of a new video follows), the training history
    (per-epoch ``{"step", "value"}`` items, block-prefixed when there are several blocks) and the final per-cube SSE
    float64 [N, K] (K = 1, or 2 with motion enhancement: raw, flow). Torch threads come from
    ``runtime.num_threads`` (:func:`vad_kedro.core.runtime.torch_threads`, applied to the whole run).
    """
    cfg = _train_config(params, variant)
    dev = resolve_device(device)
    checkpoint, history, sse = _train_blocks(stcs, cfg, dev, int(seed), deterministic)
    checkpoint["params"] = scoring_params(params, variant)
    return checkpoint, history, sse


def scoring_params(params: Mapping[str, Any], variant: Mapping[str, Any]) -> dict[str, Any]:
    """The parameter groups that define how a video is scored (``SCORING_GROUPS``), the variant's model
    overrides applied: plain dicts, saved in the checkpoint."""
    out = {k: plain(params[k]) for k in SCORING_GROUPS}
    out["model"].update(plain(variant.get("model") or {}))
    return out


def train_model(stcs: dict[str, np.ndarray], params: SelfPacedParams, variant: Mapping[str, Any], seed: int,
                device: str, deterministic: bool = True) -> tuple[dict[str, Any], dict[str, list[dict[str, float]]]]:
    """:func:`train_lbr` as a pipeline node: the checkpoint and the training history (the pool cubes'
    errors are recomputed by :func:`score_videos` from the checkpoint, like for any new video)."""
    checkpoint, history, _ = train_lbr(stcs, params, variant, seed, device, deterministic)
    return checkpoint, history


def _train_blocks(stcs: dict[str, np.ndarray], cfg: TrainConfig, dev: torch.device, seed: int, deterministic: bool
                  ) -> tuple[dict[str, Any], dict[str, list[dict[str, float]]], np.ndarray]:
    n_blocks = int(stcs["n_blocks"])
    blocks = stcs["index"][:, 2] if len(stcs["index"]) else np.zeros(0, np.int64)
    keys = ["raw", "flow"] if cfg.use_flow else ["raw"]
    mu = np.full((n_blocks, len(keys)), np.nan)
    sigma = np.full((n_blocks, len(keys)), np.nan)
    sse = np.zeros((len(blocks), len(keys)), dtype=np.float64)
    states: dict[str, Any] = {}
    history: dict[str, list[dict[str, float]]] = {}
    name = "LBR-SPR" if cfg.refine else "LBR"
    for b in range(n_blocks):
        sel = np.flatnonzero(blocks == b)
        if len(sel) == 0:
            logger.warning("%s block %d has no training cube: its cubes (if any) score the empty-block value", name, b)
            continue
        if len(sel) < 2:
            logger.warning("%s block %d has a single training cube", name, b)
        gen = seed_everything(seed + b, deterministic)
        res = train_block(stcs["raw"][sel], stcs["flow"][sel] if cfg.use_flow else None, cfg, dev, gen,
                          desc=f"{name} block {b}")
        states[f"block{b}"] = {k: m.state_dict() for k, m in res.models.items()}
        for j, k in enumerate(keys):
            sse[sel, j] = res.sse[k]
            mu[b, j], sigma[b, j] = block_stats(res.sse[k])
        prefix = f"block{b}." if n_blocks > 1 else ""
        history.update({f"{prefix}{k}": _as_metric_history(vals) for k, vals in res.history.items()})
        logger.info("%s block %d: %d cubes, final loss %.5f, mu %.3f sigma %.3f", name, b, len(sel),
                    res.history["loss"][-1] if res.history["loss"] else float("nan"), mu[b, 0], sigma[b, 0])
    checkpoint = {
        "blocks": states,
        "mu": torch.from_numpy(mu),
        "sigma": torch.from_numpy(sigma),
        "branches": keys,
        "config": {k: v for k, v in vars(cfg).items() if v is not None},
        "n_blocks": n_blocks,
        "seed": seed,
    }
    return checkpoint, history, sse


def score_stcs(checkpoint: dict[str, Any], stcs: dict[str, np.ndarray], sse: np.ndarray, params: Mapping[str, Any]
               ) -> np.ndarray:
    """z-normalised cube scores float32 [N] of cubes with eval-mode errors ``sse`` [N, K] (paper Sec. 3.4).

    z = (SSE - mu_b) / sigma_b per branch with the checkpoint's pool statistics; with motion enhancement
    the score is w_raw z_raw + w_of z_of. Cubes of a block without training cubes score
    ``empty_block_score``.
    """
    scfg = params["scoring"]
    empty_block = float(scfg["empty_block_score"])
    blocks = stcs["index"][:, 2] if len(stcs["index"]) else np.zeros(0, np.int64)
    mu, sigma = np.asarray(checkpoint["mu"]), np.asarray(checkpoint["sigma"])
    if len(sse) != len(blocks):
        raise DataError("lbr.stcs", f"{len(blocks)} cubes but {len(sse)} errors")
    z = [z_scores(sse[:, j], blocks, mu[:, j], sigma[:, j], empty_block) for j in range(mu.shape[1])]
    if len(z) == 1:
        return z[0]
    m = params["model"]
    return (float(m["w_raw"]) * z[0] + float(m["w_of"]) * z[1]).astype(np.float32)


def frame_scores(
    stc_scores: np.ndarray, stcs: dict[str, np.ndarray], video_index: pd.DataFrame, params: Mapping[str, Any]
) -> pd.DataFrame:
    """One score per frame of every test video: max over the frame's cubes (``empty_frame_score`` when
    it has none), then a uniform moving average (window 10, zero-padded like ``np.convolve(..., 'same')``)
    per video. ``smooth_across_videos: true`` reproduces the reference, which smooths all test videos
    concatenated.
    """
    scfg = params["scoring"]
    empty = float(scfg["empty_frame_score"])
    window = int(scfg["smooth_window"])
    pos_of = {str(v): i for i, v in enumerate(stcs["videos"])}
    index = stcs["index"]
    tests = video_index.loc[video_index["split"] == "test", ["video_id", "n_frames"]].sort_values("video_id")
    if tests.empty:
        raise DataError("video_index", "no test video to score")
    raw_scores = []
    for vid, n in tests.itertuples(index=False):
        vid, n = str(vid), int(n)
        if vid not in pos_of:
            raise DataError(vid, "test video missing from the cube pool")
        s = np.full(n, -np.inf)
        sel = index[:, 0] == pos_of[vid]
        np.maximum.at(s, index[sel, 1].astype(np.int64), np.asarray(stc_scores, dtype=np.float64)[sel])
        n_empty = int(np.isinf(s).sum())
        if n_empty:
            logger.info("%s: %d of %d frames have no cube (score %.0f)", vid, n_empty, n, empty)
        s[np.isinf(s)] = empty
        raw_scores.append(s)
    if scfg["smooth_across_videos"]:
        cat = moving_average(np.concatenate(raw_scores), window)
        smoothed = np.split(cat, np.cumsum([len(s) for s in raw_scores])[:-1])
    else:
        smoothed = [moving_average(s, window) for s in raw_scores]
    frames_out = [
        pd.DataFrame({"video_id": str(vid), "frame": np.arange(len(s), dtype=np.int32), "score": s.astype(np.float32)})
        for vid, s in zip(tests["video_id"], smoothed, strict=True)
    ]
    return pd.concat(frames_out, ignore_index=True)


def _checkpoint_params(checkpoint: dict[str, Any]) -> dict[str, Any]:
    if "params" not in checkpoint:
        raise DataError("self_paced checkpoint", "has no scoring parameters (saved by an older version); "
                                                 "retrain with `kedro run --pipelines=self_paced`")
    return checkpoint["params"]


def score_videos(
    frames: dict[str, Callable[[], np.ndarray]],
    tracks: dict[str, Callable[[], pd.DataFrame]],
    flow: dict[str, Callable[[], np.ndarray]],
    video_index: pd.DataFrame,
    checkpoint: dict[str, Any],
    params: SelfPacedParams,
    device: str,
) -> dict[str, np.ndarray]:
    """z-scored cubes of every test video with a trained checkpoint (the pool's or any new video's).

    Per video (frames, tracks and flow loaded once): foreground boxes and cubes with the checkpoint's
    parameters, eval-mode SSE with the block's models, z-normalisation with the pool's block statistics
    (:func:`score_stcs`). Only ``train.score_batch_size`` is read from ``params``.
    Returns ``videos`` str [V], ``n_frames`` int32 [V], ``index`` int32 [N, 3] (video position, frame,
    block), ``boxes`` float32 [N, 4] and ``score`` float32 [N].
    """
    p = _checkpoint_params(checkpoint)
    tests = sorted(video_index.loc[video_index["split"] == "test", "video_id"].astype(str))
    if not tests:
        raise DataError("video_index", "no test video to score")
    context = int(p["cubes"]["context"])
    models = load_block_models(checkpoint, 2 * context + 1)
    dev = resolve_device(device)
    batch = int(params["train"]["score_batch_size"])
    parts, lengths = [], []
    for pos, vid in enumerate(progress(tests, desc="LBR scoring")):
        info = _video_row(video_index, vid)
        flow_once = functools.cache(functools.partial(_load, flow, vid, "flow"))
        boxes = _box_table(video_boxes(_load(tracks, vid, "tracks"), flow_once, vid, info, p["boxes"]))
        fr = _video_frames(frames, vid, info, context)
        lengths.append(len(fr))
        part = video_stcs(fr, flow_once, boxes, pos, p)
        if part is None:
            logger.warning("%s: no foreground box in any frame", vid)
            continue
        sse = block_errors(models, list(checkpoint["branches"]), part["raw"], part.get("flow"),
                           part["index"][:, 2], dev, batch)
        parts.append({"index": part["index"], "boxes": part["boxes"],
                      "score": score_stcs(checkpoint, part, sse, p)})
    return {"videos": np.asarray(tests, dtype=str), "n_frames": np.asarray(lengths, dtype=np.int32),
            "index": _concat(parts, "index", np.zeros((0, 3), np.int32)),
            "boxes": _concat(parts, "boxes", np.zeros((0, 4), np.float32)),
            "score": _concat(parts, "score", np.zeros(0, np.float32))}


def scored_frames(stc_scores: dict[str, np.ndarray], video_index: pd.DataFrame, checkpoint: dict[str, Any]
                  ) -> pd.DataFrame:
    """:func:`frame_scores` of :func:`score_videos`' cubes with the checkpoint's scoring parameters."""
    return frame_scores(stc_scores["score"], stc_scores, video_index, _checkpoint_params(checkpoint))


def box_scores(stc_scores: dict[str, np.ndarray]) -> pd.DataFrame:
    """The scored cubes of :func:`score_videos` as scored boxes (video_id, frame, x1, y1, x2, y2, score; working
    pixels): one per foreground box, its cube's z-score, unsmoothed. The shared evaluation measures RBDC / TBDC
    on them."""
    index = stc_scores["index"]
    boxes = np.asarray(stc_scores["boxes"], dtype=np.float64).reshape(-1, 4)
    return pd.DataFrame({"video_id": np.asarray(stc_scores["videos"], dtype=str)[index[:, 0]],
                         "frame": index[:, 1].astype(np.int64),
                         "x1": boxes[:, 0], "y1": boxes[:, 1], "x2": boxes[:, 2], "y2": boxes[:, 3],
                         "score": np.asarray(stc_scores["score"], dtype=np.float64)})
