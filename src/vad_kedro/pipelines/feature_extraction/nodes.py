"""Feature extraction: tracks, optical flow, snippet features and object features per video.

Each node returns ``({video_id: callable}, manifest)``: the callables compute one video when the
PartitionedDataset saves it (memory bounded by one video), and the manifest ``{video_id: key}``
records a content key per video (:mod:`vad_kedro.vision.incremental`). Videos whose key equals
the previous run's are left out of the returned dict, so their partitions stay as they are and
re-running after adding one video costs one video.

Bad input raises :class:`~vad_kedro.core.errors.DataError` naming the video, before heavy work
where it can be seen from ``video_index`` or from small files (box / pose files are read and
checked up front); boxes outside the image are clipped and counted in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
from scipy.optimize import linear_sum_assignment

from vad_kedro.core.errors import DataError
from vad_kedro.core.progress import progress
from vad_kedro.core.runtime import resolve_device
from vad_kedro.io.boxes import read_alphapose, read_json_boxes, read_mot_tracks
from vad_kedro.vision.backbones import build_backbone
from vad_kedro.vision.centernet import build_model, detect_inputs, detector_input, train_centernet
from vad_kedro.vision.descriptors import box_flow_histograms, box_hog
from vad_kedro.vision.detection import DETECTORS
from vad_kedro.vision.flow import compute_flow
from vad_kedro.core.params import (DetectorTrainingParams, FlowParams, ObjectFeaturesParams, SnippetsParams,
                                   TracksParams, plain)
from vad_kedro.vision.geometry import clip_boxes, iou_matrix, matched_at_iou
from vad_kedro.vision.incremental import content_key, path_stat, plan_videos, video_fingerprint
from vad_kedro.vision.snippets import NEEDS_FLOW, SNIPPET_EXTRACTORS, n_snippets
from vad_kedro.vision.tracking import TRACK_COLUMNS, cast_tracks, track_detections

logger = logging.getLogger(__name__)

Loader = Callable[[], Any]

#: Bump when an output's algorithm changes, so cached partitions are recomputed.
CODE_VERSIONS = {"tracks": "1", "flow": "1", "snippet_features": "1", "object_features": "1"}

IMPORT_DETECTORS = {"ground_truth": "mot_txt", "mot_txt": "mot_txt", "json_idx": "json_idx"}
DEFAULT_BOX_TEMPLATES = {
    "mot_txt": "{root}/annotations/tracks/{split_dir}/{video}.txt",
    "json_idx": "{root}/detection_results/{split_short}/{video}_det-results.json",
}
DEFAULT_POSE_TEMPLATE = "{root}/annotations/pose/{split_dir}/{video}.json"
POSE_DIM = 34


# ----------------------------------------------------------------------------------------------
# shared helpers
# ----------------------------------------------------------------------------------------------
def index_rows(video_index: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``video_index`` as dicts, checked: unique ids, at least one frame.

    (Frame sizes are checked against the decoded frames; precomputed-feature datasets have size 0.)
    """
    required = {"video_id", "split", "source_path", "n_frames", "height", "width"}
    missing = required - set(video_index.columns)
    if missing:
        raise DataError("video_index", f"missing columns {sorted(missing)}")
    dup = video_index["video_id"][video_index["video_id"].duplicated()]
    if len(dup):
        raise DataError("video_index", f"duplicate video ids {sorted(dup.astype(str))[:5]}")
    rows = video_index.to_dict("records")
    for r in rows:
        r["video_id"] = str(r["video_id"])
        if int(r["n_frames"]) <= 0:
            raise DataError(r["video_id"], "video has zero frames")
    return sorted(rows, key=lambda r: r["video_id"])


def template_fields(row: Mapping[str, Any], root: str) -> dict[str, str]:
    """Fields available to path templates: root, video_id, video, split, split_dir, split_short.

    ``video`` strips the ``train_`` / ``test_`` prefix of the id (the val split keeps ``train_``);
    ``split_dir`` is ``training`` / ``testing`` and ``split_short`` ``train`` / ``test``.
    """
    vid = str(row["video_id"])
    for prefix, short, long_ in (("train_", "train", "training"), ("test_", "test", "testing")):
        if vid.startswith(prefix):
            video = vid[len(prefix):]
            break
    else:
        short = "test" if row.get("split") == "test" else "train"
        long_ = "testing" if short == "test" else "training"
        video = vid
    return {"root": str(root), "video_id": vid, "video": video, "split": str(row.get("split", "")),
            "split_dir": long_, "split_short": short}


