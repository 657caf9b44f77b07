"""Nodes of the ``memory_fusion`` pipeline: SMAFF (Jiang et al., J. Electron. Imaging 33(6) 063035, 2024).

Stages: appearance PCA (CLIP substitute) → appearance autoencoder (512→34) → K-Means-initialised memory
banks per modality (appearance code, pose) trained with compactness / separateness / reconstruction
losses → pseudo-normal and pseudo-anomaly features → per-frame padded object sets with a real mask →
cross-modal attention fusion + MLP classifier trained with BCE on pseudo labels → per-frame scores with
per-video Gaussian smoothing.

Every function is pure (inputs are never modified) and free of Kedro imports. Object-level data moves
between nodes as dicts of numpy arrays ("object table", "modality" dicts); see ``collect_objects``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from vad_kedro.core.errors import DataError
from vad_kedro.core.params import MemoryFusionParams, plain
from vad_kedro.core.progress import progress
from vad_kedro.core.runtime import resolve_device, seed_everything
from vad_kedro.core.smoothing import gaussian

from .losses import fusion_loss, memory_loss
from .models import AppAutoencoder, MemoryBank, SMAFFHead, pseudo_features

logger = logging.getLogger(__name__)

#: Modalities the pseudo generators perturb (velocity is never perturbed: both classes use it as is).
PERTURBED = ("app", "pose")
#: Canonical modality order f1, f2, f3 of the paper.
MODALITY_ORDER = ("app", "pose", "vel")
POSE_DIM = 34

Loader = Callable[[], Any]
#: Video roles: ``train`` / ``val`` (normal videos, training) and ``test`` (scored from the checkpoint).
ALL_ROLES = ("train", "val", "test")
TRAINING_ROLES = ("train", "val")


# ----------------------------------------------------------------------------------------------------
# 1. Object table: load, validate, appearance PCA (CLIP substitute), pose normalisation
# ----------------------------------------------------------------------------------------------------
def select_videos(video_index: pd.DataFrame, roles: tuple[str, ...] = ALL_ROLES) -> pd.DataFrame:
    """Videos used by SMAFF with their role: ``train`` (normal train videos, one-class training), ``val``
    (normal val videos, held-out checks only) and ``test`` (every test video, scored); only ``roles``.

    Videos whose ``video_label`` is 1 (abnormal, weak-supervision setting) never enter training.
    """
    needed = {"video_id", "split", "n_frames", "video_label"}
    missing = needed - set(video_index.columns)
    if missing:
        raise DataError("video_index", f"missing columns {sorted(missing)}")
    vi = video_index.copy()
    vi["video_id"] = vi["video_id"].astype(str)
    normal = vi["video_label"].astype(int) != 1
    role = np.where((vi["split"] == "train") & normal, "train",
                    np.where((vi["split"] == "val") & normal, "val",
                             np.where(vi["split"] == "test", "test", "")))
    vi["role"] = role
    vi = vi[vi["role"].isin(roles)].sort_values(["role", "video_id"]).reset_index(drop=True)
    if "train" in roles and not (vi["role"] == "train").any():
        raise DataError("video_index", "no normal training videos (split == 'train', video_label != 1)")
    if "test" in roles and not (vi["role"] == "test").any():
        raise DataError("video_index", "no test videos (split == 'test')")
    return vi[["video_id", "role", "n_frames"]]


def _load_video(vid: str, n_frames: int, tracks: Mapping[str, Loader], feats: Mapping[str, Loader]
                ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Load and validate one video's tracks and object features (rows aligned)."""
    if vid not in tracks:
        raise DataError(vid, "no tracks partition (upstream feature_extraction did not write it)")
    if vid not in feats:
        raise DataError(vid, "no object_features partition (upstream feature_extraction did not write it)")
    df = tracks[vid]()
    f = feats[vid]()
    for col in ("frame", "x1", "y1", "x2", "y2"):
        if col not in df.columns:
            raise DataError(f"tracks/{vid}", f"missing column '{col}'")
    for key in ("app", "vel"):
        if key not in f:
            raise DataError(f"object_features/{vid}", f"missing array '{key}' (have {sorted(f)})")
    n = len(df)
    for key, arr in f.items():
        if len(arr) != n:
            raise DataError(f"object_features/{vid}", f"'{key}' has {len(arr)} rows but tracks have {n}")
    if n:
        fr = df["frame"].to_numpy()
        if fr.min() < 0 or fr.max() >= n_frames:
            raise DataError(f"tracks/{vid}", f"frame indices {fr.min()}..{fr.max()} outside 0..{n_frames - 1}")
        for key in ("app", "vel"):
            if not np.isfinite(f[key]).all():
                raise DataError(f"object_features/{vid}", f"'{key}' contains NaN or inf")
    if "pose" in f and n and (f["pose"].ndim != 2 or f["pose"].shape[1] != POSE_DIM):
        raise DataError(f"object_features/{vid}", f"'pose' must be [N, {POSE_DIM}], got {f['pose'].shape}")
    return df, f


def normalize_pose(pose: np.ndarray, boxes: np.ndarray, mode: str = "box") -> np.ndarray:
    """17 (x, y) keypoints, interleaved, → coordinates relative to the box (0..1) when ``mode == "box"``.

    Box-relative keypoints make pose independent of where and how large the person is (the attribute-
    based source normalises keypoints the same way); ``mode == "none"`` keeps the values as given.
    """
    pose = np.asarray(pose, dtype=np.float32)
    if mode == "none":
        return pose.copy()
    if mode != "box":
        raise ValueError(f"unknown pose normalisation '{mode}' (box | none)")
    x1, y1, x2, y2 = (boxes[:, i:i + 1].astype(np.float32) for i in range(4))
    w = np.maximum(x2 - x1, 1.0)
    h = np.maximum(y2 - y1, 1.0)
    out = pose.copy()
    out[:, 0::2] = (pose[:, 0::2] - x1) / w
    out[:, 1::2] = (pose[:, 1::2] - y1) / h
    return out


