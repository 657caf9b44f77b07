"""Readers for video anomaly datasets in the formats their distributions use.

Supported layouts (``dataset.format``):

- ``frame_folder``: ``<root>/training/frames/<video>/<n>.jpg`` and ``<root>/testing/frames/<video>/…``
  (UCSD Ped2, CUHK Avenue and ShanghaiTech distributions, and the embedded synthetic benchmark);
- ``ucsd``: the official UCSD layout ``UCSDped2/Train/Train001/001.tif``, ``Test/Test001/…``,
  ``Test/Test001_gt/*.bmp`` and ``Test/UCSDped2.m``;
- ``video_files``: ``<root>/training_videos/01.avi`` and ``<root>/testing_videos/01.avi`` (Avenue).

In every layout a split folder holds either one frame folder or one video file per video, so the
ShanghaiTech distribution (``training/videos/01_001.avi``, ``testing/frames/01_0014/000.jpg``) reads as it is.
``dataset.split_list`` re-splits the videos (e.g. the weakly supervised ShanghaiTech split of Zhong et
al. 2019), see :func:`read_split_list`.

Test frame labels (``dataset.labels.kind``):

- ``npy_masks``: one 0/1 ``.npy`` array per test video (ShanghaiTech ``test_frame_mask/``);
- ``mat``: a ``.mat`` file whose ``gt`` cell array holds, per test video in sorted order, a 2×k array of
  1-based inclusive [start; end] frame ranges (``ped2.mat``, ``avenue.mat``);
- ``ucsd_m``: the ``UCSDped2.m`` lines ``TestVideoFile{end+1}.gt_frame = [61:180];``;
- ``ucsd_gt_bmp``: a frame is abnormal when its ``TestNNN_gt/*.bmp`` mask has any foreground pixel.

Every problem raises :class:`~vad_kedro.core.errors.DataError` naming the file.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import scipy.io

from vad_kedro.core.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp")
VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".mkv")


@dataclass
class VideoSource:
    """One video of a dataset: where its frames are and what is known about its labels."""

    video_id: str
    split: str  # train | test
    name: str
    path: Path
    frame_files: list[Path] = field(default_factory=list)  # empty for video files
    n_frames: int = 0
    labels: np.ndarray | None = None  # uint8 [T] for test videos
    mask_source: Path | None = None  # folder of per-frame masks or a .npy of [T,H,W]


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def list_frames(folder: Path, pattern: str = "*") -> list[Path]:
    """Image files of one frame folder in natural order (``2.jpg`` before ``10.jpg``)."""
    files = [p for p in folder.glob(pattern) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return sorted(files, key=_natural_key)


def _video_dirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DataError(folder, "folder not found (check dataset.root and the train/test folder parameters)")
    return sorted((d for d in folder.iterdir() if d.is_dir()), key=_natural_key)


def count_video_frames(path: Path) -> int:
    """Number of decodable frames of a video file (decodes it once).

    A truncated or corrupt file decodes fewer frames than its container declares: that is a
    DataError. Container counts of some formats are estimates (mp4: duration × fps), so a
    shortfall of up to ``max(1, 2 %)`` frames is accepted.
    """
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DataError(path, "cannot open video file (truncated, corrupt or not a video)")
    declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    if declared > 0 and n < declared - max(1, declared // 50):
        raise DataError(path, f"truncated or corrupt video: only {n} of the {declared} frames its container "
                              "declares can be decoded (replace the file)")
    return n


# ----------------------------------------------------------------------------------- labels
def ranges_to_labels(ranges: np.ndarray, n_frames: int, where: str | Path) -> np.ndarray:
    """0/1 labels from a 2×k array of 1-based inclusive [start; end] frame ranges."""
    labels = np.zeros(n_frames, dtype=np.uint8)
    ranges = np.asarray(ranges, dtype=np.int64).reshape(2, -1) if np.size(ranges) else np.zeros((2, 0), int)
    for start, end in ranges.T:
        if start < 1 or end < start or end > n_frames:
            raise DataError(where, f"label range [{start}, {end}] does not fit a video of {n_frames} frames")
        labels[start - 1 : end] = 1
    return labels


def read_mat_ranges(path: Path) -> list[np.ndarray]:
    """The ``gt`` cell array of ``ped2.mat`` / ``avenue.mat``: one 2×k range array per test video."""
    if not path.is_file():
        raise DataError(path, "label file not found")
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises several types for corrupt files
        raise DataError(path, f"cannot read .mat file ({exc})") from exc
    if "gt" not in mat:
        raise DataError(path, "no 'gt' variable (expected a 1×N cell array of [start; end] ranges)")
    cells = np.asarray(mat["gt"]).reshape(-1)
    return [np.asarray(c) for c in cells]


_UCSD_M_LINE = re.compile(r"gt_frame\s*=\s*\[([^\]]*)\]")


def read_ucsd_m(path: Path) -> list[np.ndarray]:
    """Range arrays from ``UCSDped2.m``; ``[61:180]`` or ``[1:10, 50:60]`` per test video."""
    if not path.is_file():
        raise DataError(path, "label file not found")
    out = []
    for line in path.read_text(errors="replace").splitlines():
        match = _UCSD_M_LINE.search(line)
        if not match:
            continue
        cols = []
        for part in re.split(r"[,\s]+", match.group(1).strip()):
            if not part:
                continue
            bounds = part.split(":")
            if len(bounds) != 2 or not all(b.strip().isdigit() for b in bounds):
                raise DataError(path, f"cannot parse range '{part}' in line: {line.strip()}")
            cols.append([int(bounds[0]), int(bounds[1])])
        out.append(np.asarray(cols, dtype=np.int64).T.reshape(2, -1))
    if not out:
        raise DataError(path, "no 'gt_frame = [a:b]' lines found")
    return out


def read_npy_labels(path: Path) -> np.ndarray:
    """A per-video 0/1 frame label array (ShanghaiTech ``test_frame_mask/<video>.npy``)."""
    if not path.is_file():
        raise DataError(path, "label file not found for this test video")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise DataError(path, f"cannot read .npy labels ({exc})") from exc
    arr = np.asarray(arr).reshape(-1)
    if arr.size and not np.isin(arr, (0, 1)).all():
        raise DataError(path, "labels must be 0/1")
    return arr.astype(np.uint8)


def labels_from_gt_bmp(folder: Path) -> np.ndarray:
    """Frame labels from a UCSD ``TestNNN_gt`` folder of binary masks."""
    files = list_frames(folder)
    if not files:
        raise DataError(folder, "no mask images")
    out = np.zeros(len(files), dtype=np.uint8)
    for i, f in enumerate(files):
        img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise DataError(f, "cannot decode mask image")
        out[i] = int(img.max() > 0)
    return out


# ----------------------------------------------------------------------------------- layouts
def _split_videos(folder: Path, split: str, pattern: str) -> list[VideoSource]:
    """The videos of one split folder: its video files, or else its frame folders (one per video)."""
    dirs = _video_dirs(folder)
    files = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES),
                   key=_natural_key)
    if files:
        return [VideoSource(f"{split}_{p.stem}", split, p.stem, p, [], count_video_frames(p)) for p in files]
    videos = []
    for d in dirs:
        frames = list_frames(d, pattern)
        videos.append(VideoSource(f"{split}_{d.name}", split, d.name, d, frames, len(frames)))
    return videos


def _attach_labels(root: Path, dataset: dict, tests: list[VideoSource]) -> None:
    spec = dataset.get("labels") or {}
    kind = spec.get("kind")
    path = root / spec["path"] if spec.get("path") else None
    if kind == "npy_masks":
        for v in tests:
            v.labels = read_npy_labels(path / f"{v.name}.npy")
    elif kind in ("mat", "ucsd_m"):
        ranges = read_mat_ranges(path) if kind == "mat" else read_ucsd_m(path)
        if len(ranges) != len(tests):
            raise DataError(path, f"holds labels for {len(ranges)} test videos but {len(tests)} were found")
        for v, r in zip(tests, ranges):
            v.labels = ranges_to_labels(r, v.n_frames, f"{path} (video {v.name})")
    elif kind == "ucsd_gt_bmp":
        for v in tests:
            gt = v.path.parent / f"{v.name}_gt"
            if not gt.is_dir():
                raise DataError(gt, "ground-truth mask folder missing for this test video")
            v.labels = labels_from_gt_bmp(gt)
    else:
        raise DataError(f"dataset.labels.kind={kind!r}", "unknown label format (npy_masks | mat | ucsd_m | ucsd_gt_bmp)")
    for v in tests:
        v.mask_source = mask_source(dataset, v)


def mask_source(dataset: dict, video: VideoSource) -> Path | None:
    """Where a test video's pixel masks are: a ``TestNNN_gt`` folder (UCSD) or ``<pixel_masks>/<video>.npy``."""
    gt = video.path.parent / f"{video.name}_gt"
    if (dataset.get("labels") or {}).get("kind") == "ucsd_gt_bmp" or (dataset.get("format") == "ucsd" and gt.is_dir()):
        return gt if gt.is_dir() else None
    if dataset.get("pixel_masks"):
        candidate = Path(dataset["root"]) / dataset["pixel_masks"] / f"{video.name}.npy"
        return candidate if candidate.is_file() else None
    return None


