"""Rendering speed of the synthetic benchmark: frames/s for the smoke and default presets and at 240x360.

Usage: OMP_NUM_THREADS=1 python benchmarks/synth_speed.py [--only smoke default default@240x360] [--seed 7]
Prints wall-clock and CPU (process) time; on a shared machine the CPU figure is the one to compare.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("VAD_PROGRESS", "0")

import cv2  # noqa: E402

from vad_kedro.synth import generate_benchmark  # noqa: E402

CASES = {
    "smoke": ("smoke", None),
    "default": ("default", None),
    "default@240x360": ("default", {"height": 240, "width": 360}),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cv2.setNumThreads(1)
    print(f"{'case':<18}{'HxW':>9}{'videos':>8}{'frames':>8}{'wall s':>9}{'cpu s':>8}{'fps(wall)':>11}"
          f"{'fps(cpu)':>10}{'MB':>8}")
    for name in args.only:
        size, overrides = CASES[name]
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "bench"
            t0, c0 = time.perf_counter(), time.process_time()
            m = generate_benchmark(root, size, seed=args.seed, overrides=overrides)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            mb = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**20
        frames = m["counts"]["frames"]
        n_videos = frames // m["n_frames"]
        print(f"{name:<18}{m['height']:>4}x{m['width']:<4}{n_videos:>8}{frames:>8}{wall:>9.1f}{cpu:>8.1f}"
              f"{frames / wall:>11.0f}{frames / cpu:>10.0f}{mb:>8.0f}")


if __name__ == "__main__":
    main()
