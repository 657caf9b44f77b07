"""Detector quality on the embedded benchmark: recall and precision at IoU 0.5 against the generator's boxes.

    python benchmarks/feature_detection.py [--size default|smoke] [--root DIR] [--detector NAME] [--videos N]
                                           [--split all|training|testing] [--set key=value ...]
                                           [--tracker key=value ...]

Per frame, detections are matched one-to-one to the generator's boxes (annotations/objects.csv) with the
Hungarian algorithm on IoU; a match needs IoU >= 0.5. Recall is reported for pedestrians (``kind ==
person``) and for all objects; precision counts every detection against all objects. Both the raw
detector output and the confirmed tracks (detector + IoU tracker, what ``tracks`` holds) are scored.

``--detector centernet`` reads the checkpoint that ``kedro run --pipelines=detector_training`` wrote
(``tracks.centernet.weights_path``, or ``--set weights_path=FILE``); it was trained on the training
split, so score it with ``--split testing`` (the default for centernet).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vad_kedro.vision.detection import DETECTORS  # noqa: E402
from vad_kedro.vision.geometry import matched_at_iou  # noqa: E402
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
        hit = matched_at_iou(g[["x1", "y1", "x2", "y2"]].to_numpy(), det[:, :4], thr)
        for kind in g["kind"].to_numpy()[hit]:
            tp_kind[kind] = tp_kind.get(kind, 0) + 1
    return {"tp": tp_kind, "n_det": n_det, "n_gt": gt["kind"].value_counts().to_dict()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="default")
    ap.add_argument("--root", default=None, help="benchmark root (generated there when absent)")
    ap.add_argument("--detector", default=None, help="override feature_extraction.tracks.detector")
    ap.add_argument("--videos", type=int, default=0, help="score only the first N videos (0 = all)")
    ap.add_argument("--set", action="append", default=[], help="detector parameter override key=value (yaml value)")
    ap.add_argument("--tracker", action="append", default=[], help="tracker parameter override key=value")
    ap.add_argument("--split", choices=["all", "training", "testing"], default=None,
                    help="videos scored (default: testing for centernet, which trains on the training split; else all)")
    args = ap.parse_args()
    cv2.setNumThreads(2)

    params = yaml.safe_load((ROOT / "conf/base/parameters_feature_extraction.yml").read_text())["feature_extraction"]
    tracks_p = params["tracks"]
    name = args.detector or tracks_p["detector"]
    det_params = dict(tracks_p.get(name) or {})
    for kv in args.set:
        k, v = kv.split("=", 1)
        det_params[k] = yaml.safe_load(v)
    tracker_p = dict(tracks_p.get("tracker") or {})
    for kv in args.tracker:
        k, v = kv.split("=", 1)
        tracker_p[k] = yaml.safe_load(v)
    if isinstance(det_params.get("weights_path"), str):
        det_params["weights_path"] = det_params["weights_path"].replace("${globals:data_root}", str(ROOT / "data"))
    split = args.split or ("testing" if name == "centernet" else "all")
    root = Path(args.root or ROOT / f"data/01_raw/synthetic_{args.size}")
    if not (root / "manifest.json").exists():
        from vad_kedro.synth import generate_benchmark

        generate_benchmark(root, size=args.size, seed=7)
    objects = pd.read_csv(root / "annotations/objects.csv")
    videos = sorted({(s, v) for s, v in objects[["split", "video"]].astype(str).itertuples(index=False)
                     if split in ("all", s)})
    if args.videos:
        videos = videos[: args.videos]

    totals = {"det": {"tp": {}, "n_det": 0, "n_gt": {}}, "trk": {"tp": {}, "n_det": 0, "n_gt": {}}}
    n_frames_total, t_det = 0, 0.0
    for vsplit, video in videos:
        frames = load_frames(root / vsplit / "frames" / video)
        gt = objects[(objects["split"].astype(str) == vsplit) & (objects["video"].astype(str) == video)]
        t0 = time.perf_counter()
        dets = DETECTORS[name](frames, **det_params)
        trk = track_detections(dets, **tracker_p)
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

    print(f"benchmark {root}, split {split} ({len(videos)} videos, {n_frames_total} frames), detector {name}")
    print(f"detector params: {det_params}")
    print(f"tracker params: {tracker_p}")
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
