"""Training speed of a weak_supervision detector and of CRKR's context-recovery network on a busy CPU,
with the old thread settings and the project's current ones.

Each configuration runs in its own process (the OpenMP wait policy is read once, when torch loads);
``--load N`` starts N busy-loop processes for the duration, as other jobs on a shared machine would.

    python benchmarks/thread_contention.py --load 2        # one busy loop per core of a 2-core machine
    python benchmarks/thread_contention.py --load 0        # idle machine, same configurations

Prints seconds per training iteration (RTFM at 8 + 8 bags, 10 crops, 512-d, 32 segments; MIL the
same) and per CR training batch (the default STUNet: R = 64, width_div 8, one block per stage, batch 4),
median of the timed repeats.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

#: name -> (environment, torch threads). "old": torch's default threads and OpenMP's default (spinning)
#: wait policy, as two_stream ran before runtime.num_threads; "old, 1 thread": weak_supervision's former
#: num_threads: 1; "current": runtime.num_threads null (= the cores available) and the passive wait policy.
CONFIGS = {
    "old (2 threads, spin-wait)": ({"OMP_WAIT_POLICY": "ACTIVE"}, 2),
    "old ws (1 thread, spin-wait)": ({"OMP_WAIT_POLICY": "ACTIVE"}, 1),
    "current (2 threads, passive wait)": ({"OMP_WAIT_POLICY": "PASSIVE"}, 2),
    "current, runtime.num_threads 1": ({"OMP_WAIT_POLICY": "PASSIVE"}, 1),
}

WORKER = r"""
import json, statistics, sys, time
import torch
from vad_kedro.pipelines.weak_supervision.losses import method_loss
from vad_kedro.pipelines.weak_supervision.models import build_model
from vad_kedro.pipelines.weak_supervision.training import make_optimizer
from vad_kedro.pipelines.two_stream.losses import recovery_loss
from vad_kedro.pipelines.two_stream.models import STUNet
torch.set_num_threads(int(sys.argv[1])); torch.set_flush_denormal(True); repeats = int(sys.argv[2])
def timed(step):
    step(); times = []
    for _ in range(repeats):
        t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
    return statistics.median(times)
out = {}
sys.path.insert(0, sys.argv[3])
from weak_supervision_peer import method_cfg   # the complete method blocks at the published widths
for method in ("mil", "rtfm"):
    cfg = method_cfg(method, 0)
    torch.manual_seed(0)
    model = build_model(method, cfg["model"], 512); opt = make_optimizer(model, cfg)
    x = torch.randn(16, 10, 32, 512); model.train()
    def step():
        loss, _ = method_loss(method, model(x), 8, 10, cfg, model)
        opt.zero_grad(); loss.backward(); opt.step()
    out[method] = timed(step)
torch.manual_seed(0)
net = STUNet(64, 8, (1, 1, 1, 1)); opt = torch.optim.Adam(net.parameters(), 1e-3)
clips = torch.randn(4, 3, 8, 64, 64); target = torch.zeros_like(net(clips)).detach()
def cr_step():
    loss = recovery_loss(net(clips), target, 1.0)
    opt.zero_grad(); loss.backward(); opt.step()
out["train_cr"] = timed(cr_step)
print(json.dumps(out))
"""


def _busy() -> None:
    while True:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--load", type=int, default=2, help="busy-loop processes while measuring")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    loads = [mp.Process(target=_busy, daemon=True) for _ in range(args.load)]
    for p in loads:
        p.start()
    print(f"{args.load} busy-loop process(es), {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")  # noqa: T201
    print(f"{'configuration':36s} {'mil s/it':>9s} {'rtfm s/it':>10s} {'train_cr s/batch':>17s}")  # noqa: T201
    try:
        for name, (env, threads) in CONFIGS.items():
            start = time.perf_counter()
            res = subprocess.run([sys.executable, "-c", WORKER, str(threads), str(args.repeats),
                                  str(Path(__file__).resolve().parent)], env={**os.environ, **env},
                                 capture_output=True, text=True, check=True)
            r = json.loads(res.stdout.strip().splitlines()[-1])
            print(f"{name:36s} {r['mil']:9.3f} {r['rtfm']:10.3f} {r['train_cr']:17.3f}   ({time.perf_counter() - start:.0f} s)")  # noqa: T201
    finally:
        for p in loads:
            p.terminate()


if __name__ == "__main__":
    main()
