"""Frame handling of CRKR (Cao, Lu & Zhang, IEEE TIP 2024): resizing, normalisation, square crops,
clip / snippet index tables and the pseudo-anomaly renderer used to choose the MLE patch size.

Everything works on one video at a time; frames stay uint8 at the working resolution until a batch is
built, so memory stays at one video plus one batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import torch

from vad_kedro.core.errors import DataError

MEAN, STD = 0.45, 0.225  # Kinetics normalisation of PySlowFast I3D


def check_video(video_id: str, frames: Any) -> np.ndarray:
    """Return ``frames`` as uint8 [T,H,W,3] or raise a DataError naming the video."""
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise DataError(video_id, f"frames must be [T,H,W,3] RGB, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise DataError(video_id, f"frames must be uint8, got {arr.dtype}")
    if arr.shape[0] == 0:
        raise DataError(video_id, "video has no frames")
    return arr


def resize_short_side(frames: np.ndarray, resolution: int) -> np.ndarray:
    """Resize uint8 [T,H,W,3] so that the short side equals ``resolution`` (aspect kept; OpenCV area/linear)."""
    t, h, w, _ = frames.shape
    scale = resolution / min(h, w)
    size = (max(resolution, round(w * scale)), max(resolution, round(h * scale)))  # cv2: (width, height)
    if (size[1], size[0]) == (h, w):
        return np.ascontiguousarray(frames)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out = np.empty((t, size[1], size[0], 3), dtype=np.uint8)
    for i in range(t):
        out[i] = cv2.resize(frames[i], size, interpolation=interp)
    return out


def crop_offsets(long_side: int, resolution: int, n_crops: int = 3) -> list[int]:
    """Offsets of the fixed test crops along the long side: left, centre, right (1 crop = centre)."""
    span = long_side - resolution
    if n_crops == 1:
        return [span // 2]
    return [round(span * i / (n_crops - 1)) for i in range(n_crops)]


def train_crop_offset(long_side: int, resolution: int, u: float) -> int:
    """Random training crop offset round((W' - R) * u), u ~ U[0, 1)."""
    return round((long_side - resolution) * u)


def crop(frames: np.ndarray, offset: int, resolution: int) -> np.ndarray:
    """Square crop of side R at ``offset`` along the long side of uint8 [...,H,W,3] frames."""
    h, w = frames.shape[-3], frames.shape[-2]
    if w >= h:
        return frames[..., :, offset : offset + resolution, :]
    return frames[..., offset : offset + resolution, :, :]


def to_input(frames: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 [..., T, H, W, 3] -> normalised float [..., 3, T, H, W]: (x/255 - 0.45) / 0.225."""
    x = torch.as_tensor(frames).to(device)
    x = (x.float() / 255.0 - MEAN) / STD
    return x.movedim(-1, -4)


def context_indices(n_frames: int, n_context: int = 8, interval: int = 2) -> np.ndarray:
    """CR clips: row s = frames s, s+itv, ..., s+(n-1)itv (context) then s+n*itv (target). [T-n*itv, n+1]."""
    n_rows = n_frames - n_context * interval
    if n_rows <= 0:
        return np.zeros((0, n_context + 1), dtype=np.int64)
    return np.arange(n_rows)[:, None] + interval * np.arange(n_context + 1)[None, :]


def snippet_indices(n_frames: int, length: int = 8, interval: int = 8, stride: int = 1) -> np.ndarray:
    """KR snippets: row = frames s, s+itv, ..., s+(len-1)itv for s = 0, stride, ...; [ceil((T-span)/stride), len]."""
    span = (length - 1) * interval
    if n_frames <= span:
        return np.zeros((0, length), dtype=np.int64)
    return np.arange(0, n_frames - span, stride)[:, None] + interval * np.arange(length)[None, :]


def scene_of(video_id: str) -> str:
    """Scene of a video id ``<split>_<scene>_<n>`` (ShanghaiTech ``train_01_001`` -> ``01``); else one scene."""
    parts = video_id.split("_")
    return parts[1] if len(parts) >= 3 else "all"


def pseudo_anomaly_plan(video_ids: list[str], n_frames: dict[str, int], n_per_scene: int, mode: str,
                        anomaly_ratio: float, angle_range: tuple[int, int], jitter: int, seed: int) -> dict[str, Any]:
    """Choose pseudo-anomaly source videos (``n_per_scene`` per scene, seeded) and draw their edits.

    Returns a JSON-friendly dict: ``{"videos": [{"source", "angles", "order", "blend", "labels"}]}`` with
    per-frame lists: rotation angle (degrees, drawn uniformly from the integers in ``angle_range``), source
    frame order (jittered in ``jitter`` mode), the frame blended in (``blend`` mode, clamped to T-1; -1 for
    none) and the 0/1 label. The middle ``anomaly_ratio`` of each video is abnormal.
    """
    if mode not in ("blend", "jitter"):
        raise ValueError(f"two_stream: pseudo.mode must be 'blend' or 'jitter', got {mode!r}")
    rng = np.random.default_rng(seed)
    scenes: dict[str, list[str]] = {}
    for vid in sorted(video_ids):
        scenes.setdefault(scene_of(vid), []).append(vid)
    plan = []
    for scene in sorted(scenes):
        vids = list(scenes[scene])
        rng.shuffle(vids)
        for vid in vids[:n_per_scene]:
            t = int(n_frames[vid])
            beg = int((t - t * anomaly_ratio) / 2)
            end = t - beg
            labels = np.zeros(t, dtype=np.int64)
            labels[beg:end] = 1
            angles = rng.integers(angle_range[0], angle_range[1] + 1, size=t)
            order = np.arange(t)
            blend = np.full(t, -1, dtype=np.int64)
            if mode == "blend":
                blend[beg:end] = np.minimum(np.arange(beg, end) + 2, t - 1)
            else:
                order[beg:end] = np.clip(order[beg:end] + rng.integers(-jitter, jitter, size=end - beg), 0, t - 1)
            plan.append({"source": vid, "angles": angles.tolist(), "order": order.tolist(),
                         "blend": blend.tolist(), "labels": labels.tolist()})
    return {"videos": plan}


def _flip_rotate(frame: np.ndarray, angle: float) -> np.ndarray:
    h, w = frame.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
    return cv2.warpAffine(cv2.flip(frame, 1), m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT)


def render_pseudo_video(frames: np.ndarray, item: dict[str, Any]) -> np.ndarray:
    """Render one planned pseudo-anomaly video from its source frames (uint8 [T,H,W,3]).

    Every frame is flipped horizontally and rotated by its angle; abnormal frames of ``blend`` mode are
    the mean of frames t and min(t+2, T-1) (both transformed with the angle of t).
    """
    t = len(item["labels"])
    if len(frames) != t:
        raise DataError(item["source"], f"pseudo-anomaly plan has {t} frames but the video has {len(frames)}")
    out = np.empty_like(frames)
    for i in range(t):
        a = float(item["angles"][i])
        img = _flip_rotate(frames[item["order"][i]], a)
        j = item["blend"][i]
        if j >= 0:
            img = ((img.astype(np.float64) + _flip_rotate(frames[j], a)) / 2).astype(np.uint8)
        out[i] = img
    return out


class ResizedVideos:
    """Loads videos lazily, resized to the working resolution, with a byte-bounded cache.

    ``loaders`` maps video id -> zero-argument callable (a Kedro PartitionedDataset) or an array.
    """

    def __init__(self, loaders: dict[str, Callable[[], np.ndarray] | np.ndarray], resolution: int,
                 cache_mb: float = 1024) -> None:
        self._loaders, self._r = loaders, resolution
        self._budget = cache_mb * 2**20
        self._cache: dict[str, np.ndarray] = {}
        self._used = 0

    def __call__(self, video_id: str) -> np.ndarray:
        if video_id in self._cache:
            return self._cache[video_id]
        if video_id not in self._loaders:
            raise DataError(video_id, "video listed in video_index has no frames partition")
        src = self._loaders[video_id]
        arr = resize_short_side(check_video(video_id, src() if callable(src) else src), self._r)
        if self._used + arr.nbytes <= self._budget:
            self._cache[video_id] = arr
            self._used += arr.nbytes
        return arr
