"""Planning and rasterising one video: actors -> JPEG frames, labels, masks, boxes, tracks and poses."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .actors import STAGERS, Actor, clip_to_video, normal_crowd
from .figures import ball_figure, bicycle_figure, draw, person_figure, prims_extent
from .scene import H_REF, OCCLUDER_DEPTH, W_REF, Scene

KIND_ORDER = {"bicycle": 0, "person": 1, "ball": 2}
MIN_VISIBLE_FRACTION = 0.3  # an object is annotated when >= 30 % of its box is inside the frame
COVERAGE = (0.2, 0.6)  # fraction of frames labelled anomalous in an abnormal video
MIN_EVENT_FRACTION = 0.08  # every staged event must be visible in at least this fraction of frames


def object_geometry(actor: Actor, st: dict) -> tuple[list, np.ndarray | None, tuple]:
    """Drawing primitives, keypoints (persons only) and box (x1, y1, x2, y2), all in reference px."""
    if actor.kind == "person":
        kps, prims = person_figure(st, actor.look)
    elif actor.kind == "bicycle":
        kps, prims = None, bicycle_figure(st, actor.look)
    else:
        kps, prims = None, ball_figure(st, actor.look)
    return prims, kps, prims_extent(prims)


def _near_frame(st: dict) -> bool:
    """Cheap test whether an object at this state can touch the frame at all."""
    return -40.0 <= st["x"] <= W_REF + 40.0 and -2.0 <= st["y"] <= H_REF + 60.0


def clip_box(box: tuple, sx: float, sy: float, height: int, width: int) -> tuple[tuple | None, float]:
    """Scale a reference box to pixels, clip it to the frame; returns (clipped box or None, visible fraction)."""
    x1, y1, x2, y2 = box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy
    area = max(1e-9, (x2 - x1) * (y2 - y1))
    cx1, cy1 = max(0.0, x1), max(0.0, y1)
    cx2, cy2 = min(width - 1.0, x2), min(height - 1.0, y2)
    if cx2 - cx1 < 2.0 or cy2 - cy1 < 2.0:
        return None, 0.0
    frac = (cx2 - cx1) * (cy2 - cy1) / area
    if frac < MIN_VISIBLE_FRACTION:
        return None, frac
    return (cx1, cy1, cx2, cy2), frac


def anomalous_frames(actors: list[Actor], n_frames: int, sx: float, sy: float, height: int, width: int) -> dict:
    """Per event id: set of frames where one of its objects is visible and acting anomalously."""
    out: dict[int, set] = {}
    for a in actors:
        if a.event < 0:
            continue
        frames = out.setdefault(a.event, set())
        for k, st in enumerate(a.states):
            t = a.start + k
            if st["anom"] and 0 <= t < n_frames and _near_frame(st):
                box = object_geometry(a, st)[2]
                if clip_box(box, sx, sy, height, width)[0] is not None:
                    frames.add(t)
    return out


def plan_video(rng: np.random.Generator, cfg: dict, types: list[str]) -> list[Actor]:
    """Normal crowd plus the staged events of ``types`` (each placed so the video is 20-60 % anomalous)."""
    T, fps, H, W = cfg["n_frames"], cfg["fps"], cfg["height"], cfg["width"]
    sx, sy = W / W_REF, H / H_REF
    crowd = normal_crowd(rng, fps, T, float(cfg["crowd_rate"]))
    if not types:
        return crowd
    best, best_err = None, math.inf
    for _ in range(40):
        staged: list[Actor] = []
        s1 = float(rng.uniform(0.04, 0.55)) * T
        for e, kind in enumerate(types):
            s = s1 if e == 0 else float(np.clip(s1 + rng.uniform(-0.3, 0.4) * T, 0.02 * T, 0.7 * T))
            for a in STAGERS[kind](rng, fps):
                a.start += int(round(s))
                a.event, a.anomaly_type = e, kind
                clip_to_video(a, T)
                if a.states:
                    staged.append(a)
        per_event = anomalous_frames(staged, T, sx, sy, H, W)
        union = set().union(*per_event.values()) if per_event else set()
        frac = len(union) / T
        shortest = min((len(per_event.get(e, ())) / T for e in range(len(types))), default=0.0)
        err = max(0.0, COVERAGE[0] - frac) + max(0.0, frac - COVERAGE[1]) + 2 * max(0.0, MIN_EVENT_FRACTION - shortest)
        if err < best_err:
            best, best_err = staged, err
        if err == 0.0:
            break
    return crowd + best


@dataclass
class VideoResult:
    """Everything rendered for one video besides the JPEG frames."""

    labels: np.ndarray  # uint8 [T]
    pixel_mask: np.ndarray | None  # uint8 [T, H, W]
    objects: list = field(default_factory=list)  # rows: frame, track_id, kind, x1, y1, x2, y2, action, anom, type
    poses: list = field(default_factory=list)  # AlphaPose dicts
    events: list = field(default_factory=list)  # rows: track_id, start, end, anomaly_type, event


def render_video(frames_dir: Path, actors: list[Actor], scene: Scene, cfg: dict, rng: np.random.Generator,
                 with_mask: bool) -> VideoResult:
    """Rasterise ``actors`` over ``scene`` into ``frames_dir/0000.jpg …`` and collect the annotations."""
    T, H, W, fps = cfg["n_frames"], cfg["height"], cfg["width"], cfg["fps"]
    sx, sy = W / W_REF, H / H_REF
    frames_dir.mkdir(parents=True, exist_ok=True)
    # slow illumination drift (brightness + slight tint) and a bank of Gaussian sensor noise
    amp = float(rng.uniform(0.4, 1.0)) * float(cfg["illumination_amplitude"])
    period, ph = float(rng.uniform(12.0, 40.0)), float(rng.uniform(0, 2 * math.pi))
    tint = rng.normal(0.0, 0.015, 3)
    pad = 16
    bank = np.round(rng.normal(0.0, float(cfg["noise_sigma"]), (4, H + pad, W + pad, 3))).astype(np.int16)
    labels = np.zeros(T, np.uint8)
    mask = np.zeros((T, H, W), np.uint8) if with_mask else None
    res = VideoResult(labels=labels, pixel_mask=mask)

    # track ids: actors that are annotated at least once, numbered by first appearance
    geo_cache: dict[tuple[int, int], tuple] = {}
    first_seen: dict[int, int] = {}
    for i, a in enumerate(actors):
        for k, st in enumerate(a.states):
            if not _near_frame(st):
                continue
            g = object_geometry(a, st)
            cb, _ = clip_box(g[2], sx, sy, H, W)
            geo_cache[(i, a.start + k)] = (g, cb)
            if cb is not None and i not in first_seen:
                first_seen[i] = a.start + k
    order = sorted(first_seen, key=lambda i: (first_seen[i], KIND_ORDER[actors[i].kind], i))
    track_id = {i: n + 1 for n, i in enumerate(order)}
    event_span: dict[int, list] = {}

    ys, xs = np.nonzero(scene.occluder_mask)
    occ_win = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)) if len(ys) else (slice(0, 0), slice(0, 0))
    occ_mask3, occ_rgb = scene.occluder_mask[occ_win][..., None], scene.occluder_rgb[occ_win]
    ramp = np.arange(256, dtype=np.float64)
    quality = [cv2.IMWRITE_JPEG_QUALITY, int(cfg["jpeg_quality"])]
    for t in range(T):
        items = []
        for i, a in enumerate(actors):
            st = a.state_at(t)
            if st is not None and (i, t) in geo_cache:
                items.append((st["y"], KIND_ORDER[a.kind], i, st))
        items.append((OCCLUDER_DEPTH, -1, -1, None))
        items.sort(key=lambda it: (it[0], it[1], it[2]))
        frame = scene.background.copy()
        anom_ids = []
        for depth, _, i, st in items:
            if i < 0:
                np.copyto(frame[occ_win], occ_rgb, where=occ_mask3)
                continue
            (prims, kps, _), cb = geo_cache[(i, t)]
            draw(frame, prims, sx, sy)
            if cb is None:
                continue
            a, tid = actors[i], track_id[i]
            anom = bool(st["anom"])
            atype = st.get("atype", "") if anom else ""
            if anom:
                anom_ids.append(i)
                span = event_span.setdefault(i, [t, t])
                span[1] = t
            res.objects.append((t, tid, a.kind, *[round(v, 2) for v in cb], st["action"], int(anom), atype))
            if kps is not None:
                res.poses.append(_pose_entry(t, tid, kps, cb, sx, sy, depth, scene, rng))
        if anom_ids:
            labels[t] = 1
            if mask is not None:
                lab = np.zeros((H, W), np.uint8)
                for depth, _, i, st in items:
                    if i < 0:
                        lab[scene.occluder_mask] = 0
                    else:
                        draw(lab, geo_cache[(i, t)][0][0], sx, sy, color=1 if i in anom_ids else 0, aa=False)
                mask[t] = lab
        # camera: illumination drift then sensor noise
        tt = t / fps
        gain = 1.0 + amp * math.sin(2 * math.pi * tt / period + ph)
        gains = [gain * (1.0 + tint[c] * math.sin(2 * math.pi * tt / (1.7 * period) + ph)) for c in range(3)]
        lut = np.clip(np.round(ramp[:, None] * gains), 0, 255).astype(np.uint8)[None]
        frame = cv2.LUT(frame, lut)
        b, oy, ox = int(rng.integers(4)), int(rng.integers(pad)), int(rng.integers(pad))
        frame = cv2.add(frame, bank[b, oy:oy + H, ox:ox + W], dtype=cv2.CV_8U)
        cv2.imwrite(str(frames_dir / f"{t:04d}.jpg"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), quality)
    for i, (s, e) in sorted(event_span.items(), key=lambda kv: track_id[kv[0]]):
        res.events.append((track_id[i], s, e, actors[i].anomaly_type, actors[i].event))
    return res


def _pose_entry(t: int, tid: int, kps: np.ndarray, cb: tuple, sx: float, sy: float, depth: float, scene: Scene,
                rng: np.random.Generator) -> dict:
    """AlphaPose-format entry: keypoints clipped to the box (low score outside the frame / behind the tree)."""
    H, W = scene.occluder_mask.shape
    xy = kps * (sx, sy)
    score = 0.9 + rng.uniform(-0.06, 0.06, len(xy))
    lo, hi = np.array(cb[:2]), np.array(cb[2:])
    outside = ((xy < lo) | (xy > hi)).any(axis=1)
    xy = np.clip(xy, lo, hi)
    if depth < OCCLUDER_DEPTH:
        ix, iy = np.minimum(xy[:, 0].astype(int), W - 1), np.minimum(xy[:, 1].astype(int), H - 1)
        score[scene.occluder_mask[iy, ix]] = 0.4
    score[outside] = 0.05
    flat = np.concatenate([np.round(xy, 2), np.round(score, 3)[:, None]], axis=1).ravel().tolist()
    box = [round(cb[0], 2), round(cb[1], 2), round(cb[2] - cb[0], 2), round(cb[3] - cb[1], 2)]
    return {"image_id": f"{t:04d}.jpg", "category_id": 1, "keypoints": flat, "score": round(float(score.mean()), 4),
            "box": box, "idx": tid}
