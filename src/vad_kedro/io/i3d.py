"""Readers for UCF-Crime and XD-Violence I3D features exactly as distributed (weak_supervision spec §2).

Formats
-------
- UCF-Crime ten-crop I3D (RTFM release): one ``<name>_x264_i3d.npy`` per video, (T, 10, 2048).
- XD-Violence: one file per crop ``<video>__<c>.npy`` (c = 0..4), each (T, 1024), stacked in c order
  to (T, 5, 1024); a stacked ``<video>.npy`` of (T, N, C) is accepted too.
- Lists: one feature path per line (only the basename is used). UCF ``ucf-i3d.list`` (abnormal
  videos first) / ``ucf-i3d-test.list``; XD ``rgb.list`` / ``rgb_test.list`` (one line per crop).
- Video labels: UCF 0 iff ``Normal_Videos`` is in the name (class = the name's letter prefix);
  XD 0 iff ``_label_A`` (anomaly codes = the ``_label_`` suffix without ``0``).
- Annotations: UCF ``Temporal_Anomaly_Annotation_for_Testing_Videos.txt`` lines ``name class s1 e1
  s2 e2`` (−1 = none), frames [s, e] inclusive; XD ``xd.list`` lines ``video s1 e1 [s2 e2 …]``,
  frames [s, e) (the official builder), possibly without a final newline.
- Ground truth ``gt-*.npy``: flat 0/1 over the test videos in list order, 16 frames per snippet,
  length 16·ΣT.

Every problem raises :class:`~vad_kedro.core.errors.DataError` naming the file, before training.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vad_kedro.core.errors import DataError

logger = logging.getLogger(__name__)

SNIPPET = 16
INDEX_COLUMNS = ["video_id", "split", "source_path", "n_frames", "fps", "height", "width", "video_label",
                 "anomaly_types"]
LABEL_COLUMNS = ["video_id", "frame", "label", "anomaly_type"]
_CROP = re.compile(r"^(?P<stem>.+)__(?P<crop>\d+)$")


# ------------------------------------------------------------------------------------ feature files
def _check_finite(arr: np.ndarray, path: str, chunk: int = 256) -> None:
    for start in range(0, arr.shape[0], chunk):
        if not np.isfinite(arr[start: start + chunk]).all():
            raise DataError(path, "features contain NaN or inf")


def _load_array(path: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise DataError(path, "feature file does not exist")
    try:
        return np.load(p, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # corrupt header, pickled object array, ...
        raise DataError(path, f"cannot read as a .npy array ({exc})") from exc


def load_features(paths: list[str], style: str) -> np.ndarray:
    """Load one video's I3D features as float32 (T, N, C).

    ``style`` ``ucf``: one (T, N, C) file (10 crops as released). ``xd``: N crop files of (T, C)
    stacked in the given (c) order, or one stacked (T, N, C) file. Raises DataError naming the file
    on a missing file, a wrong rank, unequal T or C across crops, or NaN / inf values.
    """
    if style not in ("ucf", "xd"):
        raise ValueError(f"style must be 'ucf' or 'xd', got {style!r}")
    if not paths:
        raise DataError("<no path>", "no feature file given")
    if len(paths) == 1:
        arr = _load_array(paths[0])
        if arr.ndim == 2 and style == "xd":
            arr = arr[:, None, :]
        if arr.ndim != 3:
            raise DataError(paths[0], f"expected a (T, n_crops, C) array, got shape {arr.shape}")
        if arr.shape[0] < 1:
            raise DataError(paths[0], "has no snippets (T = 0)")
        _check_finite(arr, paths[0])
        return np.asarray(arr, dtype=np.float32)
    if style == "ucf":
        raise DataError(paths[0], f"UCF features come as one (T, 10, C) file per video, got {len(paths)} files")
    crops = []
    for p in paths:
        arr = _load_array(p)
        if arr.ndim == 3 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 2:
            raise DataError(p, f"expected a (T, C) crop array, got shape {arr.shape}")
        if crops and arr.shape[0] != crops[0].shape[0]:
            raise DataError(p, f"has T = {arr.shape[0]} snippets but crop {paths[0]} has {crops[0].shape[0]}")
        if crops and arr.shape[1] != crops[0].shape[1]:
            raise DataError(p, f"has dim {arr.shape[1]} but crop {paths[0]} has {crops[0].shape[1]}")
        if arr.shape[0] < 1:
            raise DataError(p, "has no snippets (T = 0)")
        _check_finite(arr, p)
        crops.append(np.asarray(arr, dtype=np.float32))
    return np.stack(crops, axis=1)


def _feature_shape(paths: list[str], style: str) -> tuple[int, int, int]:
    """(T, N, C) from the headers only (memory-mapped), with the checks of :func:`load_features`."""
    if len(paths) == 1:
        arr = _load_array(paths[0])
        shape = (arr.shape[0], 1, arr.shape[1]) if (arr.ndim == 2 and style == "xd") else arr.shape
        if len(shape) != 3:
            raise DataError(paths[0], f"expected a (T, n_crops, C) array, got shape {arr.shape}")
        return tuple(int(s) for s in shape)
    shapes = []
    for p in paths:
        arr = _load_array(p)
        shape = arr.shape[:1] + arr.shape[2:] if (arr.ndim == 3 and arr.shape[1] == 1) else arr.shape
        if len(shape) != 2:
            raise DataError(p, f"expected a (T, C) crop array, got shape {arr.shape}")
        if shapes and shape[0] != shapes[0][0]:
            raise DataError(p, f"has T = {shape[0]} snippets but crop {paths[0]} has {shapes[0][0]}")
        if shapes and shape[1] != shapes[0][1]:
            raise DataError(p, f"has dim {shape[1]} but crop {paths[0]} has {shapes[0][1]}")
        shapes.append(shape)
    return int(shapes[0][0]), len(paths), int(shapes[0][1])


# --------------------------------------------------------------------------------------------- lists
def read_list(path: str | Path) -> list[str]:
    """Non-empty, stripped lines of a list file (a missing final newline is fine)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "list file does not exist")
    return [line.strip() for line in p.read_text().splitlines() if line.strip()]


