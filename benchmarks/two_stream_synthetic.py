"""The spec's synthetic end-to-end check for CRKR (two_stream, spec section 6): R = 64, thin encoder,
6 training + 4 test videos of 120 frames with moving blobs; test anomalies are 4x-speed blobs and a novel
shape. Required: CR micro AUC >= 0.70 and fused >= 0.75. Prints AUCs and node times.

    python benchmarks/two_stream_synthetic.py [--crops 3] [--width-div 16]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.pipelines.two_stream.conftest import blob_dataset, tiny_params  # noqa: E402
from vad_kedro.core.metrics import micro_auc  # noqa: E402
from vad_kedro.pipelines.two_stream import nodes  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--crops", type=int, default=3)
    ap.add_argument("--width-div", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    frames, index, labels = blob_dataset()
    p = tiny_params(n_crops=args.crops, encoder={"width_div": args.width_div})
    times: dict[str, float] = {}

    def timed(name, fn, *a):
        t = time.perf_counter()
        out = fn(*a)
        times[name] = round(time.perf_counter() - t, 1)
        return out

    network, _ = timed("train_cr", nodes.train_context_recovery, frames, index, p, args.seed, "cpu", True)
    plan = nodes.make_pseudo_anomalies(index, p, args.seed)
    pseudo = timed("score_pseudo", nodes.score_pseudo_anomalies, frames, plan, network, p, "cpu")
    sel = nodes.select_patch_size(pseudo, plan, p)
    cr_model = nodes.cr_checkpoint(network, sel, p)
    cr = timed("score_cr", nodes.score_context_recovery, frames, index, cr_model, p, "cpu")
    kr_train = timed("kr_features", nodes.extract_kr_features, frames, index, network, p, "cpu")
    hashnet, _ = timed("train_hashnet", nodes.train_hashnet, kr_train, p, args.seed, "cpu", True)
    kr_model = nodes.build_hash_tables(hashnet, kr_train, p, "cpu", network)
    kr = timed("score_kr", nodes.score_knowledge_retrieval, frames, index, kr_model, p, "cpu")
    outs = nodes.fuse_scores(cr, kr, index, cr_model, kr_model, nodes.fusion_checkpoint(p))
    y = np.concatenate([labels[v] for v in sorted(labels)])
    print(f"patch sizes {sel['patch_sizes']}, pseudo AUC {np.round(sel['pseudo_auc'], 3).tolist()}, "
          f"p* = {sel['patch_size']}")
    for name, df in zip(["crkr_cr", "crkr_kr", "crkr", "crkr_nominmax"], outs, strict=True):
        auc = micro_auc(y, df.sort_values(["video_id", "frame"])["score"].to_numpy())
        print(f"{name:14s} micro AUC {auc:.3f}")
    print("seconds:", times, "total", round(sum(times.values()), 1))


if __name__ == "__main__":
    main()
