"""Preprocessing: find (or generate) the dataset, index its videos, decode frames, split train/val."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from vad_kedro.core.errors import DataError
from vad_kedro.core.layout import check_layout
from vad_kedro.core.params import DatasetParams, PreprocessingParams
from vad_kedro.io import readers

logger = logging.getLogger(__name__)

INDEX_COLUMNS = ["video_id", "split", "source_path", "n_frames", "fps", "height", "width", "video_label", "anomaly_types"]
LABEL_COLUMNS = ["video_id", "frame", "label", "anomaly_type"]
_SPLIT_NAMES = {"training": "train", "train": "train", "testing": "test", "test": "test"}


def prepare_raw(dataset: DatasetParams) -> dict[str, Any]:
    """Make sure the dataset is in ``dataset.root``: generate the synthetic benchmark when asked.

    ``dataset`` is validated by Kedro before the run starts (:class:`~vad_kedro.core.params.DatasetParams`).

    Returns a manifest (root, format, name, and the generator's manifest when synthetic).
    """
    root = Path(dataset["root"])
    manifest: dict[str, Any] = {"name": dataset["name"], "root": str(root),
                                "format": dataset["format"]}
    synthetic = dataset["synthetic"]
    if synthetic:
        from vad_kedro.synth import generate_benchmark

        manifest["synthetic"] = generate_benchmark(root, size=synthetic["size"],
                                                   seed=int(synthetic["seed"]),
                                                   overrides=synthetic.get("overrides"))
    else:
        check_layout(dataset)   # a missing or incomplete folder: what is missing and the expected tree
    return manifest


def _video_labels(dataset: dict, root: Path) -> pd.DataFrame | None:
    name = dataset["video_labels_csv"]
    if not name:
        return None
    df = readers.read_video_labels_csv(root / name)
    df["video_id"] = df["split"].map(_SPLIT_NAMES).fillna(df["split"]) + "_" + df["video"].astype(str)
    return df.set_index("video_id")


def _frame_types(dataset: dict, root: Path, video_id: str, labels: np.ndarray, events: pd.DataFrame | None) -> list[str]:
    types = np.full(len(labels), "", dtype=object)
    if events is not None:
        for ev in events[events["video_id"] == video_id].itertuples():
            lo, hi = int(ev.start_frame), int(ev.end_frame)
            types[lo : hi + 1] = np.where(types[lo : hi + 1] == "", ev.anomaly_type, types[lo : hi + 1])
    types[labels == 0] = ""
    return list(types)


def build_video_index(raw_manifest: dict[str, Any], dataset: DatasetParams,
                      preprocessing: PreprocessingParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Index every video (split, frames, size, video label) and build the test frame labels.

    All checks that need no decoding happen here, before any heavy work: missing folders, empty
    videos, zero-length frames, test videos without labels, label length different from frame count.
    """
    root = Path(raw_manifest["root"])
    if raw_manifest.get("format") == "i3d_features":
        from vad_kedro.io.i3d import index_i3d_dataset

        index, labels = index_i3d_dataset(dataset)
        return index[INDEX_COLUMNS], labels[LABEL_COLUMNS]

    videos = readers.discover_videos(dataset)
    weak = _video_labels(dataset, root)
    events = None
    if dataset["events_csv"]:
        events = readers.read_events_csv(root / dataset["events_csv"])
        events["video_id"] = events["split"].map(_SPLIT_NAMES).fillna(events["split"]) + "_" + events["video"]

    size = preprocessing["working_size"]
    min_frames = int(preprocessing["min_frames"])
    rows, label_frames = [], []
    for v in videos:
        if v.n_frames < min_frames:
            raise DataError(v.path, f"has {v.n_frames} frames, fewer than preprocessing.min_frames={min_frames}")
        h, w = size if size else _first_frame_size(v)
        video_label = int(v.labels.max()) if v.labels is not None else 0   # training videos: normal unless re-split
        types = ""
        if weak is not None and v.video_id in weak.index:
            video_label = int(weak.loc[v.video_id, "label"])
            types = str(weak.loc[v.video_id, "anomaly_types"]).replace(";", ",")
        if v.split == "test":
            ftypes = _frame_types(dataset, root, v.video_id, v.labels, events)
            if not types:
                types = ",".join(sorted({t for t in ftypes if t}))
            label_frames.append(pd.DataFrame({"video_id": v.video_id, "frame": np.arange(v.n_frames, dtype=np.int32),
                                              "label": v.labels.astype(np.int8), "anomaly_type": ftypes}))
        rows.append({"video_id": v.video_id, "split": v.split, "source_path": str(v.path), "n_frames": v.n_frames,
                     "fps": float(dataset["fps"]), "height": int(h), "width": int(w),
                     "video_label": video_label, "anomaly_types": types})
    index = pd.DataFrame(rows, columns=INDEX_COLUMNS)
    labels = pd.concat(label_frames, ignore_index=True)[LABEL_COLUMNS]
    logger.info("indexed %d videos (%d train, %d test), %d test frames (%.1f%% abnormal)", len(index),
                int((index.split == "train").sum()), int((index.split == "test").sum()), len(labels),
                100.0 * labels["label"].mean())
    return index, labels


def _first_frame_size(video: readers.VideoSource) -> tuple[int, int]:
    if video.frame_files:
        return readers.read_frame(video.frame_files[0]).shape[:2]
    cap = cv2.VideoCapture(str(video.path))
    ok, img = cap.read()
    cap.release()
    if not ok:
        raise DataError(video.path, "cannot decode the first frame")
    return img.shape[0], img.shape[1]


def split_train_val(index: pd.DataFrame, preprocessing: PreprocessingParams, seed: int) -> pd.DataFrame:
    """Carve a validation split from the training videos, stratified by video label, reproducibly."""
    index = index.copy()
    train = index[index["split"] == "train"]
    fraction = float(preprocessing["val_fraction"])
    if fraction <= 0 or len(train) < 2:
        return index
    counts = train["video_label"].value_counts()
    stratify = train["video_label"] if counts.min() >= 2 else None
    n_val = max(1, int(round(fraction * len(train))))
    if stratify is not None:
        n_val = max(n_val, len(counts))
    _, val_ids = train_test_split(train["video_id"].to_numpy(), test_size=n_val, random_state=seed, stratify=stratify)
    index.loc[index["video_id"].isin(val_ids), "split"] = "val"
    return index


def _sources(index: pd.DataFrame, dataset: dict) -> dict[str, readers.VideoSource]:
    """Rebuild each video's source from the index (no label files re-read)."""
    out = {}
    for row in index.itertuples():
        path = Path(row.source_path)
        split = "test" if row.split == "test" else "train"
        files = readers.list_frames(path, dataset["frames_glob"]) if path.is_dir() else []
        out[row.video_id] = readers.VideoSource(row.video_id, split, path.stem if path.is_file() else path.name,
                                                path, files, int(row.n_frames))
        if split == "test":
            out[row.video_id].mask_source = readers.mask_source(dataset, out[row.video_id])
    return out


def _frames_loader(video: readers.VideoSource, size: tuple[int, int] | None) -> Callable[[], np.ndarray]:
    return lambda: readers.read_video_frames(video, size)


def decode_frames(video_index: pd.DataFrame, dataset: DatasetParams,
                  preprocessing: PreprocessingParams) -> dict[str, Callable[[], np.ndarray]]:
    """Per-video frames at the working resolution, uint8 [T,H,W,3] RGB, saved lazily one video at a time."""
    if dataset["format"] == "i3d_features":
        return {}
    size = preprocessing["working_size"]
    return {vid: _frames_loader(v, size) for vid, v in _sources(video_index, dataset).items()}


def _masks_loader(video: readers.VideoSource, size: tuple[int, int] | None) -> Callable[[], np.ndarray]:
    return lambda: readers.read_pixel_masks(video, size)


def decode_pixel_masks(video_index: pd.DataFrame, dataset: DatasetParams,
                       preprocessing: PreprocessingParams) -> dict[str, Callable[[], np.ndarray]]:
    """Pixel masks of the test videos that have them (empty dict when the dataset has none)."""
    if dataset["format"] == "i3d_features":
        return {}
    size = preprocessing["working_size"]
    tests = video_index[video_index["split"] == "test"]
    return {vid: _masks_loader(v, size) for vid, v in _sources(tests, dataset).items() if v.mask_source is not None}


REGION_COLUMNS = ["video_id", "frame", "track_id", "x1", "y1", "x2", "y2"]


def mask_regions(masks: np.ndarray) -> pd.DataFrame:
    """Boxes (frame, x1, y1, x2, y2; pixel edges) of the 8-connected components of 0/1 masks [T,H,W]."""
    rows = []
    for t, m in enumerate(masks):
        n, _, stats, _ = cv2.connectedComponentsWithStats(np.ascontiguousarray(m, dtype=np.uint8), connectivity=8)
        rows += [(t, x, y, x + w, y + h) for x, y, w, h, _area in stats[1:n]]
    return pd.DataFrame(rows, columns=["frame", "x1", "y1", "x2", "y2"])


def anomaly_regions(video_index: pd.DataFrame, pixel_masks: dict[str, Callable[[], np.ndarray]],
                    dataset: DatasetParams, preprocessing: PreprocessingParams) -> pd.DataFrame:
    """Ground-truth anomalous regions of the test videos (the RBDC / TBDC reference), working pixels.

    From ``dataset.anomaly_regions_csv`` (boxes with track ids) when set; else from the connected components
    of the pixel masks, one region each, with ``track_id`` -1 (no tracks: TBDC is undefined); else none.
    Columns video_id, frame, track_id, x1, y1, x2, y2.
    """
    tests = video_index[video_index["split"] == "test"]
    if dataset["format"] == "i3d_features":
        return pd.DataFrame(columns=REGION_COLUMNS)
    if dataset.get("anomaly_regions_csv"):
        df = readers.read_regions_csv(Path(dataset["root"]) / dataset["anomaly_regions_csv"])
        df["video_id"] = df["split"].map(_SPLIT_NAMES).fillna(df["split"]) + "_" + df["video"]
        df = df[df["video_id"].isin(set(tests["video_id"]))].copy()
        if preprocessing["working_size"]:
            sources = _sources(tests, dataset)
            for vid, rows in df.groupby("video_id").groups.items():
                h, w = _first_frame_size(sources[vid])
                row = tests.set_index("video_id").loc[vid]
                df.loc[rows, ["x1", "x2"]] *= row["width"] / w
                df.loc[rows, ["y1", "y2"]] *= row["height"] / h
        source = f"{dataset['anomaly_regions_csv']} ({df[['video_id', 'track_id']].drop_duplicates().shape[0]} tracks)"
    else:
        parts = [mask_regions(load()).assign(video_id=vid) for vid, load in sorted(pixel_masks.items())]
        df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=REGION_COLUMNS)
        df["track_id"] = -1
        source = "pixel masks (no track ids)" if parts else "nowhere: the dataset has neither regions nor pixel masks"
    df = df[REGION_COLUMNS].astype({"frame": np.int64, "track_id": np.int64, **dict.fromkeys(REGION_COLUMNS[3:], float)})
    logger.info("anomaly regions: %d boxes in %d test videos, from %s", len(df), df["video_id"].nunique(), source)
    return df.reset_index(drop=True)
