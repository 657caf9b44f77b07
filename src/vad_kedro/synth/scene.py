"""Static scene of the synthetic benchmark: ground-plane geometry, walkways, clutter and the background image.

All geometry lives in *reference units*: pixels of a 240x180 (WxH) frame. Renderers scale to the output size.
The camera looks down steeply at a park: objects near the top of the frame are farther away (smaller,
``persp``) and ground-plane depth offsets are compressed by ``K_DEPTH`` in image y.

Walkways:
  * the *promenade*, a horizontal two-way walkway (y in [100, 126]) with a dashed centre line; people keep right
    (rightward walkers use the near lane, leftward walkers the far lane);
  * the *path*, a one-way walkway running from the top edge to the bottom edge (slightly slanted, narrower at the
    top). Allowed direction: **top to bottom** (towards the camera), marked by painted chevrons.
Everything else is lawn, with benches and trees. One tree stands in the foreground and occludes people on the
left part of the promenade.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

W_REF, H_REF = 240.0, 180.0
K_DEPTH = 0.6  # image-y compression of ground-plane depth offsets
PERSON_H = 38.0  # height of a person at perspective scale 1 (reference px)
WALK_SPEED = 32.0  # usual walking speed at perspective scale 1 (reference px / s), ~1.4 m/s
H_WALK = (100.0, 126.0)  # y band of the two-way promenade
LANE_RIGHTWARD = (114.5, 122.5)  # foot-point y band of people walking left -> right (near lane)
LANE_LEFTWARD = (103.5, 111.5)  # foot-point y band of people walking right -> left (far lane)
OCCLUDER_DEPTH = 176.0  # foot y of the foreground tree (painter's order)

SCENE_DESCRIPTION = {
    "reference_frame": "240x180 (WxH); coordinates below are in reference pixels",
    "walkways": [
        {
            "name": "promenade",
            "shape": "horizontal band y in [100, 126]",
            "direction": "two-way (keep right: rightward walkers on the near lane, leftward on the far lane)",
        },
        {
            "name": "path",
            "shape": "band around x = 148 + 20*y/180, half-width 12*(0.6 + 0.55*y/180), top edge to bottom edge",
            "direction": "one-way, allowed top -> bottom (towards the camera), marked by painted chevrons",
        },
    ],
    "lawn": "everything else; walking on the lawn is wrong_direction",
    "clutter": "two benches, three background trees, one foreground tree occluding the promenade's left part",
}


def persp(y: float) -> float:
    """Perspective scale at foot-point row ``y`` (reference px): 0.6 at the top edge, 1.15 at the bottom."""
    return 0.6 + 0.55 * y / H_REF


def v_center(y):
    """x of the one-way path's centre line at row ``y``."""
    return 148.0 + 20.0 * y / H_REF


def v_halfwidth(y):
    """Half width of the one-way path at row ``y``."""
    return 12.0 * (0.6 + 0.55 * y / H_REF)


def in_promenade(y: float, margin: float = 0.0) -> bool:
    """Is foot row ``y`` on the two-way promenade (with ``margin``)?"""
    return H_WALK[0] - margin <= y <= H_WALK[1] + margin


def in_path(x: float, y: float, margin: float = 0.0) -> bool:
    """Is foot point (x, y) on the one-way path (with ``margin``)?"""
    return abs(x - v_center(y)) <= v_halfwidth(y) + margin


def inside_frame(x: float, y: float) -> bool:
    """Is the point inside the reference frame?"""
    return 0.0 <= x <= W_REF and 0.0 <= y <= H_REF


def is_wrong_way(x: float, y: float, gx: float, gy: float) -> bool:
    """Wrong-direction rule: on the lawn, or on the one-way path (outside the crossing) moving up (away)."""
    if not inside_frame(x, y):
        return False
    if not in_promenade(y, 3.0) and not in_path(x, y, 3.0):
        return True
    return in_path(x, y) and not in_promenade(y, 2.0) and gy < -0.3


@dataclass
class Scene:
    """Background image plus the foreground occluder layer, at the output resolution."""

    background: np.ndarray  # uint8 [H, W, 3] RGB
    occluder_mask: np.ndarray  # bool [H, W]
    occluder_rgb: np.ndarray  # uint8 [H, W, 3]


def _pt(x: float, y: float, sx: float, sy: float) -> tuple[int, int]:
    return int(round(x * sx * 16)), int(round(y * sy * 16))


def _draw_tree(img: np.ndarray, mask: np.ndarray | None, base, top, radius, sx, sy, rng) -> None:
    s = 0.5 * (sx + sy)
    trunk = (92, 66, 42)
    cv2.line(img, _pt(*base, sx, sy), _pt(*top, sx, sy), trunk, max(1, int(round(3.2 * s))), cv2.LINE_AA, 4)
    blobs = [(0.0, 0.0, 1.0, (42, 84, 38))]
    for _ in range(5):
        ang = rng.uniform(0, 2 * math.pi)
        blobs.append((math.cos(ang) * 0.45, math.sin(ang) * 0.4, rng.uniform(0.45, 0.6), (52, 100, 44)))
    blobs.append((-0.3, -0.35, 0.35, (70, 124, 58)))
    for dx, dy, rr, col in blobs:
        c = _pt(top[0] + dx * radius, top[1] + dy * radius, sx, sy)
        cv2.circle(img, c, int(round(rr * radius * s * 16)), col, -1, cv2.LINE_AA, 4)
        if mask is not None:
            cv2.circle(mask, c, int(round(rr * radius * s * 16)), 255, -1, cv2.LINE_8, 4)
    if mask is not None:
        cv2.line(mask, _pt(*base, sx, sy), _pt(*top, sx, sy), 255, max(1, int(round(3.2 * s))), cv2.LINE_8, 4)