def video_stem(entry: str) -> tuple[str, int | None]:
    """(video stem, crop index or None) of a list entry: basename without ``.npy``, ``_i3d`` and ``__c``."""
    name = Path(entry.replace("\\", "/")).name
    for ext in (".npy", ".mp4", ".avi"):
        name = name.removesuffix(ext)
    m = _CROP.match(name)
    crop = None
    if m:
        name, crop = m.group("stem"), int(m.group("crop"))
    if name.endswith("_i3d"):
        name = name[:-4]
    return name, crop


def video_label(stem: str, style: str) -> tuple[int, str]:
    """(video label, anomaly types) from the name: UCF ``Normal_Videos`` → 0, class = letter prefix;
    XD ``_label_A`` → 0, types = the label codes (``B1-0-0`` → ``B1``)."""
    if style == "ucf":
        if "Normal_Videos" in stem:
            return 0, ""
        m = re.match(r"[A-Za-z]+", stem)
        return 1, (m.group(0) if m else "")
    if "_label_A" in stem:
        return 0, ""
    codes = stem.rsplit("_label_", 1)[1] if "_label_" in stem else ""
    return 1, ",".join(c for c in codes.split("-") if c and c not in ("0", "A"))


def group_list(entries: Iterable[str], root: Path, feature_dir: str | None, style: str,
               list_path: str) -> list[tuple[str, list[str]]]:
    """Group list entries into videos in list order: [(stem, [paths in crop order])].

    UCF: one entry per video. XD: entries ``<video>__<c>`` grouped by stem, crops sorted by c and
    required to be 0..N−1; an entry without ``__c`` is a stacked file.
    """
    videos: dict[str, dict[int | None, str]] = {}
    for entry in entries:
        stem, crop = video_stem(entry)
        path = _resolve(entry, root, feature_dir)
        crops = videos.setdefault(stem, {})
        if crop in crops:
            raise DataError(list_path, f"{Path(entry).name}: duplicate entry for video {stem}")
        crops[crop] = path
    out = []
    for stem, crops in videos.items():
        if None in crops:
            if len(crops) > 1:
                raise DataError(list_path, f"video {stem} is listed both stacked and per crop")
            out.append((stem, [crops[None]]))
            continue
        idx = sorted(crops)
        if style == "ucf" and len(idx) > 1:
            raise DataError(list_path, f"UCF video {stem} has several crop files")
        if idx != list(range(len(idx))):
            raise DataError(crops[idx[0]], f"crop files of video {stem} are {idx}, expected 0..{len(idx) - 1}")
        out.append((stem, [crops[c] for c in idx]))
    return out


def _resolve(entry: str, root: Path, feature_dir: str | None) -> str:
    name = Path(entry.replace("\\", "/")).name
    if feature_dir is not None:
        return str(root / feature_dir / name)
    p = Path(entry)
    return str(p if p.is_absolute() else root / p)


