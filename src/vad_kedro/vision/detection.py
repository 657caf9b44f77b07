"""Per-frame object detectors. Each returns a list (one entry per frame) of float32 [n,5] arrays
(x1, y1, x2, y2, score) in working-resolution pixels.

Registry ``DETECTORS`` (parameter ``feature_extraction.tracks.detector``):

- ``background_subtraction`` (default): OpenCV MOG2 (Zivkovic, ICPR 2004 / PRL 2006) or KNN
  (Zivkovic & van der Heijden, PRL 2006) foreground masks, or a per-video median background,
  cleaned by morphology; connected components (external contours) become boxes after area and
  aspect-ratio filters. Merged groups of pedestrians are split into person-sized boxes using a
  per-video perspective model of a person's height against the foot row, fitted on components
  that look like single people. The score is the foreground fill ratio of the component.
  The model is warmed up on the per-video median frame, so objects present from frame 0 are
  found (a cold MOG2 would call the whole first frames background).
- ``hog_people``: OpenCV's built-in HOG + linear SVM people detector (Dalal & Triggs, CVPR 2005),
  ``cv2.HOGDescriptor_getDefaultPeopleDetector`` (ships with OpenCV, no download).
- ``centernet``: a small learned CenterNet (:mod:`vad_kedro.vision.centernet`) trained on the box
  annotations of the training videos by the ``detector_training`` pipeline.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from .geometry import nms

Detector = Callable[..., list[np.ndarray]]


def _odd_kernel(size) -> np.ndarray | None:
    """Elliptic structuring element from an int or [w, h]; None for 0."""
    if size in (None, 0, [0, 0]):
        return None
    w, h = (size, size) if isinstance(size, int | float) else (size[0], size[1])
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (max(int(w), 1), max(int(h), 1)))


def median_background(frames: np.ndarray, max_samples: int = 25) -> np.ndarray:
    """Per-pixel temporal median of up to ``max_samples`` evenly spaced frames (uint8)."""
    idx = np.unique(np.linspace(0, len(frames) - 1, min(max_samples, len(frames))).round().astype(int))
    stack = np.ascontiguousarray(np.moveaxis(frames[idx], 0, -1))
    k = stack.shape[-1] // 2
    return np.partition(stack, k, axis=-1)[..., k].astype(np.uint8)


def _gain(frame: np.ndarray, background_sparse: np.ndarray, step: int) -> np.ndarray:
    ratio = (frame[::step, ::step].astype(np.float32) + 1.0) / background_sparse
    return np.median(ratio.reshape(-1, ratio.shape[-1] if ratio.ndim == 3 else 1), axis=0)


def compensate_gain(frames: np.ndarray, background: np.ndarray, step: int = 6) -> np.ndarray:
    """Divide each frame by its per-channel brightness gain relative to ``background``.

    The gain is the median ratio frame / background over a sparse pixel grid, so global
    illumination drift (and automatic exposure) is not mistaken for foreground.
    """
    bg = background[::step, ::step].astype(np.float32) + 1.0
    out = np.empty_like(frames)
    for i, f in enumerate(frames):
        gain = _gain(f, bg, step)
        out[i] = cv2.multiply(f, tuple(float(1.0 / g) for g in gain) + (1.0,) * (4 - len(gain)))
    return out


def foreground_masks(frames: np.ndarray, method: str = "median", history: int = 500, var_threshold: float = 16.0,
                     dist2_threshold: float = 400.0, median_threshold: float = 25.0, learning_rate: float = 0.002,
                     warmup: int = 20, blur: int = 3, gain_compensation: bool = True) -> np.ndarray:
    """Raw binary foreground masks uint8 [T,H,W] (255 = foreground) of one video.

    Args:
        frames: uint8 [T,H,W,3] RGB.
        method: ``median`` (|frame - per-video median| > ``median_threshold`` on any channel), or the
            OpenCV background subtractors ``mog2`` / ``knn`` (warmed up on the median frame).
        history / var_threshold / dist2_threshold: OpenCV subtractor parameters.
        learning_rate: OpenCV ``apply`` learning rate (-1 = automatic from ``history``).
        warmup: times the per-video median frame is fed to the subtractor before the video.
        blur: Gaussian blur kernel (odd, 0 = none) applied to frames first (sensor noise).
        gain_compensation: divide out global brightness drift first (:func:`compensate_gain`).
    """
    frames = np.asarray(frames)
    if blur and blur > 1:
        k = int(blur) | 1
        frames = np.stack([cv2.GaussianBlur(f, (k, k), 0) for f in frames])
    bg = median_background(frames)
    if gain_compensation:
        frames = compensate_gain(frames, bg)
    masks = np.empty(frames.shape[:3], dtype=np.uint8)
    if method == "median":
        for i, f in enumerate(frames):
            d = cv2.absdiff(f, bg)
            if d.ndim == 3:
                d = np.maximum(np.maximum(d[..., 0], d[..., 1]), d[..., 2])
            masks[i] = cv2.threshold(d, float(median_threshold), 255, cv2.THRESH_BINARY)[1]
        return masks
    if method == "mog2":
        sub = cv2.createBackgroundSubtractorMOG2(history=int(history), varThreshold=float(var_threshold),
                                                 detectShadows=False)
    elif method == "knn":
        sub = cv2.createBackgroundSubtractorKNN(history=int(history), dist2Threshold=float(dist2_threshold),
                                                detectShadows=False)
    else:
        raise ValueError(f"background_subtraction.method must be mog2, knn or median, got {method!r}")
    for i in range(int(warmup)):
        sub.apply(bg, learningRate=1.0 if i == 0 else 1.0 / (i + 1))
    for i, f in enumerate(frames):
        masks[i] = sub.apply(f, learningRate=float(learning_rate))
    return masks


def _tight(sub: np.ndarray) -> tuple[int, int, int, int] | None:
    """Bounding rows/cols (y0, y1, x0, x1; exclusive ends) of the True pixels of ``sub``."""
    rows, cols = np.flatnonzero(sub.any(axis=1)), np.flatnonzero(sub.any(axis=0))
    if len(rows) == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def split_group(comp: np.ndarray, x: int, y: int, person_aspect: float, tolerance: float = 0.3,
                max_split: int = 4) -> list[tuple[int, int, int, int]]:
    """Split one connected component into person-sized boxes (x1, y1, x2, y2).

    A blob much wider than a person of its height (``width > (1 + tolerance) * height / person_aspect``)
    is cut into k side-by-side boxes of one person's width spread from its left to its right edge
    (overlapping walkers share pixels, so each sub-box touches one side of the group); a blob much
    taller than a person of its width is cut into k stacked boxes the same way. Each sub-box is then
    tightened to the component's pixels inside it. ``comp`` is the component's bool mask cropped to
    its bounding box at (x, y).
    """
    h, w = comp.shape
    ratio_x = w * person_aspect / h            # > 1: wider than one person of this height
    ratio_y = h / (w * person_aspect)          # > 1: taller than one person of this width
    boxes = []
    if ratio_x > 1 + tolerance:
        k = min(int(np.ceil(ratio_x - tolerance)), max_split)
        sw = max(int(round(h / person_aspect)), int(np.ceil(w / k)))
        for i in range(k):
            x0 = int(round(i * (w - sw) / (k - 1)))
            t = _tight(comp[:, x0:x0 + sw])
            if t is not None:
                boxes.append((x + x0 + t[2], y + t[0], x + x0 + t[3], y + t[1]))
    elif ratio_y > 1 + tolerance:
        k = min(int(np.ceil(ratio_y - tolerance)), max_split)
        sh = max(int(round(w * person_aspect)), int(np.ceil(h / k)))
        for i in range(k):
            y0 = int(round(i * (h - sh) / (k - 1)))
            t = _tight(comp[y0:y0 + sh])
            if t is not None:
                boxes.append((x + t[2], y + y0 + t[0], x + t[3], y + y0 + t[1]))
    return boxes or [(x, y, x + w, y + h)]


def split_with_height(comp: np.ndarray, x: int, y: int, expected_height: float, person_aspect: float,
                      tolerance: float = 0.3, max_split: int = 4, min_part_fill: float = 0.15
                      ) -> list[tuple[int, int, int, int]]:
    """Split one component into a grid of person boxes, given the expected person height at its foot row.

    With H = ``expected_height`` and W = H / ``person_aspect``, the blob is cut into
    kx = ceil(w / W - tolerance) columns when w > (1 + tolerance) W, and ky rows likewise; sub-boxes
    of one person's size are spread edge to edge (overlapping people each touch one side), tightened
    to the component's pixels, and dropped when they hold less than ``min_part_fill`` of a box.
    """
    h, w = comp.shape
    ew = expected_height / person_aspect
    kx = min(int(np.ceil(w / ew - tolerance)), max_split) if w > (1 + tolerance) * ew else 1
    ky = min(int(np.ceil(h / expected_height - tolerance)), max_split) if h > (1 + tolerance) * expected_height else 1
    if kx <= 1 and ky <= 1:
        return [(x, y, x + w, y + h)]
    sw = max(int(round(min(ew, w))), int(np.ceil(w / kx)))
    sh = max(int(round(min(expected_height, h))), int(np.ceil(h / ky)))
    boxes = []
    for i in range(kx):
        x0 = int(round(i * (w - sw) / (kx - 1))) if kx > 1 else 0
        for j in range(ky):
            y0 = int(round(j * (h - sh) / (ky - 1))) if ky > 1 else 0
            t = _tight(comp[y0:y0 + sh, x0:x0 + sw])
            if t is None or (t[1] - t[0]) * (t[3] - t[2]) < min_part_fill * sw * sh:
                continue
            boxes.append((x + x0 + t[2], y + y0 + t[0], x + x0 + t[3], y + y0 + t[1]))
    return boxes or [(x, y, x + w, y + h)]


def mask_components(mask: np.ndarray, open_kernel=3, close_kernel=(3, 7), min_area: float = 30.0,
                    max_area_fraction: float = 0.5, min_fill: float = 0.2) -> list[tuple[np.ndarray, int, int, float]]:
    """Cleaned connected components of one binary mask: (bool mask cropped to its box, x, y, fill).

    Morphological opening then closing; components with fewer than ``min_area`` pixels, a box
    larger than ``max_area_fraction`` of the image or a fill below ``min_fill`` are dropped.
    """
    h, w = mask.shape
    m = (mask > 127).astype(np.uint8)
    k_open, k_close = _odd_kernel(open_kernel), _odd_kernel(close_kernel)
    if k_open is not None:
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, k_open)
    if k_close is not None:
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, k_close)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    out = []
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        fill = area / max(bw * bh, 1)
        if area < min_area or bw * bh > max_area_fraction * h * w or fill < min_fill:
            continue
        out.append((labels[y:y + bh, x:x + bw] == i, x, y, fill))
    return out


def fit_person_height(components: list[list[tuple[np.ndarray, int, int, float]]], person_aspect: float,
                      min_samples: int = 20) -> tuple[float, float] | None:
    """Perspective model H(y_foot) = a + b * y_foot of one person's height, fitted on one video.

    Uses components that look like one standing person (height / width within [0.75, 1.4] x
    ``person_aspect``, fill >= 0.35); a robust line fit (3 rounds of 2.5-MAD outlier rejection).
    None when fewer than ``min_samples`` such components exist or the fit is degenerate.
    """
    ys, hs = [], []
    for comps in components:
        for c, _x, y, fill in comps:
            h, w = c.shape
            if 0.75 * person_aspect <= h / max(w, 1) <= 1.4 * person_aspect and fill >= 0.35:
                ys.append(y + h)
                hs.append(h)
    if len(ys) < min_samples:
        return None
    ys_a, hs_a = np.asarray(ys, float), np.asarray(hs, float)
    keep = np.ones(len(ys_a), bool)
    for _ in range(3):
        if keep.sum() < min_samples // 2 or np.ptp(ys_a[keep]) < 1:
            b, a = 0.0, float(np.median(hs_a[keep]))
        else:
            b, a = np.polyfit(ys_a[keep], hs_a[keep], 1)
        resid = hs_a - (a + b * ys_a)
        scale = 1.4826 * np.median(np.abs(resid[keep])) + 1e-6
        keep = np.abs(resid) < 2.5 * scale
    if not np.isfinite([a, b]).all():
        return None
    return float(a), float(b)


def boxes_from_components(components: list[tuple[np.ndarray, int, int, float]], height: int, width: int,
                          height_model: tuple[float, float] | None = None, min_aspect: float = 0.2,
                          max_aspect: float = 8.0, pad: float = 0.0, person_aspect: float | None = 2.7,
                          split_tolerance: float = 0.3, max_split: int = 4) -> np.ndarray:
    """Boxes [n,5] (x1, y1, x2, y2, fill) of one frame's components, merged groups split.

    With a perspective ``height_model`` the expected person size at each component's foot row
    decides the split (:func:`split_with_height`); without one, only the component's own aspect
    ratio does (:func:`split_group`). Unsplit components outside [min_aspect, max_aspect] are dropped.
    """
    out = []
    for comp, x, y, fill in components:
        bh, bw = comp.shape
        if person_aspect and height_model is not None:
            expected = max(height_model[0] + height_model[1] * (y + bh), 4.0)
            parts = split_with_height(comp, x, y, expected, person_aspect, split_tolerance, max_split)
        elif person_aspect:
            parts = split_group(comp, x, y, person_aspect, split_tolerance, max_split)
        else:
            parts = [(x, y, x + bw, y + bh)]
        if len(parts) == 1 and not (min_aspect <= bh / max(bw, 1) <= max_aspect):
            continue
        out += [(x1 - pad, y1 - pad, x2 + pad, y2 + pad, fill) for x1, y1, x2, y2 in parts]
    if not out:
        return np.zeros((0, 5), dtype=np.float32)
    boxes = np.asarray(out, dtype=np.float64)
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
    return boxes.astype(np.float32)


def boxes_from_mask(mask: np.ndarray, open_kernel=3, close_kernel=(3, 7), min_area: float = 30.0,
                    max_area_fraction: float = 0.5, min_aspect: float = 0.2, max_aspect: float = 8.0,
                    min_fill: float = 0.2, pad: float = 0.0, person_aspect: float | None = 2.7,
                    split_tolerance: float = 0.3, max_split: int = 4,
                    height_model: tuple[float, float] | None = None) -> np.ndarray:
    """Boxes [n,5] from one binary mask: :func:`mask_components` then :func:`boxes_from_components`."""
    comps = mask_components(mask, open_kernel, close_kernel, min_area, max_area_fraction, min_fill)
    return boxes_from_components(comps, mask.shape[0], mask.shape[1], height_model, min_aspect, max_aspect, pad,
                                 person_aspect, split_tolerance, max_split)


def detect_background_subtraction(frames: np.ndarray, method: str = "median", history: int = 500,
                                  var_threshold: float = 16.0, dist2_threshold: float = 400.0,
                                  median_threshold: float = 25.0, learning_rate: float = 0.002, warmup: int = 20,
                                  blur: int = 3, gain_compensation: bool = True, open_kernel=3, close_kernel=(3, 7),
                                  min_area: float = 30.0, max_area_fraction: float = 0.5, min_aspect: float = 0.2,
                                  max_aspect: float = 8.0, min_fill: float = 0.2, pad: float = 0.0,
                                  person_aspect: float | None = 2.7, split_tolerance: float = 0.3,
                                  max_split: int = 4, perspective: bool = True) -> list[np.ndarray]:
    """Background-subtraction detector (see module docstring).

    Parameters as in :func:`foreground_masks`, :func:`mask_components` and
    :func:`boxes_from_components`; ``perspective`` fits the per-video person-height model
    (:func:`fit_person_height`) used to split merged groups.
    """
    masks = foreground_masks(frames, method=method, history=history, var_threshold=var_threshold,
                             dist2_threshold=dist2_threshold, median_threshold=median_threshold,
                             learning_rate=learning_rate, warmup=warmup, blur=blur,
                             gain_compensation=gain_compensation)
    comps = [mask_components(m, open_kernel, close_kernel, min_area, max_area_fraction, min_fill) for m in masks]
    model = fit_person_height(comps, person_aspect) if (perspective and person_aspect) else None
    h, w = masks.shape[1:3]
    return [boxes_from_components(c, h, w, model, min_aspect, max_aspect, pad, person_aspect, split_tolerance,
                                  max_split) for c in comps]


def detect_hog_people(frames: np.ndarray, upscale: float = 2.0, win_stride: int = 8, padding: int = 8,
                      scale: float = 1.05, hit_threshold: float = 0.0, min_score: float = 0.3,
                      nms_iou: float = 0.4, shrink_x: float = 0.18, shrink_y: float = 0.08) -> list[np.ndarray]:
    """OpenCV HOG people detector (64x128 window) on every frame.

    Args:
        upscale: frames are resized by this factor first (the window finds people >= ~100 px tall,
            so small pedestrians need upscaling).
        win_stride / padding / scale / hit_threshold: ``detectMultiScale`` arguments.
        min_score: minimum SVM score kept.
        nms_iou: IoU of the non-maximum suppression applied after ``detectMultiScale``.
        shrink_x / shrink_y: fraction of the window width/height removed on each side (the INRIA
            window has a margin around the person).
    """
    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
    out = []
    for f in np.asarray(frames):
        img = cv2.resize(f, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_LINEAR) if upscale != 1 else f
        rects, weights = hog.detectMultiScale(img, hitThreshold=hit_threshold, winStride=(win_stride, win_stride),
                                              padding=(padding, padding), scale=scale)
        if len(rects) == 0:
            out.append(np.zeros((0, 5), dtype=np.float32))
            continue
        r = np.asarray(rects, dtype=np.float64) / upscale
        s = np.asarray(weights, dtype=np.float64).reshape(-1)
        boxes = np.c_[r[:, 0] + shrink_x * r[:, 2], r[:, 1] + shrink_y * r[:, 3],
                      r[:, 0] + (1 - shrink_x) * r[:, 2], r[:, 1] + (1 - shrink_y) * r[:, 3]]
        ok = s >= min_score
        boxes, s = boxes[ok], s[ok]
        keep = nms(boxes, s, nms_iou) if len(boxes) else np.zeros(0, dtype=np.int64)
        out.append(np.c_[boxes[keep], s[keep]].astype(np.float32).reshape(-1, 5))
    return out


def detect_centernet(frames: np.ndarray, weights_path: str | None = None, threshold: float = 0.3,
                     batch_size: int = 16, max_detections: int = 100, device: str = "auto") -> list[np.ndarray]:
    """The learned :mod:`~vad_kedro.vision.centernet` detector from the checkpoint at ``weights_path``
    (written by the ``detector_training`` pipeline); a missing file is a DataError naming it.

    Args:
        threshold: minimum centre-heatmap score of a detection.
        batch_size: frames per forward pass.
        max_detections: per frame, highest scores kept.
        device: ``auto`` (CUDA when present) or a torch device string.
    """
    from vad_kedro.core.runtime import resolve_device

    from . import centernet

    ckpt = centernet.load_checkpoint(weights_path)
    dev = resolve_device(device)
    model = centernet.build_model(ckpt["config"])
    model.load_state_dict(ckpt["state"])
    return centernet.detect(model.to(dev), frames, threshold, batch_size, max_detections, dev)


DETECTORS: dict[str, Detector] = {
    "background_subtraction": detect_background_subtraction,
    "hog_people": detect_hog_people,
    "centernet": detect_centernet,
}