def load_frames(row: Mapping[str, Any], frames: Mapping[str, Loader]) -> np.ndarray:
    """Load one video's frames and check them against ``video_index`` (count, size, dtype)."""
    vid = row["video_id"]
    if vid not in frames:
        raise DataError(vid, "no frames partition (run the preprocessing pipeline first)")
    arr = frames[vid]()
    if not isinstance(arr, np.ndarray) or arr.ndim != 4 or arr.shape[-1] != 3:
        raise DataError(vid, f"frames must be uint8 [T,H,W,3], got {getattr(arr, 'shape', type(arr))}")
    if arr.shape[0] == 0:
        raise DataError(vid, "video has zero frames")
    if arr.dtype != np.uint8:
        raise DataError(vid, f"frames must be uint8, got {arr.dtype}")
    if arr.shape[0] != int(row["n_frames"]):
        raise DataError(vid, f"frames has {arr.shape[0]} frames but video_index says {row['n_frames']}")
    if arr.shape[1:3] != (int(row["height"]), int(row["width"])):
        raise DataError(vid, f"frames are {arr.shape[1]}x{arr.shape[2]} but video_index says "
                             f"{row['height']}x{row['width']} (frames of differing sizes?)")
    return np.ascontiguousarray(arr)


def _check_partitions(rows: list[dict], parts: Mapping[str, Loader], name: str, vids: list[str] | None = None) -> None:
    wanted = set(vids) if vids is not None else {r["video_id"] for r in rows}
    missing = sorted(wanted - set(parts))
    if missing:
        raise DataError(missing[0], f"no {name} partition ({len(missing)} videos missing: {', '.join(missing[:5])})")


def _lazy(vids: list[str], compute: Callable[[str], Any], desc: str) -> dict[str, Callable[[], Any]]:
    """``{vid: callable}`` that computes each video at save time and advances one progress bar."""
    if not vids:
        return {}
    bar = progress(None, desc=desc, total=len(vids), unit="video")

    def make(vid: str) -> Callable[[], Any]:
        def run() -> Any:
            out = compute(vid)
            bar.update(1)
            if bar.n >= len(vids):
                bar.close()
            return out

        return run

    return {v: make(v) for v in vids}


def _plan(name: str, keys: dict[str, str], previous: Mapping[str, str] | None, incremental: bool) -> list[str]:
    todo, skip = plan_videos(keys, previous if incremental else None)
    logger.info("%s: computing %d videos, %d unchanged (skipped)", name, len(todo), len(skip))
    return todo


def _source_size(row: Mapping[str, Any], frames_glob: str) -> tuple[int, int] | None:
    """(H, W) of the source video (first frame of a frame folder, or a video file's header)."""
    src = Path(str(row.get("source_path", "")))
    try:
        if src.is_dir():
            files = sorted(src.glob(frames_glob or "*"))
            if files:
                img = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED)
                if img is not None:
                    return int(img.shape[0]), int(img.shape[1])
        elif src.is_file():
            cap = cv2.VideoCapture(str(src))
            h, w = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
            cap.release()
            if h > 0 and w > 0:
                return h, w
    except cv2.error:
        return None
    return None


def _scale_to_working(row: Mapping[str, Any], dataset: Mapping[str, Any], source_size) -> tuple[float, float]:
    """(sx, sy) mapping source-file pixels to working-resolution pixels."""
    if source_size in (None, "auto"):
        size = _source_size(row, str(dataset.get("frames_glob", "*")))
    elif source_size == "working":
        size = None
    else:
        size = (int(source_size[0]), int(source_size[1]))
    if size is None:
        return 1.0, 1.0
    return int(row["width"]) / size[1], int(row["height"]) / size[0]


def clip_table(df: pd.DataFrame, height: int, width: int, min_size: float = 1.0) -> tuple[pd.DataFrame, int, int]:
    """Clip boxes to the image; drop boxes smaller than ``min_size`` after clipping.

    Returns (table, number clipped, number dropped).
    """
    if df.empty:
        return df, 0, 0
    boxes, changed = clip_boxes(df[["x1", "y1", "x2", "y2"]].to_numpy(), height, width)
    df = df.copy()
    df[["x1", "y1", "x2", "y2"]] = boxes
    keep = ((boxes[:, 2] - boxes[:, 0]) >= min_size) & ((boxes[:, 3] - boxes[:, 1]) >= min_size)
    return df[keep].reset_index(drop=True), int(changed.sum()), int((~keep).sum())


# ----------------------------------------------------------------------------------------------
# tracks
# ----------------------------------------------------------------------------------------------
def _import_spec(params: Mapping[str, Any]) -> tuple[str, str, int, str]:
    """(format, path template, first frame number, box format) of an importer; ``params`` holds ``detector``,
    ``import`` and ``min_box_size`` (the ``tracks`` parameters, or train_detector's selection of them)."""
    fmt = IMPORT_DETECTORS[params["detector"]]
    imp = params["import"]
    template = imp["path_template"] or DEFAULT_BOX_TEMPLATES[fmt]
    base = imp["frame_base"]
    base = (1 if fmt == "mot_txt" else 0) if base is None else int(base)
    return fmt, template, base, imp["box_format"]


def box_file(row: Mapping[str, Any], root: str, params: Mapping[str, Any]) -> Path:
    """Path of one video's imported box file (``import.path_template`` or the format's default)."""
    _, template, _, _ = _import_spec(params)
    return Path(template.format(**template_fields(row, root)))


