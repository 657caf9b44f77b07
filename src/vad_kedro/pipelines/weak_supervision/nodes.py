"""Node functions of the weak_supervision pipeline: load bags → segment → (dictionary) → train →
score → frame scores. Pure functions, no Kedro imports; the wiring is in ``pipeline.py``.

Methods: MIL ranking (Sultani et al., CVPR 2018), RTFM (Tian et al., ICCV 2021), MGFN (Chen et al.,
AAAI 2023), S3R (Wu et al., ECCV 2022); see ``models.py`` for the references.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import MiniBatchDictionaryLearning

from vad_kedro.core.errors import DataError
from vad_kedro.core.params import WeakSupervisionMethodParams, plain
from vad_kedro.core.progress import progress
from vad_kedro.core.runtime import resolve_device

from .models import build_model
from .segments import segment
from .training import score_snippets, train_one_seed

logger = logging.getLogger(__name__)

SNIPPET = 16  # frames per snippet
MAX_HISTORY_POINTS = 200


def run_seeds(cfg: WeakSupervisionMethodParams, seed: int) -> list[int]:
    """Seeds of the ``n_seeds`` runs: ``cfg.seeds`` when given, else seed, seed + 1, …"""
    if cfg["seeds"]:
        return [int(s) for s in cfg["seeds"]]
    return [int(seed) + i for i in range(int(cfg["n_seeds"]))]


# ------------------------------------------------------------------------------------------- bags
def load_bags(snippet_features: Mapping[str, Callable[[], np.ndarray]], video_index: pd.DataFrame) -> pd.DataFrame:
    """The bag table: one row per train / val video with its video label (0 normal, 1 abnormal).

    Checks, before any loading: every train, val and test video has snippet features; train / val
    labels are 0 or 1; the training split holds both classes.
    """
    missing = [v for v in video_index["video_id"] if v not in snippet_features]
    if missing:
        raise DataError(missing[0], f"no snippet features for {len(missing)} indexed video(s): {', '.join(missing[:5])}")
    bags = video_index[video_index["split"].isin(["train", "val"])][["video_id", "split", "video_label"]]
    bags = bags.rename(columns={"video_label": "label"}).reset_index(drop=True)
    bad = bags[~bags["label"].isin([0, 1])]
    if len(bad):
        raise DataError(bad["video_id"].iloc[0], f"video_label must be 0 or 1 for weak supervision, got "
                                                 f"{bad['label'].iloc[0]}")
    train = bags[bags["split"] == "train"]
    if train["label"].nunique() < 2:
        raise DataError("video_index", "weak supervision needs normal and abnormal training videos "
                                       f"(found labels {sorted(train['label'].unique().tolist())})")
    logger.info("bags: %d train (%d abnormal), %d val (%d abnormal)", len(train), int(train["label"].sum()),
                int((bags["split"] == "val").sum()), int(bags.loc[bags["split"] == "val", "label"].sum()))
    return bags


def _load_video(snippet_features: Mapping[str, Callable[[], np.ndarray]], video_id: str,
                shape: tuple[int, int] | None) -> np.ndarray:
    """Load and check one video's (T, N, C) features: rank 3, T ≥ 1, same (N, C) as others, finite."""
    x = np.asarray(snippet_features[video_id](), dtype=np.float32)
    if x.ndim != 3 or x.shape[0] < 1:
        raise DataError(video_id, f"snippet features must be (T, n_crops, D) with T >= 1, got shape {x.shape}")
    if shape is not None and tuple(x.shape[1:]) != shape:
        raise DataError(video_id, f"(n_crops, D) = {tuple(x.shape[1:])} differs from the other videos' {shape}")
    if not np.isfinite(x).all():
        raise DataError(video_id, "snippet features contain NaN or inf")
    return x


def segment_bags(snippet_features: Mapping[str, Callable[[], np.ndarray]], bags: pd.DataFrame,
                 cfg: WeakSupervisionMethodParams) -> dict[str, Any]:
    """Load train / val videos one at a time; segment training bags to (V, N, S, C).

    Validation videos stay full length (they are scored like test videos for model selection).
    Segmentation ``pool`` (RTFM, MGFN, MIL) or ``interpolate`` (S3R), ``segments`` = 32.
    """
    n_seg = int(cfg["segments"])
    mode = cfg["segmentation"]
    shape: tuple[int, int] | None = None
    train_x, train_y, train_ids, val_x, val_y, val_ids = [], [], [], [], [], []
    for row in progress(bags.itertuples(index=False), desc="segment bags", total=len(bags)):
        x = _load_video(snippet_features, row.video_id, shape)
        shape = tuple(x.shape[1:])
        if row.split == "train":
            train_x.append(segment(x, n_seg, mode).transpose(1, 0, 2))  # (N, S, C)
            train_y.append(int(row.label))
            train_ids.append(row.video_id)
        else:
            val_x.append(x)
            val_y.append(int(row.label))
            val_ids.append(row.video_id)
    return {
        "train_x": np.ascontiguousarray(np.stack(train_x).astype(np.float32)),
        "train_y": np.asarray(train_y, dtype=np.int64),
        "train_ids": train_ids,
        "val_x": val_x,
        "val_y": np.asarray(val_y, dtype=np.int64),
        "val_ids": val_ids,
    }