# --------------------------------------------------------------------------------------- annotations
def read_ucf_annotations(path: str | Path) -> dict[str, tuple[str, list[tuple[int, int]]]]:
    """UCF ``Temporal_Anomaly_Annotation_for_Testing_Videos.txt`` → {stem: (class, [(s, e), …])}; −1 = none."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "annotation file does not exist")
    out = {}
    for n, line in enumerate(p.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 6:
            raise DataError(p, f"line {n}: expected 'name class s1 e1 s2 e2', got {line!r}")
        try:
            nums = [int(v) for v in parts[2:6]]
        except ValueError as exc:
            raise DataError(p, f"line {n}: non-integer frame in {line!r}") from exc
        events = [(s, e) for s, e in zip(nums[::2], nums[1::2], strict=True) if s >= 0 and e >= 0]
        out[video_stem(parts[0])[0]] = (parts[1], events)
    return out


def read_xd_annotations(path: str | Path) -> dict[str, tuple[str, list[tuple[int, int]]]]:
    """XD ``xd.list`` → {video: ("", [(s, e), …])}; lines ``video s1 e1 [s2 e2 …]`` (no final newline needed)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "annotation file does not exist")
    out = {}
    for n, line in enumerate(p.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) % 2 == 0:
            raise DataError(p, f"line {n}: expected 'video s1 e1 [s2 e2 ...]', got {line!r}")
        try:
            nums = [int(v) for v in parts[1:]]
        except ValueError as exc:
            raise DataError(p, f"line {n}: non-integer frame in {line!r}") from exc
        out[video_stem(parts[0])[0]] = ("", list(zip(nums[::2], nums[1::2], strict=True)))
    return out


def build_frame_gt(events: list[tuple[int, int]], n_snippets: int, style: str) -> np.ndarray:
    """uint8 (16·T,) frame labels: UCF marks [s, e] inclusive, XD [s, e) (official builders), cut to 16·T."""
    gt = np.zeros(SNIPPET * n_snippets, dtype=np.uint8)
    for s, e in events:
        end = e + 1 if style == "ucf" else e
        gt[max(s, 0): max(min(end, len(gt)), 0)] = 1
    return gt


def check_gt_npy(gt: np.ndarray, n_snippets: list[int], labels: list[int], stems: list[str], path: str) -> None:
    """A ``gt-*.npy`` must have 16·ΣT entries in list order and a positive frame in every abnormal video."""
    total = SNIPPET * int(sum(n_snippets))
    if gt.ndim != 1 or len(gt) != total:
        raise DataError(path, f"ground truth has shape {gt.shape}, expected ({total},) = 16 x {sum(n_snippets)} "
                              "test snippets in list order")
    offset = 0
    for t, label, stem in zip(n_snippets, labels, stems, strict=True):
        seg = gt[offset: offset + SNIPPET * t]
        if label == 1 and not np.any(seg > 0):
            raise DataError(path, f"abnormal test video {stem} has no positive frame (wrong or shifted gt file)")
        offset += SNIPPET * t


