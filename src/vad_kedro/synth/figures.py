"""Articulated figures: pedestrians (17 COCO keypoints), bicycles and balls as drawing primitives.

A figure is built in its body frame (a = forward, b = left, c = up, reference px) and projected onto the image
with :func:`project`. Primitives are tuples in reference px:
``("L", x1, y1, x2, y2, thickness, rgb)`` (thick line with round caps), ``("C", x, y, radius, rgb)`` (disc),
``("E", points[n, 2], thickness, rgb)`` (closed polyline). :func:`draw` rasterises them at any resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from .scene import K_DEPTH, PERSON_H, persp

COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle",
)  # fmt: skip

# Shared palettes: anomalous and normal objects draw from the same colours (no colour gives an anomaly away).
SHIRTS = [(200, 40, 40), (40, 70, 160), (235, 235, 230), (30, 30, 34), (230, 190, 40), (60, 140, 70),
          (150, 60, 150), (240, 130, 40), (110, 110, 118), (80, 170, 200), (170, 40, 70), (200, 160, 120)]
TROUSERS = [(50, 70, 120), (28, 28, 32), (100, 100, 104), (176, 156, 110), (90, 60, 40), (30, 40, 80)]
SKINS = [(236, 200, 170), (210, 160, 120), (170, 120, 80), (120, 80, 50), (250, 220, 195)]
HAIR = [(30, 24, 20), (90, 60, 30), (200, 170, 100), (120, 120, 120), (60, 40, 30)]
SHOES = [(20, 20, 20), (90, 70, 50), (220, 220, 220)]


@dataclass(frozen=True)
class Look:
    """Appearance of one person (colours, sleeves, body size)."""

    shirt: tuple
    trousers: tuple
    skin: tuple
    hair: tuple
    shoes: tuple
    long_sleeves: bool
    size: float  # body height multiplier
    accent: tuple  # colour of a carried object (bicycle frame / ball), from the shirt palette


def random_look(rng: np.random.Generator) -> Look:
    """Draw a person's appearance from the shared palettes."""

    def pick(pal):
        return tuple(int(v) for v in pal[int(rng.integers(len(pal)))])

    return Look(pick(SHIRTS), pick(TROUSERS), pick(SKINS), pick(HAIR), pick(SHOES), bool(rng.random() < 0.45),
                float(rng.uniform(0.9, 1.08)), pick(SHIRTS))


@lru_cache(maxsize=4096)
def _shade(col: tuple, f: float) -> tuple:
    return tuple(int(c * f) for c in col)


def project(state: dict, a, b, c) -> np.ndarray:
    """Project body-frame offsets (forward a, left b, up c) to image reference px; arrays broadcast."""
    gx, gy = state["gx"], state["gy"]
    lx, ly = gy, -gx
    x = state["x"] + np.asarray(a) * gx + np.asarray(b) * lx
    y = state["y"] + K_DEPTH * (np.asarray(a) * gy + np.asarray(b) * ly) - np.asarray(c)
    return np.stack([x, y], axis=-1)


def _projector(state: dict):
    """Scalar version of :func:`project` (plus the fall rotation about the foot point): (a, b, c) -> (x, y)."""
    X, Y, gx, gy = state["x"], state["y"], state["gx"], state["gy"]
    lx, ly = gy, -gx
    rot = state.get("rot", 0.0)
    if not rot:
        return lambda a, b, c: (X + a * gx + b * lx, Y + K_DEPTH * (a * gy + b * ly) - c)
    ca, sa = math.cos(rot), math.sin(rot)

    def proj(a, b, c):
        dx, dy = a * gx + b * lx, K_DEPTH * (a * gy + b * ly) - c
        return X + ca * dx - sa * dy, Y + sa * dx + ca * dy

    return proj