def learn_dictionary(segments: Mapping[str, Any], cfg: WeakSupervisionMethodParams) -> np.ndarray:
    """S3R's task-specific dictionary (S, C) from the training-split normal bags only.

    X (V × C) = crop- and time-averaged normal bags; MiniBatchDictionaryLearning on Xᵀ with
    S = round(V · ratio / 100) components, OMP with 2 non-zeros, mini-batches of 32, random_state
    42; atoms = fit_transform(Xᵀ)ᵀ, the sparse codes, as released (``s3r_atoms: codes``), or the
    textbook ``components_`` of a fit on X (``s3r_atoms: components``). The released 100
    mini-batch iterations (sklearn 0.24 ``n_iter``) become ``max_iter`` = ⌈100·32 / C⌉ passes.
    """
    d = cfg["dictionary"]
    x = segments["train_x"][segments["train_y"] == 0].mean(axis=(1, 2))  # (V, C) float32, as released
    v, c = x.shape
    n_atoms = max(1, int(np.around(v * float(d["ratio"]) / 100.0)))
    batch = int(d["batch_size"])
    kind = cfg["s3r_atoms"]
    data = x.T if kind == "codes" else x
    n_iter = int(d["n_iter"])
    max_iter = int(d.get("max_iter") or max(1, math.ceil(n_iter * batch / data.shape[0])))
    learner = MiniBatchDictionaryLearning(n_components=n_atoms, transform_algorithm="omp",
                                          transform_n_nonzero_coefs=int(d["n_nonzero"]),
                                          batch_size=batch, max_iter=max_iter,
                                          random_state=int(d["random_state"]))
    if kind not in ("codes", "components"):
        raise ValueError(f"s3r_atoms must be 'codes' or 'components', got {kind!r}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        atoms = learner.fit_transform(data).T if kind == "codes" else learner.fit(data).components_  # (S, C)
    if caught:
        logger.info("S3R dictionary: OMP stopped early %d times (linearly dependent atoms)", len(caught))
    logger.info("S3R dictionary: %d atoms of dim %d from %d normal training videos (%s)", n_atoms, c, v, kind)
    return np.ascontiguousarray(atoms, dtype=np.float32)


# ------------------------------------------------------------------------------------------ train
def _subsample(values: list[float], limit: int = MAX_HISTORY_POINTS) -> list[float]:
    """At most ``limit`` evenly spaced values (first and last kept)."""
    if len(values) > limit:
        keep = np.unique(np.linspace(0, len(values) - 1, limit).round().astype(int))
        values = [values[i] for i in keep]
    return [float(v) for v in values]


def train_model(segments: Mapping[str, Any], cfg: WeakSupervisionMethodParams, seed: int, device: str,
                deterministic: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train ``n_seeds`` runs of ``cfg.method``; returns the checkpoint and the training history.

    Checkpoint: method, params, input shape, seeds and per seed the selected (best validation AUC)
    and last state dicts with their iterations. History (MLflow metric histories, ≤ 200 points
    each): per seed ``seed<s>.loss`` (training loss, evenly subsampled), ``seed<s>.loss_iteration``
    (the iterations of those points), ``seed<s>.val_auc`` and ``seed<s>.val_iteration`` (validation
    video AUC per evaluation) and ``seed<s>.selected_iteration``.
    """
    return _train(segments, cfg, seed, device, deterministic, None)


def train_model_with_dictionary(segments: Mapping[str, Any], dictionary: np.ndarray, cfg: WeakSupervisionMethodParams,
                                seed: int, device: str,
                                deterministic: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`train_model` for S3R, whose model carries the dictionary atoms."""
    return _train(segments, cfg, seed, device, deterministic, dictionary)


def _train(segments: Mapping[str, Any], cfg: WeakSupervisionMethodParams, seed: int, device: str, deterministic: bool,
           atoms: np.ndarray | None) -> tuple[dict[str, Any], dict[str, Any]]:
    method = cfg["method"]
    runs, history = {}, {}
    for s in run_seeds(cfg, seed):
        r = train_one_seed(method, cfg, segments, s, device, deterministic, atoms)
        runs[str(s)] = {
            "selected": r.selected_state, "last": r.last_state, "selected_iteration": r.selected_iteration,
            "last_iteration": r.last_iteration, "best_val_auc": r.best_val_auc, "batch_size": r.batch_size,
        }
        history[f"seed{s}.loss"] = _subsample(r.losses)
        history[f"seed{s}.loss_iteration"] = _subsample([float(i) for i in r.loss_steps])
        history[f"seed{s}.val_auc"] = _subsample(r.val_aucs)
        history[f"seed{s}.val_iteration"] = _subsample([float(i) for i in r.eval_steps])
        history[f"seed{s}.selected_iteration"] = float(r.selected_iteration)
    checkpoint = {
        "method": method,
        "params": plain(cfg),   # plain dicts: the checkpoint loads with weights_only=True
        "n_crops": int(segments["train_x"].shape[1]),
        "feature_dim": int(segments["train_x"].shape[3]),
        "seeds": [int(s) for s in run_seeds(cfg, seed)],
        "runs": runs,
    }
    return checkpoint, history


def load_detectors(checkpoint: Mapping[str, Any], which: str = "selected") -> dict[int, torch.nn.Module]:
    """Rebuild every seed's detector from a checkpoint (``which`` = ``selected`` or ``last`` weights)."""
    if which not in ("selected", "last"):
        raise ValueError(f"report must be 'selected' or 'last', got {which!r}")
    method, cfg = checkpoint["method"], checkpoint["params"]
    models = {}
    for seed in checkpoint["seeds"]:
        state = checkpoint["runs"][str(seed)][which]
        model = build_model(method, cfg["model"], int(checkpoint["feature_dim"]), state.get("atoms"))
        model.load_state_dict(state)
        models[int(seed)] = model.eval()
    return models


# ------------------------------------------------------------------------------------------ score
def score_videos(snippet_features: Mapping[str, Callable[[], np.ndarray]], video_index: pd.DataFrame,
                 checkpoint: Mapping[str, Any], cfg: WeakSupervisionMethodParams, device: str) -> dict[str, np.ndarray]:
    """Snippet scores (n_seeds, T) of every test video: full-length input, eval mode, crop mean.

    ``cfg.report`` picks the validation-selected (default) or the last weights.
    """
    dev = resolve_device(device)
    models = {s: m.to(dev) for s, m in load_detectors(checkpoint, cfg["report"]).items()}
    shape = (int(checkpoint["n_crops"]), int(checkpoint["feature_dim"]))
    tests = video_index.loc[video_index["split"] == "test", "video_id"].tolist()
    out = {}
    for vid in progress(tests, desc=f"score {checkpoint['method']}"):
        if vid not in snippet_features:
            raise DataError(vid, "test video has no snippet features")
        x = _load_video(snippet_features, vid, shape)
        out[vid] = np.stack([score_snippets(m, x, shape[0], dev) for m in models.values()]).astype(np.float32)
    return {"seeds": np.asarray(list(models), dtype=np.int64), **out}


def expand_to_frames(snippet_scores: Mapping[str, np.ndarray], video_index: pd.DataFrame) -> pd.DataFrame:
    """Frame scores: each snippet score repeated 16 times, cut or padded (last snippet) to n_frames.

    One set of rows per seed: columns video_id, frame, score, seed.
    """
    seeds = np.asarray(snippet_scores["seeds"])
    frames = []
    tests = video_index[video_index["split"] == "test"]
    for vid, n_frames in zip(tests["video_id"], tests["n_frames"], strict=True):
        per_seed = np.asarray(snippet_scores[vid])
        n_frames = int(n_frames)
        for seed, scores in zip(seeds, per_seed, strict=True):
            f = np.repeat(scores, SNIPPET)[:n_frames]
            if len(f) < n_frames:
                f = np.concatenate([f, np.full(n_frames - len(f), scores[-1], dtype=f.dtype)])
            frames.append(pd.DataFrame({"video_id": vid, "frame": np.arange(n_frames, dtype=np.int64),
                                        "score": f.astype(np.float64), "seed": np.int64(seed)}))
    if not frames:
        return pd.DataFrame({"video_id": pd.Series(dtype=str), "frame": pd.Series(dtype=np.int64),
                             "score": pd.Series(dtype=np.float64), "seed": pd.Series(dtype=np.int64)})
    return pd.concat(frames, ignore_index=True)
