"""LBR-SPR end to end on the spec's fabricated set (methods/self_paced.md section 6), without Kedro.

An unlabeled pool of 8 videos (64x64 px, 100 frames) of small figures walking along horizontal lanes;
about 10 % of the objects are anomalous (4x speed, or a different shape and colour). Detector
boxes are the ground-truth boxes (score 0.9), flow is the ground-truth motion field. Trains with and
without self-paced refinement (6 epochs, warm-up 1, r = 0.05, nf 8, batch 64, motion enhancement on,
as the pipeline's defaults) and prints micro AUC.
Labels are only read for the final AUC.

Usage:
    python benchmarks/self_paced_synthetic_e2e.py [--nf 8] [--epochs 6] [--no-flow] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from vad_kedro.pipelines.self_paced.nodes import build_stcs, foreground_boxes, frame_scores, score_stcs, train_lbr


def fabricate(n_videos: int = 8, n_frames: int = 100, size: int = 64, seed: int = 0):
    """Videos, tracks, flow (partition loaders), the video index and frame labels (evaluation only)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    frames, tracks, flows, rows, labels = {}, {}, {}, [], {}
    for v in range(n_videos):
        vid = f"test_{v:02d}"
        bg = (100 + 20 * np.sin(xx / 5.0) * np.cos(yy / 7.0))[..., None] + np.array([0.0, 10.0, -5.0])
        video = np.empty((n_frames, size, size, 3), np.uint8)
        flow = np.zeros((n_frames, size, size, 2), np.float16)
        lab = np.zeros(n_frames, np.int64)
        objs = []
        for k in range(6):  # objects entering at staggered times along lanes
            kind = "normal"
            if rng.random() < 0.12:
                kind = rng.choice(["fast", "shape"])
            speed = rng.uniform(0.7, 1.1) * (4.0 if kind == "fast" else 1.0) * rng.choice([-1, 1])
            objs.append({"kind": kind, "lane": 8 + 11 * (k % 5), "t0": int(rng.integers(0, n_frames - 30)),
                         "speed": speed, "colour": np.array([200, 60, 60]) if kind != "shape" else np.array([60, 220, 60])})
        track_rows = []
        for t in range(n_frames):
            img = bg + rng.normal(0, 4, bg.shape)
            for j, o in enumerate(objs):
                dt = t - o["t0"]
                if dt < 0:
                    continue
                x = (2 if o["speed"] > 0 else size - 10) + o["speed"] * dt
                if x < -8 or x > size:
                    continue
                w, h = (10, 6) if o["kind"] == "shape" else (5, 10)
                x0, y0 = int(round(x)), o["lane"] - h // 2
                xa, xb, ya, yb = max(x0, 0), min(x0 + w, size), max(y0, 0), min(y0 + h, size)
                if xb - xa < 2:
                    continue
                img[ya:yb, xa:xb] = o["colour"] + rng.normal(0, 6, (yb - ya, xb - xa, 3))
                flow[t, ya:yb, xa:xb, 0] = o["speed"]
                track_rows.append((t, j, xa, ya, xb - 1, yb - 1, 0.9))
                if o["kind"] != "normal":
                    lab[t] = 1
            video[t] = np.clip(img, 0, 255).astype(np.uint8)
        frames[vid] = lambda a=video: a
        flows[vid] = lambda a=flow: a
        tr = pd.DataFrame(track_rows, columns=["frame", "track_id", "x1", "y1", "x2", "y2", "score"])
        tracks[vid] = lambda a=tr: a
        labels[vid] = lab
        rows.append({"video_id": vid, "split": "test", "n_frames": n_frames, "height": size, "width": size})
    return frames, tracks, flows, pd.DataFrame(rows), labels


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nf", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--no-flow", action="store_true", help="switch motion enhancement off")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--shrink-rate", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    frames, tracks, flows, index, labels = fabricate()
    params = {
        "mode": "partial",
        "boxes": {"min_area": 25, "flow_units": "native"},
        "cubes": {"context": 2, "patch_size": 32},
        "model": {"nf": args.nf, "use_flow": not args.no_flow},
        "train": {"epochs": args.epochs, "warmup_epochs": args.warmup, "shrink_rate": args.shrink_rate,
                  "batch_size": args.batch_size, "num_threads": args.threads},
        "scoring": {"smooth_window": 10},
    }
    pool = sorted(index.video_id)
    start = time.perf_counter()
    boxes = foreground_boxes(tracks, flows, index, pool, params)
    stcs = build_stcs(frames, flows, boxes, index, pool, params)
    y = np.concatenate([labels[v] for v in pool])
    print(f"cubes: {len(stcs['raw'])} from {len(pool)} videos in {time.perf_counter() - start:.1f} s; "
          f"anomalous frames {y.mean():.1%}")
    for name, refine in (("lbr_spr", True), ("lbr_norefine", False)):
        start = time.perf_counter()
        ckpt, hist, sse = train_lbr(stcs, params, {"refine": refine}, args.seed, "cpu")
        scores = frame_scores(score_stcs(ckpt, stcs, sse, params), stcs, index, params)
        auc = roc_auc_score(y, scores.sort_values(["video_id", "frame"])["score"])
        print(f"{name}: micro AUC {auc:.3f}  ({time.perf_counter() - start:.1f} s, final loss "
              f"{hist['loss'][-1]['value']:.4f}, final mean weight {hist['mean_weight'][-1]['value']:.3f})")


if __name__ == "__main__":
    main()