def discover_videos(dataset: dict) -> list[VideoSource]:
    """All videos of a dataset with their test labels, validated (no frame is decoded here)."""
    root = Path(dataset["root"])
    if not root.is_dir():
        raise DataError(root, "dataset folder not found",
                        hint="set dataset.root, or put the data in data/01_raw (see README, 'Adding a real dataset')")
    fmt = dataset.get("format", "frame_folder")
    pattern = dataset.get("frames_glob", "*")
    if fmt == "frame_folder":
        train = _split_videos(root / dataset.get("train_dir", "training/frames"), "train", pattern)
        test = _split_videos(root / dataset.get("test_dir", "testing/frames"), "test", pattern)
    elif fmt == "ucsd":
        train = [v for v in _split_videos(root / dataset.get("train_dir", "Train"), "train", pattern)
                 if not v.name.endswith("_gt")]
        test = [v for v in _split_videos(root / dataset.get("test_dir", "Test"), "test", pattern)
                if not v.name.endswith("_gt")]
    elif fmt == "video_files":
        train = _split_videos(root / dataset.get("train_dir", "training_videos"), "train", pattern)
        test = _split_videos(root / dataset.get("test_dir", "testing_videos"), "test", pattern)
    else:
        raise DataError(f"dataset.format={fmt!r}", "unknown format (frame_folder | ucsd | video_files | i3d_features)")
    if not test:
        raise DataError(root, "no test videos found")
    for v in train + test:
        if v.n_frames == 0:
            raise DataError(v.path, "empty video: no frames found")
        for f in v.frame_files:
            check_frame_file(f)
    _attach_labels(root, dataset, test)
    for v in test:
        if len(v.labels) != v.n_frames:
            raise DataError(v.path, f"has {v.n_frames} frames but its labels have length {len(v.labels)}")
    if dataset.get("split_list"):
        return apply_split_list(train + test, root / dataset["split_list"])
    return train + test


