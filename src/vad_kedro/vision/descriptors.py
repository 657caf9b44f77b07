"""Hand-crafted descriptors: snippet HOG/HOF/MBH, box HOG and box flow-orientation histograms.

Snippet descriptor (``motion_appearance``): per 16-frame snippet and crop, histograms of
- HOG: unsigned image-gradient orientation (Dalal & Triggs, CVPR 2005), 8 bins over [0, 180)
  (8 rather than HOG's 9 so that 90 degrees is a bin centre and mirroring maps bins onto bins);
- HOF: signed optical-flow orientation, 8 bins + 1 static bin (Laptev et al., CVPR 2008);
- MBH: signed orientation of the spatial gradient of the flow components u and v, 8 bins each
  (Dalal, Triggs & Schmid, ECCV 2006; as pooled in Wang et al.'s dense trajectories, IJCV 2013),
each magnitude-weighted and pooled over a ``grid x grid`` spatial grid of the crop. Values are
densities (sum / (pixels x frames)), so flow speed is kept (L2 per cell would discard it), then
compressed by a signed power (``power``, 0.5 = square root). D = grid^2 * (8 + 9 + 8 + 8) = 33 grid^2.
Orientation bins are centred on 0, 45, 90, ... degrees (HOG: 0, 22.5, 45, ...) so that horizontal and
vertical motion fall mid-bin rather than on a bin edge.

Votes are computed once per frame on the flow grid and summed over the snippet into per-channel
maps (one ``np.bincount``); each crop is pooled from the maps with ``np.add.reduceat`` and its
mirrored twin reuses the same cells by channel permutation.
"""

from __future__ import annotations

import cv2
import numpy as np

from .crops import Crop

HOG_BINS, HOF_BINS, MBH_BINS = 8, 8, 8
N_CHANNELS = HOG_BINS + (HOF_BINS + 1) + 2 * MBH_BINS  # 33 histogram channels


def motion_appearance_dim(grid: int) -> int:
    """Feature dimension of the ``motion_appearance`` descriptor for a ``grid x grid`` pooling."""
    return grid * grid * N_CHANNELS


def _signed_bins(ang: np.ndarray, n_bins: int) -> np.ndarray:
    """Angle in radians [0, 2pi) (float32) -> int32 bin in [0, n_bins), bins *centred* on i * 2pi / n_bins.

    Centring puts horizontal and vertical motion (the common cases) in the middle of a bin, not on an edge.
    """
    b = (ang * np.float32(n_bins / (2 * np.pi)) + np.float32(0.5)).astype(np.int32)
    return b % n_bins


def _flip_permutation() -> np.ndarray:
    """Channel permutation that mirrors the 33 histogram channels under a horizontal flip.

    Mirroring x maps an image-gradient or flow angle theta -> pi - theta (centred unsigned 8-bin
    i -> (8 - i) mod 8; centred signed 8-bin i -> (4 - i) mod 8); the gradient of u maps
    theta -> -theta (bin i -> (8 - i) mod 8); the gradient of v maps theta -> pi - theta.
    """
    hog = [(HOG_BINS - i) % HOG_BINS for i in range(HOG_BINS)]
    hof = [HOG_BINS + (4 - i) % 8 for i in range(HOF_BINS)] + [HOG_BINS + HOF_BINS]
    base = HOG_BINS + HOF_BINS + 1
    mbhx = [base + (8 - i) % 8 for i in range(MBH_BINS)]
    mbhy = [base + MBH_BINS + (4 - i) % 8 for i in range(MBH_BINS)]
    return np.asarray(hog + hof + mbhx + mbhy)


FLIP_PERMUTATION = _flip_permutation()