def gait_angles(state: dict) -> dict:
    """Joint angles (radians) for the state's mode and gait phase, unless the state carries explicit ``angles``.

    Keys: thigh ``tl``/``tr`` (forward positive), knee flexion ``kl``/``kr``, arm ``al``/``ar`` (forward positive,
    0 = hanging), elbow flexion ``el``/``er``, torso ``lean``.
    """
    if "angles" in state:
        return state["angles"]
    mode, ph = state["mode"], state["phase"]
    sp, cp = math.sin(ph), math.cos(ph)
    if mode == "run":
        amp = 0.62
        tl, tr = amp * sp, -amp * sp
        return {"tl": tl, "tr": tr, "kl": 0.25 + 1.4 * max(0.0, cp), "kr": 0.25 + 1.4 * max(0.0, -cp),
                "al": -1.1 * tl, "ar": -1.1 * tr, "el": 1.5, "er": 1.5, "lean": 0.22}
    if mode == "stand":
        sway = 0.03 * sp
        return {"tl": 0.05, "tr": -0.05, "kl": 0.05, "kr": 0.05, "al": 0.05 + sway, "ar": 0.05 - sway,
                "el": 0.15, "er": 0.15, "lean": 0.0}
    amp = 0.36
    tl, tr = amp * sp, -amp * sp
    return {"tl": tl, "tr": tr, "kl": 0.75 * max(0.0, cp), "kr": 0.75 * max(0.0, -cp), "al": -0.75 * tl,
            "ar": -0.75 * tr, "el": 0.25 + 0.3 * max(0.0, -0.75 * tl), "er": 0.25 + 0.3 * max(0.0, -0.75 * tr),
            "lean": 0.05}


def _ik(p: tuple, q: tuple, l1: float, l2: float, bend: float) -> tuple:
    """Two-link inverse kinematics in the (a, c) plane: the middle joint from p to q, bending towards ``bend``."""
    dx, dy = q[0] - p[0], q[1] - p[1]
    dist = min(max(math.hypot(dx, dy), 1e-3), l1 + l2 - 1e-3)
    cos_a = min(1.0, max(-1.0, (l1 * l1 + dist * dist - l2 * l2) / (2 * l1 * dist)))
    ang = math.atan2(dy, dx) + bend * math.acos(cos_a)
    return p[0] + l1 * math.cos(ang), p[1] + l1 * math.sin(ang)


_KP_ORDER = ("nose", "eye_l", "eye_r", "ear_l", "ear_r", "sh_l", "sh_r", "elbow_l", "elbow_r", "wrist_l", "wrist_r",
             "hip_l", "hip_r", "knee_l", "knee_r", "ankle_l", "ankle_r")


def _head_rows(rows: dict, head: tuple, hr: float) -> None:
    a, c = head
    rows["head"] = (a, 0.0, c)
    rows["nose"] = (a + 0.9 * hr, 0.0, c - 0.1 * hr)
    rows["eye_l"] = (a + 0.7 * hr, 0.35 * hr, c + 0.15 * hr)
    rows["eye_r"] = (a + 0.7 * hr, -0.35 * hr, c + 0.15 * hr)
    rows["ear_l"] = (a, 0.95 * hr, c)
    rows["ear_r"] = (a, -0.95 * hr, c)


def _finish(rows: dict, state: dict, look: Look, hp: float, hr: float) -> tuple[np.ndarray, list]:
    proj = _projector(state)
    P = {n: proj(*r) for n, r in rows.items()}
    kps = np.array([P[n] for n in _KP_ORDER], dtype=np.float64)
    return kps, _body_prims(P, look, hp, hr, state)


def person_figure(state: dict, look: Look) -> tuple[np.ndarray, list]:
    """Keypoints [17, 2] (COCO order, reference px) and drawing primitives of one person in ``state``."""
    hp = PERSON_H * persp(state["y"]) * look.size
    if state["mode"] == "ride":
        return _rider_figure(state, look, hp)
    l1, l2, u1, u2, torso = 0.245 * hp, 0.255 * hp, 0.16 * hp, 0.15 * hp, 0.30 * hp
    hw, sw, hr = 0.075 * hp, 0.11 * hp, 0.068 * hp
    ang = gait_angles(state)
    legs = {}
    for side in ("l", "r"):
        th, kn = ang["t" + side], ang["k" + side]
        ka, kc = l1 * math.sin(th), -l1 * math.cos(th)
        legs[side] = (ka, kc, ka + l2 * math.sin(th - kn), kc - l2 * math.cos(th - kn))
    hip_h = max(-legs["l"][3], -legs["r"][3])
    lean = ang["lean"]
    ua, uc = math.sin(lean), math.cos(lean)
    sh_a, sh_c = 0.93 * torso * ua, hip_h + 0.93 * torso * uc
    rows = {}
    for side, sgn in (("l", 1.0), ("r", -1.0)):
        ka, kc, aa, ac = legs[side]
        rows["hip_" + side] = (0.0, sgn * hw, hip_h)
        rows["knee_" + side] = (ka, sgn * hw, hip_h + kc)
        rows["ankle_" + side] = (aa, sgn * hw, hip_h + ac)
        rows["toe_" + side] = (aa + 0.06 * hp, sgn * hw, hip_h + ac)
        al, el = ang["a" + side], ang["e" + side]
        ea, ec = sh_a + u1 * math.sin(al), sh_c - u1 * math.cos(al)
        rows["sh_" + side] = (sh_a, sgn * sw, sh_c)
        rows["elbow_" + side] = (ea, sgn * sw * 1.05, ec)
        rows["wrist_" + side] = (ea + u2 * math.sin(al + el), sgn * sw * 1.05, ec - u2 * math.cos(al + el))
    _head_rows(rows, ((torso + 0.09 * hp) * ua, hip_h + (torso + 0.09 * hp) * uc), hr)
    return _finish(rows, state, look, hp, hr)


