"""Detector quality on the embedded benchmark: recall and precision at IoU 0.5 against the generator's boxes.

    python benchmarks/feature_detection.py [--size default|smoke] [--root DIR] [--detector NAME] [--videos N]

Per frame, detections are matched one-to-one to the generator's boxes (annotations/objects.csv) with the
Hungarian algorithm on IoU; a match needs IoU >= 0.5. Recall is reported for pedestrians (``kind ==
person``) and for all objects; precision counts every detection against all objects. Both the raw
detector output and the confirmed tracks (detector + IoU tracker, what ``tracks`` holds) are scored.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import yaml
from scipy.optimize import linear_sum_assignment

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vad_kedro.vision.detection import DETECTORS  # noqa: E402
from vad_kedro.vision.geometry import iou_matrix  # noqa: E402
from vad_kedro.vision.tracking import track_detections  # noqa: E402


def load_frames(folder: Path) -> np.ndarray:
    files = sorted(folder.glob("*.jpg"))
    return np.stack([cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files])


def match_counts(gt: pd.DataFrame, det_by_frame: dict[int, np.ndarray], n_frames: int, thr: float = 0.5) -> dict:
    """True positives per kind, number of detections, number of ground-truth boxes per kind."""
    tp_kind: dict[str, int] = {}
    n_det = 0
    gt_by_frame = {int(f): g for f, g in gt.groupby("frame")}
    for f in range(n_frames):
        det = det_by_frame.get(f, np.zeros((0, 4)))
        n_det += len(det)
        g = gt_by_frame.get(f)
        if g is None or len(det) == 0:
            continue
        iou = iou_matrix(g[["x1", "y1", "x2", "y2"]].to_numpy(), det[:, :4])
        r, c = linear_sum_assignment(-iou)
        ok = iou[r, c] >= thr
        for kind in g["kind"].to_numpy()[r[ok]]:
            tp_kind[kind] = tp_kind.get(kind, 0) + 1
    return {"tp": tp_kind, "n_det": n_det, "n_gt": gt["kind"].value_counts().to_dict()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="default")
    ap.add_argument("--root", default=None, help="benchmark root (generated there when absent)")
    ap.add_argument("--detector", default=None, help="override feature_extraction.tracks.detector")
    ap.add_argument("--videos", type=int, default=0, help="score only the first N videos (0 = all)")
    ap.add_argument("--set", action="append", default=[], help="detector parameter override key=value (yaml value)")
    args = ap.parse_args()
    cv2.setNumThreads(2)

    params = yaml.safe_load((ROOT / "conf/base/parameters_feature_extraction.yml").read_text())["feature_extraction"]
    tracks_p = params["tracks"]
    name = args.detector or tracks_p["detector"]
    det_params = dict(tracks_p.get(name) or {})
    for kv in args.set:
        k, v = kv.split("=", 1)
        det_params[k] = yaml.safe_load(v)
    root = Path(args.root or ROOT / f"data/01_raw/synthetic_{args.size}")
    if not (root / "manifest.json").exists():
        from vad_kedro.synth import generate_benchmark

        generate_benchmark(root, size=args.size, seed=7)
    objects = pd.read_csv(root / "annotations/objects.csv")
    videos = sorted({(s, v) for s, v in objects[["split", "video"]].astype(str).itertuples(index=False)})
    if args.videos:
        videos = videos[: args.videos]

    totals = {"det": {"tp": {}, "n_det": 0, "n_gt": {}}, "trk": {"tp": {}, "n_det": 0, "n_gt": {}}}
    n_frames_total, t_det = 0, 0.0
    for split, video in videos:
        frames = load_frames(root / split / "frames" / video)
        gt = objects[(objects["split"].astype(str) == split) & (objects["video"].astype(str) == video)]
        t0 = time.perf_counter()
        dets = DETECTORS[name](frames, **det_params)
        trk = track_detections(dets, **(tracks_p.get("tracker") or {}))
        t_det += time.perf_counter() - t0
        n_frames_total += len(frames)
        per = {"det": {f: d for f, d in enumerate(dets)},
               "trk": {int(f): g[["x1", "y1", "x2", "y2"]].to_numpy() for f, g in trk.groupby("frame")}}
        for key in ("det", "trk"):
            c = match_counts(gt, per[key], len(frames))
            tot = totals[key]
            tot["n_det"] += c["n_det"]
            for k, v in c["tp"].items():
                tot["tp"][k] = tot["tp"].get(k, 0) + v
            for k, v in c["n_gt"].items():
                tot["n_gt"][k] = tot["n_gt"].get(k, 0) + v

    print(f"benchmark {root} ({len(videos)} videos, {n_frames_total} frames), detector {name}")
    print(f"detector params: {det_params}")
    for key, label in (("det", "detections"), ("trk", "tracks (detector + IoU tracker)")):
        tot = totals[key]
        tp_all = sum(tot["tp"].values())
        n_gt_all = sum(tot["n_gt"].values())
        rec_p = tot["tp"].get("person", 0) / max(tot["n_gt"].get("person", 0), 1)
        rec_all = tp_all / max(n_gt_all, 1)
        prec = tp_all / max(tot["n_det"], 1)
        print(f"{label:34s} pedestrian recall@0.5 {rec_p:.3f}  all-object recall {rec_all:.3f}  "
              f"precision@0.5 {prec:.3f}  ({tot['n_det']} boxes, {n_gt_all} ground-truth boxes)")
    print(f"detect+track throughput: {n_frames_total / t_det:.1f} frames/s")


if __name__ == "__main__":
    main()
