"""Preprocessing throughput (frames/s): index + decode + resize + save, on the synthetic benchmark.

Usage: python benchmarks/preprocessing_speed.py [--size default] [--height 240 --width 360]
Prints one line per stage and the end-to-end frames per second (target: >= 500 frames/s at 240x360).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


from vad_kedro.io.datasets import NpyDataset
from vad_kedro.pipelines.preprocessing import nodes
from vad_kedro.synth import generate_benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="default")
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--width", type=int, default=360)
    parser.add_argument("--root", default=None, help="keep the rendered benchmark here (reused when present)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.root) if args.root else Path(tmp) / "bench"
        t0 = time.perf_counter()
        generate_benchmark(root, size=args.size, seed=7, overrides={"height": args.height, "width": args.width})
        t_gen = time.perf_counter() - t0
        dataset = {"name": "bench", "root": str(root), "format": "frame_folder", "frames_glob": "*.jpg",
                   "train_dir": "training/frames", "test_dir": "testing/frames",
                   "labels": {"kind": "npy_masks", "path": "testing/test_frame_mask"}, "pixel_masks": None,
                   "video_labels_csv": "video_labels.csv", "events_csv": "events.csv", "fps": 25}
        pre = {"working_size": None, "val_fraction": 0.2, "min_frames": 16}
        t0 = time.perf_counter()
        index, _ = nodes.build_video_index({"root": str(root), "format": "frame_folder"}, dataset, pre)
        t_index = time.perf_counter() - t0
        frames = nodes.decode_frames(index, dataset, pre)
        n = 0
        t0 = time.perf_counter()
        for vid, load in frames.items():
            arr = load()
            NpyDataset(str(Path(tmp) / "frames" / f"{vid}.npy")).save(arr)
            n += len(arr)
        t_decode = time.perf_counter() - t0
    print(f"generate ({args.size}, {args.height}x{args.width}): {t_gen:.1f} s")
    print(f"index {len(index)} videos: {t_index:.2f} s")
    print(f"decode + save {n} frames: {t_decode:.2f} s = {n / t_decode:.0f} frames/s")
    print(f"preprocessing end to end: {n / (t_index + t_decode):.0f} frames/s at {args.height}x{args.width}")


if __name__ == "__main__":
    main()