def _body_prims(P: dict, look: Look, hp: float, hr: float, state: dict) -> list:
    """Primitives of a person from projected joints ``P`` (far-side limbs first, near-side arm last)."""
    left_far = state["gx"] > 0 if abs(state["gx"]) > 0.2 else state["gy"] > 0
    sides = ("l", "r") if left_far else ("r", "l")
    fore = look.shirt if look.long_sleeves else look.skin
    t_leg1, t_leg2, t_shoe, t_arm1, t_arm2 = 0.085 * hp, 0.075 * hp, 0.055 * hp, 0.065 * hp, 0.055 * hp

    def limbs(side, f):
        hip, knee, ankle, toe = P["hip_" + side], P["knee_" + side], P["ankle_" + side], P["toe_" + side]
        sh, elbow, wrist = P["sh_" + side], P["elbow_" + side], P["wrist_" + side]
        tr, sh_col = _shade(look.trousers, f), _shade(look.shirt, f)
        return [("L", *hip, *knee, t_leg1, tr), ("L", *knee, *ankle, t_leg2, tr),
                ("L", *ankle, *toe, t_shoe, _shade(look.shoes, f))], \
               [("L", *sh, *elbow, t_arm1, sh_col), ("L", *elbow, *wrist, t_arm2, _shade(fore, f))]

    far_legs, far_arms = limbs(sides[0], 0.78)
    near_legs, near_arms = limbs(sides[1], 1.0)
    (hlx, hly), (hrx, hry) = P["hip_l"], P["hip_r"]
    (slx, sly), (srx, sry) = P["sh_l"], P["sh_r"]
    hcx, hcy, scx, scy = 0.5 * (hlx + hrx), 0.5 * (hly + hry), 0.5 * (slx + srx), 0.5 * (sly + sry)
    width = math.hypot(slx - srx, sly - sry)
    prims = far_arms + far_legs + near_legs
    prims.append(("L", hlx, hly, hrx, hry, 0.1 * hp, look.trousers))
    prims.append(("L", hcx + 0.25 * (scx - hcx), hcy + 0.25 * (scy - hcy), scx, scy, max(0.14 * hp, width + 0.04 * hp),
                  look.shirt))
    hx, hy = P["head"]
    prims.append(("C", hx, hy, hr, look.hair))
    if state["gy"] > -0.6 or state.get("rot", 0.0):  # face visible unless walking away from the camera
        nx, ny = P["nose"]
        prims.append(("C", hx + 0.3 * (nx - hx), hy + 0.3 * (ny - hy) + 0.12 * hr, 0.78 * hr, look.skin))
    prims += near_arms
    return prims


def _rider_figure(state: dict, look: Look, hp: float) -> tuple[np.ndarray, list]:
    """A cyclist's rider: seated on the saddle, feet on the rotating pedals, hands on the handlebar."""
    g = bike_geometry(hp)
    l1, l2, u1, u2 = 0.245 * hp, 0.255 * hp, 0.16 * hp, 0.15 * hp
    hw, sw, hr = 0.075 * hp, 0.11 * hp, 0.068 * hp
    crank = state["phase"]
    hip = (g["seat"][0], g["seat"][1] + 0.04 * hp)
    ua, uc = math.sin(0.6), math.cos(0.6)
    sh = (hip[0] + 0.279 * hp * ua, hip[1] + 0.279 * hp * uc)
    rows = {}
    hand = (g["handle"][0], g["handle"][1])
    elbow = _ik(sh, hand, u1, u2, -1.0)  # elbows drop
    for side, sgn, off in (("l", 1.0, 0.0), ("r", -1.0, math.pi)):
        bx, bc = g["bracket"]
        pedal = (bx + 0.09 * hp * math.cos(crank + off), bc + 0.09 * hp * math.sin(crank + off))
        knee = _ik(hip, pedal, l1, l2, 1.0)  # knees bend forward
        rows["hip_" + side] = (hip[0], sgn * hw, hip[1])
        rows["knee_" + side] = (knee[0], sgn * hw, knee[1])
        rows["ankle_" + side] = (pedal[0], sgn * hw, pedal[1])
        rows["toe_" + side] = (pedal[0] + 0.05 * hp, sgn * hw, pedal[1])
        rows["sh_" + side] = (sh[0], sgn * sw, sh[1])
        rows["elbow_" + side] = (elbow[0], sgn * sw, elbow[1])
        rows["wrist_" + side] = (hand[0], sgn * sw, hand[1])
    _head_rows(rows, (hip[0] + 0.39 * hp * ua, hip[1] + 0.39 * hp * uc), hr)
    return _finish(rows, state, look, hp, hr)