def read_imported_boxes(row: Mapping[str, Any], root: str, dataset: Mapping[str, Any],
                        params: Mapping[str, Any]) -> pd.DataFrame:
    """Read, rescale, validate and clip one video's imported box file (detector ground_truth / mot_txt / json_idx).

    Raises DataError when the file is missing or malformed, or references frames beyond the video.
    """
    vid = row["video_id"]
    fmt, template, base, box_format = _import_spec(params)
    path = box_file(row, root, params)
    if not path.is_file():
        raise DataError(vid, f"box file {path} not found (tracks.detector={params['detector']}, "
                             f"template {template!r})")
    df = read_mot_tracks(path, base) if fmt == "mot_txt" else read_json_boxes(path, base, box_format)
    n, h, w = int(row["n_frames"]), int(row["height"]), int(row["width"])
    if len(df) and int(df["frame"].max()) >= n:
        raise DataError(vid, f"box file {path} references frame {int(df['frame'].max())} (0-based) but the "
                             f"video has {n} frames")
    sx, sy = _scale_to_working(row, dataset, params["import"]["source_size"])
    df = df.copy()
    df[["x1", "x2"]] *= sx
    df[["y1", "y2"]] *= sy
    df, n_clip, n_drop = clip_table(df, h, w, float(params["min_box_size"]))
    if n_clip or n_drop:
        logger.warning("%s: clipped %d boxes reaching outside the %dx%d image, dropped %d left empty (%s)",
                       vid, n_clip, h, w, n_drop, path)
    return df


def tracks_from_boxes(df: pd.DataFrame, retrack: bool, tracker: Mapping[str, Any], n_frames: int) -> pd.DataFrame:
    """Imported boxes -> tracks table; ``retrack`` ignores the file's ids and runs the IoU tracker."""
    if retrack:
        dets = [np.zeros((0, 5))] * n_frames
        for f, g in df.groupby("frame"):
            dets[int(f)] = g[["x1", "y1", "x2", "y2", "score"]].to_numpy()
        return track_detections(dets, **tracker)
    if df.empty:
        return cast_tracks(pd.DataFrame(columns=TRACK_COLUMNS))
    return cast_tracks(df).sort_values(["frame", "track_id"], kind="stable").reset_index(drop=True)


def detect_and_track(frames: np.ndarray, params: TracksParams) -> pd.DataFrame:
    """Run the configured detector on one video's frames, then the IoU tracker; boxes clipped to the image."""
    name = params["detector"]
    if name not in DETECTORS:
        raise ValueError(f"tracks.detector must be one of {sorted(DETECTORS) + sorted(IMPORT_DETECTORS)}, got {name!r}")
    dets = DETECTORS[name](frames, **params[name])
    df = track_detections(dets, **params["tracker"])
    h, w = frames.shape[1:3]
    df, _, _ = clip_table(df, h, w, float(params["min_box_size"]))
    return cast_tracks(df)


def extract_tracks(video_index: pd.DataFrame, frames: Mapping[str, Loader], raw_manifest: Mapping[str, Any],
                   dataset: Mapping[str, Any], params: TracksParams, incremental: bool,
                   previous: Mapping[str, str]) -> tuple[dict[str, Callable[[], pd.DataFrame]], dict[str, str]]:
    """Object tracks per video: frame, track_id, x1, y1, x2, y2, score (working-resolution pixels).

    ``params.detector``: ``background_subtraction`` (default) or ``hog_people`` (+ IoU/Hungarian
    tracker), or an importer of existing files: ``ground_truth`` (the synthetic benchmark's MOT
    tracks; analysis only), ``mot_txt``, ``json_idx`` (RegionCLIP / AlphaPose ``idx`` lists).
    """
    rows = index_rows(video_index)
    detector = params["detector"]
    root = str(raw_manifest.get("root", dataset.get("root", "")))
    importing = detector in IMPORT_DETECTORS
    if not importing and detector not in DETECTORS:
        raise ValueError(f"tracks.detector must be one of {sorted(DETECTORS) + sorted(IMPORT_DETECTORS)}, "
                         f"got {detector!r}")
    if detector == "ground_truth":
        logger.warning("tracks.detector=ground_truth: using the generator's boxes (analysis only, not a detector)")
    by_id = {r["video_id"]: r for r in rows}
    # only the parameters that shape this run's tracks enter the key
    relevant = {"detector": detector, "min_box_size": params["min_box_size"],
                "settings": plain(params["import"] if importing else params[detector]),
                "tracker": plain(params["tracker"]) if not importing or params["import"]["retrack"] else None}
    keys, imported = {}, {}
    for r in rows:
        extra = _weights_stat(relevant["settings"] or {})   # a learned detector's checkpoint
        if importing:
            imported[r["video_id"]] = read_imported_boxes(r, root, dataset, params)  # small; checked up front
            extra = path_stat(box_file(r, root, params))
        keys[r["video_id"]] = content_key(CODE_VERSIONS["tracks"], video_fingerprint(r), relevant, extra)
    todo = _plan("tracks", keys, previous, incremental)
    if not importing:
        _check_partitions(rows, frames, "frames", todo)

    def compute(vid: str) -> pd.DataFrame:
        row = by_id[vid]
        if importing:
            return tracks_from_boxes(imported[vid], bool(params["import"]["retrack"]), params["tracker"],
                                     int(row["n_frames"]))
        return detect_and_track(load_frames(row, frames), params)

    return _lazy(todo, compute, "tracks"), keys


