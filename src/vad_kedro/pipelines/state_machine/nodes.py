"""Nodes of the ``state_machine`` pipeline: LPG, "Local Patterns Generalize Better for Novel Anomalies"
(Yalong Jiang, ICLR 2025; code AllenYLJiang/Local-Patterns-Generalize-Better).

Stages (spec ``methods/state_machine.md`` section 2): track crops -> captions -> local-pattern encoder ->
caption propagation along tracks -> 34-step windows -> State Machine Module -> window scores ->
frame scores -> optional motion fusion. Every function is pure (no Kedro imports); crops and their
per-row metadata travel as one "bundle" dict of numpy arrays, rows sorted by (video, track, frame).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from vad_kedro.core import smoothing
from vad_kedro.core.errors import DataError
from vad_kedro.core.params import StateMachineParams, plain
from vad_kedro.core.progress import progress
from vad_kedro.core.runtime import resolve_device, seed_everything

from .losses import caption_alignment_loss, next_step_loss, window_anomaly_score
from .models import LocalPatternEncoder, StateMachineModule, local_pattern, query_caption_similarity

logger = logging.getLogger(__name__)

TRACK_COLUMNS = ["frame", "track_id", "x1", "y1", "x2", "y2"]
N_FLOW_BINS = 8


# ==================================================================================================
# Videos
# ==================================================================================================


def select_videos(video_index: pd.DataFrame, role: str) -> list[str]:
    """Video ids of one role: ``train`` = normal (video_label <= 0) videos of the train and val splits
    (one-class setting; label -1 "unknown" counts as normal, as in the frame-folder benchmarks), ``test``
    = every test video."""
    if role == "train":
        sel = video_index[video_index["split"].isin(["train", "val"]) & (video_index["video_label"] <= 0)]
        n_abn = int((video_index["split"].isin(["train", "val"]) & (video_index["video_label"] == 1)).sum())
        if n_abn:
            logger.info("LPG is one-class: %d abnormal training videos are not used", n_abn)
    elif role == "test":
        sel = video_index[video_index["split"] == "test"]
    else:
        raise ValueError(f"role must be train or test, got {role!r}")
    if sel.empty:
        raise DataError("video_index", f"no {role} videos")
    return sorted(sel["video_id"].astype(str).tolist())


def train_videos(video_index: pd.DataFrame) -> list[str]:
    """Normal videos of the train and val splits (the one-class training set)."""
    return select_videos(video_index, "train")


def test_videos(video_index: pd.DataFrame) -> list[str]:
    """Every test video."""
    return select_videos(video_index, "test")


# ==================================================================================================
# 1. Crops
# ==================================================================================================


def widen_and_clip(box: np.ndarray, widen: float, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Widen a box by ``widen * w`` (``widen * h``) per side, clip to the image; None when nothing is left.

    Returns integer pixel bounds (x1, y1, x2, y2) with x2/y2 exclusive.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    x1, x2 = x1 - widen * w, x2 + widen * w
    y1, y2 = y1 - widen * h, y2 + widen * h
    ix1, iy1 = max(0, int(math.floor(x1))), max(0, int(math.floor(y1)))
    ix2, iy2 = min(width, int(math.ceil(x2))), min(height, int(math.ceil(y2)))
    if ix2 - ix1 < 1 or iy2 - iy1 < 1:
        return None
    return ix1, iy1, ix2, iy2


_HOG = None


def hog_descriptor(crop: np.ndarray) -> np.ndarray:
    """OpenCV HOG (64x64 window, 16px blocks, 8px cells, 9 bins -> 1764-d) of an RGB crop."""
    global _HOG  # noqa: PLW0603 - one cached cv2 object
    if _HOG is None:
        _HOG = cv2.HOGDescriptor((64, 64), (16, 16), (8, 8), (8, 8), 9)
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    if gray.shape != (64, 64):
        gray = cv2.resize(gray, (64, 64), interpolation=cv2.INTER_AREA)
    return _HOG.compute(gray).reshape(-1).astype(np.float32)


def flow_in_box(flow: np.ndarray, box: np.ndarray, frame_hw: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Magnitude-weighted 8-bin orientation histogram (sums to 1, zeros when static) and mean flow
    magnitude of the flow field ``flow`` [h,w,2] (possibly a downsampled grid) inside ``box`` (working px)."""
    h, w = flow.shape[:2]
    sy, sx = h / frame_hw[0], w / frame_hw[1]
    x1 = min(max(int(math.floor(box[0] * sx)), 0), w - 1)
    y1 = min(max(int(math.floor(box[1] * sy)), 0), h - 1)
    x2 = max(min(int(math.ceil(box[2] * sx)), w), x1 + 1)
    y2 = max(min(int(math.ceil(box[3] * sy)), h), y1 + 1)
    v = flow[y1:y2, x1:x2].reshape(-1, 2).astype(np.float32)
    mag = np.hypot(v[:, 0], v[:, 1])
    ang = np.arctan2(v[:, 1], v[:, 0])
    bins = ((ang + np.pi) / (2 * np.pi) * N_FLOW_BINS).astype(int) % N_FLOW_BINS
    hist = np.bincount(bins, weights=mag, minlength=N_FLOW_BINS).astype(np.float32)
    total = hist.sum()
    return (hist / total if total > 1e-6 else hist), float(mag.mean()) if len(mag) else 0.0


def _clean_tracks(df: pd.DataFrame, vid: str, n_frames: int, counts: dict[str, int]) -> pd.DataFrame:
    """Validate one video's track table; drop (and count) degenerate boxes and duplicate (track, frame) rows."""
    missing = [c for c in TRACK_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"tracks/{vid}", f"missing columns {missing}")
    if df.empty:
        return df
    fr = df["frame"].to_numpy()
    if fr.min() < 0 or fr.max() >= n_frames:
        raise DataError(f"tracks/{vid}", f"frame indices outside [0, {n_frames}) (min {fr.min()}, max {fr.max()})")
    ok = (df["x2"] > df["x1"]) & (df["y2"] > df["y1"]) & np.isfinite(df[["x1", "y1", "x2", "y2"]]).all(axis=1)
    counts["degenerate_boxes"] += int((~ok).sum())
    df = df[ok]
    if "score" not in df.columns:
        df = df.assign(score=1.0)
    df = df.sort_values(["track_id", "frame", "score"], ascending=[True, True, False])
    dup = df.duplicated(["track_id", "frame"])
    counts["duplicate_rows"] += int(dup.sum())
    return df[~dup]


