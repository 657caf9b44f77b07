"""Behaviour of the people in the scene: normal walkers and the staged anomalies.

Every actor is simulated step by step at the video frame rate in reference units (see :mod:`.scene`). A state
is a dict: foot point ``x, y``; ground heading ``gx, gy`` (unit vector); ``mode`` (walk, run, stand, fall, lie,
getup, fight, throw, ride, ball); gait ``phase``; ``anom`` (acting anomalously); ``action``; optional
``rot`` (fall rotation, radians), ``angles`` (explicit joint angles) and ``h`` (ball height).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .figures import Look, person_figure, random_look
from .scene import (
    H_REF,
    K_DEPTH,
    LANE_LEFTWARD,
    LANE_RIGHTWARD,
    PERSON_H,
    W_REF,
    WALK_SPEED,
    is_wrong_way,
    persp,
    v_center,
    v_halfwidth,
)

X_IN_LEFT, X_OUT_RIGHT = -22.0, W_REF + 22.0
Y_TOP, Y_BOTTOM = -6.0, H_REF + 46.0
TWO_PI = 2.0 * math.pi


@dataclass
class Actor:
    """One object's simulated states; ``start`` is the frame of ``states[0]`` (relative until placed)."""

    kind: str  # person | bicycle | ball
    look: Look
    states: list[dict]
    start: int = 0
    anomaly_type: str = ""
    event: int = -1
    extra: dict = field(default_factory=dict)

    def state_at(self, frame: int) -> dict | None:
        """State at a global frame, or None when the actor is not in the scene."""
        k = frame - self.start
        return self.states[k] if 0 <= k < len(self.states) else None


