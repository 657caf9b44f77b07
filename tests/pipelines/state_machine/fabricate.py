"""Tiny fabricated data for the state_machine tests (spec section 6): sprites with ground-truth tracks."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _draw(img: np.ndarray, x: int, y: int, w: int, h: int, color: tuple[int, int, int], stripe: bool) -> None:
    hh, ww = img.shape[:2]
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + w, ww), min(y + h, hh)
    if x2 <= x1 or y2 <= y1:
        return
    img[y1:y2, x1:x2] = color
    if stripe:  # a "head" and "legs" so the sprite has some structure
        img[y1:min(y1 + max(h // 4, 1), y2), x1:x2] = (230, 200, 170)
        img[max(y2 - h // 3, y1):y2, x1 + w // 2 - 1:min(x1 + w // 2 + 1, x2)] = (20, 20, 20)


def make_video(rng: np.random.Generator, n_frames: int, size: int, sprites: list[dict]) -> tuple[np.ndarray, pd.DataFrame, np.ndarray, np.ndarray]:
    """Render sprites; returns frames [T,S,S,3] uint8, tracks table, flow [T,S/2,S/2,2] float16, labels [T].

    A sprite with ``burst = (a, b, v)`` runs at ``v`` px/frame in frames a..b (inclusive, labelled abnormal),
    drawn in ``burst_color`` when given."""
    frames = np.full((n_frames, size, size, 3), 90, np.uint8)
    frames += rng.integers(0, 12, size=frames.shape, dtype=np.uint8)
    flow = np.zeros((n_frames, size // 2, size // 2, 2), np.float16)
    labels = np.zeros(n_frames, np.uint8)
    rows = []
    for tid, sp in enumerate(sprites):
        a, b, v_burst = sp.get("burst", (n_frames, n_frames, 0.0))
        for t in range(n_frames):
            in_burst = a <= t <= b
            # a burst (frames a..b, inclusive): the sprite runs at v_burst and takes burst_color
            x = int(round(sp["x0"] + sp["vx"] * t + (v_burst - sp["vx"]) * min(max(t - a + 1, 0), b - a + 1)))
            y = int(round(sp["y0"]))
            w, h, color = sp["w"], sp["h"], sp.get("burst_color", sp["color"]) if in_burst else sp["color"]
            vx = v_burst if in_burst else sp["vx"]
            if in_burst:
                labels[t] = 1
            if sp.get("fall_at") is not None and t >= sp["fall_at"]:
                w, h = sp["h"], sp["w"]  # lying down: shape flips
                y = int(round(sp["y0"] + sp["h"] - sp["w"]))
                labels[t] = 1
            if sp.get("anomalous"):
                labels[t] = 1
            _draw(frames[t], x, y, w, h, color, stripe=sp.get("stripe", True))
            x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + w, size), min(y + h, size)
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            flow[t, y1 // 2:(y2 + 1) // 2, x1 // 2:(x2 + 1) // 2] = (vx, 0.0)
            rows.append((t, tid, x1, y1, x2, y2, 1.0))
    tracks = pd.DataFrame(rows, columns=["frame", "track_id", "x1", "y1", "x2", "y2", "score"]).astype(
        {"frame": np.int32, "track_id": np.int32, "x1": np.float32, "y1": np.float32, "x2": np.float32,
         "y2": np.float32, "score": np.float32})
    return frames, tracks, flow, labels


def normal_sprite(rng: np.random.Generator, size: int, lane: int) -> dict:
    color = tuple(int(c) for c in rng.integers(40, 80, 3)) if rng.random() < 0.5 else (50, 60, 150)
    return {"x0": float(rng.integers(-4, 6)), "y0": 6 + 18 * lane + rng.integers(0, 3), "vx": 0.5 + 0.2 * rng.random(),
            "w": 8, "h": 16, "color": color}


def make_dataset(seed: int = 0, n_train: int = 6, n_test: int = 4, n_frames: int = 60, size: int = 64):
    """6 train + 4 test videos with 2-3 walking sprites; test anomalies: a novel-appearance sprite and a
    sprite that "falls" (shape flips mid-track). Returns dicts frames/tracks/flow, video_index, labels."""
    rng = np.random.default_rng(seed)
    frames, tracks, flow, labels, rows = {}, {}, {}, {}, []
    for i in range(n_train + n_test):
        test = i >= n_train
        vid = f"test_{i - n_train:02d}" if test else f"train_{i:02d}"
        sprites = [normal_sprite(rng, size, lane) for lane in range(int(rng.integers(2, 4)))]
        kinds = ""
        if test and (i - n_train) % 2 == 0:  # novel appearance: a big bright cart
            sprites.append({"x0": -2.0, "y0": 40.0, "vx": 0.9, "w": 16, "h": 12, "color": (240, 220, 0),
                            "stripe": False, "anomalous": True})
            kinds = "novel"
        elif test:
            sprites[0]["fall_at"] = 32
            kinds = "fall"
        f, tr, fl, lab = make_video(rng, n_frames, size, sprites)
        frames[vid], tracks[vid], flow[vid], labels[vid] = f, tr, fl, lab
        rows.append({"video_id": vid, "split": "test" if test else "train", "source_path": f"/x/{vid}",
                     "n_frames": n_frames, "fps": 25.0, "height": size, "width": size,
                     "video_label": int(test), "anomaly_types": kinds})
    return frames, tracks, flow, pd.DataFrame(rows), labels


def loaders(d: dict) -> dict:
    """Wrap values as PartitionedDataset-style loaders."""
    return {k: (lambda v=v: v) for k, v in d.items()}