def crop_tracks(frames: Mapping[str, Callable[[], np.ndarray]], tracks: Mapping[str, Callable[[], pd.DataFrame]],
                flow: Mapping[str, Callable[[], np.ndarray]], video_ids: list[str], params: dict) -> dict[str, np.ndarray]:
    """Spec node 1 (``crop_tracks_node``): one crop per tracked box, plus the captioner descriptors.

    Each box is widened by ``params.widen`` (0.33) of its width/height per side, clipped to the image
    (border crops are counted) and resized to ``params.size`` (224 faithful, 64 default).

    Returns a bundle: ``crops`` uint8 [N,S,S,3]; ``index`` int64 [N,4] = (video position, track_id,
    frame, box_area); ``boxes`` float32 [N,4]; ``hog`` float32 [N,1764]; ``flow_hist`` float32 [N,8];
    ``speed`` float32 [N] (mean flow magnitude in the box); ``videos`` str [V]; ``n_frames`` int64 [V].
    Rows are sorted by (video, track_id, frame). Videos without tracks contribute no rows (logged).
    """
    size, widen = int(params["size"]), float(params["widen"])
    missing = [v for v in video_ids if v not in frames]
    if missing:
        raise DataError("frames", f"no frames for videos {missing[:5]}{'...' if len(missing) > 5 else ''}")
    no_flow = [v for v in video_ids if v not in flow]
    if no_flow:
        raise DataError("flow", f"no flow for videos {no_flow[:5]}")
    counts = {"videos_without_tracks": 0, "degenerate_boxes": 0, "duplicate_rows": 0, "border_crops": 0,
              "empty_crops": 0}
    crops, index, boxes, hogs, fhists, speeds, n_frames = [], [], [], [], [], [], []
    for vpos, vid in enumerate(progress(video_ids, desc="lpg crops")):
        video = frames[vid]()
        if video.ndim != 4 or video.shape[-1] != 3:
            raise DataError(f"frames/{vid}", f"expected [T,H,W,3], got {video.shape}")
        t_len, height, width = video.shape[:3]
        n_frames.append(t_len)
        fl = flow[vid]()
        if fl.shape[0] != t_len or fl.ndim != 4 or fl.shape[-1] != 2:
            raise DataError(f"flow/{vid}", f"expected [{t_len},h,w,2], got {fl.shape}")
        df = tracks[vid]() if vid in tracks else pd.DataFrame(columns=TRACK_COLUMNS)
        df = _clean_tracks(df, vid, t_len, counts)
        if df.empty:
            counts["videos_without_tracks"] += 1
            continue
        arr = df[["x1", "y1", "x2", "y2"]].to_numpy(np.float32)
        for (tid, fr), box in zip(df[["track_id", "frame"]].to_numpy(np.int64), arr, strict=True):
            wb = widen_and_clip(box, widen, width, height)
            if wb is None:
                counts["empty_crops"] += 1
                continue
            x1, y1, x2, y2 = wb
            wx, wy = widen * (box[2] - box[0]), widen * (box[3] - box[1])
            if box[0] - wx < 0 or box[1] - wy < 0 or box[2] + wx > width or box[3] + wy > height:
                counts["border_crops"] += 1
            crop = cv2.resize(np.ascontiguousarray(video[fr, y1:y2, x1:x2]), (size, size), interpolation=cv2.INTER_AREA)
            hist, speed = flow_in_box(fl[fr], box, (height, width))
            crops.append(crop)
            index.append((vpos, tid, fr, int(round(float((box[2] - box[0]) * (box[3] - box[1]))))))
            boxes.append(box)
            hogs.append(hog_descriptor(crop))
            fhists.append(hist)
            speeds.append(speed)
        del video, fl
    logger.info("LPG crops: %d boxes from %d videos; %s", len(index), len(video_ids), counts)
    n = len(index)
    return {
        "crops": np.stack(crops) if n else np.zeros((0, size, size, 3), np.uint8),
        "index": np.asarray(index, np.int64).reshape(n, 4),
        "boxes": np.asarray(boxes, np.float32).reshape(n, 4),
        "hog": np.stack(hogs) if n else np.zeros((0, 1764), np.float32),
        "flow_hist": np.asarray(fhists, np.float32).reshape(n, N_FLOW_BINS),
        "speed": np.asarray(speeds, np.float32),
        "videos": np.asarray(video_ids, dtype=str),
        "n_frames": np.asarray(n_frames, np.int64),
    }


# ==================================================================================================
# 2. Captions
# ==================================================================================================


def caption_descriptors(bundle: dict[str, np.ndarray], flow_weight: float) -> np.ndarray:
    """Captioner descriptor: [L2-normalised HOG, flow_weight * L2-normalised flow-orientation histogram]."""
    hog = bundle["hog"] / (np.linalg.norm(bundle["hog"], axis=1, keepdims=True) + 1e-6)
    fh = bundle["flow_hist"] / (np.linalg.norm(bundle["flow_hist"], axis=1, keepdims=True) + 1e-6)
    return np.concatenate([hog, flow_weight * fh], axis=1).astype(np.float32)


