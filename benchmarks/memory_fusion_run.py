"""SMAFF stage timings and AUCs (smoothed and unsmoothed) on a project's upstream data.

Runs the memory_fusion node functions in-process on the catalog's ``tracks``, ``object_features`` and
``video_index`` (upstream must have been run), then scores with the shared metrics. Labels are read
here, in the benchmark, never in the pipeline.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/memory_fusion_run.py --env smoke [--project PATH]
        [--seed 1] [--set fusion.epochs=300 --set fusion.batch_size=512 ...]
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from pathlib import Path

import yaml

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")


def _set(cfg: dict, dotted: str) -> None:
    key, value = dotted.split("=", 1)
    *path, last = key.split(".")
    for p in path:
        cfg = cfg[p]
    cfg[last] = yaml.safe_load(value)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--project", default=str(Path(__file__).resolve().parents[1]))
    ap.add_argument("--env", default=None)
    ap.add_argument("--set", action="append", default=[], help="override memory_fusion params, e.g. fusion.epochs=300")
    ap.add_argument("--variants", default="smaff,smaff_nopose")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=None, help="override the global seed")
    args = ap.parse_args()

    import torch
    torch.set_num_threads(args.threads)
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from vad_kedro.core.metrics import frame_metrics
    from vad_kedro.pipelines.memory_fusion import nodes as N

    os.chdir(args.project)
    bootstrap_project(Path(args.project))
    with KedroSession.create(project_path=Path(args.project), env=args.env) as session:
        ctx = session.load_context()
        catalog, params = ctx.catalog, ctx.params
    p = copy.deepcopy(params["memory_fusion"])
    for s in args.set:
        _set(p, s)
    seed, dev, det = (params["seed"] if args.seed is None else args.seed), "cpu", params["deterministic"]
    tracks, feats, vi = catalog.load("tracks"), catalog.load("object_features"), catalog.load("video_index")
    labels = catalog.load("frame_labels")

    timings: dict[str, float] = {}

    def timed(name, fn, *a):
        t = time.perf_counter()
        out = fn(*a)
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t
        return out

    obj, _ = timed("collect_objects", N.collect_objects, tracks, feats, vi, p, seed)
    ae, _ = timed("autoencoder", N.fit_app_autoencoder, obj, p, seed, dev, det)
    app = timed("encode", N.encode_appearance, obj, ae, p)
    pose = N.pose_modality(obj, p)
    vel = N.velocity_modality(obj, p)
    pseudo = {}
    for mod in (app, pose):
        init = timed(f"kmeans_{mod['name']}", N.init_memory, mod, p, seed)
        mem, _ = timed(f"memory_{mod['name']}", N.train_memory, mod, init, p, seed, dev, det)
        pseudo[mod["name"]] = timed("pseudo", N.make_pseudo_features, mod, mem, p)
    fs = timed("pad_and_mask", N.build_frame_sets, obj, p)
    print(f"objects {len(obj['vid'])}, T_max {fs['t_max']}, train frames {len(fs['train_idx'])}, "
          f"test frames {len(fs['test_idx'])}, pose {'yes' if pose['available'] else 'no'}")
    for variant in args.variants.split(","):
        fusion, hist = timed(f"fusion_{variant}", N.train_fusion, pseudo["app"], pseudo["pose"], vel, fs,
                             p["variants"][variant], p, seed, dev, det)
        for sigma in (0.0, float(p["scoring"]["smooth_sigma"])):
            ps = {**p, "scoring": {**p["scoring"], "smooth_sigma": sigma}}
            df = N.score_frames(fusion, pseudo["app"], pseudo["pose"], vel, fs, ps, dev)
            m = df.merge(labels, on=["video_id", "frame"], how="left")
            met = frame_metrics(m)
            print(f"{variant:13s} [{'+'.join(fusion['modalities'])}] sigma={sigma:g}: micro AUC {met['micro_auc']:.4f} "
                  f"macro AUC {met['macro_auc']:.4f} AP {met['ap']:.4f}  (final loss {hist['fusion_loss'][-1]:.3f})")
    print("timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()) + f"; total {sum(timings.values()):.1f}")


if __name__ == "__main__":
    main()