class PersonSim:
    """Step-by-step simulation of one person (or cyclist) in reference units."""

    def __init__(self, x: float, y: float, fps: float, rng: np.random.Generator) -> None:
        self.x, self.y = float(x), float(y)
        self.gx, self.gy = 1.0, 0.0
        self.phase = float(rng.uniform(0.0, TWO_PI))
        self.dt = 1.0 / fps
        self.rng = rng
        self.states: list[dict] = []

    def emit(self, mode: str, anom: bool, action: str, atype: str = "", **extra) -> None:
        st = {"x": self.x, "y": self.y, "gx": self.gx, "gy": self.gy, "mode": mode, "phase": self.phase,
              "anom": bool(anom), "action": action, "atype": atype if anom else ""}
        st.update(extra)
        self.states.append(st)

    def face(self, dx: float, dy: float) -> None:
        """Turn towards an image-plane direction (converted to the ground plane)."""
        gx, gy = dx, dy / K_DEPTH
        n = math.hypot(gx, gy)
        if n > 1e-9:
            self.gx, self.gy = gx / n, gy / n

    def walk(self, waypoints: list, factor: float, gait: str = "walk", anomaly: tuple | None = None,
             max_time: float | None = None, action: str | None = None) -> list | None:
        """Move through ``waypoints`` at ``factor`` x the walking speed (perspective-scaled).

        ``anomaly`` is None, ``("always", type)`` or ``("wrongway", type)`` (anomalous where
        :func:`.scene.is_wrong_way` holds). Returns the remaining waypoints when stopped by ``max_time``.
        """
        freq = {"walk": 0.95 * math.sqrt(factor), "run": 1.45 * math.sqrt(factor / 3.0), "ride": 1.25}[gait]
        steps, wps = 0, [tuple(map(float, w)) for w in waypoints]
        while wps:
            tx, ty = wps[0]
            dx, dy = tx - self.x, ty - self.y
            dist = math.hypot(dx, dy)
            if dist < 1e-6:
                wps.pop(0)
                continue
            self.face(dx, dy)
            step = WALK_SPEED * factor * persp(self.y) * self.dt * math.hypot(self.gx, K_DEPTH * self.gy)
            if step >= dist:
                self.x, self.y = tx, ty
                wps.pop(0)
            else:
                self.x += dx / dist * step
                self.y += dy / dist * step
            self.phase = (self.phase + TWO_PI * freq * self.dt) % TWO_PI
            if anomaly is None:
                anom, atype = False, ""
            elif anomaly[0] == "always":
                anom, atype = True, anomaly[1]
            else:
                anom, atype = is_wrong_way(self.x, self.y, self.gx, self.gy), anomaly[1]
            self.emit(gait, anom, action or gait, atype)
            steps += 1
            if max_time is not None and steps * self.dt >= max_time and wps:
                return wps
        return None

    def stand(self, seconds: float, anomaly: tuple | None = None, action: str = "stand") -> None:
        for _ in range(max(1, int(round(seconds / self.dt)))):
            self.phase = (self.phase + TWO_PI * 0.4 * self.dt) % TWO_PI
            self.emit("stand", anomaly is not None, action, anomaly[1] if anomaly else "")

    def fall(self, sign: float, fall_s: float, lie_s: float, getup_s: float, atype: str) -> None:
        """Topple to the ground (accelerating), lie still, then get up again."""
        n = max(2, int(round(fall_s / self.dt)))
        for k in range(n):
            u = (k + 1) / n
            ang = {"tl": 0.1 + 0.3 * u, "tr": -0.1, "kl": 0.1, "kr": 0.2 * u, "al": 0.2 + 1.6 * u, "ar": 0.2 + 1.2 * u,
                   "el": 0.2, "er": 0.4, "lean": 0.1 * u}
            self.emit("fall", True, "fall", atype, rot=sign * 1.5 * u * u, angles=ang)
        lie = {"tl": 0.4, "tr": -0.05, "kl": 0.3, "kr": 0.1, "al": 2.2, "ar": 1.6, "el": 0.3, "er": 0.5, "lean": 0.1}
        for _ in range(max(1, int(round(lie_s / self.dt)))):
            self.emit("lie", True, "lie", atype, rot=sign * 1.5, angles=lie)
        n = max(2, int(round(getup_s / self.dt)))
        for k in range(n):
            u = (k + 1) / n
            ang = {"tl": 0.9 * (1 - u), "tr": 0.5 * (1 - u), "kl": 1.4 * (1 - u), "kr": 1.0 * (1 - u),
                   "al": 1.0 * (1 - u), "ar": 0.8 * (1 - u), "el": 0.5, "er": 0.5, "lean": 0.5 * (1 - u)}
            self.emit("getup", True, "getup", atype, rot=sign * 1.5 * (1 - u), angles=ang)

    def fight(self, seconds: float, toward: float, atype: str) -> None:
        """Erratic fast limbs and lunges while facing the opponent (``toward`` = +1 right, -1 left)."""
        self.gx, self.gy = float(toward), 0.0
        base_x, base_y = self.x, self.y
        rng, p = self.rng, persp(self.y)
        ang = {"al": 1.0, "ar": 1.0, "el": 1.0, "er": 1.0}
        lunge_ph = float(rng.uniform(0, TWO_PI))
        for k in range(max(1, int(round(seconds / self.dt)))):
            for key, lo, hi in (("al", -0.6, 2.6), ("ar", -0.6, 2.6), ("el", 0.0, 2.2), ("er", 0.0, 2.2)):
                if rng.random() < 0.7:
                    ang[key] = float(rng.uniform(lo, hi))
            full = dict(ang, tl=0.3 + float(rng.uniform(-0.25, 0.25)), tr=-0.25 + float(rng.uniform(-0.25, 0.25)),
                        kl=float(rng.uniform(0.0, 0.6)), kr=float(rng.uniform(0.0, 0.6)),
                        lean=float(rng.uniform(-0.1, 0.35)))
            self.x = base_x + toward * 0.06 * PERSON_H * p * math.sin(TWO_PI * 2.2 * k * self.dt + lunge_ph) \
                + float(rng.uniform(-1.0, 1.0)) * p
            self.y = base_y + float(rng.uniform(-0.7, 0.7)) * p
            self.emit("fight", True, "fight", atype, angles=full)
        self.x, self.y = base_x, base_y

    def throw(self, atype: str) -> int:
        """Wind up, throw overarm with the right arm and follow through; returns the index of the release."""
        legs = {"tl": 0.22, "tr": -0.18, "kl": 0.15, "kr": 0.15}
        release = -1
        for dur, a0, a1, e0, e1, l0, l1, act in ((0.36, 0.0, -2.3, 0.2, 1.1, 0.0, -0.12, "throw_windup"),
                                                 (0.12, -2.3, 2.1, 1.1, 0.1, -0.12, 0.25, "throw"),
                                                 (0.32, 2.1, 0.5, 0.1, 0.3, 0.25, 0.08, "throw_follow")):
            n = max(1, int(round(dur / self.dt)))
            for k in range(n):
                u = (k + 1) / n
                ang = dict(legs, ar=a0 + (a1 - a0) * u, er=e0 + (e1 - e0) * u, al=0.7, el=0.6, lean=l0 + (l1 - l0) * u)
                self.emit("throw", True, act, atype, angles=ang)
            if act == "throw":
                release = len(self.states) - 1
        return release

    def loiter(self, seconds: float, radius: float, atype: str) -> None:
        """Hang around within ``radius`` of the current spot: stand, turn, shuffle slowly."""
        cx, cy = self.x, self.y
        n_end = len(self.states) + int(round(seconds / self.dt))
        rng = self.rng
        while len(self.states) < n_end:
            left = (n_end - len(self.states)) * self.dt
            if rng.random() < 0.5:
                ang = float(rng.uniform(0, TWO_PI))
                self.gx, self.gy = math.cos(ang), math.sin(ang)
                self.stand(min(left, float(rng.uniform(0.5, 1.3))), ("always", atype), "loiter")
            else:
                r, ang = float(rng.uniform(0.3, 1.0)) * radius, float(rng.uniform(0, TWO_PI))
                target = (cx + r * math.cos(ang), cy + K_DEPTH * r * math.sin(ang))
                self.walk([target], 0.35, anomaly=("always", atype), max_time=left, action="loiter")


