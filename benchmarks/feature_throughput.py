"""Throughput of the feature_extraction stages at 240x360 on (up to) 2 cores.

    python benchmarks/feature_throughput.py [--videos 4] [--frames 160] [--threads 2]

Renders a few synthetic-benchmark videos at 240x360 (the generator's ``overrides``), then times each
stage on the decoded frames (decoding excluded), with the default parameters of
conf/base/parameters_feature_extraction.yml. Prints frames/s as wall clock and as CPU time (the
machine may be shared; CPU-time throughput is what 2 idle cores would give when both are busy).
Targets (issue): tracks + flow >= 100 frames/s; motion_appearance snippet features >= 200 frames/s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vad_kedro.pipelines.feature_extraction.nodes import detect_and_track, object_features_for_video  # noqa: E402
from vad_kedro.vision.flow import compute_flow  # noqa: E402
from vad_kedro.vision.snippets import motion_appearance  # noqa: E402


def timed(fn, *args, **kwargs):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--frames", type=int, default=160)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)
    params = yaml.safe_load((ROOT / "conf/base/parameters_feature_extraction.yml").read_text())["feature_extraction"]

    from vad_kedro.synth import generate_benchmark

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bench240x360"
        generate_benchmark(root, size="default", seed=11, overrides={
            "height": 240, "width": 360, "n_frames": args.frames, "n_train_normal": args.videos,
            "n_train_abnormal": 0, "n_test_abnormal": 0, "n_test_normal": 0})
        videos = []
        for d in sorted((root / "training/frames").iterdir()):
            files = sorted(d.glob("*.jpg"))
            videos.append(np.stack([cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]))

    stages = {"tracks (detect + track)": [0.0, 0.0], "flow": [0.0, 0.0], "motion_appearance": [0.0, 0.0],
              "object_features (HOG app + vel)": [0.0, 0.0]}
    n_frames, n_objects = 0, 0
    for frames in videos:
        tracks, w, c = timed(detect_and_track, frames, params["tracks"])
        stages["tracks (detect + track)"][0] += w
        stages["tracks (detect + track)"][1] += c
        fp = params["flow"]
        flow, w, c = timed(compute_flow, frames, method=fp["method"], downsample=fp["downsample"],
                           dis_preset=fp["dis_preset"], dis_finest_scale=fp["dis_finest_scale"],
                           dis_refinement_iterations=fp["dis_refinement_iterations"],
                           compute_scale=fp["compute_scale"])
        stages["flow"][0] += w
        stages["flow"][1] += c
        sp = params["snippets"]
        _, w, c = timed(motion_appearance, frames, flow, n_crops=sp["n_crops"], crop_fraction=sp["crop_fraction"],
                        snippet_len=sp["snippet_len"], **sp["motion_appearance"])
        stages["motion_appearance"][0] += w
        stages["motion_appearance"][1] += c
        _, w, c = timed(object_features_for_video, frames, tracks, flow, params["object_features"])
        stages["object_features (HOG app + vel)"][0] += w
        stages["object_features (HOG app + vel)"][1] += c
        n_frames += len(frames)
        n_objects += len(tracks)

    h, w_ = videos[0].shape[1:3]
    print(f"{len(videos)} videos x {len(videos[0])} frames at {h}x{w_}, cv2 threads {args.threads}, "
          f"{n_objects / n_frames:.1f} tracked objects per frame")
    for name, (wall, cpu) in stages.items():
        print(f"{name:34s} {n_frames / wall:8.1f} frames/s wall   {n_frames / cpu:8.1f} frames/s per CPU-second")
    tw = stages["tracks (detect + track)"][0] + stages["flow"][0]
    tc = stages["tracks (detect + track)"][1] + stages["flow"][1]
    print(f"{'tracks + flow':34s} {n_frames / tw:8.1f} frames/s wall   {n_frames / tc:8.1f} frames/s per CPU-second"
          f"   (target >= 100)")
    print(f"{'motion_appearance':34s} target >= 200 frames/s")


if __name__ == "__main__":
    main()