def fit_app_pca(tracks: Mapping[str, Loader], object_features: Mapping[str, Loader], videos: pd.DataFrame,
                params: MemoryFusionParams, seed: int) -> dict[str, Any]:
    """Appearance PCA (CLIP substitute, spec §4) of the upstream descriptor (HOG 3780-d) to ``app_pca_dim``
    (512), fit on a seeded subsample of at most ``app_pca_max_rows`` objects of the ``train`` videos.

    Returns the PCA state for the checkpoint (tensors); ``fitted: False`` when the descriptor already has
    ≤ ``app_pca_dim`` dimensions (e.g. real CLIP).
    """
    vids = videos["video_id"].tolist()
    nfr = videos["n_frames"].astype(int).to_numpy()
    roles = videos["role"].to_numpy()
    train = [(i, v) for i, v in enumerate(vids) if roles[i] == "train"]
    rows_per_video = {}
    for i, v in train:
        if v not in tracks:
            raise DataError(v, "no tracks partition (upstream feature_extraction did not write it)")
        rows_per_video[v] = len(tracks[v]())
    n_train = sum(rows_per_video.values())
    if n_train == 0:
        raise DataError("tracks", "the normal training videos contain no objects at all")
    rng = np.random.default_rng(seed)
    max_rows = int(params["app_pca_max_rows"])
    keep = np.sort(rng.choice(n_train, size=min(n_train, max_rows), replace=False))
    pieces, offset = [], 0
    for i, v in progress(train, desc="smaff: PCA rows"):
        _, f = _load_video(v, int(nfr[i]), tracks, object_features)
        n = len(f["app"])
        if n == 0:
            continue
        sel = keep[(keep >= offset) & (keep < offset + n)] - offset
        pieces.append(np.asarray(f["app"], dtype=np.float32).reshape(n, -1)[sel])
        offset += n
    fit_x = np.concatenate(pieces)
    da = fit_x.shape[1]
    target = int(params["app_pca_dim"])
    if da <= target:
        return {"in_dim": int(da), "out_dim": int(da), "fitted": False}
    n_comp = min(target, len(fit_x))
    if n_comp < target:
        logger.warning("smaff: only %d training objects for PCA; appearance reduced to %d dims instead of %d",
                       len(fit_x), n_comp, target)
    pca = PCA(n_components=n_comp, svd_solver="randomized", random_state=seed).fit(fit_x)
    state = {"in_dim": int(da), "out_dim": int(n_comp), "fitted": True,
             "mean": torch.from_numpy(pca.mean_.astype(np.float32)),
             "components": torch.from_numpy(pca.components_.astype(np.float32)),  # keeps sklearn's memory layout
             "explained_variance_ratio": float(pca.explained_variance_ratio_.sum())}
    logger.info("smaff: appearance PCA %d -> %d dims on %d training objects (%.1f%% variance)",
                da, n_comp, len(fit_x), 100 * state["explained_variance_ratio"])
    return state


def apply_pca(app: np.ndarray, pca: Mapping[str, Any]) -> np.ndarray:
    """Project descriptors with a PCA state of :func:`fit_app_pca`: the arithmetic of ``PCA.transform``, bit for
    bit as long as ``components`` keeps the memory layout sklearn gave it (tensors keep it through save / load)."""
    if not pca["fitted"]:
        return app
    comp = pca["components"].numpy()
    out = app @ comp.T
    out -= pca["mean"].numpy().reshape(1, -1) @ comp.T
    return out.astype(np.float32)


def object_table(tracks: Mapping[str, Loader], object_features: Mapping[str, Loader], videos: pd.DataFrame,
                 pca: Mapping[str, Any], params: MemoryFusionParams) -> dict[str, np.ndarray]:
    """The object table of ``videos`` (from :func:`select_videos`): appearance projected with ``pca`` then
    L2-normalised; box-relative pose keypoints (when any video has pose; NaN rows, i.e. no matched skeleton,
    are marked invalid in ``pose_valid``).

    Returns ``video_ids``, ``roles``, ``n_frames`` per video; ``vid``, ``frame``, ``area``, ``box``, ``app``,
    ``vel``[, ``pose``, ``pose_valid``] per object.
    """
    vids = videos["video_id"].tolist()
    nfr = videos["n_frames"].astype(int).to_numpy()
    roles = videos["role"].to_numpy()
    da = int(pca["in_dim"])
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("vid", "frame", "area", "box", "app", "vel", "pose", "pose_has")}
    any_pose = False
    n_bins: set[int] = set()
    for i, v in enumerate(progress(vids, desc="smaff: objects")):
        df, f = _load_video(v, int(nfr[i]), tracks, object_features)
        n = len(df)
        if n == 0:
            app = np.zeros((0, int(pca["out_dim"])), np.float32)
        else:
            app = np.asarray(f["app"], dtype=np.float32).reshape(n, -1)
            if app.shape[1] != da:
                raise DataError(f"object_features/{v}", f"'app' has {app.shape[1]} dims, training videos have {da}")
            app = apply_pca(app, pca)
            app /= np.maximum(np.linalg.norm(app, axis=1, keepdims=True), 1e-12)
            n_bins.add(int(np.asarray(f["vel"]).reshape(n, -1).shape[1]))
        box = df[["x1", "y1", "x2", "y2"]].to_numpy(np.float32).reshape(n, 4)
        cols["vid"].append(np.full(n, i, np.int32))
        cols["frame"].append(df["frame"].to_numpy(np.int32))
        cols["area"].append(np.clip(box[:, 2] - box[:, 0], 0, None) * np.clip(box[:, 3] - box[:, 1], 0, None))
        cols["box"].append(box)
        cols["app"].append(app)
        cols["vel"].append(np.asarray(f["vel"], dtype=np.float32).reshape(n, -1) if n else None)
        if "pose" in f:
            any_pose = True
            pose = np.asarray(f["pose"], dtype=np.float32).reshape(n, POSE_DIM)
            cols["pose"].append(normalize_pose(pose, box, params["pose_normalization"]))
            cols["pose_has"].append(np.ones(n, bool))
        else:
            cols["pose"].append(np.full((n, POSE_DIM), np.nan, np.float32))
            cols["pose_has"].append(np.zeros(n, bool))
    if len(n_bins) > 1:
        raise DataError("object_features", f"'vel' has a different number of bins across videos: {sorted(n_bins)}")
    b = n_bins.pop() if n_bins else 1
    cols["vel"] = [np.zeros((0, b), np.float32) if a is None else a for a in cols["vel"]]
    table: dict[str, np.ndarray] = {
        "video_ids": np.asarray(vids, dtype=str),
        "roles": np.asarray(roles, dtype=str),
        "n_frames": nfr.astype(np.int64),
    }
    for k in ("vid", "frame", "area", "box", "app", "vel"):
        table[k] = np.concatenate(cols[k])
    if any_pose:
        pose = np.concatenate(cols["pose"])
        has = np.concatenate(cols["pose_has"])
        valid = np.isfinite(pose).all(axis=1)
        table["pose"] = pose
        table["pose_valid"] = valid
        n_nopose_videos = sum(1 for c in cols["pose_has"] if len(c) and not c.any())
        logger.info("smaff: pose present for %d / %d objects (%d unmatched rows, %d videos without pose)",
                    int(valid.sum()), len(valid), int((has & ~valid).sum()), n_nopose_videos)
    obj_roles = table["roles"][table["vid"]] if len(table["vid"]) else np.zeros(0, str)
    logger.info("smaff: %d objects (train %d, val %d, test %d) in %d videos",
                len(table["vid"]), int((obj_roles == "train").sum()), int((obj_roles == "val").sum()),
                int((obj_roles == "test").sum()), len(vids))
    return table