_SPLITS = {"train": "train", "training": "train", "test": "test", "testing": "test"}


def read_split_list(path: Path) -> dict[str, tuple[str, int]]:
    """A split-list file: {video: (split, video label)}.

    One line per video, ``<video> <split> <label>`` separated by spaces or tabs: the video's folder
    or file name without extension (``01_0014``), ``train`` or ``test`` (``training`` / ``testing``
    too) and its video-level label, 1 when the video contains an anomaly anywhere, else 0. Blank lines
    and lines starting with ``#`` are ignored.
    """
    if not path.is_file():
        raise DataError(path, "split list not found (dataset.split_list)")
    out: dict[str, tuple[str, int]] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) != 3 or parts[1].lower() not in _SPLITS or parts[2] not in ("0", "1"):
            raise DataError(path, f"line {n}: expected '<video> <train|test> <0|1>', got {line.strip()!r}")
        if parts[0] in out:
            raise DataError(path, f"line {n}: video {parts[0]} is listed twice")
        out[parts[0]] = (_SPLITS[parts[1].lower()], int(parts[2]))
    if not out:
        raise DataError(path, "split list has no video lines")
    return out


def apply_split_list(videos: list[VideoSource], path: Path) -> list[VideoSource]:
    """Videos re-split as ``path`` lists them (:func:`read_split_list`), training videos first.

    Every video found must be listed and every listed video found. A video of the distribution's test
    split keeps its frame labels, and its list label must agree with them (1 iff a frame is abnormal);
    a video of the distribution's training split is normal (list label 0) and gets all-zero frame labels
    when it moves to test. Video ids follow the new split (``test_01_001``).
    """
    listed = read_split_list(path)
    found = {v.name: v for v in videos}
    if len(found) < len(videos):
        twice = sorted({v.name for v in videos if sum(w.name == v.name for w in videos) > 1})
        raise DataError(path, f"video names {', '.join(twice[:3])} occur in both the training and the test folder, "
                              "so a split list cannot name them (it needs names unique across the dataset)")
    unlisted = sorted(set(found) - set(listed))
    missing = sorted(set(listed) - set(found))
    if unlisted or missing:
        problems = []
        if missing:
            problems.append(f"{len(missing)} listed videos not found in the dataset (e.g. {', '.join(missing[:3])})")
        if unlisted:
            problems.append(f"{len(unlisted)} videos of the dataset not listed (e.g. {', '.join(unlisted[:3])})")
        raise DataError(path, "; ".join(problems) + " (the split list must name every video once)")
    out = []
    for name, (split, label) in listed.items():
        v = found[name]
        if v.labels is None and label == 1:
            raise DataError(path, f"video {name} is listed with label 1 but it is a training video of the "
                                  "distribution (normal)")
        labels = v.labels if v.labels is not None else np.zeros(v.n_frames, dtype=np.uint8)
        if int(labels.max(initial=0)) != label:
            raise DataError(path, f"video {name} is listed with label {label} but its frame labels say "
                                  f"{int(labels.max(initial=0))}")
        # labels stay with training videos too: they give the video label (frame labels are only used for test)
        out.append(VideoSource(f"{split}_{name}", split, name, v.path, v.frame_files, v.n_frames, labels,
                               v.mask_source if split == "test" else None))
    return sorted(out, key=lambda v: v.split != "train")