def bike_geometry(hp: float) -> dict:
    """Key points of a bicycle in the (a, c) body plane for a rider of height ``hp``."""
    rw = 0.2 * hp
    return {
        "rw": rw,
        "rear": (-0.34 * hp, rw),
        "front": (0.34 * hp, rw),
        "bracket": (-0.02 * hp, rw),
        "seat": (-0.12 * hp, 0.5 * hp),
        "stem": (0.22 * hp, 0.5 * hp),
        "handle": (0.24 * hp, 0.6 * hp),
    }


def bicycle_figure(state: dict, look: Look) -> list:
    """Primitives of a bicycle (two wheels, frame) under a rider in ``state`` (uses ``look.accent``)."""
    hp = PERSON_H * persp(state["y"]) * look.size
    g = bike_geometry(hp)
    prims = []
    t = np.linspace(0.0, 2 * math.pi, 14, endpoint=False)
    for hub in (g["rear"], g["front"]):
        ring = project(state, hub[0] + g["rw"] * np.cos(t), np.zeros_like(t), hub[1] + g["rw"] * np.sin(t))
        prims.append(("E", ring, 0.04 * hp, (38, 38, 40)))

    def pt(v):
        return project(state, v[0], 0.0, v[1])

    for p, q in (("rear", "bracket"), ("bracket", "seat"), ("seat", "rear"), ("seat", "stem"), ("stem", "front"),
                 ("bracket", "stem"), ("stem", "handle")):
        prims.append(("L", *pt(g[p]), *pt(g[q]), 0.04 * hp, look.accent))
    return prims


def ball_figure(state: dict, look: Look) -> list:
    """A ball at ground point (x, y) and height h (image y = y - h)."""
    r = 0.075 * PERSON_H * persp(state["y"])
    return [("C", state["x"], state["y"] - state["h"], r, look.accent)]


def prims_extent(prims: list) -> tuple[float, float, float, float]:
    """Tight bounding box (x1, y1, x2, y2) of primitives in reference px."""
    lo_x, hi_x, lo_y, hi_y = [], [], [], []
    for p in prims:
        if p[0] == "L":
            r = p[5] / 2
            a, b = (p[1], p[3]) if p[1] < p[3] else (p[3], p[1])
            c, d = (p[2], p[4]) if p[2] < p[4] else (p[4], p[2])
        elif p[0] == "C":
            r, a, b, c, d = p[3], p[1], p[1], p[2], p[2]
        else:
            r = p[2] / 2
            a, b = float(p[1][:, 0].min()), float(p[1][:, 0].max())
            c, d = float(p[1][:, 1].min()), float(p[1][:, 1].max())
        lo_x.append(a - r)
        hi_x.append(b + r)
        lo_y.append(c - r)
        hi_y.append(d + r)
    return min(lo_x), min(lo_y), max(hi_x), max(hi_y)


def draw(img: np.ndarray, prims: list, sx: float, sy: float, color=None, aa: bool = True) -> None:
    """Rasterise primitives into ``img`` at scale (sx, sy); ``color`` overrides every colour (for masks)."""
    s = 0.5 * (sx + sy)
    lt = cv2.LINE_AA if aa else cv2.LINE_8
    for p in prims:
        col = color if color is not None else p[-1]
        if p[0] == "L":
            th = max(1, int(round(p[5] * s)))
            cv2.line(img, (int(p[1] * sx * 16), int(p[2] * sy * 16)), (int(p[3] * sx * 16), int(p[4] * sy * 16)),
                     col, th, lt, 4)
        elif p[0] == "C":
            cv2.circle(img, (int(p[1] * sx * 16), int(p[2] * sy * 16)), max(8, int(p[3] * s * 16)), col, -1, lt, 4)
        else:
            pts = (p[1] * (sx * 16, sy * 16)).astype(np.int32)
            cv2.polylines(img, [pts], True, col, max(1, int(round(p[2] * s))), lt, 4)