def _detector_samples(rows: list[dict], frames: Mapping[str, Loader], boxes: Mapping[str, pd.DataFrame],
                      max_frames: int) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """Per video: centernet inputs of up to ``max_frames`` evenly spaced frames and their boxes."""
    out = []
    for r in progress(rows, desc="detector frames", unit="video"):
        f = load_frames(r, frames)
        idx = np.unique(np.linspace(0, len(f) - 1, min(max_frames, len(f))).round().astype(int))
        by_frame = {int(k): g[["x1", "y1", "x2", "y2"]].to_numpy() for k, g in boxes[r["video_id"]].groupby("frame")}
        out.append((detector_input(f)[idx], [by_frame.get(int(t), np.zeros((0, 4))) for t in idx]))
    return out


def detector_recall(model, samples: list[tuple[np.ndarray, list[np.ndarray]]], threshold: float,
                    device) -> dict[str, float]:
    """Recall and precision at IoU 0.5 of ``model`` on held-out ``samples`` (one-to-one matching)."""
    hits = n_true = n_det = 0
    for x, truth in samples:
        for d, t in zip(detect_inputs(model, x, threshold, device=device), truth, strict=True):
            hits += int(matched_at_iou(t, d[:, :4]).sum())
            n_true += len(t)
            n_det += len(d)
    return {"recall": hits / max(n_true, 1), "precision": hits / max(n_det, 1), "boxes": float(n_true)}


def train_detector(video_index: pd.DataFrame, frames: Mapping[str, Loader], raw_manifest: Mapping[str, Any],
                   dataset: Mapping[str, Any], params: TracksParams, train: DetectorTrainingParams, seed: int,
                   device: str) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """Train the ``centernet`` detector on the box annotations of the training videos.

    ``params`` are the ``tracks`` parameters (import paths, ``centernet.threshold``), ``train`` the
    ``detector_training`` ones. Boxes come from the importer named by ``train.boxes`` (``ground_truth`` = the synthetic
    benchmark's generator tracks, or ``mot_txt`` / ``json_idx`` files, with ``tracks.import``'s path
    settings); training videos without a box file are skipped (logged), none at all is a DataError.
    Every ``holdout_every``-th annotated video is held out: recall / precision at IoU 0.5 on it go
    into the history. Returns the checkpoint (``state``, ``config``, ``validation``) and the history.
    """
    box_params = {"detector": train["boxes"], "import": params["import"], "min_box_size": params["min_box_size"]}
    if box_params["detector"] not in IMPORT_DETECTORS:
        raise ValueError(f"detector_training.boxes must be one of {sorted(IMPORT_DETECTORS)}, "
                         f"got {box_params['detector']!r}")
    root = str(raw_manifest.get("root", dataset.get("root", "")))
    rows, boxes, missing = [], {}, []
    for r in index_rows(video_index):
        if r["split"] not in ("train", "val"):
            continue
        if not box_file(r, root, box_params).is_file():
            missing.append(r["video_id"])
            continue
        boxes[r["video_id"]] = read_imported_boxes(r, root, dataset, box_params)
        rows.append(r)
    if missing:
        logger.warning("train_detector: %d training videos have no box file, skipped: %s", len(missing),
                       ", ".join(missing[:5]))
    if not rows:
        _, template, _, _ = _import_spec(box_params)
        raise DataError("train_detector", f"no training video has a box file (template {template!r}, "
                                          f"detector_training.boxes={box_params['detector']})")
    every = int(train["holdout_every"])
    held = [r for i, r in enumerate(rows) if every > 1 and len(rows) > 1 and i % every == every - 1]
    fit = [r for r in rows if r not in held]
    max_frames = int(train["max_frames_per_video"])
    dev = resolve_device(device)
    iterations = int(train["iterations"])
    bar = progress(None, desc="train centernet", total=iterations, unit="step")
    ckpt, history = train_centernet(
        _detector_samples(fit, frames, boxes, max_frames), width=int(train["width"]),
        stride=int(train["stride"]), iterations=iterations, batch_size=int(train["batch_size"]),
        lr=float(train["lr"]), crop=list(train["crop"]),
        size_weight=float(train["size_weight"]), sigma=float(train["sigma"]), seed=int(seed),
        device=dev, bar=bar)
    bar.close()
    validation: dict[str, float] = {}
    if held:
        model = build_model(ckpt["config"]).to(dev)
        model.load_state_dict(ckpt["state"])
        validation = detector_recall(model, _detector_samples(held, frames, boxes, max_frames),
                                     float(params["centernet"]["threshold"]), dev)
        logger.info("centernet on %d held-out training videos: recall@0.5 %.3f, precision %.3f (%d boxes)",
                    len(held), validation["recall"], validation["precision"], validation["boxes"])
        history.update({f"heldout_{k}": [v] for k, v in validation.items()})
    ckpt["validation"] = validation
    ckpt["videos"] = {"fit": [r["video_id"] for r in fit], "held_out": [r["video_id"] for r in held]}
    return ckpt, history