def _draw_bench(img: np.ndarray, x: float, y: float, length: float, sx: float, sy: float) -> None:
    s = 0.5 * (sx + sy)
    p = persp(y)
    wood, dark = (128, 86, 52), (70, 48, 30)
    th = max(1, int(round(1.0 * s * p)))
    for lx in (x - 0.4 * length, x + 0.4 * length):
        cv2.line(img, _pt(lx, y, sx, sy), _pt(lx, y - 4 * p, sx, sy), dark, th, cv2.LINE_AA, 4)
    cv2.line(img, _pt(x - length / 2, y - 4 * p, sx, sy), _pt(x + length / 2, y - 4 * p, sx, sy), wood,
             max(1, int(round(2.2 * s * p))), cv2.LINE_AA, 4)
    cv2.line(img, _pt(x - length / 2, y - 8 * p, sx, sy), _pt(x + length / 2, y - 8 * p, sx, sy), wood,
             max(1, int(round(1.8 * s * p))), cv2.LINE_AA, 4)


def build_scene(height: int, width: int, rng: np.random.Generator) -> Scene:
    """Render the static background (lawn, paved walkways, markings, benches, trees) and the occluder layer."""
    sy, sx = height / H_REF, width / W_REF

    def lowfreq(amp: float, cells: int) -> np.ndarray:
        small = rng.normal(0.0, 1.0, (cells, max(2, int(round(cells * width / height))))).astype(np.float32)
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC) * amp

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yr, xr = (yy + 0.5) / sy, (xx + 0.5) / sx
    img = np.empty((height, width, 3), np.float32)
    img[:] = (72.0, 116.0, 50.0)
    img += lowfreq(11.0, 6)[..., None] * np.array([0.8, 1.0, 0.6], np.float32)
    grass = cv2.GaussianBlur(rng.normal(0.0, 10.0, (height, width)).astype(np.float32), (1, 3), 0)
    img += grass[..., None] * np.array([0.7, 1.0, 0.5], np.float32)

    hmask = (yr >= H_WALK[0]) & (yr <= H_WALK[1])
    vc, vh = v_center(yr), v_halfwidth(yr)
    vmask = np.abs(xr - vc) <= vh
    pave = np.array([156.0, 152.0, 144.0], np.float32) + lowfreq(6.0, 8)[..., None]
    pave = pave + rng.normal(0.0, 4.0, (height, width, 1)).astype(np.float32)
    joints_h = ((xr % 12.0) < 0.9) | (((yr - H_WALK[0]) % 6.5) < 0.7)
    joints_v = ((yr % 7.0) < 0.8) | ((((xr - vc) / (vh / 12.0) + 120.0) % 8.0) < 0.8)
    pave -= (np.where(vmask & ~hmask, joints_v, joints_h) * 20.0)[..., None]
    walk = hmask | vmask
    img = np.where(walk[..., None], pave, img)
    curb = ((np.abs(yr - H_WALK[0]) < 1.0) | (np.abs(yr - H_WALK[1]) < 1.0)) & ~vmask
    curb |= (np.abs(np.abs(xr - vc) - vh) < 1.0) & ~hmask
    img[curb] = (188.0, 186.0, 178.0)
    centre = (np.abs(yr - 113.0) < 0.6) & ((xr % 16.0) < 9.0) & ~vmask
    img[centre] = (214.0, 196.0, 112.0)
    bg = np.clip(img, 0, 255).astype(np.uint8)

    s = 0.5 * (sx + sy)
    for cy in (40.0, 152.0):  # chevrons: allowed direction of the one-way path (down)
        p, c = persp(cy), v_center(cy)
        pts = np.array([_pt(c - 5 * p, cy - 3 * p, sx, sy), _pt(c, cy + 2 * p, sx, sy),
                        _pt(c + 5 * p, cy - 3 * p, sx, sy)], np.int32)
        cv2.polylines(bg, [pts], False, (226, 226, 218), max(1, int(round(1.3 * s))), cv2.LINE_AA, 4)
    _draw_bench(bg, 52.0, 88.0, 22.0, sx, sy)
    _draw_bench(bg, 104.0, 152.0, 24.0, sx, sy)
    for base, r in (((18.0, 44.0), 14.0), ((222.0, 58.0), 15.0), ((224.0, 170.0), 13.0)):
        _draw_tree(bg, None, base, (base[0], base[1] - 1.1 * r), r, sx, sy, rng)

    occ = bg.copy()
    occ_mask = np.zeros((height, width), np.uint8)
    _draw_tree(occ, occ_mask, (38.0, OCCLUDER_DEPTH), (40.0, 117.0), 18.0, sx, sy, rng)
    return Scene(background=bg, occluder_mask=occ_mask > 0, occluder_rgb=occ)
