"""LBR-SPR throughput on CPU: cube extraction, training (with / without SPR, with / without ME), scoring.

Fabricated data (no dataset needed); prints wall-clock rates. Usage:
    python benchmarks/self_paced_throughput.py [--n-cubes 2048] [--nf 8] [--batch-size 64] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from vad_kedro.pipelines.self_paced.cubes import video_cubes
from vad_kedro.pipelines.self_paced.training import TrainConfig, cube_errors, train_block


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-cubes", type=int, default=2048)
    ap.add_argument("--nf", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--height", type=int, default=180)
    ap.add_argument("--width", type=int, default=240)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)

    n_frames = 160
    frames = rng.integers(0, 256, (n_frames, args.height, args.width, 3), dtype=np.uint8)
    flow_full = rng.normal(0, 1, (n_frames, args.height, args.width, 2)).astype(np.float32)
    t = rng.integers(0, n_frames, args.n_cubes)
    x1 = rng.uniform(0, args.width - 40, args.n_cubes)
    y1 = rng.uniform(0, args.height - 50, args.n_cubes)
    boxes = np.stack([x1, y1, x1 + rng.uniform(8, 40, args.n_cubes), y1 + rng.uniform(20, 50, args.n_cubes)], 1)
    start = time.perf_counter()
    raw, _ = video_cubes(frames, t, boxes)
    dt = time.perf_counter() - start
    print(f"cube extraction (raw): {args.n_cubes / dt:,.0f} cubes/s from {args.height}x{args.width} frames")
    start = time.perf_counter()
    raw, flow = video_cubes(frames, t, boxes, flow=flow_full)
    dt = time.perf_counter() - start
    print(f"cube extraction (raw + flow): {args.n_cubes / dt:,.0f} cubes/s")

    dev = torch.device("cpu")
    warm = TrainConfig(epochs=1, warmup_epochs=0, nf=args.nf, batch_size=args.batch_size, use_flow=True)
    train_block(raw[:128], flow[:128], warm, dev, torch.Generator().manual_seed(0))  # first-call overheads
    for use_flow in (False, True):
        for refine in (False, True):
            cfg = TrainConfig(epochs=1, warmup_epochs=0, shrink_rate=0.05, refine=refine, nf=args.nf,
                              batch_size=args.batch_size, use_flow=use_flow)
            start = time.perf_counter()
            res = train_block(raw, flow, cfg, dev, torch.Generator().manual_seed(0))
            total = time.perf_counter() - start
            start = time.perf_counter()
            for k, m in res.models.items():
                cube_errors(m, raw, flow if k == "flow" else None, dev)
            score = time.perf_counter() - start
            print(f"nf={args.nf} batch={args.batch_size} threads={args.threads} ME={use_flow} SPR={refine}: "
                  f"training {args.n_cubes / max(total - score, 1e-9):,.0f} cubes/s, scoring {args.n_cubes / score:,.0f} cubes/s")


if __name__ == "__main__":
    main()