# ----------------------------------------------------------------------------------------------
# flow
# ----------------------------------------------------------------------------------------------
def extract_flow(video_index: pd.DataFrame, frames: Mapping[str, Loader], params: FlowParams,
                 incremental: bool, previous: Mapping[str, str]
                 ) -> tuple[dict[str, Callable[[], np.ndarray]], dict[str, str]]:
    """Dense optical flow per video, float16 [T, H//s, W//s, 2], t -> t+1, last frame repeats T-2 -> T-1.

    Videos without frames (precomputed-feature datasets) get no flow.
    """
    rows = index_rows(video_index)
    if not frames:
        logger.warning("flow: the frames dataset is empty (precomputed-feature dataset?): no flow computed")
        rows = []
    by_id = {r["video_id"]: r for r in rows}
    keys = {r["video_id"]: content_key(CODE_VERSIONS["flow"], video_fingerprint(r), plain(params)) for r in rows}
    todo = _plan("flow", keys, previous, incremental)
    _check_partitions(rows, frames, "frames", todo)

    def compute(vid: str) -> np.ndarray:
        f = load_frames(by_id[vid], frames)
        return compute_flow(f, method=params["method"], downsample=int(params["downsample"]),
                            dis_preset=params["dis_preset"], dis_finest_scale=params["dis_finest_scale"],
                            dis_refinement_iterations=params["dis_refinement_iterations"],
                            compute_scale=float(params["compute_scale"]), farneback=dict(params["farneback"]),
                            dtype=params["dtype"])

    return _lazy(todo, compute, "flow"), keys


def load_flow(vid: str, flow: Mapping[str, Loader], n_frames: int, height: int, width: int) -> np.ndarray:
    """Load one video's flow and check its length and grid against the video."""
    if vid not in flow:
        raise DataError(vid, "no flow partition (feature_extraction.extract_flow did not write it)")
    fl = np.asarray(flow[vid]())
    if fl.ndim != 4 or fl.shape[0] != n_frames or fl.shape[-1] != 2:
        raise DataError(vid, f"flow must be [{n_frames},h,w,2], got {fl.shape}")
    if fl.shape[1] > height or fl.shape[2] > width:
        raise DataError(vid, f"flow grid {fl.shape[1]}x{fl.shape[2]} larger than the {height}x{width} frames")
    return fl


# ----------------------------------------------------------------------------------------------
# snippet features
# ----------------------------------------------------------------------------------------------
def import_i3d(row: Mapping[str, Any], style: str, n_crops: int | None, feature_dim: int | None,
               snippet_len: int = 16) -> np.ndarray:
    """Precomputed UCF-Crime / XD-Violence I3D features of one video -> float32 [T, N, C].

    ``source_path`` holds the feature file(s), ``|``-joined for one-file-per-crop lists. Reading and
    NaN/shape validation are done by :func:`vad_kedro.io.i3d.load_features`; here the declared
    ``n_crops`` / ``feature_dim`` (when set) and the snippet count are checked.
    """
    from vad_kedro.io.i3d import load_features  # written by the weak_supervision pipeline

    vid = row["video_id"]
    paths = [p for p in str(row["source_path"]).split("|") if p]
    if not paths:
        raise DataError(vid, "video_index.source_path holds no feature file")
    x = np.asarray(load_features(paths, style), dtype=np.float32)
    if x.ndim != 3:
        raise DataError(vid, f"imported features must be (T, N, C), got {x.shape}")
    if not np.isfinite(x).all():
        raise DataError(vid, "imported features contain NaN or inf")
    if n_crops is not None and x.shape[1] != int(n_crops):
        raise DataError(vid, f"imported features have {x.shape[1]} crops, snippets.n_crops declares {n_crops}")
    if feature_dim is not None and x.shape[2] != int(feature_dim):
        raise DataError(vid, f"imported features have dimension {x.shape[2]}, i3d_import.feature_dim declares "
                             f"{feature_dim}")
    n = int(row.get("n_frames", 0) or 0)
    if n > 0 and n_snippets(n, snippet_len) != x.shape[0]:
        raise DataError(vid, f"imported features have {x.shape[0]} snippets but video_index says {n} frames "
                             f"(expected ceil({n}/{snippet_len}) = {n_snippets(n, snippet_len)})")
    return x