def frame_channel_indices(gray: np.ndarray, flow: np.ndarray, static_threshold: float = 0.25
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel histogram channel and weight of the four descriptors for one frame.

    Args:
        gray: float32 [h,w] grey frame on the flow grid.
        flow: float32 [h,w,2] flow t -> t+1 (working-resolution pixels).
        static_threshold: flow magnitude below which a pixel votes into the static HOF bin.

    Returns:
        ``channel`` int32 [4, h*w] (channel index 0..32 per descriptor) and ``weight`` float32 [4, h*w].
    """
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=1)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=1)
    mag, ang = cv2.cartToPolar(gx, gy)
    # unsigned orientation: centred bins of width pi/8, folded from [0, 2pi) onto [0, pi)
    hog_bin = (ang * np.float32(HOG_BINS / np.pi) + np.float32(0.5)).astype(np.int32) % HOG_BINS

    u, v = np.ascontiguousarray(flow[..., 0]), np.ascontiguousarray(flow[..., 1])
    fmag, fang = cv2.cartToPolar(u, v)
    static = fmag < static_threshold
    hof_bin = _signed_bins(fang, HOF_BINS)
    hof_bin[static] = HOF_BINS
    hof_bin += HOG_BINS
    fmag[static] = static_threshold

    base = HOG_BINS + HOF_BINS + 1
    umag, uang = cv2.cartToPolar(cv2.Sobel(u, cv2.CV_32F, 1, 0, ksize=1), cv2.Sobel(u, cv2.CV_32F, 0, 1, ksize=1))
    vmag, vang = cv2.cartToPolar(cv2.Sobel(v, cv2.CV_32F, 1, 0, ksize=1), cv2.Sobel(v, cv2.CV_32F, 0, 1, ksize=1))
    channel = np.stack([hog_bin, hof_bin, _signed_bins(uang, MBH_BINS) + base,
                        _signed_bins(vang, MBH_BINS) + (base + MBH_BINS)]).reshape(4, -1)
    weight = np.stack([mag, fmag, umag, vmag]).reshape(4, -1)
    return channel, weight


def channel_histogram(channels: list[np.ndarray], weights: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """Sum per-pixel votes of several frames into per-channel maps [33, h, w] (float64, one bincount)."""
    n_pix = height * width
    pix = np.arange(n_pix, dtype=np.int64)
    flat = np.concatenate([(ch.reshape(4, -1).astype(np.int64) * n_pix + pix).reshape(-1) for ch in channels])
    hist = np.bincount(flat, weights=np.concatenate([w.reshape(-1) for w in weights]),
                       minlength=N_CHANNELS * n_pix)
    return hist.reshape(N_CHANNELS, height, width)


def _cell_edges(a: int, b: int, grid: int) -> np.ndarray:
    """grid+1 increasing integer edges splitting [a, b) into ``grid`` cells of >= 1 pixel.

    The edges are mirror-symmetric inside [a, b), so a mirrored crop has mirrored cells.
    """
    length = b - a
    if length < grid:
        raise ValueError(f"crop of {length} pixels cannot be split into a {grid}-cell grid")
    k = np.arange(grid + 1)
    rel = np.floor(k * length / grid + 0.5).astype(np.int64)
    rel = np.where(k > grid / 2, length - rel[::-1], rel)
    return a + rel


def pool_crops(hist: np.ndarray, crops: list[Crop], grid: int, n_frames: int, power: float = 0.5) -> np.ndarray:
    """Pool channel maps [33,h,w] into [n_crops, grid*grid*33] densities (crop coords on the map's grid).

    Each cell value is sum / (cell pixels x ``n_frames``), then ``sign(x) |x|^power``. A flipped crop
    reuses its twin's cells, mirrored and channel-permuted (:data:`FLIP_PERMUTATION`).
    """
    out = np.zeros((len(crops), grid, grid, N_CHANNELS), dtype=np.float64)
    cache: dict[tuple[int, int, int, int], np.ndarray] = {}
    for ci, c in enumerate(crops):
        key = (c.y0, c.y1, c.x0, c.x1)
        if key not in cache:
            ys, xs = _cell_edges(c.y0, c.y1, grid), _cell_edges(c.x0, c.x1, grid)
            sub = np.add.reduceat(hist[:, c.y0:c.y1], ys[:-1] - c.y0, axis=1)
            sub = np.add.reduceat(sub[:, :, c.x0:c.x1], xs[:-1] - c.x0, axis=2)  # [33,g,g]
            area = np.diff(ys)[:, None] * np.diff(xs)[None, :] * max(n_frames, 1)
            cache[key] = np.moveaxis(sub / area[None], 0, -1)  # [g,g,33]
        dens = cache[key]
        out[ci] = dens[:, ::-1][..., FLIP_PERMUTATION] if c.flip else dens
    if power != 1:
        out = np.sign(out) * np.abs(out) ** power
    return out.reshape(len(crops), -1).astype(np.float32)


def box_hog(gray: np.ndarray, boxes: np.ndarray, hog: cv2.HOGDescriptor | None = None) -> np.ndarray:
    """OpenCV HOG (default 64x128 window, 3780-d) of each box crop of one grey frame -> float32 [n, D]."""
    hog = hog or cv2.HOGDescriptor()
    win_w, win_h = hog.winSize
    h, w = gray.shape[:2]
    out = np.zeros((len(boxes), hog.getDescriptorSize()), dtype=np.float32)
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, dtype=np.float64).reshape(-1, 4)):
        xa, ya = int(np.clip(np.floor(x1), 0, w - 1)), int(np.clip(np.floor(y1), 0, h - 1))
        xb, yb = int(np.clip(np.ceil(x2), xa + 1, w)), int(np.clip(np.ceil(y2), ya + 1, h))
        crop = cv2.resize(gray[ya:yb, xa:xb], (win_w, win_h), interpolation=cv2.INTER_LINEAR)
        out[i] = hog.compute(crop).reshape(-1)
    return out


def box_flow_histograms(flow: np.ndarray, boxes: np.ndarray, n_bins: int = 8, scale_x: float = 1.0,
                        scale_y: float = 1.0, normalise_by_height: bool = False) -> np.ndarray:
    """Magnitude-weighted flow-orientation histogram inside each box (memory_fusion.md section 2).

    Angle theta in degrees (``cv2.cartToPolar``), magnitude m = |u| + |v|; bin i (width 360/B):
    v_i = mean over box pixels of m * [theta in bin i]. ``n_bins = 1`` gives the mean magnitude.

    Args:
        flow: float [h,w,2] flow of the box's frame (grid possibly downsampled).
        boxes: [n,4] boxes in working-resolution pixels.
        scale_x / scale_y: grid cells per working-resolution pixel (w / W, h / H).
        normalise_by_height: divide by the box height (working-resolution pixels).
    """
    flow = np.asarray(flow, dtype=np.float32)
    h, w = flow.shape[:2]
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        return np.zeros((0, n_bins), dtype=np.float32)
    u, v = np.ascontiguousarray(flow[..., 0]), np.ascontiguousarray(flow[..., 1])
    _, ang = cv2.cartToPolar(u, v, angleInDegrees=True)
    m = np.abs(u) + np.abs(v)
    b = np.minimum((ang * (n_bins / 360.0)).astype(np.int64), n_bins - 1)
    maps = np.zeros((n_bins, h * w), dtype=np.float64)
    maps[b.reshape(-1), np.arange(h * w)] = m.reshape(-1)
    integral = np.zeros((n_bins, h + 1, w + 1), dtype=np.float64)
    integral[:, 1:, 1:] = maps.reshape(n_bins, h, w).cumsum(1).cumsum(2)
    x0 = np.clip(np.floor(boxes[:, 0] * scale_x), 0, w - 1).astype(int)
    y0 = np.clip(np.floor(boxes[:, 1] * scale_y), 0, h - 1).astype(int)
    x1 = np.maximum(np.clip(np.ceil(boxes[:, 2] * scale_x), 0, w).astype(int), x0 + 1)
    y1 = np.maximum(np.clip(np.ceil(boxes[:, 3] * scale_y), 0, h).astype(int), y0 + 1)
    s = integral[:, y1, x1] - integral[:, y0, x1] - integral[:, y1, x0] + integral[:, y0, x0]  # [B,n]
    out = (s / ((y1 - y0) * (x1 - x0))[None]).T
    if normalise_by_height:
        out = out / np.maximum(boxes[:, 3:4] - boxes[:, 1:2], 1.0)
    return out.astype(np.float32)
