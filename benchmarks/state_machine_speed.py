"""Speed figures of the state_machine (LPG) pipeline's torch parts on CPU; prints one line per measurement.

    OMP_NUM_THREADS=1 python benchmarks/state_machine_speed.py [--threads 1] [--repeats 5]

Measures: S4 kernel and layer (HiPPO-LegS NPLR vs S4D-LegS diagonal, FFT vs Toeplitz convolution), one SMM
training step (batch 256, 33 steps, D=128) and the local-pattern encoder's throughput (64x64 crops).
"""

from __future__ import annotations

import argparse
import time

import torch

from vad_kedro.pipelines.state_machine.models import LocalPatternEncoder, S4Layer, StateMachineModule


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    r = args.repeats

    for mode in ("nplr", "diag"):
        layer = S4Layer(64, 64, mode=mode)
        ms = timed(lambda layer=layer: layer.kernel(33).sum().backward(), r) * 1e3
        print(f"s4 kernel fwd+bwd  mode={mode:4s} H=64 N=64 L=33: {ms:7.2f} ms")
        for conv in ("fft", "toeplitz"):
            layer.conv = conv
            u = torch.randn(256, 64, 33)
            ms = timed(lambda layer=layer, u=u: layer(u).sum().backward(), r) * 1e3
            print(f"s4 layer fwd+bwd   mode={mode:4s} conv={conv:8s} B=256: {ms:7.2f} ms")

    x = torch.randn(256, 34, 128)
    for mode in ("nplr", "diag"):
        model = StateMachineModule(128, s4_mode=mode)
        opt = torch.optim.Adamax(model.parameters(), lr=5e-5)

        def step(model=model, opt=opt):
            loss = ((model(x[:, :33]) - x[:, 33]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

        print(f"smm train step     mode={mode:4s} B=256 D=128: {timed(step, r) * 1e3:7.2f} ms")

    enc = LocalPatternEncoder(32, d_model=128, d_token=128, grid=8).eval()
    crops = torch.rand(256, 3, 64, 64)
    with torch.no_grad():
        sec = timed(lambda: enc.queries(crops), r)
    print(f"local encoder      64x64 crops, D=128, 32 queries: {256 / sec:7.0f} crops/s")


if __name__ == "__main__":
    main()