def check_snippet_source(dataset: Mapping[str, Any], snippets: Mapping[str, Any]) -> None:
    """Precomputed I3D features have no frames: ``dataset.format: i3d_features`` needs the ``i3d_import``
    extractor. Raises a DataError naming the setting to change (checked before any node runs by
    :class:`~vad_kedro.hooks.ParameterCheckHook`)."""
    name = snippets.get("extractor")
    if (dataset or {}).get("format") == "i3d_features" and name != "i3d_import":
        raise DataError("feature_extraction.snippets.extractor",
                        f"dataset.format i3d_features holds precomputed features and no frames, so the frame-based "
                        f"extractor {name!r} cannot run: set feature_extraction.snippets.extractor: i3d_import")


def _weights_stat(cfg: Mapping[str, Any]) -> list[int] | None:
    return path_stat(cfg.get("weights_path")) if cfg.get("weights_path") else None


def extract_snippet_features(video_index: pd.DataFrame, frames: Mapping[str, Loader], flow: Mapping[str, Loader],
                             flow_manifest: Mapping[str, str], params: SnippetsParams, device: str, seed: int,
                             incremental: bool, previous: Mapping[str, str]
                             ) -> tuple[dict[str, Callable[[], np.ndarray]], dict[str, str]]:
    """Snippet features per video, float32 [ceil(T/16), n_crops, D], from the configured extractor.

    ``params.extractor``: ``motion_appearance`` (HOG+HOF+MBH, default), a torchvision video backbone
    (``r3d_18``, ``r2plus1d_18``, ``mc3_18``, ``s3d``, ``swin3d_t``, ...; local weights), or
    ``i3d_import`` (precomputed UCF-Crime / XD-Violence features named by ``source_path``).
    """
    rows = index_rows(video_index)
    by_id = {r["video_id"]: r for r in rows}
    name = params["extractor"]
    snippet_len = int(params["snippet_len"])
    n_crops = params["n_crops"]
    cfg = plain(params[name])   # a plain dict copy: hashed into the keys, then given the device
    if name != "i3d_import" and name not in SNIPPET_EXTRACTORS:
        raise ValueError(f"snippets.extractor must be one of {sorted(SNIPPET_EXTRACTORS) + ['i3d_import']}, "
                         f"got {name!r}")
    common = {"extractor": name, "snippet_len": snippet_len, "n_crops": n_crops,
              "crop_fraction": params["crop_fraction"], name: cfg}
    keys = {}
    for r in rows:
        upstream = flow_manifest.get(r["video_id"]) if name in NEEDS_FLOW else None
        keys[r["video_id"]] = content_key(CODE_VERSIONS["snippet_features"], video_fingerprint(r), common,
                                          upstream, _weights_stat(cfg))
    todo = _plan("snippet_features", keys, previous, incremental)

    if name == "i3d_import":
        style = cfg["style"]
        declared_crops = cfg["n_crops"]
        dim = cfg["feature_dim"]
        return _lazy(todo, lambda v: import_i3d(by_id[v], style, declared_crops, dim, snippet_len),
                     "snippet_features"), keys

    _check_partitions(rows, frames, "frames", todo)
    if name in NEEDS_FLOW:
        _check_partitions(rows, flow, "flow", todo)
    else:
        from vad_kedro.core.runtime import resolve_device, seed_everything

        seed_everything(int(seed))
        cfg.setdefault("device", str(resolve_device(device)))
        build_backbone(name, cfg["weights_path"], bool(cfg["random_init"]))  # fail before any video
    extractor = SNIPPET_EXTRACTORS[name]

    def compute(vid: str) -> np.ndarray:
        row = by_id[vid]
        f = load_frames(row, frames)
        fl = load_flow(vid, flow, f.shape[0], f.shape[1], f.shape[2]) if name in NEEDS_FLOW else None
        out = extractor(f, fl, n_crops=int(n_crops), crop_fraction=float(common["crop_fraction"]),
                        snippet_len=snippet_len, **cfg)
        if not np.isfinite(out).all():
            raise DataError(vid, f"{name} produced NaN/inf features")
        declared = params["feature_dim"]
        if declared is not None and out.shape[2] != int(declared):
            raise DataError(vid, f"{name} features have dimension {out.shape[2]}, snippets.feature_dim declares "
                                 f"{declared}")
        return out.astype(np.float32)

    return _lazy(todo, compute, "snippet_features"), keys


# ----------------------------------------------------------------------------------------------
# object features
# ----------------------------------------------------------------------------------------------
def _outside_dataset(row: Mapping[str, Any]) -> bool:
    """A test video with an unknown label (-1) is no video of the labelled dataset: it is a clip scored by
    ``inference``, which has no annotation files of its own."""
    return row.get("split") == "test" and int(row.get("video_label", 0)) == -1