_PNG_END = bytes.fromhex("0000000049454e44ae426082")   # the IEND chunk that closes every PNG
_JPEG_START = b"\xff\xd8\xff"
#: libjpeg's warnings about damaged entropy-coded data ("Corrupt JPEG data: 202 extraneous bytes before
#: marker 0xd9", "Corrupt JPEG data: bad Huffman code", "Premature end of JPEG file"); it prints them on
#: stderr and decodes on (garbled blocks), and OpenCV neither sees nor reports them.
_LIBJPEG_CORRUPT = ("Corrupt JPEG data", "Premature end of JPEG file")
#: fd 2 is one per process: JPEG decodes that capture it take turns.
_STDERR_LOCK = threading.Lock()


def check_image_bytes(path: Path, data: bytes | np.ndarray) -> None:
    """Raise DataError when an encoded image is visibly cut short.

    libjpeg decodes a truncated JPEG, fills the missing rows with grey and only prints "Premature end
    of JPEG file" (no file name, no error), so a JPEG must end with its EOI marker (``FF D9``, trailing
    zero padding allowed) and a PNG with its IEND chunk. Truncated TIFF and BMP files already fail to
    decode.
    """
    head = bytes(data[:8])
    if head[:3] == _JPEG_START:
        tail = bytes(data[-4096:]).rstrip(b"\x00")
        if not tail.endswith(b"\xff\xd9"):
            raise DataError(path, "unreadable frame: truncated JPEG (no end-of-image marker); replace the file")
    elif head == b"\x89PNG\r\n\x1a\n" and not bytes(data[-12:]) == _PNG_END:
        raise DataError(path, "unreadable frame: truncated PNG (no IEND chunk); replace the file")


def check_frame_file(path: Path) -> None:
    """Cheap up-front check of one frame file (no decoding): not empty, not visibly truncated."""
    size = path.stat().st_size
    if size == 0:
        raise DataError(path, "unreadable frame: zero-length file")
    with open(path, "rb") as fh:
        head = fh.read(8)
        fh.seek(max(0, size - 4096))
        tail = fh.read()
    check_image_bytes(path, np.frombuffer(head + tail if size > 4096 else tail, dtype=np.uint8))


def decode_jpeg_strict(path: Path, data: np.ndarray) -> np.ndarray | None:
    """``cv2.imdecode`` of a JPEG, with a libjpeg warning about corrupt data raised as a DataError.

    A JPEG whose scan data is damaged but whose end marker is intact decodes with garbled blocks and
    only a libjpeg warning on stderr, so the C-level stderr (fd 2) is redirected to a temporary file
    around the decode; other text written there meanwhile (another thread's log line) is passed on.
    A corruption that libjpeg decodes without any warning is not seen.
    """
    with _STDERR_LOCK, tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        lines = sink.read().decode(errors="replace").splitlines()
    corrupt = [line for line in lines if line.startswith(_LIBJPEG_CORRUPT)]
    others = [line for line in lines if not line.startswith(_LIBJPEG_CORRUPT)]
    if others:
        os.write(2, ("\n".join(others) + "\n").encode())
    if corrupt:
        raise DataError(path, f"unreadable frame: corrupt JPEG data (libjpeg: {corrupt[0]}); replace the file")
    return img