def collect_objects(
    tracks: Mapping[str, Loader],
    object_features: Mapping[str, Loader],
    video_index: pd.DataFrame,
    params: MemoryFusionParams,
    seed: int,
    roles: tuple[str, ...] = ALL_ROLES,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Fit the appearance PCA on the training objects (:func:`fit_app_pca`) and build the object table of the
    videos of ``roles`` (:func:`object_table`). Returns the table and the PCA state for the checkpoint."""
    videos = select_videos(video_index, roles)
    pca = fit_app_pca(tracks, object_features, videos, params, seed)
    table = object_table(tracks, object_features, videos, pca, params)
    if "pose" not in table:
        logger.warning("smaff: the dataset has no pose: SMAFF runs with appearance + velocity only "
                       "(smaff_nopose); pose is never invented")
    return table, pca


def collect_training_objects(tracks: Mapping[str, Loader], object_features: Mapping[str, Loader],
                             video_index: pd.DataFrame, params: MemoryFusionParams, seed: int
                             ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """:func:`collect_objects` of the normal train and val videos (test videos are scored from the checkpoint)."""
    return collect_objects(tracks, object_features, video_index, params, seed, TRAINING_ROLES)


def object_roles(objects: Mapping[str, np.ndarray]) -> np.ndarray:
    """Role (train / val / test) of every object row."""
    if len(objects["vid"]) == 0:
        return np.zeros(0, dtype=str)
    return objects["roles"][objects["vid"]]


# ----------------------------------------------------------------------------------------------------
# 2-3. Appearance autoencoder
# ----------------------------------------------------------------------------------------------------
def _batches(n: int, batch_size: int | None, gen: torch.Generator, shuffle: bool = True) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=gen) if shuffle else torch.arange(n)
    bs = n if not batch_size or batch_size >= n else int(batch_size)
    return list(order.split(bs))


def fit_app_autoencoder(
    objects: Mapping[str, np.ndarray], params: MemoryFusionParams, seed: int, device: str, deterministic: bool
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Train the appearance autoencoder (MSE, Adam) on normal training objects.

    Keeps the epoch with the lowest MSE on held-out objects: the ``val`` videos' objects when
    ``holdout == "val"`` and they exist, else a seeded ``holdout_fraction`` of the training objects
    (the reference keeps the best *test* MSE; never done here).
    """
    cfg = params["autoencoder"]
    gen = seed_everything(seed, deterministic)
    dev = resolve_device(device)
    roles = object_roles(objects)
    x_train = objects["app"][roles == "train"]
    x_hold = objects["app"][roles == "val"] if cfg["holdout"] == "val" else np.zeros((0, objects["app"].shape[1]))
    if len(x_hold) < int(cfg["min_holdout"]):
        n_h = int(round(len(x_train) * float(cfg["holdout_fraction"])))
        perm = np.random.default_rng(seed).permutation(len(x_train))
        x_hold, x_train = x_train[perm[:n_h]], x_train[perm[n_h:]]
        logger.info("smaff: AE holdout = %d random training objects", n_h)
    else:
        logger.info("smaff: AE holdout = %d objects of the val videos", len(x_hold))
    model = AppAutoencoder(x_train.shape[1], int(cfg["code_dim"]), tuple(cfg["hidden"])).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=float(cfg["lr"]))
    xt = torch.from_numpy(np.ascontiguousarray(x_train)).float().to(dev)
    xh = torch.from_numpy(np.ascontiguousarray(x_hold)).float().to(dev)
    hist: dict[str, list[float]] = {"ae_train_mse": [], "ae_holdout_mse": []}
    best, best_state, best_epoch = float("inf"), None, -1
    for epoch in progress(range(int(cfg["epochs"])), desc="smaff: autoencoder"):
        model.train()
        tot = 0.0
        for idx in _batches(len(xt), cfg.get("batch_size"), gen):
            xb = xt[idx.to(dev)]
            loss = torch.nn.functional.mse_loss(model(xb), xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(idx)
        hist["ae_train_mse"].append(tot / max(len(xt), 1))
        model.eval()
        with torch.no_grad():
            h = float(torch.nn.functional.mse_loss(model(xh), xh)) if len(xh) else hist["ae_train_mse"][-1]
        hist["ae_holdout_mse"].append(h)
        if h < best:
            best, best_epoch = h, epoch
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    logger.info("smaff: AE best epoch %d / %d (holdout MSE %.3g)", best_epoch + 1, int(cfg["epochs"]), best)
    return {"state": best_state, "in_dim": int(x_train.shape[1]), "code_dim": int(cfg["code_dim"]),
            "hidden": [int(h) for h in cfg["hidden"]], "best_epoch": int(best_epoch), "holdout_mse": float(best)}, hist


def _autoencoder(ae: Mapping[str, Any]) -> AppAutoencoder:
    model = AppAutoencoder(ae["in_dim"], ae["code_dim"], tuple(ae["hidden"]))
    model.load_state_dict(ae["state"])
    return model.eval()


def standardize(x: np.ndarray, fit_rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z-score every column with the mean / std of the training rows (std floored at 1e-6)."""
    mean = x[fit_rows].mean(axis=0) if fit_rows.any() else np.zeros(x.shape[1], np.float32)
    std = np.maximum(x[fit_rows].std(axis=0), 1e-6) if fit_rows.any() else np.ones(x.shape[1], np.float32)
    mean, std = mean.astype(np.float32), std.astype(np.float32)
    return apply_standardize(x, {"mean": mean, "std": std}), mean, std


def apply_standardize(x: np.ndarray, stats: Mapping[str, Any]) -> np.ndarray:
    """``(x - mean) / std`` with stored training statistics (arrays or tensors); ``x`` as is without them."""
    if "mean" not in stats:
        return x.astype(np.float32)
    return ((x - np.asarray(stats["mean"])) / np.asarray(stats["std"])).astype(np.float32)


def _standardized(x: np.ndarray, fit_rows: np.ndarray, params: MemoryFusionParams) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``x`` z-scored with the statistics of ``fit_rows`` when ``params.standardize``; and those statistics."""
    if not params["standardize"]:
        return x.astype(np.float32), {}
    z, mean, std = standardize(x, fit_rows)
    return z, {"mean": mean, "std": std}


def app_codes(app: np.ndarray, ae: Mapping[str, Any]) -> np.ndarray:
    """The 34-d code of the appearance autoencoder for every row (float32)."""
    model = _autoencoder(ae)
    with torch.no_grad():
        x = torch.from_numpy(np.ascontiguousarray(app)).float()
        code = torch.cat([model.encode(c) for c in x.split(8192)]) if len(x) else torch.zeros(0, ae["code_dim"])
    return code.numpy().astype(np.float32)


def encode_appearance(objects: Mapping[str, np.ndarray], ae: Mapping[str, Any], params: MemoryFusionParams) -> dict[str, Any]:
    """Appearance modality: the AE code ``app34`` of every object; memory fitting uses training rows.

    ``standardize: true`` z-scores the code with training statistics (the reference feeds raw codes);
    ``stats`` keeps them for the checkpoint.
    """
    fit = object_roles(objects) == "train"
    code, stats = _standardized(app_codes(objects["app"], ae), fit, params)
    return {"name": "app", "available": True, "x": code, "fit_rows": fit, "stats": stats}


def pose_modality(objects: Mapping[str, np.ndarray], params: MemoryFusionParams) -> dict[str, Any]:
    """Pose modality (box-normalised keypoints) or ``available: False`` when the dataset has no pose.

    Rows without a matched skeleton are imputed with the mean training pose (counted and logged) so that
    every object keeps one entry; only rows with a real pose fit the memory.
    """
    if "pose" not in objects:
        return {"name": "pose", "available": False, "reason": "dataset has no pose"}
    roles = object_roles(objects)
    valid = objects["pose_valid"]
    fit = (roles == "train") & valid
    if not fit.any():
        logger.warning("smaff: no training object has a pose: pose modality disabled")
        return {"name": "pose", "available": False, "reason": "no training object has a pose"}
    fill = objects["pose"][fit].mean(axis=0)
    x, stats = _standardized(impute_pose(objects, fill), fit, params)
    return {"name": "pose", "available": True, "x": x, "fit_rows": fit, "stats": {"fill": fill, **stats}}


def impute_pose(objects: Mapping[str, np.ndarray], fill: np.ndarray) -> np.ndarray:
    """Pose of every object; rows without a matched skeleton (or videos without pose) take ``fill`` (logged)."""
    n = len(objects["vid"])
    has = "pose" in objects
    x = objects["pose"].copy() if has else np.full((n, POSE_DIM), np.nan, np.float32)
    valid = objects["pose_valid"] if has else np.zeros(n, bool)
    n_missing = int((~valid).sum())
    if n_missing:
        x[~valid] = fill
        logger.info("smaff: %d objects without a matched pose use the mean training pose", n_missing)
    return x


def object_speed(objects: Mapping[str, np.ndarray]) -> np.ndarray:
    """One speed per object: the mean over the orientation bins of its flow histogram, [N, 1]."""
    return objects["vel"].mean(axis=1, keepdims=True) if len(objects["vel"]) else np.zeros((0, 1), np.float32)


def velocity_modality(objects: Mapping[str, np.ndarray], params: MemoryFusionParams) -> dict[str, Any]:
    """Velocity modality: one scalar per object, mean over orientation bins, repeated ``d_model`` times
    (``5_padding_mask.py``).

    The reference never perturbs velocity (both pseudo classes use the real one; ``pseudo.velocity_boost:
    null``). With ``velocity_boost = k`` the pseudo-anomalous velocity is ``v + (k − 1)·v̄`` (v̄ = mean
    training speed): a speed-up relative to the dataset's own normal speed, so standing objects are
    perturbed too.
    """
    d = int(params["fusion"]["d_model"])
    v = object_speed(objects)
    train = object_roles(objects) == "train"
    mean_speed = float(v[train].mean()) if train.any() else 0.0
    boost = params["pseudo"].get("velocity_boost")
    anomaly = v + (float(boost) - 1.0) * mean_speed if boost else None
    v, stats = _standardized(v, train, params)
    if stats and boost:
        anomaly = (anomaly - stats["mean"]) / stats["std"]
    out = {"name": "vel", "available": True, "x": np.repeat(v, d, axis=1).astype(np.float32), "mean_speed": mean_speed,
           "stats": stats}
    if boost:
        out["anomaly"] = np.repeat(anomaly, d, axis=1).astype(np.float32)
    return out


# ----------------------------------------------------------------------------------------------------
# 4-6. Memory: K-Means init, training, pseudo features
# ----------------------------------------------------------------------------------------------------
def memory_size(n_rows: int, n_items: int, rows_per_item: int, min_items: int) -> int:
    """M = min(n_items, n_rows // rows_per_item), at least ``min_items`` (the ranks the generators read);
    never more than ``n_rows``. Raises ``ValueError`` when there are fewer rows than ``min_items``."""
    if n_rows < min_items:
        raise ValueError(f"{n_rows} training objects, need at least {min_items} for the memory")
    m = min(int(n_items), n_rows // max(int(rows_per_item), 1)) if rows_per_item else int(n_items)
    return int(min(max(m, min_items), n_rows))


def init_memory(modality: Mapping[str, Any], params: MemoryFusionParams, seed: int) -> dict[str, Any]:
    """K-Means centroids of the modality's training rows (items recomputed as cluster means).

    A modality with too few training rows is disabled (pose) or rejected (appearance) with a clear error.
    """
    name = modality["name"]
    if not modality["available"]:
        return {"name": name, "available": False, "reason": modality.get("reason", "")}
    cfg = params["memory"]
    pcfg = params["pseudo"]
    x = modality["x"][modality["fit_rows"]]
    min_items = max(int(pcfg["normal_ranks"][1]), int(pcfg["anomaly_ranks"][1]), int(cfg["top_k"]) + 1)
    try:
        m = memory_size(len(x), int(cfg["n_items"]), int(cfg.get("rows_per_item") or 0), min_items)
    except ValueError as err:
        if name == "app":
            raise DataError("object_features", f"appearance memory: {err}") from err
        logger.warning("smaff: %s memory disabled: %s", name, err)
        return {"name": name, "available": False, "reason": str(err)}
    if m < int(cfg["n_items"]):
        logger.info("smaff: %s memory capped at M=%d items (%d training rows, configured %d)",
                    name, m, len(x), int(cfg["n_items"]))
    km = KMeans(n_clusters=m, random_state=seed, n_init=int(cfg["kmeans_n_init"])).fit(x)
    centroids = np.stack([x[km.labels_ == c].mean(axis=0) if (km.labels_ == c).any() else km.cluster_centers_[c]
                          for c in range(m)]).astype(np.float32)
    return {"name": name, "available": True, "centroids": centroids}


def train_memory(
    modality: Mapping[str, Any], init: Mapping[str, Any], params: MemoryFusionParams, seed: int, device: str, deterministic: bool
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Train the memory items (only parameters; AE frozen) with ``5·L_c + L_s + L_r``, Adam, mini-batches.

    Appearance uses CosineAnnealingLR stepped per epoch (``cosine_t_max``), pose a constant rate (as coded);
    the last epoch is kept. The reference's extra ``optimizer.step()`` after each epoch is removed.
    """
    name = modality["name"]
    if not init["available"]:
        return {"name": name, "available": False, "reason": init.get("reason", "")}, {}
    cfg = params["memory"]
    gen = seed_everything(seed, deterministic)
    dev = resolve_device(device)
    x = torch.from_numpy(np.ascontiguousarray(modality["x"][modality["fit_rows"]])).float().to(dev)
    bank = MemoryBank(torch.from_numpy(init["centroids"])).to(dev)
    opt = torch.optim.Adam(bank.parameters(), lr=float(cfg["lr"]))
    t_max = (cfg.get("cosine_t_max") or {}).get(name)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=int(t_max)) if t_max else None
    hist: dict[str, list[float]] = {f"mem_{name}_{k}": [] for k in ("total", "compactness", "separateness", "reconstruction")}
    for _ in progress(range(int(cfg["epochs"])), desc=f"smaff: {name} memory"):
        sums = dict.fromkeys(("total", "compactness", "separateness", "reconstruction"), 0.0)
        for idx in _batches(len(x), cfg.get("batch_size"), gen):
            q = x[idx.to(dev)]
            loss, parts = memory_loss(q, bank.items, float(cfg["compactness_weight"]), 1.0, 1.0,
                                      int(cfg["top_k"]), float(cfg["margin"]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sums["total"] += float(loss.detach()) * len(idx)
            for k, val in parts.items():
                sums[k] += val * len(idx)
        if sched is not None:
            sched.step()
        for k, val in sums.items():
            hist[f"mem_{name}_{k}"].append(val / len(x))
    logger.info("smaff: %s memory M=%d final loss %.4g", name, bank.items.shape[0], hist[f"mem_{name}_total"][-1])
    return {"name": name, "available": True, "items": bank.items.detach().cpu().numpy().astype(np.float32)}, hist


def make_pseudo_features(modality: Mapping[str, Any], memory: Mapping[str, Any], params: MemoryFusionParams) -> dict[str, Any]:
    """Pseudo-normal and pseudo-anomaly transforms of every object row (``4_Pseudo_generators.py``).

    Training frames use both; test frames use the pseudo-normal transform (the "memorised" test features).
    """
    name = modality["name"]
    if not memory["available"]:
        return {"name": name, "available": False, "reason": memory.get("reason", "")}
    cfg = params["pseudo"]
    items = torch.from_numpy(memory["items"]).float()
    x = torch.from_numpy(np.ascontiguousarray(modality["x"])).float()
    normal, anomaly = [], []
    with torch.no_grad():
        for chunk in x.split(8192):
            n, a = pseudo_features(chunk, items, tuple(cfg["normal_ranks"]), tuple(cfg["anomaly_ranks"]),
                                   float(cfg["normal_mix"]), float(cfg["anomaly_mix"]), float(cfg["temperature"]))
            normal.append(n)
            anomaly.append(a)
    d = x.shape[1]
    cat = (lambda parts: torch.cat(parts).numpy()) if normal else (lambda parts: np.zeros((0, d), np.float32))
    return {"name": name, "available": True, "normal": cat(normal), "anomaly": cat(anomaly)}


# ----------------------------------------------------------------------------------------------------
# 7. Padding and mask
# ----------------------------------------------------------------------------------------------------
def _frame_slots(vid: np.ndarray, frame: np.ndarray, area: np.ndarray, rows: np.ndarray, t_max: int
                 ) -> tuple[pd.DataFrame, int]:
    """Rank the objects of each frame by box area (largest first) and keep the first ``t_max``."""
    df = pd.DataFrame({"vid": vid[rows], "frame": frame[rows], "area": area[rows], "row": rows})
    df = df.sort_values(["vid", "frame", "area", "row"], ascending=[True, True, False, True], kind="mergesort")
    df["slot"] = df.groupby(["vid", "frame"], sort=False).cumcount()
    n_over = int(df.loc[df["slot"] >= t_max, ["vid", "frame"]].drop_duplicates().shape[0])
    return df[df["slot"] < t_max], n_over


def role_frame_sets(objects: Mapping[str, np.ndarray], role: str, t_max: int) -> dict[str, Any]:
    """``<role>_idx`` [F, T_max] (−1 = padding), ``<role>_valid`` and ``<role>_n_truncated`` of one role (see
    :func:`build_frame_sets`); the test role also has ``test_video`` / ``test_frame`` per row."""
    rows = np.flatnonzero(object_roles(objects) == role)
    kept, n_over = _frame_slots(objects["vid"], objects["frame"], objects["area"], rows, t_max)
    out: dict[str, Any] = {}
    if role == "test":
        vids = np.flatnonzero(objects["roles"] == "test")
        nfr = objects["n_frames"][vids]
        offsets = np.zeros(int(objects["n_frames"].shape[0]), np.int64)
        offsets[vids] = np.concatenate([[0], np.cumsum(nfr)[:-1]])
        n_f = int(nfr.sum())
        pos = offsets[kept["vid"].to_numpy()] + kept["frame"].to_numpy()
        out["test_video"] = np.repeat(objects["video_ids"][vids], nfr)
        out["test_frame"] = np.concatenate([np.zeros(0, np.int64), *(np.arange(n, dtype=np.int64) for n in nfr)])
    else:
        keys = kept["vid"].to_numpy().astype(np.int64) * (1 << 32) + kept["frame"].to_numpy()
        uniq, pos = np.unique(keys, return_inverse=True)
        n_f = len(uniq)
    idx = np.full((n_f, t_max), -1, np.int64)
    idx[pos, kept["slot"].to_numpy()] = kept["row"].to_numpy()
    out[f"{role}_idx"] = idx
    out[f"{role}_valid"] = idx >= 0
    if n_over:
        logger.warning("smaff: %d %s frames have more than T_max=%d objects; kept the %d largest boxes",
                       n_over, role, t_max, t_max)
    out[f"{role}_n_truncated"] = n_over
    return out


def build_frame_sets(objects: Mapping[str, np.ndarray], params: MemoryFusionParams) -> dict[str, Any]:
    """Per-frame object sets as index arrays ``idx`` [F, T_max] (−1 = padding) and ``valid`` masks.

    ``train`` / ``val``: frames with at least one object of the normal train / val videos (a frame without
    objects carries no training signal). ``test``: every frame of every test video (none in the training table
    of the pipeline: test videos are scored from the checkpoint), in (video, frame) order;
    frames without objects have an all-False mask and score 0. ``T_max`` = ``padding.t_max`` or the
    largest number of objects in a training frame (capped by ``padding.t_max_cap``); frames with more
    objects keep their ``T_max`` largest boxes (logged, counted).
    """
    cfg = params["padding"]
    vid, frame = objects["vid"], objects["frame"]
    train_rows = np.flatnonzero(object_roles(objects) == "train")
    if cfg.get("t_max"):
        t_max = int(cfg["t_max"])
    else:
        counts = pd.Series(vid[train_rows].astype(np.int64) * (1 << 32) + frame[train_rows]).value_counts()
        t_max = int(counts.max()) if len(counts) else 1
        cap = cfg.get("t_max_cap")
        if cap and t_max > int(cap):
            logger.warning("smaff: largest training frame has %d objects; T_max capped at %d", t_max, int(cap))
            t_max = int(cap)
    out: dict[str, Any] = {"t_max": t_max}
    for role in ALL_ROLES:
        out.update(role_frame_sets(objects, role, t_max))
    n_empty = int((~out["test_valid"].any(axis=1)).sum())
    logger.info("smaff: T_max=%d; frames train %d, val %d, test %d (%d test frames without objects score 0)",
                t_max, len(out["train_idx"]), len(out["val_idx"]), len(out["test_idx"]), n_empty)
    return out


def pad_features(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Gather per-object rows into a padded [F, T_max, d] array (zeros where ``idx == -1``)."""
    if len(x) == 0:
        return np.zeros((*idx.shape, x.shape[1] if x.ndim == 2 else 0), np.float32)
    out = x[np.clip(idx, 0, None)]
    out[idx < 0] = 0.0
    return out.astype(np.float32)


# ----------------------------------------------------------------------------------------------------
# 8-9. Fusion training and scoring
# ----------------------------------------------------------------------------------------------------
def resolve_modalities(requested: list[str], app: Mapping[str, Any], pose: Mapping[str, Any]) -> list[str]:
    """The modalities a variant actually uses, in the paper's order; pose is dropped (and logged) when absent."""
    unknown = set(requested) - set(MODALITY_ORDER)
    if unknown:
        raise ValueError(f"unknown modalities {sorted(unknown)} (allowed: {MODALITY_ORDER})")
    if not app["available"]:
        raise DataError("object_features", "appearance features are required")
    used = [m for m in MODALITY_ORDER if m in requested]
    if "pose" in used and not pose["available"]:
        logger.warning("smaff: pose requested but unavailable (%s): using %s only, pose is not invented",
                       pose.get("reason", ""), "+".join(m for m in used if m != "pose"))
        used.remove("pose")
    if len(used) < 2:
        raise ValueError(f"SMAFF fuses at least two modalities, got {used}")
    return used


def _fusion_head(fusion: Mapping[str, Any]) -> SMAFFHead:
    c = fusion["config"]
    return SMAFFHead(len(fusion["modalities"]), int(fusion["t_max"]), int(c["d_model"]), int(c["hidden"]),
                     float(c["dropout"]), bool(c["faithful_mask_noop"]), bool(fusion["k3_typo"]),
                     bool(c.get("scaled_attention", False)))


def _frame_inputs(mods: list[str], sources: Mapping[str, Mapping[str, Any]], idx: np.ndarray, kind: str
                  ) -> list[torch.Tensor]:
    """Padded tensors per modality; ``kind`` = ``normal`` / ``anomaly`` for perturbed modalities."""
    out = []
    for m in mods:
        src = sources[m]
        if m == "vel":
            x = src["anomaly"] if kind == "anomaly" and "anomaly" in src else src["x"]
        else:
            x = src[kind]
        out.append(torch.from_numpy(pad_features(x, idx)))
    return out


def train_fusion(
    app: Mapping[str, Any],
    pose: Mapping[str, Any],
    vel: Mapping[str, Any],
    frame_sets: Mapping[str, Any],
    variant: Mapping[str, Any],
    params: MemoryFusionParams,
    seed: int,
    device: str,
    deterministic: bool,
) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Train attention fusion + classifier with BCE on pseudo-labelled training frames (last epoch kept).

    Loss (generalising the reference's four terms): all perturbed modalities pseudo-normal → 0, all
    pseudo-anomalous → 1 and, with two or more perturbed modalities, each one alone pseudo-anomalous → 1.
    With (app, pose) perturbed and real velocity (``pseudo.velocity_boost: null``, the reference) this is
    exactly (N,N)→0, (A,A)→1, (A,N)→1, (N,A)→1. ``anomaly_objects: all`` perturbs every object of a
    pseudo-anomalous frame (reference); ``one`` perturbs one random object per frame and epoch.
    The pseudo-task BCE on the ``val`` frames is logged (not used for selection).
    """
    cfg = params["fusion"]
    mods = resolve_modalities(list(variant["modalities"]), app, pose)
    k3_typo = bool(cfg["faithful_k3_typo"])
    if k3_typo and mods != list(MODALITY_ORDER):
        logger.warning("smaff: faithful_k3_typo ignored: it only exists in the app+pose+vel model")
        k3_typo = False
    gen = seed_everything(seed, deterministic)
    dev = resolve_device(device)
    sources = {"app": app, "pose": pose, "vel": vel}
    pert = [m for m in mods if m in PERTURBED or (m == "vel" and "anomaly" in vel)]
    t_max = int(frame_sets["t_max"])
    idx, valid = frame_sets["train_idx"], frame_sets["train_valid"]
    if len(idx) == 0:
        raise DataError("tracks", "no training frame contains an object: nothing to train the fusion on")
    normal = _frame_inputs(mods, sources, idx, "normal")
    anomal = _frame_inputs(mods, sources, idx, "anomaly")
    combos: list[tuple[tuple[bool, ...], float]] = [(tuple(False for _ in mods), 0.0),
                                                     (tuple(m in pert for m in mods), 1.0)]
    if len(pert) >= 2:
        combos += [(tuple(m == p for m in mods), 1.0) for p in pert]
    fusion = {"modalities": mods, "t_max": t_max, "k3_typo": k3_typo, "config": dict(cfg)}
    model = _fusion_head(fusion).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=float(cfg["lr"]))
    valid_t = torch.from_numpy(valid)
    v_idx, v_valid = frame_sets["val_idx"], torch.from_numpy(frame_sets["val_valid"])
    v_normal = _frame_inputs(mods, sources, v_idx, "normal") if len(v_idx) else None
    v_anomal = _frame_inputs(mods, sources, v_idx, "anomaly") if len(v_idx) else None
    hist: dict[str, list[float]] = {"fusion_loss": [], "fusion_val_loss": []}
    every = max(int(cfg["monitor_every"]), 1)
    n_epochs = int(cfg["epochs"])
    logger.info("smaff: fusion on %s, %d training frames, T_max=%d, classifier input %d, %d epochs",
                "+".join(mods), len(idx), t_max, t_max * model.attention.out_dim, n_epochs)

    targets = torch.tensor([t for _, t in combos], device=dev)

    which = cfg["anomaly_objects"]
    if which not in ("all", "one"):
        raise ValueError(f"fusion.anomaly_objects must be 'all' or 'one', got {which!r}")

    def combo_loss(b: torch.Tensor | slice, nrm: list[torch.Tensor], anm: list[torch.Tensor], msk: torch.Tensor,
                   g: torch.Generator) -> torch.Tensor:
        """Σ over combos of the mean BCE; the combos run as one stacked batch (one forward pass)."""
        m_b = msk[b]
        nb = [x[b] for x in nrm]
        ab = [x[b] for x in anm]
        if which == "one":  # one random real object of each pseudo-anomalous frame is perturbed
            r = torch.rand(m_b.shape, generator=g).masked_fill(~m_b, -1.0)
            one = torch.zeros_like(m_b).scatter_(1, r.argmax(dim=1, keepdim=True), True)[..., None]
            ab = [torch.where(one, a, n) for n, a in zip(nb, ab)]
        feats = [torch.cat([(ab[i] if flags[i] else nb[i]) for flags, _ in combos]).to(dev)
                 for i in range(len(mods))]
        mask = m_b.repeat(len(combos), 1).to(dev)
        logits = model(feats, mask).view(len(combos), -1)
        return fusion_loss(logits, targets)

    for epoch in progress(range(n_epochs), desc=f"smaff: fusion {'+'.join(mods)}"):
        model.train()
        tot, n_seen = 0.0, 0
        for b in _batches(len(idx), cfg.get("batch_size"), gen):
            loss = combo_loss(b, normal, anomal, valid_t, gen)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(b)
            n_seen += len(b)
        hist["fusion_loss"].append(tot / n_seen)
        if v_normal is not None and (epoch % every == every - 1 or epoch == n_epochs - 1):
            model.eval()
            with torch.no_grad():
                v_gen = torch.Generator().manual_seed(seed)
                hist["fusion_val_loss"].append(float(combo_loss(slice(None), v_normal, v_anomal, v_valid, v_gen)))
    fusion["state"] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    logger.info("smaff: fusion final loss %.4f%s", hist["fusion_loss"][-1],
                f", val pseudo-task loss {hist['fusion_val_loss'][-1]:.4f}" if hist["fusion_val_loss"] else "")
    if not hist["fusion_val_loss"]:
        hist.pop("fusion_val_loss")
    return fusion, hist


def set_scores(fusion: Mapping[str, Any], sources: Mapping[str, Mapping[str, Any]], idx: np.ndarray,
               valid: np.ndarray, device: str) -> np.ndarray:
    """Sigmoid of the fusion head on padded object sets ``idx`` / ``valid`` [F, T_max] built from the
    pseudo-normal ("memorised") features; a set without any object scores 0. float64 [F]."""
    dev = resolve_device(device)
    model = _fusion_head(fusion)
    model.load_state_dict(fusion["state"])
    model = model.to(dev).eval()
    mods = list(fusion["modalities"])
    raw = np.zeros(len(idx), np.float64)
    rows = np.flatnonzero(valid.any(axis=1))
    with torch.no_grad():
        for chunk in np.array_split(rows, max(1, int(np.ceil(len(rows) / 4096)))):
            if len(chunk) == 0:
                continue
            feats = [t.to(dev) for t in _frame_inputs(mods, sources, idx[chunk], "normal")]
            raw[chunk] = torch.sigmoid(model(feats, torch.from_numpy(valid[chunk]).to(dev))).double().cpu().numpy()
    return raw


def score_frames(
    fusion: Mapping[str, Any],
    app: Mapping[str, Any],
    pose: Mapping[str, Any],
    vel: Mapping[str, Any],
    frame_sets: Mapping[str, Any],
    params: MemoryFusionParams,
    device: str,
) -> pd.DataFrame:
    """Frame scores of every test frame: sigmoid of the classifier on the pseudo-normal ("memorised")
    test features + real velocity; frames without objects score 0; Gaussian smoothing per video
    (``scoring.smooth_across_videos`` reproduces the reference's smoothing over the concatenated test set).
    """
    mods = list(fusion["modalities"])
    raw = set_scores(fusion, {"app": app, "pose": pose, "vel": vel}, frame_sets["test_idx"], frame_sets["test_valid"],
                     device)
    df = pd.DataFrame({"video_id": frame_sets["test_video"].astype(str), "frame": frame_sets["test_frame"],
                       "score": raw})
    sigma = float(params["scoring"]["smooth_sigma"])
    if params["scoring"]["smooth_across_videos"]:
        logger.warning("smaff: faithful smoothing across concatenated test videos (smooth_across_videos)")
        df["score"] = gaussian(df["score"].to_numpy(), sigma)
    else:
        df["score"] = df.groupby("video_id", sort=False)["score"].transform(lambda s: gaussian(s.to_numpy(), sigma))
    logger.info("smaff[%s]: scored %d test frames of %d videos", "+".join(mods), len(df), df["video_id"].nunique())
    return df


# ----------------------------------------------------------------------------------------------------
# Checkpoint and history
# ----------------------------------------------------------------------------------------------------
def _tensors(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v for k, v in d.items()}


def feature_statistics(app: Mapping[str, Any], pose: Mapping[str, Any], vel: Mapping[str, Any]) -> dict[str, Any]:
    """The training statistics the scoring reuses on new objects: z-score mean / std per modality (empty
    without ``standardize``) and the mean training pose given to objects without a matched skeleton."""
    return {"app": _tensors(app["stats"]), "vel": _tensors(vel["stats"]),
            "pose": _tensors(pose["stats"]) if pose.get("available") else None}


def pack_checkpoint(
    pca: Mapping[str, Any],
    ae: Mapping[str, Any],
    app_memory: Mapping[str, Any],
    pose_memory: Mapping[str, Any],
    fusion: Mapping[str, Any],
    statistics: Mapping[str, Any],
    params: MemoryFusionParams,
) -> dict[str, Any]:
    """One checkpoint with everything the scoring needs (tensors and plain values only, loadable with
    ``weights_only=True``): PCA, AE, memory items, feature statistics, fusion state, T_max, parameters."""
    def mem(m: Mapping[str, Any]) -> Any:
        return torch.from_numpy(m["items"]) if m.get("available") else None

    uses_pose = "pose" in fusion["modalities"]
    return {
        "method": "SMAFF (Jiang et al., JEI 2024)",
        "modalities": list(fusion["modalities"]),
        "pose_available": bool(pose_memory.get("available", False)),
        "app_pca": dict(pca),
        "autoencoder": {k: v for k, v in ae.items()},
        "app_memory": mem(app_memory),
        "pose_memory": mem(pose_memory) if uses_pose else None,
        "statistics": {k: v for k, v in statistics.items() if k != "pose" or uses_pose},
        "fusion_state": fusion["state"],
        "t_max": int(fusion["t_max"]),
        "k3_typo": bool(fusion["k3_typo"]),
        "params": plain(params),   # plain dicts: checkpoints load with weights_only=True
    }


def merge_histories(*histories: Mapping[str, list[float]]) -> dict[str, list[dict[str, float]]]:
    """One training history for MLflow: metric name → ``[{"step": epoch, "value": v}, ...]`` (the format
    of ``MlflowMetricsHistoryDataset``), merged over the stages; empty series are dropped."""
    out: dict[str, list[dict[str, float]]] = {}
    for h in histories:
        for k, v in h.items():
            if len(v):
                out[k] = [{"step": i, "value": float(x)} for i, x in enumerate(v)]
    return out


# ----------------------------------------------------------------------------------------------------
# Scoring from the checkpoint alone (the test videos here; a new video in ``inference``)
# ----------------------------------------------------------------------------------------------------
def collect_test_objects(tracks: Mapping[str, Loader], object_features: Mapping[str, Loader],
                         video_index: pd.DataFrame, model: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The object table of every test video, projected with the checkpoint's appearance PCA."""
    return object_table(tracks, object_features, select_videos(video_index, ("test",)), model["app_pca"],
                        model["params"])


def _memory(items: torch.Tensor) -> dict[str, Any]:
    return {"available": True, "items": items.numpy()}


def memorised_test_features(objects: Mapping[str, np.ndarray], model: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The fusion inputs of every object, from the checkpoint: pseudo-normal ("memorised") appearance code and
    pose (the training statistics, mean pose for missing skeletons, memory items) and the speed."""
    p, stats = model["params"], model["statistics"]
    app = {"name": "app", "available": True, "x": apply_standardize(app_codes(objects["app"], model["autoencoder"]),
                                                                     stats["app"])}
    out = {"app": make_pseudo_features(app, _memory(model["app_memory"]), p),
           "pose": {"name": "pose", "available": False, "reason": "not used by this model"}}
    if "pose" in model["modalities"]:
        x = apply_standardize(impute_pose(objects, stats["pose"]["fill"].numpy()), stats["pose"])
        pose = {"name": "pose", "available": True, "x": x}
        out["pose"] = make_pseudo_features(pose, _memory(model["pose_memory"]), p)
    speed = apply_standardize(object_speed(objects), stats["vel"])
    out["vel"] = {"name": "vel", "available": True,
                  "x": np.repeat(speed, int(p["fusion"]["d_model"]), axis=1).astype(np.float32)}
    return out


def test_frame_sets(objects: Mapping[str, np.ndarray], model: Mapping[str, Any]) -> dict[str, Any]:
    """The padded object sets of every test frame with the checkpoint's T_max (see :func:`build_frame_sets`)."""
    return {"t_max": int(model["t_max"]), **role_frame_sets(objects, "test", int(model["t_max"]))}


def score_test_frames(model: Mapping[str, Any], features: Mapping[str, Mapping[str, Any]],
                      frame_sets: Mapping[str, Any], device: str) -> pd.DataFrame:
    """:func:`score_frames` with the checkpoint's fusion head and scoring parameters."""
    fusion = _checkpoint_fusion(model)
    return score_frames(fusion, features["app"], features["pose"], features["vel"], frame_sets, model["params"], device)


def _checkpoint_fusion(model: Mapping[str, Any]) -> dict[str, Any]:
    """The fusion head description :func:`set_scores` takes, from a checkpoint."""
    return {"modalities": list(model["modalities"]), "t_max": int(model["t_max"]), "k3_typo": bool(model["k3_typo"]),
            "config": dict(model["params"]["fusion"]), "state": model["fusion_state"]}


def score_test_objects(model: Mapping[str, Any], features: Mapping[str, Mapping[str, Any]],
                       objects: Mapping[str, np.ndarray], device: str) -> pd.DataFrame:
    """One score per test object for RBDC / TBDC (video_id, frame, x1, y1, x2, y2, score; working pixels): the
    fusion head on a set holding that object alone (slot 0, the other slots masked), i.e. the frame score the
    model would give the object without its neighbours, unsmoothed. SMAFF itself scores frames only; this is
    the project's object-level reading of the same head."""
    n, t_max = len(objects["vid"]), int(model["t_max"])
    idx = np.full((n, t_max), -1, np.int64)
    idx[:, 0] = np.arange(n)
    score = set_scores(_checkpoint_fusion(model), features, idx, idx >= 0, device)
    box = np.asarray(objects["box"], np.float64).reshape(-1, 4)
    return pd.DataFrame({"video_id": np.asarray(objects["video_ids"], dtype=str)[objects["vid"]],
                         "frame": np.asarray(objects["frame"], np.int64), "x1": box[:, 0], "y1": box[:, 1],
                         "x2": box[:, 2], "y2": box[:, 3], "score": score})