# ---------------------------------------------------------------- routes
def lane_y(direction: int, rng: np.random.Generator) -> float:
    """Foot row of a promenade walker (keep right)."""
    lo, hi = LANE_RIGHTWARD if direction > 0 else LANE_LEFTWARD
    return float(rng.uniform(lo, hi))


def v_pt(y: float, off: float) -> tuple[float, float]:
    """Point of the one-way path at row ``y`` and lateral offset ``off`` in [-1, 1] of the half width."""
    return float(v_center(y) + off * v_halfwidth(y)), float(y)


def route(kind: str, direction: int, lane: float, off: float) -> list:
    """Normal routes: promenade ("h"), one-way path down ("v"), path then promenade ("v2h"), promenade then path."""
    x_in, x_out = (X_IN_LEFT, X_OUT_RIGHT) if direction > 0 else (X_OUT_RIGHT, X_IN_LEFT)
    if kind == "h":
        return [(x_in, lane), (x_out, lane)]
    if kind == "v":
        return [v_pt(Y_TOP, off), v_pt(Y_BOTTOM, off)]
    if kind == "v2h":
        return [v_pt(Y_TOP, off), v_pt(lane, off), (x_out, lane)]
    return [(x_in, lane), v_pt(lane, off), v_pt(Y_BOTTOM, off)]  # "h2v"


GAP_SHAPE = 8.0  # regularity of arrivals (1 = Poisson)

#: Arrival streams of normal walkers: (share of the crowd rate, direction or 0 = random, routes, route probabilities)
STREAMS = (
    (0.4, 1, ("h", "h2v"), (0.8, 0.2)),  # promenade, left -> right (some turn down the path)
    (0.4, -1, ("h", "h2v"), (0.8, 0.2)),  # promenade, right -> left
    (0.2, 0, ("v", "v2h"), (0.6, 0.4)),  # one-way path, top -> bottom (some turn onto the promenade)
)


def normal_crowd(rng: np.random.Generator, fps: float, n_frames: int, rate: float) -> list[Actor]:
    """Walkers arriving in groups of 1-3 on every allowed route and direction.

    Each stream is a renewal process with Gamma(GAP_SHAPE) gaps (more regular than Poisson, so every video has a
    comparable crowd); members of a group share route and speed, walk side by side with small lags.
    """
    duration = n_frames / fps
    actors: list[Actor] = []
    for share, stream_dir, kinds, probs in STREAMS:
        mean_gap = 1.0 / (rate * share)
        t = -22.0 + float(rng.uniform(0.0, mean_gap))
        while t <= duration:
            size = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
            kind = str(rng.choice(kinds, p=probs))
            direction = stream_dir or (1 if rng.random() < 0.5 else -1)
            lane, off = lane_y(direction, rng), float(rng.uniform(-0.5, 0.5))
            factor = float(rng.uniform(0.75, 1.3))
            lag = 0.0
            for m in range(size):
                ln, of = lane, off
                if m:
                    lo, hi = LANE_RIGHTWARD if direction > 0 else LANE_LEFTWARD
                    ln = float(np.clip(lane + rng.uniform(-4.0, 4.0), lo - 1.5, hi + 1.5))
                    of = float(np.clip(off + rng.uniform(-0.45, 0.45), -0.75, 0.75))
                    lag += float(rng.uniform(0.1, 0.6))
                path = route(kind, direction, ln, of)
                sim = PersonSim(*path[0], fps, rng)
                sim.walk(path[1:], factor)
                actor = Actor("person", random_look(rng), sim.states, int(round((t + lag) * fps)))
                clip_to_video(actor, n_frames)
                if actor.states:
                    actors.append(actor)
            t += float(rng.gamma(GAP_SHAPE, mean_gap / GAP_SHAPE))
    return actors


