"""Snippet-feature extractors: one video -> float32 [T_snip, n_crops, D], T_snip = ceil(T / snippet_len).

Registry :data:`SNIPPET_EXTRACTORS` (parameter ``feature_extraction.snippets.extractor``):

- ``motion_appearance`` (default, no weights): HOG + HOF + MBH pooled over a spatial grid per crop
  (see :mod:`.descriptors`); needs the shared flow.
- every key of :data:`.backbones.VIDEO_BACKBONES` (``r3d_18``, ``r2plus1d_18``, ``mc3_18``, ``s3d``,
  ``swin3d_t``, ...): a torchvision video backbone from a local weights file, applied to each crop
  of each 16-frame snippet (the last snippet is padded by repeating its last frame).

(``i3d_import`` reads precomputed features and is handled by the pipeline node, not here.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import cv2
import numpy as np

from .backbones import VIDEO_BACKBONES, build_backbone
from .crops import Crop, crop_windows
from .descriptors import channel_histogram, frame_channel_indices, motion_appearance_dim, pool_crops
from .flow import to_gray

logger = logging.getLogger(__name__)


def n_snippets(n_frames: int, snippet_len: int = 16) -> int:
    """ceil(T / snippet_len)."""
    return -(-int(n_frames) // int(snippet_len))


def motion_appearance(frames: np.ndarray, flow: np.ndarray, n_crops: int = 10, crop_fraction: float = 0.875,
                      snippet_len: int = 16, grid: int = 4, power: float = 0.5, static_threshold: float = 0.25,
                      **_: object) -> np.ndarray:
    """HOG/HOF/MBH snippet descriptor of one video -> float32 [T_snip, n_crops, grid^2 * 33].

    Args:
        frames: uint8 [T,H,W,3].
        flow: [T,h,w,2] shared flow (t -> t+1, working-resolution pixels); descriptors are computed
            on its grid (frames are area-resized to it).
        n_crops / crop_fraction: crop geometry (:func:`.crops.crop_windows`).
        snippet_len: frames per snippet (the last snippet may be shorter; densities stay comparable).
        grid: spatial pooling grid per crop.
        power: signed-power compression of the densities (0.5 = square root; 1 = none).
        static_threshold: flow magnitude (px/frame) voting into the static HOF bin.
    """
    t, height, width = frames.shape[:3]
    gh, gw = flow.shape[1:3]
    crops = [Crop(int(round(c.y0 * gh / height)), int(round(c.y1 * gh / height)),
                  int(round(c.x0 * gw / width)), int(round(c.x1 * gw / width)), c.flip)
             for c in crop_windows(height, width, n_crops, crop_fraction)]
    gray = to_gray(frames)
    out = np.zeros((n_snippets(t, snippet_len), n_crops, motion_appearance_dim(grid)), dtype=np.float32)
    for s in range(out.shape[0]):
        chans, weights = [], []
        idx = range(s * snippet_len, min((s + 1) * snippet_len, t))
        for i in idx:
            g = gray[i] if (gh, gw) == (height, width) else cv2.resize(gray[i], (gw, gh), interpolation=cv2.INTER_AREA)
            c, w = frame_channel_indices(g.astype(np.float32), np.asarray(flow[i], dtype=np.float32),
                                         static_threshold)
            chans.append(c)
            weights.append(w)
        out[s] = pool_crops(channel_histogram(chans, weights, gh, gw), crops, grid, len(idx), power)
    return out


def torchvision_snippets(frames: np.ndarray, flow: np.ndarray | None = None, arch: str = "r3d_18",
                         weights_path: str | None = None, random_init: bool = False, n_crops: int = 10,
                         crop_fraction: float = 0.875, snippet_len: int = 16, input_size: int | None = None,
                         batch_size: int = 10, device: str = "cpu", **_: object) -> np.ndarray:
    """Features of a torchvision video backbone per snippet and crop -> float32 [T_snip, n_crops, D].

    Frames are resized so the crop side equals ``input_size`` (default: the weights' training
    size), cropped (:func:`.crops.crop_windows`), normalised with the weights' mean/std.
    """
    import torch

    model, spec = build_backbone(arch, weights_path, random_init, kind="video")
    model = model.to(device)
    size = int(input_size or spec.input_size)
    t, height, width = frames.shape[:3]
    scale = size / (crop_fraction * min(height, width))
    rh, rw = max(int(round(height * scale)), size), max(int(round(width * scale)), size)
    crops = crop_windows(rh, rw, n_crops, crop_fraction)
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1, 1)
    clip_len = spec.fixed_frames or snippet_len
    out = np.zeros((n_snippets(t, snippet_len), n_crops, spec.dim), dtype=np.float32)
    with torch.no_grad():
        for s in range(out.shape[0]):
            idx = np.arange(s * snippet_len, s * snippet_len + snippet_len)
            idx = np.minimum(idx, t - 1)
            if clip_len != snippet_len:
                idx = idx[np.round(np.linspace(0, len(idx) - 1, clip_len)).astype(int)]
            clip = np.stack([cv2.resize(frames[i], (rw, rh), interpolation=cv2.INTER_AREA) for i in idx])
            views = []
            for c in crops:
                v = clip[:, c.y0:c.y1, c.x0:c.x1]
                if v.shape[1:3] != (size, size):
                    v = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR) for f in v])
                views.append(v[:, :, ::-1] if c.flip else v)
            x = torch.from_numpy(np.ascontiguousarray(np.stack(views))).permute(0, 4, 1, 2, 3).float() / 255.0
            x = (x - mean) / std  # [n_crops, 3, T, S, S]
            feats = [model(x[b:b + batch_size].to(device)).cpu() for b in range(0, n_crops, batch_size)]
            out[s] = torch.cat(feats).reshape(n_crops, -1).numpy()
    return out


def snippet_dim(extractor: str, grid: int = 4) -> int:
    """Feature dimension D an extractor produces."""
    if extractor == "motion_appearance":
        return motion_appearance_dim(grid)
    if extractor in VIDEO_BACKBONES:
        return VIDEO_BACKBONES[extractor].dim
    raise ValueError(f"unknown snippet extractor {extractor!r}")


def _torchvision_for(arch: str) -> Callable[..., np.ndarray]:
    def run(frames: np.ndarray, flow: np.ndarray | None = None, **params) -> np.ndarray:
        params = {k: v for k, v in params.items() if k != "arch"}
        return torchvision_snippets(frames, flow, arch=arch, **params)

    run.__name__ = f"torchvision_{arch}"
    run.__doc__ = f"torchvision ``{arch}`` snippet features (see :func:`torchvision_snippets`)."
    return run


SNIPPET_EXTRACTORS: dict[str, Callable[..., np.ndarray]] = {
    "motion_appearance": motion_appearance,
    **{arch: _torchvision_for(arch) for arch in VIDEO_BACKBONES},
}
NEEDS_FLOW = {"motion_appearance"}