def _pose_paths(rows: list[dict], root: str, pose: Mapping[str, Any]) -> dict[str, Path] | None:
    """Pose file per video that has one, or None when the dataset has no pose at all (said clearly in the log).

    A dataset video without its pose file while others have one is a ``DataError``; a clip from outside the
    dataset (:func:`_outside_dataset`) simply has no pose (logged).
    """
    source = pose["source"]
    if source in (None, "none"):
        logger.warning("object_features: pose.source=none -> no 'pose' arrays (pose-based methods must fall "
                       "back to appearance + velocity)")
        return None
    if source != "alphapose_json":
        raise ValueError(f"object_features.pose.source must be alphapose_json or none, got {source!r}")
    template = pose["path_template"] or DEFAULT_POSE_TEMPLATE
    paths = {r["video_id"]: Path(template.format(**template_fields(r, root))) for r in rows}
    have = {v for v, p in paths.items() if p.is_file()}
    if not have:
        logger.warning("object_features: no pose files found for this dataset (template %r, e.g. %s); "
                       "object_features carry no 'pose' array. Pose is never invented: provide AlphaPose JSON "
                       "files or set object_features.pose.source: none", template, next(iter(paths.values()), ""))
        return None
    outside = {r["video_id"] for r in rows if _outside_dataset(r)} - have
    missing = sorted(set(paths) - have - outside)
    if missing:
        raise DataError(missing[0], f"pose file {paths[missing[0]]} not found, but other videos have pose "
                                    f"({len(missing)} videos without pose: {', '.join(missing[:5])})")
    if outside:
        logger.warning("object_features: no pose for %s (not a video of the dataset, no pose file): no 'pose' array",
                       ", ".join(sorted(outside)))
    return {v: p for v, p in paths.items() if v in have}


def read_pose(row: Mapping[str, Any], path: Path, dataset: Mapping[str, Any], pose: Mapping[str, Any]
              ) -> tuple[pd.DataFrame, np.ndarray]:
    """One video's AlphaPose boxes + keypoints in working-resolution pixels; frames checked against the video."""
    vid = row["video_id"]
    boxes, kps = read_alphapose(path, int(pose["frame_base"]), pose["box_format"])
    n = int(row["n_frames"])
    if len(boxes) and int(boxes["frame"].max()) >= n:
        raise DataError(vid, f"pose file {path} references frame {int(boxes['frame'].max())} (0-based) but the "
                             f"video has {n} frames")
    sx, sy = _scale_to_working(row, dataset, pose["source_size"])
    boxes = boxes.copy()
    boxes[["x1", "x2"]] *= sx
    boxes[["y1", "y2"]] *= sy
    kps = kps.copy()
    kps[..., 0] *= sx
    kps[..., 1] *= sy
    return boxes, kps


def match_pose(tracks: pd.DataFrame, pose_boxes: pd.DataFrame, keypoints: np.ndarray, min_iou: float = 0.3
               ) -> tuple[np.ndarray, int]:
    """Keypoints for each tracks row: Hungarian matching by box IoU per frame (>= ``min_iou``).

    Returns float32 [N, 34] (x, y of the 17 COCO keypoints, interleaved; NaN rows when unmatched) and
    the number of unmatched rows.
    """
    out = np.full((len(tracks), POSE_DIM), np.nan, dtype=np.float32)
    if len(tracks) == 0:
        return out, 0
    t_frames = tracks["frame"].to_numpy()
    t_boxes = tracks[["x1", "y1", "x2", "y2"]].to_numpy(np.float64)
    p_frames = pose_boxes["frame"].to_numpy()
    p_boxes = pose_boxes[["x1", "y1", "x2", "y2"]].to_numpy(np.float64)
    xy = keypoints[..., :2].reshape(len(keypoints), POSE_DIM)
    for f in np.unique(t_frames):
        ti = np.flatnonzero(t_frames == f)
        pi = np.flatnonzero(p_frames == f)
        if len(pi) == 0:
            continue
        iou = iou_matrix(t_boxes[ti], p_boxes[pi])
        r, c = linear_sum_assignment(-iou)
        ok = iou[r, c] >= min_iou
        out[ti[r[ok]]] = xy[pi[c[ok]]]
    return out, int(np.isnan(out[:, 0]).sum())


