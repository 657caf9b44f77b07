"""Seconds per training iteration of MIL, RTFM, MGFN and S3R at the published shapes, on CPU.

Published shapes: batch 32 normal + 32 abnormal bags, 10 crops, 2048-d I3D features, 32 segments,
published widths (RTFM 24.7 M, MGFN 28.7 M parameters; S3R with 400 dictionary atoms). One
iteration = forward, the method's full loss (top-k selection included), backward, optimizer step.

    python benchmarks/weak_supervision_speed.py                    # all methods, 2 timed iterations
    python benchmarks/weak_supervision_speed.py --methods rtfm --iters 3 --batch 16 --threads 2
"""

from __future__ import annotations

import argparse
import time

import torch

from vad_kedro.pipelines.weak_supervision.losses import method_loss
from vad_kedro.pipelines.weak_supervision.models import build_model, count_parameters
from vad_kedro.pipelines.weak_supervision.training import make_optimizer
from weak_supervision_peer import method_cfg   # this folder: benchmarks run as scripts

def time_method(method: str, batch: int, crops: int, dim: int, segments: int, iters: int, warmup: int,
                atoms: int) -> tuple[float, int]:
    """Mean seconds per iteration (after ``warmup`` untimed ones) and the parameter count."""
    torch.manual_seed(0)
    cfg = method_cfg(method, 0)   # the complete method block at the published widths
    model = build_model(method, cfg["model"], dim, torch.randn(atoms, dim))
    optimizer = make_optimizer(model, cfg)
    x = torch.randn(2 * batch, crops, segments, dim)
    model.train()

    def step() -> None:
        out = model(x)
        loss, _ = method_loss(method, out, batch, crops, cfg, model)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    return (time.perf_counter() - start) / iters, count_parameters(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["mil", "rtfm", "mgfn", "s3r"])
    parser.add_argument("--batch", type=int, default=32, help="bags per class (32 + 32)")
    parser.add_argument("--crops", type=int, default=10)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--segments", type=int, default=32)
    parser.add_argument("--iters", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--atoms", type=int, default=400, help="S3R dictionary size (400 on UCF-Crime)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"CPU, {torch.get_num_threads()} threads, batch {args.batch}+{args.batch}, {args.crops} crops, "  # noqa: T201
          f"{args.dim}-d, {args.segments} segments")
    for method in args.methods:
        seconds, n_params = time_method(method, args.batch, args.crops, args.dim, args.segments, args.iters,
                                        args.warmup, args.atoms)
        print(f"{method:5s} {n_params:>12,d} params  {seconds:8.3f} s/iteration")  # noqa: T201


if __name__ == "__main__":
    main()