def fit_captioner(train: dict[str, np.ndarray], params: dict, seed: int) -> dict[str, Any]:
    """Spec node 2 (``fit_captioner_node``), the BLIP-2 ``generate`` substitute.

    ``kind: pseudo``: PCA + K-means (K=32) on training-crop descriptors (HOG + flow orientation);
    captions are ``pattern_k``; the ``n_generic`` most frequent clusters are the generic captions.
    ``kind: labels``: nothing to fit; generic captions are ``params.generic_captions``.
    """
    kind = params["kind"]
    if kind == "labels":
        return {"kind": "labels", "generic": list(params["generic_captions"])}
    if kind != "pseudo":
        raise ValueError(f"captioner.kind must be pseudo or labels, got {kind!r}")
    n = len(train["index"])
    if n == 0:
        raise DataError("tracks", "no tracked boxes in the normal training videos: cannot fit the captioner")
    x = caption_descriptors(train, float(params["flow_weight"]))
    pca = PCA(n_components=min(int(params["pca_dim"]), n, x.shape[1]), svd_solver="randomized", random_state=seed).fit(x)
    z = pca.transform(x)
    k = min(int(params["n_clusters"]), n)
    km = KMeans(n_clusters=k, n_init=2, random_state=seed).fit(z)
    counts = np.bincount(km.labels_, minlength=k)
    generic = [f"pattern_{i}" for i in np.argsort(-counts, kind="stable")[: int(params["n_generic"])]]
    logger.info("LPG captioner: %d clusters on %d crops, generic = %s", k, n, generic)
    return {"kind": "pseudo", "flow_weight": float(params["flow_weight"]),
            "pca_mean": pca.mean_.astype(np.float32), "pca_components": pca.components_.astype(np.float32),
            "centers": km.cluster_centers_.astype(np.float32), "generic": generic,
            "vocab": [f"pattern_{i}" for i in range(k)]}


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of boxes a [n,4] and b [m,4] (x1,y1,x2,y2)."""
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def _source_key(row: pd.Series) -> tuple[str, str]:
    """(training|testing, source video name) of a video_index row, as used in ``annotations/objects.csv``."""
    src_split = "testing" if row["split"] == "test" else "training"
    path = str(row.get("source_path", "") or "")
    name = Path(path).name if path else str(row["video_id"]).split("_", 1)[-1]
    if Path(path).suffix:  # a video file
        name = Path(path).stem
    return src_split, name


def label_captions(bundle: dict[str, np.ndarray], objects: pd.DataFrame, video_index: pd.DataFrame,
                   min_iou: float) -> list[str]:
    """Captions from a synthetic generator's per-object action strings, matched to each box by IoU.

    ``objects`` has columns split (training|testing), video, frame, x1..y2, action (source pixels = working
    pixels). Unmatched boxes get the empty caption (uninformative) and are counted.
    """
    need = {"split", "video", "frame", "x1", "y1", "x2", "y2", "action"}
    if not need <= set(objects.columns):
        raise DataError("annotations/objects.csv", f"missing columns {sorted(need - set(objects.columns))}")
    vi = video_index.set_index(video_index["video_id"].astype(str))
    objects = objects.assign(video=objects["video"].astype(str))
    groups = {k: g for k, g in objects.groupby(["split", "video", "frame"], sort=False)}
    out = [""] * len(bundle["index"])
    unmatched = 0
    videos = bundle["videos"]
    for i, ((vpos, _tid, fr, _a), box) in enumerate(zip(bundle["index"], bundle["boxes"], strict=True)):
        src_split, name = _source_key(vi.loc[str(videos[vpos])])
        g = groups.get((src_split, name, int(fr)))
        if g is None:
            unmatched += 1
            continue
        iou = box_iou(box[None], g[["x1", "y1", "x2", "y2"]].to_numpy(np.float32))[0]
        j = int(np.argmax(iou))
        if iou[j] < min_iou:
            unmatched += 1
            continue
        out[i] = str(g["action"].iloc[j])
    logger.info("LPG label captions: %d boxes, %d unmatched (caption '')", len(out), unmatched)
    return out


def caption_crops(bundle: dict[str, np.ndarray], captioner: dict[str, Any], video_index: pd.DataFrame,
                  dataset: dict, params: dict) -> list[str]:
    """Spec node 2 (``caption_crops_node``): one caption per crop (list[str], length N).

    Pseudo: nearest K-means centroid of the crop descriptor -> ``pattern_k``. Labels: the generator's action
    string of the best-IoU object in ``<dataset.root>/<params.labels_csv>`` (error when the file is missing).
    """
    if captioner["kind"] == "labels":
        path = Path(dataset["root"]) / params["labels_csv"]
        if not path.exists():
            raise DataError(path, "captioner.kind=labels needs the generator's per-object annotations")
        return label_captions(bundle, pd.read_csv(path), video_index, float(params["label_iou"]))
    if len(bundle["index"]) == 0:
        return []
    x = caption_descriptors(bundle, captioner["flow_weight"])
    z = (x - captioner["pca_mean"]) @ captioner["pca_components"].T
    d = ((z[:, None, :] - captioner["centers"][None]) ** 2).sum(-1)
    return [f"pattern_{k}" for k in d.argmin(1)]


# ==================================================================================================
# 3-4. Local-pattern encoder
# ==================================================================================================


def fnv1a(token: str) -> int:
    """32-bit FNV-1a hash of a UTF-8 string."""
    h = 0x811C9DC5
    for byte in token.encode("utf-8"):
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def hashed_text_embedding(texts: list[str], dim: int, seed: int, n_buckets: int = 2**16) -> np.ndarray:
    """Text-encoder substitute for free text: hashed bag of words (FNV-1a, 2^16 buckets) -> fixed seeded
    Gaussian projection to ``dim`` (one row per bucket, drawn from ``seed + bucket``) -> L2 norm. [K, dim]."""
    out = np.zeros((len(texts), dim), np.float32)
    for i, text in enumerate(texts):
        for tok in text.lower().replace("_", " ").split():
            bucket = fnv1a(tok) % n_buckets
            out[i] += np.random.default_rng(seed * 1_000_003 + bucket).standard_normal(dim).astype(np.float32)
        norm = np.linalg.norm(out[i])
        if norm > 0:
            out[i] /= norm
    return out


def _check_weights(path: str | None, what: str) -> None:
    """Real pretrained weights: a named file must exist; loading needs packages this project does not ship."""
    if not path:
        return
    if not Path(path).exists():
        raise DataError(path, f"{what} weights file named in parameters does not exist")
    raise DataError(path, f"loading real {what} weights needs the LAVIS/transformers stack, which is not installed; "
                          "set the path to null to use the documented substitute")


def _crops_to_tensor(crops: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(crops)).to(device).permute(0, 3, 1, 2).float().div_(255.0)


def _build_encoder(cfg: dict, n_captions: int, learn_text: bool) -> LocalPatternEncoder:
    return LocalPatternEncoder(n_captions, d_model=cfg["d_model"], d_token=cfg["d_token"], grid=cfg["grid"],
                               n_queries=cfg["n_queries"], n_layers=cfg["n_layers"], learn_text=learn_text)


def fit_local_encoder(train: dict[str, np.ndarray], captions: list[str], captioner: dict[str, Any], params: dict,
                      seed: int, device: str, deterministic: bool) -> tuple[dict[str, Any], list[float]]:
    """Spec node 3 (``fit_local_encoder_node``): train the query former (and pseudo-caption table) on training crops.

    Loss: cross-entropy of ``max_q cos(Q_q, e_k) / tau`` to the crop's caption (Adam, ``params.lr``).
    At most ``params.max_train_crops`` crops (seeded subset). Returns (state, per-epoch losses).
    """
    _check_weights(params.get("blip2_weights_path"), "BLIP-2")
    _check_weights(params.get("bert_weights_path"), "BERT")
    if len(captions) != len(train["index"]):
        raise DataError("captions", f"{len(captions)} captions for {len(train['index'])} crops")
    if len(captions) == 0:
        raise DataError("tracks", "no training crops: cannot fit the local-pattern encoder")
    gen = seed_everything(seed, deterministic)
    dev = resolve_device(device)
    cfg = {k: int(params[k]) for k in ("d_model", "d_token", "grid", "n_queries", "n_layers")}
    learn_text = captioner["kind"] == "pseudo"
    vocab = list(captioner["vocab"]) if learn_text else sorted(set(captions))
    model = _build_encoder(cfg, len(vocab), learn_text).to(dev)
    if not learn_text:
        model.text_table.copy_(torch.from_numpy(hashed_text_embedding(vocab, cfg["d_model"], seed)))
    lookup = {c: i for i, c in enumerate(vocab)}
    target_all = torch.tensor([lookup[c] for c in captions], dtype=torch.long)
    n = len(captions)
    rng = np.random.default_rng(seed)
    sel = np.sort(rng.choice(n, size=min(n, int(params["max_train_crops"])), replace=False))
    history: list[float] = []
    if len(vocab) < 2:
        logger.warning("LPG encoder: a single training caption %s; alignment training skipped", vocab)
    else:
        with torch.no_grad():  # frozen patch encoder: tokens once
            tokens = torch.cat([model.patch(_crops_to_tensor(train["crops"][sel[i:i + 256]], dev))
                                for i in range(0, len(sel), 256)])
        target = target_all[sel].to(dev)
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=float(params["lr"]))
        bs = int(params["batch_size"])
        for _epoch in progress(range(int(params["epochs"])), desc="lpg encoder epochs"):
            perm = torch.randperm(len(sel), generator=gen)
            total = 0.0
            for i in range(0, len(sel), bs):
                b = perm[i:i + bs].to(dev)
                loss = caption_alignment_loss(model.qformer(tokens[b]), model.text(), target[b], float(params["tau"]))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(b)
            history.append(total / len(sel))
        logger.info("LPG encoder: %d crops, %d captions, loss %.4f -> %.4f", len(sel), len(vocab), history[0], history[-1])
    state = {"config": cfg, "learn_text": learn_text, "vocab": vocab, "text_seed": int(seed),
             "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    return state, history


def load_local_encoder(state: dict[str, Any], device: torch.device) -> LocalPatternEncoder:
    """Rebuild a :class:`LocalPatternEncoder` from the state written by :func:`fit_local_encoder`."""
    model = _build_encoder(state["config"], len(state["vocab"]), state["learn_text"])
    model.load_state_dict(state["state_dict"])
    return model.to(device).eval()


def encode_local_patterns(encoder: dict[str, Any], bundle: dict[str, np.ndarray], captions: list[str],
                          params: dict, device: str) -> dict[str, Any]:
    """Spec node 4 (``encode_local_patterns_node``): f = sum_q cos(Q_q, t) Q_q for every crop.

    Also returns what propagation needs: ``score`` [N] = sum_q cos(Q_q, t) (template ranking),
    ``sim`` [N,K] = max_q cos(Q_q, t_k) for every caption k of ``vocab`` (the verifier's evidence),
    ``caption_id`` [N] and ``vocab`` (list[str]).
    """
    if len(captions) != len(bundle["index"]):
        raise DataError("captions", f"{len(captions)} captions for {len(bundle['index'])} crops")
    dev = resolve_device(device)
    model = load_local_encoder(encoder, dev)
    vocab = list(encoder["vocab"])
    if encoder["learn_text"]:
        unknown = sorted(set(captions) - set(vocab))
        if unknown:
            raise DataError("captions", f"pseudo-captions outside the captioner vocabulary: {unknown[:5]}")
        text = model.text().detach()
    else:  # free text: the hashed encoder embeds any caption, unseen ones included
        vocab = vocab + sorted(set(captions) - set(vocab))
        text = torch.from_numpy(hashed_text_embedding(vocab, encoder["config"]["d_model"], encoder["text_seed"])).to(dev)
    lookup = {c: i for i, c in enumerate(vocab)}
    cap_id = np.asarray([lookup[c] for c in captions], np.int64)
    n, d = len(captions), encoder["config"]["d_model"]
    feats = np.zeros((n, d), np.float32)
    score = np.zeros(n, np.float32)
    sim = np.zeros((n, len(vocab)), np.float32)
    bs = int(params["encode_batch_size"])
    with torch.no_grad():
        for i in progress(range(0, n, bs), desc="lpg encode"):
            q = model.queries(_crops_to_tensor(bundle["crops"][i:i + bs], dev))
            ids = torch.from_numpy(cap_id[i:i + bs]).to(dev)
            cos = query_caption_similarity(q, text)  # [B,nq,K]
            feats[i:i + bs] = local_pattern(q, text[ids]).cpu().numpy()
            score[i:i + bs] = cos.gather(2, ids[:, None, None].expand(-1, cos.shape[1], 1))[..., 0].sum(1).cpu().numpy()
            sim[i:i + bs] = cos.amax(dim=1).cpu().numpy()
    return {"features": feats, "score": score, "sim": sim, "caption_id": cap_id, "vocab": vocab}


# ==================================================================================================
# 5. Caption propagation (the caption state machine)
# ==================================================================================================


def _track_groups(index: np.ndarray) -> list[np.ndarray]:
    """Row positions of each (video, track) in frame order (rows of a bundle are already sorted)."""
    if len(index) == 0:
        return []
    order = np.lexsort((index[:, 2], index[:, 1], index[:, 0]))
    key = index[order][:, :2]
    cuts = np.flatnonzero((np.diff(key, axis=0) != 0).any(axis=1)) + 1
    return np.split(order, cuts)


def is_informative(caption: str, generic: list[str], min_chars: int = 5) -> bool:
    """A caption can be a template when it is longer than ``min_chars`` and not a generic caption."""
    return len(caption) > min_chars and caption not in set(generic)


def propagate_captions(encoded: dict[str, Any], bundle: dict[str, np.ndarray], captioner: dict[str, Any],
                       params: dict) -> dict[str, np.ndarray]:
    """Spec node 5 (``propagate_captions_node``), per track in frame order.

    Template = the crop so far with the highest ``sum_q cos(Q_q, t)`` among crops with an informative
    caption (stores its caption, box area and feature). A later crop with box area <= the template's
    and a "yes" from the verifier (``max_q cos(Q_q, t_template) >= theta``) inherits the template caption
    and feature. Returns ``features`` [N,D], ``caption_id`` [N], ``inherited`` bool [N].

    ``theta: own_median`` (deviation, off by default) sets the threshold to the median over these crops of
    ``max_q cos(Q_q, t_own)`` for each crop's own caption: the substitute encoder's cosines are far below the
    spec's 0.5, so with a fixed 0.5 the verifier never answers "yes".
    """
    feats = encoded["features"].copy()
    cap = encoded["caption_id"].copy()
    inherited = np.zeros(len(cap), bool)
    if not params["enabled"]:
        return {"features": feats, "caption_id": cap, "inherited": inherited}
    vocab, generic = encoded["vocab"], list(captioner["generic"])
    own = encoded["sim"][np.arange(len(cap)), cap] if len(cap) else np.zeros(0)
    if params["theta"] == "own_median":  # deviation: "yes" at the median evidence of a crop for its own caption
        theta = float(np.median(own)) if len(own) else 0.5
    else:
        theta = float(params["theta"])
    min_chars = int(params["min_caption_chars"])
    informative = np.asarray([is_informative(c, generic, min_chars) for c in vocab], bool)
    score, sim, area = encoded["score"], encoded["sim"], bundle["index"][:, 3]
    n_templates, asked = 0, []
    for rows in _track_groups(bundle["index"]):
        tmpl = -1
        for i in rows:
            if informative[cap[i]] and (tmpl < 0 or score[i] > score[tmpl]):
                tmpl = i
                n_templates += 1
                continue
            if tmpl >= 0 and area[i] <= area[tmpl]:
                asked.append(float(sim[i, cap[tmpl]]))
                if asked[-1] >= theta:
                    feats[i] = feats[tmpl]
                    cap[i] = cap[tmpl]
                    inherited[i] = True
    logger.info("LPG propagation: %d template updates; verifier asked %d times (median evidence %.3f, theta %.2f), "
                "%d / %d crops inherited a template", n_templates, len(asked),
                float(np.median(asked)) if asked else float("nan"), theta, int(inherited.sum()), len(cap))
    return {"features": feats, "caption_id": cap, "inherited": inherited}


# ==================================================================================================
# 6. Windows
# ==================================================================================================


def make_windows(index: np.ndarray, stride: int, length: int = 34, min_valid: int = 32,
                 pad_short_from: int | None = None) -> dict[str, np.ndarray]:
    """Spec node 6 (``make_windows_node``): windows of ``length`` consecutive observations of one track.

    Starts 0, s, 2s, ... <= n - length over the track's n observations (the last such start included).
    Valid iff at least ``min_valid`` observations have frames in [f_start, f_start + length - 1].
    To save memory the windows are returned as row indices into the feature matrix: ``rows`` int64
    [W, length]; ``meta`` int64 [W,3] = (video position, track_id, start_frame). Short tracks are counted
    and, by default (faithful), give no window.

    ``pad_short_from = m`` (deviation, off by default): a track with m <= n < length observations gives
    windows ending at its observations m-1, m-1+s, ... each left-padded by repeating the first observation;
    their start_frame is the virtual ``frame(last) - (length - 1)`` and the same gap tolerance applies
    (at most ``length - min_valid`` missing frames among the real observations).
    """
    rows_out, meta = [], []
    n_short = n_short_obs = n_invalid = n_padded = 0
    groups = _track_groups(index)
    for rows in groups:
        n = len(rows)
        fr = index[rows, 2]
        if n < length:
            n_short += 1
            if not pad_short_from or n < pad_short_from:
                n_short_obs += n
                continue
            for j in range(int(pad_short_from) - 1, n, stride):
                if (fr[j] - fr[0] + 1) - (j + 1) > length - min_valid:
                    n_invalid += 1
                    continue
                rows_out.append(np.r_[np.full(length - j - 1, rows[0]), rows[:j + 1]])
                meta.append((index[rows[0], 0], index[rows[0], 1], fr[j] - (length - 1)))
                n_padded += 1
            continue
        for s in range(0, n - length + 1, stride):
            w = rows[s:s + length]
            if int((fr[s:s + length] <= fr[s] + length - 1).sum()) < min_valid:
                n_invalid += 1
                continue
            rows_out.append(w)
            meta.append((index[w[0], 0], index[w[0], 1], fr[s]))
    logger.info("LPG windows (stride %d): %d windows from %d tracks (%d left-padded); %d tracks shorter than %d "
                "(%d observations without any window), %d windows rejected for gaps", stride, len(meta), len(groups),
                n_padded, n_short, length, n_short_obs, n_invalid)
    return {"rows": np.asarray(rows_out, np.int64).reshape(-1, length),
            "meta": np.asarray(meta, np.int64).reshape(-1, 3)}


def _pad_from(params: dict) -> int | None:
    if params["short_tracks"] == "skip":
        return None
    if params["short_tracks"] != "pad":
        raise ValueError(f"windows.short_tracks must be skip or pad, got {params['short_tracks']!r}")
    return int(params["min_track_length"])


def train_windows(bundle: dict[str, np.ndarray], params: dict) -> dict[str, np.ndarray]:
    """Training windows (stride ``train_stride``, 6)."""
    return make_windows(bundle["index"], int(params["train_stride"]), int(params["length"]), int(params["min_valid"]),
                        _pad_from(params))


def test_windows(bundle: dict[str, np.ndarray], params: dict) -> dict[str, np.ndarray]:
    """Scoring windows (stride ``test_stride``, 1); also used on training videos for normalisation statistics."""
    return make_windows(bundle["index"], int(params["test_stride"]), int(params["length"]), int(params["min_valid"]),
                        _pad_from(params))


# ==================================================================================================
# 7-8. State Machine Module
# ==================================================================================================


def lr_at(base_lr: float, gamma: float, epochs_done: int) -> float:
    """Learning rate set after epoch ``epochs_done`` (0-based): base * gamma ** epochs_done (5e-5, 4.95e-5, ...)."""
    return float(base_lr * gamma**epochs_done)


def flip_features(x: torch.Tensor) -> torch.Tensor:
    """The reference code's "flip" transform on feature vectors: negate dims 0, 3, 6, ... (pose artefact)."""
    x = x.clone()
    x[..., 0::3] = -x[..., 0::3]
    return x


def _gather(features: torch.Tensor, rows: np.ndarray, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    return (features[torch.from_numpy(rows)] - mean) / std


def _smm_from_config(cfg: dict) -> StateMachineModule:
    return StateMachineModule(cfg["d_input"], d_model=cfg["d_model"], n_layers=cfg["n_layers"], d_state=cfg["d_state"],
                              dropout=cfg["dropout"], s4_mode=cfg["s4_mode"], conv=cfg.get("conv", "auto"))


def train_smm(prop: dict[str, np.ndarray], windows: dict[str, np.ndarray], params: dict, seed: int, device: str,
              deterministic: bool) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Spec node 7 (``train_smm_node``): fit the SMM to predict step 34 from steps 1..33 of normal windows.

    Adamax (lr 5e-5, weight decay 0), lr = base * 0.99^e set after epoch e, gradient norm clipped at 100,
    batch 256, shuffled (``shuffle_train``), the last epoch is kept. ``feature_norm: standardize`` scales each
    feature dim by the training mean/std (``none`` = faithful). Returns (state, history).
    """
    rows = windows["rows"]
    if len(rows) == 0:
        raise DataError("tracks", f"no training track has a valid window of {rows.shape[1]} observations: "
                                  "cannot train the State Machine Module (tracks too short?)")
    gen = seed_everything(seed, deterministic)
    dev = resolve_device(device)
    feats = torch.from_numpy(prop["features"]).float()
    used = np.unique(rows)
    if params["feature_norm"] == "standardize":
        mean, std = feats[used].mean(0), feats[used].std(0).clamp_min(1e-6)
    elif params["feature_norm"] == "none":
        mean, std = torch.zeros(feats.shape[1]), torch.ones(feats.shape[1])
    else:
        raise ValueError(f"feature_norm must be standardize or none, got {params['feature_norm']!r}")
    cfg = {"d_input": int(feats.shape[1]), "d_model": int(params["d_model"]), "n_layers": int(params["n_layers"]),
           "d_state": int(params["d_state"]), "dropout": float(params["dropout"]), "s4_mode": str(params["s4_mode"]),
           "conv": str(params["conv"])}
    model = _smm_from_config(cfg).to(dev)
    base_lr, gamma = float(params["lr"]), float(params["lr_gamma"])
    opt = torch.optim.Adamax(model.parameters(), lr=base_lr, weight_decay=float(params["weight_decay"]))
    n_win, bs, flip = len(rows), int(params["batch_size"]), bool(params["faithful_flip_aug"])
    history: dict[str, list[float]] = {"smm_loss": [], "smm_lr": []}
    for epoch in progress(range(int(params["epochs"])), desc="lpg smm epochs"):
        model.train()
        n_items = 2 * n_win if flip else n_win
        order = torch.randperm(n_items, generator=gen) if params["shuffle_train"] else torch.arange(n_items)
        total = 0.0
        for i in range(0, n_items, bs):
            idx = order[i:i + bs].numpy()
            x = _gather(feats, rows[idx % n_win], mean, std)
            if flip and (idx >= n_win).any():
                sel = torch.from_numpy(idx >= n_win)
                x[sel] = flip_features(x[sel])
            x = x.to(dev)
            loss = next_step_loss(model(x[:, :-1]), x[:, -1])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), float(params["grad_clip"]))
            opt.step()
            total += float(loss.detach()) * len(idx)
        history["smm_loss"].append(total / n_items)
        history["smm_lr"].append(opt.param_groups[0]["lr"])
        for group in opt.param_groups:
            group["lr"] = lr_at(base_lr, gamma, epoch)
    logger.info("LPG SMM: %d windows, %d epochs, loss %.4f -> %.4f", n_win, len(history["smm_loss"]),
                history["smm_loss"][0] if history["smm_loss"] else float("nan"),
                history["smm_loss"][-1] if history["smm_loss"] else float("nan"))
    state = {"config": cfg, "feat_mean": mean, "feat_std": std,
             "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    return state, history


def score_windows(smm: dict[str, Any], prop: dict[str, np.ndarray], windows: dict[str, np.ndarray], params: dict,
                  device: str) -> np.ndarray:
    """Spec node 8 (``score_windows_node``): a_w = mean_d (y_hat_w - x_{w,34})^2, float32 [W] (higher = anomalous)."""
    rows = windows["rows"]
    if len(rows) == 0:
        return np.zeros(0, np.float32)
    dev = resolve_device(device)
    model = _smm_from_config(smm["config"])
    model.load_state_dict(smm["state_dict"])
    model.to(dev).eval()
    feats = torch.from_numpy(prop["features"]).float()
    out = np.zeros(len(rows), np.float32)
    bs = int(params["batch_size"])
    with torch.no_grad():
        for i in progress(range(0, len(rows), bs), desc="lpg score"):
            x = _gather(feats, rows[i:i + bs], smm["feat_mean"], smm["feat_std"]).to(dev)
            out[i:i + bs] = window_anomaly_score(model(x[:, :-1]), x[:, -1]).cpu().numpy()
    return out


# ==================================================================================================
# 9-10. Frame scores and motion fusion
# ==================================================================================================


def nearest_window_scores(window_scores: np.ndarray, meta: np.ndarray, index: np.ndarray, n_frames: np.ndarray,
                          offset: int = 17) -> np.ndarray:
    """Per observation (row of a bundle's crop ``index``): the score of its track's window whose centre
    ``start_frame + offset`` (clipped to the video) is nearest to the observation's frame, the highest on a tie;
    -inf for an observation of a track without a valid window. float64 [N]."""
    centres: dict[tuple[int, int], list[tuple[int, float]]] = {}
    for s, (vpos, tid, start) in zip(window_scores, meta, strict=True):
        f = min(max(int(start) + offset, 0), int(n_frames[vpos]) - 1)
        centres.setdefault((int(vpos), int(tid)), []).append((f, float(s)))
    out = np.full(len(index), -np.inf)
    for rows in _track_groups(index):
        key = (int(index[rows[0], 0]), int(index[rows[0], 1]))
        if key not in centres:
            continue
        cf = np.asarray([c for c, _ in centres[key]], np.float64)
        cs = np.asarray([v for _, v in centres[key]], np.float64)
        dist = np.abs(index[rows, 2][:, None] - cf[None, :])
        out[rows] = np.where(dist == dist.min(1, keepdims=True), cs[None, :], -np.inf).max(1)
    return out


def place_window_scores(window_scores: np.ndarray, meta: np.ndarray, n_frames: np.ndarray, offset: int = 17,
                        empty_fill: float | str = "min", index: np.ndarray | None = None) -> tuple[list[np.ndarray], int]:
    """Window score -> frame ``start_frame + offset`` of its video, max over tracks/windows per frame.

    With ``index`` (the bundle's crop index; deviation ``placement: track``), every observation frame of a track
    instead takes the score of that track's nearest window centre (:func:`nearest_window_scores`), so the
    first/last frames of a scored track are not left empty. Unscored frames take ``empty_fill`` ("min" = the
    lowest score over all scored frames of these videos, as in the reference code; or a number). Returns (one
    float64 array [T] per video, n unscored).
    """
    out = [np.full(int(t), -np.inf) for t in n_frames]
    for s, (vpos, _tid, start) in zip(window_scores, meta, strict=True):
        f = min(max(int(start) + offset, 0), len(out[vpos]) - 1)
        out[vpos][f] = max(out[vpos][f], float(s))
    if index is not None:
        nearest = nearest_window_scores(window_scores, meta, index, n_frames, offset)
        for vpos, v in enumerate(out):
            sel = index[:, 0] == vpos
            np.maximum.at(v, index[sel, 2], nearest[sel])
    scored = [v[np.isfinite(v)] for v in out]
    all_scored = np.concatenate(scored) if scored else np.zeros(0)
    if empty_fill == "min":
        fill = float(all_scored.min()) if len(all_scored) else 0.0
    else:
        fill = float(empty_fill)
    n_empty = 0
    for v in out:
        miss = ~np.isfinite(v)
        n_empty += int(miss.sum())
        v[miss] = fill
    return out, n_empty


def smooth_cumulative(scores: np.ndarray, sigmas: list[float]) -> np.ndarray:
    """Per-video Gaussian smoothing applied cumulatively for each sigma in ``sigmas`` (reflect mode)."""
    out = np.asarray(scores, np.float64)
    for s in sigmas:
        out = smoothing.gaussian(out, float(s), mode="reflect")
    return out


def frame_scores(window_scores: np.ndarray, windows: dict[str, np.ndarray], bundle: dict[str, np.ndarray],
                 params: dict) -> pd.DataFrame:
    """Spec node 9 (``frame_scores_node``): frame-level scores (video_id, frame, score), one row per frame of every
    video of the bundle (videos without tracks included), smoothed per video. ``placement``: ``centre``
    (faithful) or ``track`` (see :func:`place_window_scores`)."""
    placement = params["placement"]
    if placement not in ("centre", "track"):
        raise ValueError(f"scoring.placement must be centre or track, got {placement!r}")
    per_video, n_empty = place_window_scores(window_scores, windows["meta"], bundle["n_frames"],
                                             int(params["score_offset"]), params["empty_fill"],
                                             bundle["index"] if placement == "track" else None)
    total = int(bundle["n_frames"].sum())
    logger.info("LPG frame scores: %d / %d frames unscored (no valid window centred there) -> empty_fill=%s",
                n_empty, total, params["empty_fill"])
    frames = []
    for vid, scores in zip(bundle["videos"], per_video, strict=True):
        frames.append(pd.DataFrame({"video_id": str(vid), "frame": np.arange(len(scores), dtype=np.int64),
                                    "score": smooth_cumulative(scores, params["smooth_sigmas"])}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["video_id", "frame", "score"])


def velocity_frame_scores(bundle: dict[str, np.ndarray], sigmas: list[float]) -> pd.DataFrame:
    """s_vel: per frame, the max over boxes of the mean flow magnitude in the box (0 without boxes), smoothed."""
    frames = []
    for vpos, (vid, t_len) in enumerate(zip(bundle["videos"], bundle["n_frames"], strict=True)):
        v = np.zeros(int(t_len))
        sel = bundle["index"][:, 0] == vpos
        np.maximum.at(v, bundle["index"][sel, 2], bundle["speed"][sel].astype(np.float64))
        frames.append(pd.DataFrame({"video_id": str(vid), "frame": np.arange(int(t_len), dtype=np.int64),
                                    "score": smooth_cumulative(v, sigmas)}))
    return pd.concat(frames, ignore_index=True)


def motion_statistics(train_scores: pd.DataFrame, train: dict[str, np.ndarray], scoring: dict) -> dict[str, float]:
    """Mean and std of s_smm and s_vel over the normal *training* frames: the z-normalisation of
    :func:`fuse_with_statistics`, stored in ``lpg.model`` (never test statistics)."""
    smm = train_scores["score"].to_numpy()
    vel = velocity_frame_scores(train, scoring["smooth_sigmas"])["score"].to_numpy()
    return {"smm_mean": float(smm.mean()), "smm_std": float(smm.std()),
            "vel_mean": float(vel.mean()), "vel_std": float(vel.std())}


def fused_score(smm: np.ndarray, vel: np.ndarray, stats: Mapping[str, float], weight: float) -> np.ndarray:
    """z(s_smm) + w_m z(s_vel), each z with the normal training frames' mean and std in ``stats``."""
    def z(x: np.ndarray, key: str) -> np.ndarray:
        return (np.asarray(x, np.float64) - stats[f"{key}_mean"]) / max(float(stats[f"{key}_std"]), 1e-9)

    return z(smm, "smm") + weight * z(vel, "vel")


def fuse_with_statistics(test_scores: pd.DataFrame, test: dict[str, np.ndarray], stats: Mapping[str, float],
                         params: dict, scoring: dict) -> pd.DataFrame:
    """Spec node 10 (``fuse_motion_node``): s = z(s_smm) + w_m z(s_vel), z with the training ``stats``.

    ``w_m = 0`` (the paper's score: its weight is unknown) returns the SMM scores unchanged.
    """
    w = float(params["weight"])
    if w == 0:
        return test_scores.reset_index(drop=True)
    vel_test = velocity_frame_scores(test, scoring["smooth_sigmas"])
    merged = test_scores.merge(vel_test, on=["video_id", "frame"], suffixes=("", "_vel"), how="left")
    fused = fused_score(merged["score"].to_numpy(), merged["score_vel"].fillna(0).to_numpy(), stats, w)
    logger.info("LPG motion fusion: weight %.3f", w)
    return pd.DataFrame({"video_id": merged["video_id"], "frame": merged["frame"], "score": fused})


def fuse_motion(test_scores: pd.DataFrame, train_scores: pd.DataFrame, test: dict[str, np.ndarray],
                train: dict[str, np.ndarray], params: dict, scoring: dict) -> pd.DataFrame:
    """:func:`fuse_with_statistics` with the statistics of ``train_scores`` / ``train`` (normal training frames)."""
    return fuse_with_statistics(test_scores, test, motion_statistics(train_scores, train, scoring), params, scoring)


# ==================================================================================================
# Outputs
# ==================================================================================================


def _to_tensors(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, dict):
        return {k: _to_tensors(v) for k, v in obj.items()}
    return obj


def _to_numpy(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.numpy()
    if isinstance(obj, dict):
        return {k: _to_numpy(v) for k, v in obj.items()}
    return obj


def pack_model(encoder: dict[str, Any], smm: dict[str, Any], captioner: dict[str, Any], motion: dict[str, float],
               params: StateMachineParams) -> dict[str, Any]:
    """``lpg.model``: everything the scoring needs. SMM and local-encoder state dicts, the captioner, the
    training statistics of the motion fusion and the ``state_machine`` parameters the model was trained with
    (arrays as tensors; loads with ``weights_only=True``)."""
    return {"method": "lpg", "smm": smm, "local_encoder": encoder, "captioner": _to_tensors(captioner),
            "motion": {k: float(v) for k, v in motion.items()}, "params": plain(params)}


def training_history(encoder_history: list[float], smm_history: dict[str, list[float]]) -> dict[str, list[float]]:
    """``lpg.training_history``: {metric: [per-epoch values]} for MLflow."""
    return {"encoder_loss": [float(v) for v in encoder_history], **{k: [float(v) for v in vs] for k, vs in smm_history.items()}}


# ==================================================================================================
# Scoring from the checkpoint alone (the test videos here; a new video in ``inference``)
# ==================================================================================================
# Each stage is the training-time function with the parts and parameters stored in ``lpg.model``, so a
# video is scored exactly as the model was trained (crop size, windows, fill, smoothing, fusion weight).


def crop_with_model(frames: Mapping[str, Callable[[], np.ndarray]], tracks: Mapping[str, Callable[[], pd.DataFrame]],
                    flow: Mapping[str, Callable[[], np.ndarray]], video_index: pd.DataFrame,
                    model: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """:func:`crop_tracks` of every test video at the crop size the local encoder was trained on."""
    return crop_tracks(frames, tracks, flow, test_videos(video_index), model["params"]["crops"])


def caption_with_model(bundle: dict[str, np.ndarray], model: Mapping[str, Any], video_index: pd.DataFrame,
                       dataset: dict) -> list[str]:
    """:func:`caption_crops` with the stored captioner."""
    return caption_crops(bundle, _to_numpy(model["captioner"]), video_index, dataset, model["params"]["captioner"])


def encode_with_model(model: Mapping[str, Any], bundle: dict[str, np.ndarray], captions: list[str],
                      device: str) -> dict[str, Any]:
    """:func:`encode_local_patterns` with the stored local encoder."""
    return encode_local_patterns(model["local_encoder"], bundle, captions, model["params"]["local_encoder"], device)


def propagate_with_model(encoded: dict[str, Any], bundle: dict[str, np.ndarray],
                         model: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """:func:`propagate_captions` with the stored captioner's generic captions and propagation settings."""
    return propagate_captions(encoded, bundle, model["captioner"], model["params"]["propagation"])


def windows_with_model(bundle: dict[str, np.ndarray], model: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """:func:`test_windows` with the window length the SMM was trained on."""
    return test_windows(bundle, model["params"]["windows"])


def score_windows_with_model(model: Mapping[str, Any], prop: dict[str, np.ndarray], windows: dict[str, np.ndarray],
                             device: str) -> np.ndarray:
    """:func:`score_windows` with the stored SMM."""
    return score_windows(model["smm"], prop, windows, model["params"]["smm"], device)


def frame_scores_with_model(window_scores: np.ndarray, windows: dict[str, np.ndarray], bundle: dict[str, np.ndarray],
                            model: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`frame_scores` with the stored scoring settings."""
    return frame_scores(window_scores, windows, bundle, model["params"]["scoring"])


def fuse_with_model(test_scores: pd.DataFrame, test: dict[str, np.ndarray], model: Mapping[str, Any]) -> pd.DataFrame:
    """:func:`fuse_with_statistics` with the stored training statistics and fusion weight."""
    p = model["params"]
    return fuse_with_statistics(test_scores, test, model["motion"], p["motion_fusion"], p["scoring"])


def box_scores_with_model(window_scores: np.ndarray, windows: dict[str, np.ndarray], bundle: dict[str, np.ndarray],
                          model: Mapping[str, Any]) -> pd.DataFrame:
    """One fused score per tracked box of the test videos (video_id, frame, x1, y1, x2, y2, score; working
    pixels), for RBDC / TBDC: z(s_smm) + w_m z(speed) as in :func:`fuse_with_statistics`, where s_smm is the box's
    track window score (:func:`nearest_window_scores`) and speed the mean flow magnitude in the box, unsmoothed,
    z-normalised with the same training frame statistics. Boxes of tracks without a valid window have no score
    and are left out (counted in the log)."""
    p = model["params"]
    index = bundle["index"]
    smm = nearest_window_scores(window_scores, windows["meta"], index, bundle["n_frames"],
                                int(p["scoring"]["score_offset"]))
    keep = np.isfinite(smm)
    logger.info("LPG box scores: %d of %d boxes scored (the others' tracks have no valid window)", int(keep.sum()),
                len(keep))
    boxes = np.asarray(bundle["boxes"], np.float64).reshape(-1, 4)[keep]
    return pd.DataFrame({"video_id": np.asarray(bundle["videos"], dtype=str)[index[keep, 0]],
                         "frame": index[keep, 2].astype(np.int64),
                         "x1": boxes[:, 0], "y1": boxes[:, 1], "x2": boxes[:, 2], "y2": boxes[:, 3],
                         "score": fused_score(smm[keep], bundle["speed"][keep], model["motion"],
                                              float(p["motion_fusion"]["weight"]))})