def clip_to_video(actor: Actor, n_frames: int) -> None:
    """Drop the states before frame 0 and after the last frame (in place)."""
    lo = max(0, -actor.start)
    hi = max(lo, min(len(actor.states), n_frames - actor.start))
    actor.states = actor.states[lo:hi]
    actor.start += lo


# ---------------------------------------------------------------- anomaly scripts
def _h_or_v(rng: np.random.Generator, p_h: float) -> tuple[str, int, float, float]:
    direction = 1 if rng.random() < 0.5 else -1
    return ("h" if rng.random() < p_h else "v"), direction, lane_y(direction, rng), float(rng.uniform(-0.4, 0.4))


def _first_inside(states: list[dict]) -> int:
    for k, st in enumerate(states):
        if 0.0 <= st["x"] <= W_REF and 0.0 <= st["y"] <= H_REF:
            return k
    return 0


def stage_running(rng, fps):
    """A person walks in, then runs (3x speed, faster and wider gait) until leaving the frame."""
    kind, d, lane, off = _h_or_v(rng, 0.75)
    path = route(kind, d, lane, off)
    sim, factor = PersonSim(*path[0], fps, rng), float(rng.uniform(0.9, 1.1))
    rest = sim.walk(path[1:], factor, max_time=float(rng.uniform(0.8, 2.0) if kind == "h" else rng.uniform(2.5, 4.0)))
    k0 = len(sim.states)
    sim.walk(rest or path[-1:], 3.0 * factor, gait="run", anomaly=("always", "running"))
    return [Actor("person", random_look(rng), sim.states, -k0)]


def stage_wrong_direction(rng, fps):
    """Against the one-way flow (bottom -> top on the path) or across the lawn."""
    u, d = rng.random(), 1 if rng.random() < 0.5 else -1
    lane, off = lane_y(d, rng), float(rng.uniform(-0.4, 0.4))
    x_out = X_OUT_RIGHT if d > 0 else X_IN_LEFT
    if u < 0.4:  # up the one-way path, then turn onto the promenade
        path = [v_pt(Y_BOTTOM, off), v_pt(lane, off), (x_out, lane)]
    elif u < 0.65:  # from the left edge across the lower lawn onto the promenade
        path = [(X_IN_LEFT, float(rng.uniform(136, 168))), (float(rng.uniform(60, 110)), 121.0), (X_OUT_RIGHT, 121.0)]
    elif u < 0.85:  # leave the promenade across the lower lawn
        lane = lane_y(1, rng)
        path = [(X_IN_LEFT, lane), (float(rng.uniform(80, 130)), lane), (X_IN_LEFT, float(rng.uniform(150, 172)))]
    else:  # leave the promenade across the upper lawn
        lane = lane_y(-1, rng)
        path = [(X_OUT_RIGHT, lane), (float(rng.uniform(60, 120)), lane), (X_IN_LEFT, float(rng.uniform(55, 85)))]
    sim = PersonSim(*path[0], fps, rng)
    sim.walk(path[1:], float(rng.uniform(1.0, 1.3)), anomaly=("wrongway", "wrong_direction"))
    k0 = next((k for k, st in enumerate(sim.states) if st["anom"]), 0)
    return [Actor("person", random_look(rng), sim.states, -k0)]


def stage_falling(rng, fps):
    """A walker falls (rotates to the ground), lies for a while, gets up and walks on."""
    kind, d, lane, off = _h_or_v(rng, 0.8)
    path = route(kind, d, lane, off)
    if kind == "h":
        stop = (float(rng.uniform(35, 205)), lane)
    else:
        stop = v_pt(float(rng.uniform(45, 160)), off)
    sim = PersonSim(*path[0], fps, rng)
    factor = float(rng.uniform(0.8, 1.2))
    sim.walk([stop], factor)
    k0 = len(sim.states)
    sign = math.copysign(1.0, sim.gx) if abs(sim.gx) > 0.3 else (1.0 if rng.random() < 0.5 else -1.0)
    sim.fall(sign, 0.6, float(rng.uniform(1.0, 2.4)), 0.9, "falling")
    sim.walk(path[-1:], factor)
    return [Actor("person", random_look(rng), sim.states, -k0)]


