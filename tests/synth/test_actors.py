"""Behaviour of simulated walkers and staged anomalies (no rendering)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vad_kedro.synth.actors import STAGERS, normal_crowd
from vad_kedro.synth.config import ANOMALY_TYPES
from vad_kedro.synth.scene import H_REF, W_REF, is_wrong_way, persp, v_center

FPS = 25.0


def _speeds(states):
    """Ground speed (perspective-normalised, reference px / s) between consecutive states."""
    out = []
    for a, b in zip(states, states[1:]):
        out.append(math.hypot(b["x"] - a["x"], (b["y"] - a["y"]) / 0.6) * FPS / persp(a["y"]))
    return np.array(out)


def test_scene_rules():
    assert not is_wrong_way(120.0, 113.0, 1.0, 0.0)  # promenade, either way
    assert not is_wrong_way(120.0, 113.0, -1.0, 0.0)
    assert not is_wrong_way(v_center(40.0), 40.0, 0.0, 1.0)  # path, allowed direction (down)
    assert is_wrong_way(v_center(40.0), 40.0, 0.0, -1.0)  # path, against the flow
    assert is_wrong_way(60.0, 150.0, 1.0, 0.0)  # lawn
    assert not is_wrong_way(-5.0, 150.0, 1.0, 0.0)  # outside the frame


@pytest.mark.parametrize("seed", range(4))
def test_normal_crowd_is_normal_and_varied(seed):
    actors = normal_crowd(np.random.default_rng(seed), FPS, 160, 0.3)
    states = [st for a in actors for st in a.states]
    assert not any(st["anom"] for st in states)
    assert not any(is_wrong_way(st["x"], st["y"], st["gx"], st["gy"]) for st in states)
    assert {st["mode"] for st in states} == {"walk"}
    visible = np.zeros(160, int)
    for a in actors:
        for k, st in enumerate(a.states):
            if 0 <= st["x"] <= W_REF and 0 <= st["y"] <= H_REF:
                visible[a.start + k] += 1
    assert visible.mean() >= 1.5 and visible.max() >= 3  # several people at once
    dirs = {round(st["gx"]) for st in states if abs(st["gx"]) > 0.9}
    assert dirs == {-1, 1}  # both directions on the two-way promenade
    sp = [np.median(_speeds(a.states)) for a in actors if len(a.states) > 5]
    assert 0.7 * 32 <= min(sp) and max(sp) <= 1.35 * 32


def test_every_type_has_a_stager():
    assert set(STAGERS) == set(ANOMALY_TYPES)


@pytest.mark.parametrize("kind", ANOMALY_TYPES)
def test_stagers_mark_anomalous_states(kind):
    rng = np.random.default_rng(11)
    for _ in range(3):
        actors = STAGERS[kind](rng, FPS)
        assert any(st["anom"] and st["atype"] == kind for a in actors for st in a.states)
        # the event starts at relative frame 0 (a cyclist: when it enters the frame)
        starts = [a.start + next(k for k, st in enumerate(a.states) if st["anom"] and (
            kind != "cyclist" or (0 <= st["x"] <= W_REF and 0 <= st["y"] <= H_REF))) for a in actors]
        assert min(starts) == 0


def test_running_is_three_times_faster():
    a = STAGERS["running"](np.random.default_rng(1), FPS)[0]
    sp = _speeds(a.states)
    anom = np.array([st["anom"] for st in a.states[1:]])
    ratio = np.median(sp[anom]) / np.median(sp[~anom])
    assert 2.7 <= ratio <= 3.3


def test_falling_rotates_to_the_ground_and_back():
    a = STAGERS["falling"](np.random.default_rng(2), FPS)[0]
    rot = np.array([abs(st.get("rot", 0.0)) for st in a.states])
    assert rot.max() == pytest.approx(1.5) and rot[-1] == 0.0
    assert {"fall", "lie", "getup"} <= {st["action"] for st in a.states}


def test_fighting_pair_is_close_with_erratic_arms():
    a, b = STAGERS["fighting"](np.random.default_rng(3), FPS)
    fa = [st for st in a.states if st["anom"]]
    fb = [st for st in b.states if st["anom"]]
    assert len(fa) == len(fb) > 0
    assert max(abs(p["x"] - q["x"]) for p, q in zip(fa, fb)) < 0.5 * 38
    arms = np.array([st["angles"]["ar"] for st in fa])
    assert np.abs(np.diff(arms)).mean() > 0.3  # fast, erratic limbs


def test_cyclist_is_a_bicycle_and_a_rider_at_three_times_speed():
    bike, rider = STAGERS["cyclist"](np.random.default_rng(4), FPS)
    assert (bike.kind, rider.kind) == ("bicycle", "person")
    assert 2.5 * 32 <= np.median(_speeds(rider.states)) <= 3.5 * 32


def test_thrown_ball_flies_fast_on_an_arc():
    person, ball = STAGERS["thrown_object"](np.random.default_rng(5), FPS)
    assert ball.kind == "ball"
    flying = [st for st in ball.states if st["action"] == "flying"]
    assert len(flying) > 5 and max(st["h"] for st in flying) > 10
    vx = abs(flying[-1]["x"] - flying[0]["x"]) / (len(flying) - 1) * FPS
    assert vx > 3 * 32 * 0.9


def test_loiterer_stays_in_a_small_area():
    a = STAGERS["loitering"](np.random.default_rng(6), FPS)[0]
    pts = np.array([(st["x"], st["y"]) for st in a.states if st["anom"]])
    assert len(pts) >= 2.0 * FPS
    assert np.ptp(pts[:, 0]) < 25 and np.ptp(pts[:, 1]) < 25