def _app_features(gray: np.ndarray, rgb: np.ndarray, boxes: np.ndarray, app: Mapping[str, Any], model) -> np.ndarray:
    kind = app["type"]
    if kind == "hog":
        return box_hog(gray, boxes)
    import torch

    net, spec = model
    size = int(app["input_size"] or spec.input_size)   # null: the backbone's own resolution
    h, w = rgb.shape[:2]
    crops = []
    for x1, y1, x2, y2 in boxes:
        xa, ya = int(np.clip(np.floor(x1), 0, w - 1)), int(np.clip(np.floor(y1), 0, h - 1))
        xb, yb = int(np.clip(np.ceil(x2), xa + 1, w)), int(np.clip(np.ceil(y2), ya + 1, h))
        crops.append(cv2.resize(rgb[ya:yb, xa:xb], (size, size), interpolation=cv2.INTER_LINEAR))
    x = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255.0
    x = (x - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
    bs = int(app["batch_size"])
    device = next(net.parameters()).device
    with torch.no_grad():
        return torch.cat([net(x[i:i + bs].to(device)).cpu() for i in range(0, len(x), bs)]).numpy()


def object_features_for_video(frames: np.ndarray, tracks: pd.DataFrame, flow: np.ndarray,
                              params: ObjectFeaturesParams, model=None) -> dict[str, np.ndarray]:
    """``app`` [N, Da] and ``vel`` [N, B] for each tracks row of one video (row order kept)."""
    app_cfg, vel_cfg = params["app"], params["vel"]
    n_bins = int(vel_cfg["bins"])
    height, width = frames.shape[1:3]
    gh, gw = flow.shape[1:3]
    n = len(tracks)
    app_dim = cv2.HOGDescriptor().getDescriptorSize() if app_cfg["type"] == "hog" else model[1].dim
    app = np.zeros((n, app_dim), dtype=app_cfg["dtype"])
    vel = np.zeros((n, n_bins), dtype=np.float32)
    frame_col = tracks["frame"].to_numpy()
    boxes = tracks[["x1", "y1", "x2", "y2"]].to_numpy(np.float64)
    for f in np.unique(frame_col):
        idx = np.flatnonzero(frame_col == f)
        rgb = frames[int(f)]
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        app[idx] = _app_features(gray, rgb, boxes[idx], app_cfg, model)
        vel[idx] = box_flow_histograms(flow[int(f)], boxes[idx], n_bins, gw / width, gh / height,
                                       bool(vel_cfg["normalise_by_height"]))
    return {"app": app, "vel": vel}


def extract_object_features(video_index: pd.DataFrame, frames: Mapping[str, Loader], tracks: Mapping[str, Loader],
                            flow: Mapping[str, Loader], tracks_manifest: Mapping[str, str],
                            flow_manifest: Mapping[str, str], raw_manifest: Mapping[str, Any],
                            dataset: Mapping[str, Any], params: ObjectFeaturesParams, device: str, incremental: bool,
                            previous: Mapping[str, str]) -> tuple[dict[str, Callable[[], dict]], dict[str, str]]:
    """Per-object features aligned row by row with ``tracks[vid]``: ``app``, ``vel`` and, when pose exists, ``pose``.

    - ``app``: OpenCV HOG of the box crop resized to 64x128 (3780-d, float16), or a torchvision 2-D
      backbone (``app.type: resnet18`` ..., local ``weights_path``).
    - ``vel``: magnitude-weighted flow-orientation histogram inside the box (memory_fusion.md section 2).
    - ``pose``: [N, 34] x, y of 17 COCO keypoints from AlphaPose-format JSON (the synthetic benchmark's
      generator keypoints by default), matched to tracks rows by box IoU; unmatched rows are NaN (counted).
    """
    rows = index_rows(video_index)
    by_id = {r["video_id"]: r for r in rows}
    root = str(raw_manifest.get("root", dataset.get("root", "")))
    pose_cfg = params["pose"]
    pose_paths = _pose_paths(rows, root, pose_cfg)
    app_cfg = params["app"]
    keys = {}
    for r in rows:
        vid = r["video_id"]
        keys[vid] = content_key(CODE_VERSIONS["object_features"], video_fingerprint(r), plain(params),
                                tracks_manifest.get(vid), flow_manifest.get(vid),
                                path_stat(pose_paths[vid]) if pose_paths and vid in pose_paths else None,
                                _weights_stat(app_cfg))
    todo = _plan("object_features", keys, previous, incremental)
    _check_partitions(rows, frames, "frames", todo)
    _check_partitions(rows, tracks, "tracks", todo)
    _check_partitions(rows, flow, "flow", todo)
    poses = {v: read_pose(by_id[v], pose_paths[v], dataset, pose_cfg) for v in todo if v in (pose_paths or {})}
    model = None
    if app_cfg["type"] != "hog" and todo:
        from vad_kedro.core.runtime import resolve_device

        net, spec = build_backbone(app_cfg["type"], app_cfg["weights_path"], bool(app_cfg["random_init"]),
                                   kind="image")
        model = (net.to(resolve_device(device)), spec)

    def compute(vid: str) -> dict[str, np.ndarray]:
        row = by_id[vid]
        f = load_frames(row, frames)
        tr = tracks[vid]()
        missing_cols = [c for c in ("frame", "x1", "y1", "x2", "y2") if c not in tr.columns]
        if missing_cols:
            raise DataError(vid, f"tracks partition lacks columns {missing_cols}")
        if len(tr) and (tr["frame"].min() < 0 or tr["frame"].max() >= f.shape[0]):
            raise DataError(vid, f"tracks reference frames {tr['frame'].min()}..{tr['frame'].max()} outside the "
                                 f"video's {f.shape[0]} frames")
        fl = load_flow(vid, flow, f.shape[0], f.shape[1], f.shape[2])
        out = object_features_for_video(f, tr, fl, params, model)
        if vid in poses:
            pose, n_unmatched = match_pose(tr, *poses[vid], float(pose_cfg["min_iou"]))
            if n_unmatched:
                logger.info("%s: %d of %d objects have no matching pose (NaN rows)", vid, n_unmatched, len(tr))
            out["pose"] = pose
        return out

    return _lazy(todo, compute, "object_features"), keys
