"""CRKR (two_stream) CPU speed: STUNet training, CR scoring (forward + MLE) and KR feature extraction, in
frames (clips) per second, for the default thin variant and any other sizes given on the command line.

    python benchmarks/two_stream_speed.py                       # default config, torch threads = 1 and 2
    python benchmarks/two_stream_speed.py --resolution 128 --width-div 4 --blocks 3 4 6 3 --threads 2

Prints wall-clock and process-CPU rates (on a shared machine the CPU rate is the stable figure).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from vad_kedro.pipelines.two_stream import mle
from vad_kedro.pipelines.two_stream.losses import recovery_loss
from vad_kedro.pipelines.two_stream.models import STUNet


def _rate(fn, n_items: int, repeats: int) -> tuple[float, float]:
    fn()  # warm-up
    t, c = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        fn()
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    return n_items * repeats / wall, n_items * repeats / max(cpu, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--width-div", type=int, default=8)
    ap.add_argument("--blocks", type=int, nargs=4, default=[1, 1, 1, 1])
    ap.add_argument("--batch", type=int, default=16, help="training batch")
    ap.add_argument("--score-batch", type=int, default=96, help="clips per scoring forward (targets x crops)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    r = args.resolution
    torch.manual_seed(0)
    model = STUNet(r, args.width_div, args.blocks)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x_train = torch.randn(args.batch, 3, 9, r, r)
    x_score = torch.randn(args.score_batch, 3, 9, r, r)
    patches, stride = mle.patch_sizes_for(r), mle.stride_for(r)
    print(f"STUNet R={r} width_div={args.width_div} blocks={args.blocks}: "
          f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, feature dim {model.feature_dim}")

    def train_step():
        model.train()
        loss = recovery_loss(model(x_train[:, :, :-1]), x_train[:, :, -1:])
        opt.zero_grad()
        loss.backward()
        opt.step()

    @torch.no_grad()
    def score_step():
        model.eval()
        pred = model(x_score[:, :, :-1])
        mle.maximum_local_error(x_score[:, :, -1], pred[:, :, 0], patches, stride)

    @torch.no_grad()
    def feature_step():
        model.eval()
        model.features(x_score[:, :, :-1])

    for threads in args.threads:
        torch.set_num_threads(threads)
        tr = _rate(train_step, args.batch, args.repeats)
        sc = _rate(score_step, args.score_batch, args.repeats)
        fe = _rate(feature_step, args.score_batch, args.repeats)
        print(f"threads={threads}: CR training {tr[0]:7.1f} clips/s wall ({tr[1]:7.1f} per CPU-s) | "
              f"CR scoring {sc[0]:7.1f} frames/s ({sc[1]:7.1f}) | KR features {fe[0]:7.1f} snippets/s ({fe[1]:7.1f})")
        # default benchmark workload (16 test videos x 144 targets x 3 crops)
        n = 16 * 144 * 3
        print(f"  -> one default-benchmark CR scoring pass ({n} crop-frames): {n / sc[0]:.0f} s wall, "
              f"{n / sc[1]:.0f} CPU-s; per test frame {3 / sc[0] * 1000:.1f} ms")
    np.set_printoptions(precision=3)


if __name__ == "__main__":
    main()