# ------------------------------------------------------------------------------------------- index
def index_i3d_dataset(dataset: Mapping[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Index a UCF-Crime / XD-Violence I3D feature release: (video_index, frame_labels).

    ``dataset``: {format: i3d_features, style: ucf|xd, root, train_list, test_list, feature_dir
    (str, or {train: …, test: …}, or null to use the list paths), annotations, gt_npy (optional),
    n_crops, feature_dim, check_finite (default true), n_abnormal_train (optional)}. Video ids are
    ``train_<stem>`` / ``test_<stem>``; ``source_path`` joins the crop paths with ``|``; n_frames =
    16·T; fps = ``dataset.fps`` (UCF-Crime 30, XD-Violence 24). Frame labels come from the annotations (or from ``gt_npy`` when no annotation file
    is given); ``gt_npy`` is checked against 16·ΣT and the abnormal videos when present.
    """
    style = str(dataset.get("style", "ucf")).lower()
    if style not in ("ucf", "xd"):
        raise DataError("dataset.style", f"must be 'ucf' or 'xd', got {style!r}")
    root = Path(dataset.get("root", "."))
    fdir = dataset.get("feature_dir")
    n_crops, dim = dataset.get("n_crops"), dataset.get("feature_dim")
    check_finite = bool(dataset.get("check_finite", True))

    rows, test_videos = [], []
    expected: tuple[int, int] | None = (int(n_crops), int(dim)) if n_crops and dim else None
    first_path = None
    for split in ("train", "test"):
        list_path = root / dataset[f"{split}_list"]
        split_dir = fdir.get(split) if isinstance(fdir, Mapping) else fdir
        videos = group_list(read_list(list_path), root, split_dir, style, str(list_path))
        labels_in_order = []
        for stem, paths in videos:
            for p in paths:
                if not Path(p).is_file():
                    raise DataError(p, f"listed in {list_path} but the feature file does not exist")
            t, n, c = _feature_shape(paths, style)
            if expected is None:
                expected, first_path = (n, c), paths[0]
            elif (n, c) != expected:
                what = "declared dataset.n_crops/feature_dim" if first_path is None else f"{first_path}"
                raise DataError(paths[0], f"(n_crops, dim) = {(n, c)} differs from {expected} of {what}")
            if check_finite:
                load_features(paths, style)
            label, types = video_label(stem, style)
            labels_in_order.append(label)
            rows.append({"video_id": f"{split}_{stem}", "split": split, "source_path": "|".join(paths),
                         "n_frames": SNIPPET * t, "fps": float(dataset["fps"]), "height": 0, "width": 0, "video_label": label,
                         "anomaly_types": types, "_stem": stem, "_t": t})
            if split == "test":
                test_videos.append(rows[-1])
        if split == "train":
            _check_train_order(labels_in_order, list_path, dataset.get("n_abnormal_train"))
    index = pd.DataFrame(rows)
    frame_labels = _test_labels(test_videos, dataset, root, style)
    logger.info("I3D %s: %d train + %d test videos, (n_crops, dim) = %s, %d test frames (%.1f%% abnormal)",
                style, int((index.split == "train").sum()), len(test_videos), expected, len(frame_labels),
                100.0 * float(frame_labels["label"].mean()) if len(frame_labels) else 0.0)
    return index[INDEX_COLUMNS].reset_index(drop=True), frame_labels[LABEL_COLUMNS]


def _check_train_order(labels: list[int], list_path: Path, n_abnormal: int | None) -> None:
    """The released loaders cut the train list at a fixed index (UCF 810, XD 9525 lines): check it."""
    n_abn = int(sum(labels))
    if any(labels[i] == 0 and labels[i + 1] == 1 for i in range(len(labels) - 1)):
        logger.warning("%s: abnormal videos are not all listed first; the released loaders' index split would "
                       "mislabel videos (labels here come from the names)", list_path)
    if n_abnormal is not None and int(n_abnormal) != n_abn:
        raise DataError(list_path, f"{n_abn} abnormal videos by name, expected n_abnormal_train = {n_abnormal}")


def _test_labels(videos: list[dict], dataset: Mapping[str, Any], root: Path, style: str) -> pd.DataFrame:
    stems = [v["_stem"] for v in videos]
    ts = [int(v["_t"]) for v in videos]
    labels = [int(v["video_label"]) for v in videos]
    gt_path = dataset.get("gt_npy")
    gt = None
    if gt_path:
        gp = root / gt_path
        if not gp.is_file():
            raise DataError(gp, "ground-truth file does not exist")
        gt = np.load(gp, allow_pickle=False)
        check_gt_npy(gt, ts, labels, stems, str(gp))
    ann_path = dataset.get("annotations")
    events = None
    if ann_path:
        events = (read_ucf_annotations if style == "ucf" else read_xd_annotations)(root / ann_path)
    elif gt is None:
        raise DataError("dataset.annotations", "I3D datasets need an annotation file or a gt_npy file")

    frames, offset = [], 0
    for v, stem, t, label in zip(videos, stems, ts, labels, strict=True):
        if events is not None:
            cls, ev = events.get(stem, ("", []))
            if label == 1 and stem not in events:
                raise DataError(root / ann_path, f"abnormal test video {stem} has no annotation line")
            y = build_frame_gt(ev, t, style) if label == 1 else np.zeros(SNIPPET * t, dtype=np.uint8)
            if label == 1 and not y.any():
                raise DataError(root / ann_path, f"abnormal test video {stem} has no positive frame within "
                                                 f"its {SNIPPET * t} feature frames")
            if gt is not None:
                diff = int(np.sum(gt[offset: offset + SNIPPET * t].astype(bool) != y.astype(bool)))
                if diff:
                    logger.warning("%s: gt_npy differs from the annotations on %d frames", stem, diff)
        else:
            y = (gt[offset: offset + SNIPPET * t] > 0).astype(np.uint8)
        offset += SNIPPET * t
        types = v["anomaly_types"]
        if events is not None and label == 1 and events.get(stem, ("", []))[0]:
            types = events[stem][0]
        frames.append(pd.DataFrame({"video_id": v["video_id"], "frame": np.arange(SNIPPET * t, dtype=np.int32),
                                    "label": y.astype(np.int8), "anomaly_type": np.where(y > 0, types, "")}))
    if not frames:
        return pd.DataFrame(columns=LABEL_COLUMNS)
    return pd.concat(frames, ignore_index=True)