def stage_fighting(rng, fps):
    """Two walkers meet on the promenade, fight (erratic fast limbs, lunges), then walk back."""
    my, mx = float(rng.uniform(106, 120)), float(rng.uniform(45, 195))
    gap = 0.2 * PERSON_H * persp(my)
    seconds = float(rng.uniform(1.6, 2.8))
    out = []
    for side in (1, -1):
        x0 = X_IN_LEFT if side > 0 else X_OUT_RIGHT
        sim = PersonSim(x0, my, fps, rng)
        sim.walk([(mx - side * gap, my)], float(rng.uniform(0.9, 1.2)))
        k0 = len(sim.states)
        sim.fight(seconds, float(side), "fighting")
        sim.walk([(x0, lane_y(-side, rng))], float(rng.uniform(1.0, 1.3)))
        out.append(Actor("person", random_look(rng), sim.states, -k0))
    return out


def stage_cyclist(rng, fps):
    """A rider on a bicycle (wheels + rider, pedalling) at ~3x walking speed along a walkway."""
    kind, d, lane, off = _h_or_v(rng, 0.75)
    path = route(kind, d, lane, off)
    sim = PersonSim(*path[0], fps, rng)
    sim.walk(path[1:], float(rng.uniform(2.7, 3.3)), gait="ride", anomaly=("always", "cyclist"))
    k0 = _first_inside(sim.states)
    look = random_look(rng)
    return [Actor("bicycle", look, sim.states, -k0), Actor("person", look, sim.states, -k0)]


def stage_thrown_object(rng, fps):
    """A walker stops and throws a small ball overarm; the ball flies along a fast arc (then rolls) out of view."""
    d = 1 if rng.random() < 0.5 else -1
    lane = lane_y(d, rng)
    path = route("h", d, lane, 0.0)
    sim = PersonSim(*path[0], fps, rng)
    factor = float(rng.uniform(0.8, 1.2))
    sim.walk([(float(rng.uniform(50, 190)), lane)], factor)
    k0 = len(sim.states)
    release = sim.throw("thrown_object")
    sim.walk(path[-1:], factor)
    look = random_look(rng)
    # the ball: in the hand from the wind-up, then ballistic flight (ground point + height), then rolling
    ball: list[dict] = []
    for k in range(k0, release + 1):
        st = sim.states[k]
        kps, _ = person_figure(st, look)
        wx, wy = kps[10]
        ball.append({"x": float(wx), "y": st["y"], "h": float(st["y"] - wy), "gx": st["gx"], "gy": 0.0, "mode": "ball",
                     "phase": 0.0, "anom": True, "action": "held", "atype": "thrown_object"})
    p, dt = persp(lane), 1.0 / fps
    bx, h = ball[-1]["x"], ball[-1]["h"]
    vx, vh, g = d * float(rng.uniform(130, 170)) * p, float(rng.uniform(45, 75)) * p, 95.0 * p
    rolling = False
    for _ in range(int(5 * fps)):
        bx += vx * dt
        if not rolling:
            h += vh * dt
            vh -= g * dt
            if h <= 0.0:
                h, rolling, vx = 0.0, True, 0.55 * vx
        if not -10.0 <= bx <= W_REF + 10.0:
            break
        ball.append({"x": bx, "y": lane, "h": h, "gx": float(d), "gy": 0.0, "mode": "ball", "phase": 0.0,
                     "anom": True, "action": "rolling" if rolling else "flying", "atype": "thrown_object"})
    return [Actor("person", look, sim.states, -k0), Actor("ball", look, ball, 0)]


def stage_loitering(rng, fps):
    """A walker stops and hangs around a small area (standing, turning, shuffling) for a long time."""
    kind, d, lane, off = _h_or_v(rng, 0.7)
    path = route(kind, d, lane, off)
    spot = (float(rng.uniform(40, 200)), lane) if kind == "h" else v_pt(float(rng.uniform(30, 95)), off)
    sim = PersonSim(*path[0], fps, rng)
    factor = float(rng.uniform(0.8, 1.1))
    sim.walk([spot], factor)
    k0 = len(sim.states)
    sim.loiter(float(rng.uniform(2.0, 3.2)), 8.0 * persp(spot[1]), "loitering")
    sim.walk(path[-1:], factor)
    return [Actor("person", random_look(rng), sim.states, -k0)]


STAGERS = {
    "running": stage_running,
    "wrong_direction": stage_wrong_direction,
    "falling": stage_falling,
    "fighting": stage_fighting,
    "cyclist": stage_cyclist,
    "thrown_object": stage_thrown_object,
    "loitering": stage_loitering,
}