def read_frame(path: Path) -> np.ndarray:
    """One RGB uint8 frame (grayscale sources become 3 identical channels); truncated or corrupt files are
    DataErrors."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError as exc:
        raise DataError(path, f"unreadable frame: {exc.strerror or exc}") from exc
    if data.size == 0:
        raise DataError(path, "unreadable frame: zero-length file")
    check_image_bytes(path, data)
    img = decode_jpeg_strict(path, data) if bytes(data[:3]) == _JPEG_START else cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise DataError(path, "unreadable frame: cannot decode image (truncated, corrupt or not an image)")
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if img.dtype != np.uint8:
        img = cv2.convertScaleAbs(img, alpha=255.0 / max(float(img.max()), 1.0))
    return img


def _resize(img: np.ndarray, size: tuple[int, int] | None, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    if size is None or tuple(img.shape[:2]) == tuple(size):
        return img
    return cv2.resize(img, (int(size[1]), int(size[0])), interpolation=interpolation)


def read_video_frames(video: VideoSource, size: tuple[int, int] | None = None) -> np.ndarray:
    """All frames of a video as uint8 [T,H,W,3] RGB, resized to ``size`` (H, W) when given."""
    frames = []
    if video.frame_files:
        # OpenCV releases the GIL while decoding: threads overlap reads and decodes (JPEG decodes take turns
        # on the captured stderr, see decode_jpeg_strict)
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            images = list(pool.map(read_frame, video.frame_files))
        first_shape = images[0].shape
        for f, img in zip(video.frame_files, images):
            if img.shape != first_shape:
                raise DataError(f, f"frame size {img.shape[:2]} differs from the video's first frame {first_shape[:2]}")
        frames = [_resize(img, size) for img in images]
    else:
        cap = cv2.VideoCapture(str(video.path))
        ok, img = cap.read()
        while ok:
            frames.append(_resize(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), size))
            ok, img = cap.read()
        cap.release()
        if frames and video.n_frames and len(frames) != video.n_frames:
            raise DataError(video.path, f"decoded {len(frames)} frames but the video was indexed with "
                                        f"{video.n_frames} (file changed or corrupt: re-run preprocessing)")
    if not frames:
        raise DataError(video.path, "empty video: no decodable frames")
    return np.stack(frames)


def read_pixel_masks(video: VideoSource, size: tuple[int, int] | None = None) -> np.ndarray | None:
    """uint8 [T,H,W] 0/1 pixel masks of a test video, or None when the dataset has none."""
    src = video.mask_source
    if src is None:
        return None
    if src.is_dir():
        masks = [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in list_frames(src)]
        if any(m is None for m in masks):
            raise DataError(src, "cannot decode a mask image")
        arr = np.stack(masks)
    else:
        arr = np.load(src, allow_pickle=False)
    if len(arr) != video.n_frames:
        raise DataError(src, f"has {len(arr)} masks for a video of {video.n_frames} frames")
    arr = (arr > 0).astype(np.uint8)
    if size is not None:
        arr = np.stack([_resize(m, size, cv2.INTER_NEAREST) for m in arr])
    return arr


def read_video_labels_csv(path: Path) -> pd.DataFrame:
    """Optional weak labels: split (training|testing), video, label (0/1), anomaly_types."""
    if not path.is_file():
        raise DataError(path, "video label file not found")
    df = pd.read_csv(path, dtype={"video": str, "split": str}, keep_default_na=False)
    missing = {"split", "video", "label"} - set(df.columns)
    if missing:
        raise DataError(path, f"missing columns {sorted(missing)}")
    if "anomaly_types" not in df:
        df["anomaly_types"] = ""
    return df


def read_events_csv(path: Path) -> pd.DataFrame:
    """Optional per-event anomaly types: split, video, start_frame, end_frame (0-based inclusive), anomaly_type."""
    if not path.is_file():
        raise DataError(path, "event file not found")
    df = pd.read_csv(path, dtype={"video": str, "split": str, "anomaly_type": str}, keep_default_na=False)
    missing = {"split", "video", "start_frame", "end_frame", "anomaly_type"} - set(df.columns)
    if missing:
        raise DataError(path, f"missing columns {sorted(missing)}")
    return df


def read_regions_csv(path: Path) -> pd.DataFrame:
    """Optional ground-truth anomalous regions: split, video, frame (0-based), track_id, x1, y1, x2, y2 in source
    pixels (Street Scene style boxes with track ids). A file with an ``anomalous`` column (the synthetic
    generator's ``annotations/objects.csv``, every object) keeps only the rows where it is 1."""
    if not path.is_file():
        raise DataError(path, "anomaly region file not found")
    df = pd.read_csv(path, dtype={"video": str, "split": str}, keep_default_na=False)
    missing = {"split", "video", "frame", "track_id", "x1", "y1", "x2", "y2"} - set(df.columns)
    if missing:
        raise DataError(path, f"missing columns {sorted(missing)}")
    if "anomalous" in df:
        df = df[df["anomalous"].astype(int) == 1]
    return df[["split", "video", "frame", "track_id", "x1", "y1", "x2", "y2"]].reset_index(drop=True)
