"""Peer check of the weak_supervision pipeline against the official RTFM / MGFN figures.

Generates (or reuses) the two UCF-format feature sets of the peer README (``easy``: anomaly shift
1.0, ``hard``: 0.1; 60 + 60 training and 20 + 20 test videos, 10 crops x 512-d) with the shared
generator ``gen_ucf_features.py`` into ``data/01_raw/peer_<set>`` (git-ignored), and runs the
project's own code path on them:

- ``preprocessing.prepare_raw`` / ``build_video_index`` with ``dataset.format: i3d_features`` (``io/i3d.py``),
  no validation split (``preprocessing.val_fraction: 0``);
- ``feature_extraction.extract_snippet_features`` with ``extractor: i3d_import``;
- ``weak_supervision`` nodes ``load_bags`` → ``segment_bags`` → [``learn_dictionary``] →
  ``train_model`` → ``score_videos`` (``report: last``) → ``expand_to_frames``;
- frame ROC AUC / AP with ``core.metrics`` (sklearn) against the index's frame labels.

Budget and shapes of the reference figures: 32 segments, 8 normal + 8 abnormal bags per iteration,
40 iterations, Adam lr 1e-3 (RTFM weight decay 0.005, MGFN 0.0005), published model widths and the
released-code switches of each method (see ``RELEASED``). One torch thread (``--threads``), float32
(``--cpu-precision bf16``: bfloat16 autocast). s / iteration is the wall time of ``train_model`` (no
validation, so: batch indexing, forward, loss, backward, step) divided by the iterations; scoring the
test set is timed separately.

    python benchmarks/weak_supervision_peer.py                                   # rtfm, seeds 0-4, both sets
    python benchmarks/weak_supervision_peer.py --sets easy --methods mgfn --seeds 0 1 2
    python benchmarks/weak_supervision_peer.py --json data/08_reporting/peer.jsonl   # append one line per run
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import yaml

from vad_kedro.core.metrics import average_precision, micro_auc, pr_curve_auc
from vad_kedro.core.params import ParameterError, SnippetsParams, WeakSupervisionMethodParams
from vad_kedro.core.runtime import cpu_precision, torch_threads
from vad_kedro.pipelines.feature_extraction.nodes import extract_snippet_features
from vad_kedro.pipelines.preprocessing.nodes import build_video_index, prepare_raw, split_train_val
from vad_kedro.pipelines.weak_supervision import nodes

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT.parent / "shared" / "peer" / "gen_ucf_features.py"

# gen_ucf_features.py arguments of the peer README
SETS = {
    "easy": ["--n-train-normal", "60", "--n-train-abnormal", "60", "--n-test-normal", "20", "--n-test-abnormal", "20",
             "--dim", "512", "--shift", "1.0", "--seed", "0"],
    "hard": ["--n-train-normal", "60", "--n-train-abnormal", "60", "--n-test-normal", "20", "--n-test-abnormal", "20",
             "--dim", "512", "--shift", "0.1", "--seed", "0"],
}

# Official code, CPU, one thread (peer README): (frame AUC, AP, s / iteration)
OFFICIAL = {
    ("easy", "rtfm"): (0.986, 0.847, "2.3-2.5"),
    ("easy", "mgfn"): (0.983, 0.783, "11.3-11.6"),
    ("hard", "rtfm"): (0.961, 0.709, "-"),
    ("hard", "mgfn"): (0.895, 0.623, "-"),
}

COMMON = {"n_seeds": 1, "report": "last", "segments": 32, "segmentation": "pool", "iterations": 40,
          "batch_size": 8, "eval_every": 1000, "patience": None, "val_topk": 3, "shuffle": True,
          "pairing": "cycle", "optimizer": "adam", "lr": 1e-3}

# The released-code switches the project offers for each method (parameters_weak_supervision.yml).
RELEASED: dict[str, dict[str, Any]] = {
    "mil": {"method": "mil", "optimizer": "adagrad", "lr": 0.01, "weight_decay": 0.0,
            "model": {"hidden": [512, 32], "dropout": 0.6},
            "loss": {"sparsity": 8.0e-5, "smooth": 8.0e-5, "l2": 1.0e-3}},
    "rtfm": {"method": "rtfm", "weight_decay": 0.005, "k": 3, "select_dropout": 0.7,
             "model": {"width": 512, "head": [512, 128], "dropout": 0.7},
             "loss": {"alpha": 1.0e-4, "margin": 100.0, "smooth": 8.0e-4, "sparsity": 8.0e-3},
             "rtfm_loss_form": "code", "smooth_mode": "flattened", "sparsity_norm": "l2"},
    "mgfn": {"method": "mgfn", "weight_decay": 0.0005, "k": 3, "select_dropout": 0.7, "shuffle": False,
             "pairing": "zip",
             "model": {"dims": [64, 128, 1024], "depths": [3, 3, 2], "types": ["glance", "focus", "focus"],
                       "dim_head": 64, "kernel": 5, "ff_mult": 4, "mag_ratio": 0.1},
             "loss": {"alpha": 1.0e-3, "inter_weight": 1.0e-3, "margin": 200.0, "smooth": 8.0e-4,
                      "sparsity": 8.0e-3},
             "mgfn_halves": "rows", "sparsity_on": "normal", "sparsity_norm": "l2", "smooth_mode": "per_video"},
    "s3r": {"method": "s3r", "segmentation": "interpolate", "weight_decay": 0.005, "k": 3, "select_dropout": 0.7,
            "model": {"dropout": 0.7, "reduction": 4},
            "dictionary": {"ratio": 50, "n_nonzero": 2, "batch_size": 32, "n_iter": 100, "random_state": 42},
            "loss": {"alpha": 1.0e-4, "margin": 100.0, "smooth": 8.0e-4, "sparsity": 8.0e-3},
            "s3r_atoms": "codes", "s3r_macro_loss": "on", "rtfm_loss_form": "code", "smooth_mode": "flattened",
            "sparsity_norm": "l2"},
}


def method_cfg(method: str, seed: int, overrides: dict[str, Any] | None = None) -> WeakSupervisionMethodParams:
    """The method's parameter block, validated as Kedro validates ``weak_supervision.<method>`` (a typo or a
    wrong type in ``--set`` is one sentence naming the key); ``overrides`` {dotted key: value} for
    diagnostics (``--set``)."""
    cfg = copy.deepcopy(COMMON)
    cfg.update(copy.deepcopy(RELEASED[method]))
    cfg["seeds"] = [int(seed)]
    for key, value in (overrides or {}).items():
        *path, last = key.split(".")
        block = cfg
        for part in path:
            block = block.setdefault(part, {})
        block[last] = value
    return WeakSupervisionMethodParams.model_validate(cfg)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings (values parsed as YAML: 120, off, [1, 2]) as {key: value}."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def dataset_params(name: str) -> dict[str, Any]:
    """``dataset`` parameters of one peer set (the README's real-format block, list paths absolute)."""
    return {"name": f"peer_{name}", "format": "i3d_features", "style": "ucf", "root": f"data/01_raw/peer_{name}",
            "synthetic": None, "train_list": "ucf-i3d.list", "test_list": "ucf-i3d-test.list", "feature_dir": None,
            "annotations": "Temporal_Anomaly_Annotation_for_Testing_Videos.txt", "gt_npy": "gt-ucf.npy",
            "n_crops": 10, "feature_dim": 512, "fps": 30}


def ensure_set(name: str, generator: Path) -> None:
    """Run the shared generator exactly as the peer README does, unless the set is already there."""
    out = ROOT / "data" / "01_raw" / f"peer_{name}"
    if (out / "gt-ucf.npy").is_file() and (out / "ucf-i3d.list").is_file():
        return
    if not generator.is_file():
        sys.exit(f"generator not found: {generator} (pass --generator)")
    cmd = [sys.executable, str(generator), "--out", str(out.relative_to(ROOT)), *SETS[name]]
    print("generating:", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def load_set(name: str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """video_index (no val split), frame_labels and lazy snippet features through the project's nodes."""
    dataset = dataset_params(name)
    manifest = prepare_raw(dataset)
    index, labels = build_video_index(manifest, dataset, {"val_fraction": 0.0})
    index = split_train_val(index, {"val_fraction": 0.0}, 0)
    shipped = yaml.safe_load((ROOT / "conf/base/parameters_feature_extraction.yml").read_text())
    snippets = SnippetsParams.model_validate({**shipped["feature_extraction"]["snippets"], "extractor": "i3d_import",
                                              "snippet_len": 16, "n_crops": 10,
                                              "i3d_import": {"style": "ucf", "n_crops": 10, "feature_dim": 512}})
    features, _ = extract_snippet_features(index, {}, {}, {}, snippets, "cpu", 0, False, {})
    return index, labels, features


def run_one(name: str, method: str, seed: int, index: pd.DataFrame, labels: pd.DataFrame, features: dict,
            segments: dict, save_dir: Path | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    cfg = method_cfg(method, seed, overrides)
    t0 = time.perf_counter()
    if method == "s3r":
        dictionary = nodes.learn_dictionary(segments, cfg)
        t_dict = time.perf_counter() - t0
        t0 = time.perf_counter()
        checkpoint, _ = nodes.train_model_with_dictionary(segments, dictionary, cfg, seed, "cpu", True)
    else:
        t_dict = 0.0
        checkpoint, _ = nodes.train_model(segments, cfg, seed, "cpu", True)
    t_train = time.perf_counter() - t0
    if save_dir is not None:  # for diagnostics: the checkpoint as the pipeline's <method>.model holds it
        save_dir.mkdir(parents=True, exist_ok=True)
        torch.save(checkpoint, save_dir / f"{name}_{method}_seed{seed}.pt")
    t0 = time.perf_counter()
    scores = nodes.score_videos(features, index, checkpoint, cfg, "cpu")
    frames = nodes.expand_to_frames(scores, index)
    t_score = time.perf_counter() - t0
    df = frames.merge(labels[["video_id", "frame", "label"]], on=["video_id", "frame"], how="inner",
                      validate="one_to_one")
    if len(df) != len(labels):
        raise RuntimeError(f"{len(df)} scored frames for {len(labels)} labelled frames")
    y, s = df["label"].to_numpy(), df["score"].to_numpy()
    iters = int(checkpoint["runs"][str(seed)]["last_iteration"])
    return {"set": name, "method": method, "seed": int(seed), "auc": micro_auc(y, s), "ap": average_precision(y, s),
            "pr_auc": pr_curve_auc(y, s), "s_per_iter": t_train / iters, "iterations": iters,
            "train_s": t_train, "dict_s": t_dict, "score_s": t_score, "score_std": float(np.std(s)),
            "loadavg": os.getloadavg()}


def summary(rows: list[dict[str, Any]]) -> None:
    print("\n| set | method | seeds | frame AUC | AP | PR-AUC | s / iteration | official AUC / AP |")
    print("|---|---|---|---|---|---|---|---|")
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["set"], r["method"]), []).append(r)

    def ms(values: list[float]) -> str:
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.3f} ± {sd:.3f}"

    for (name, method), rs in groups.items():
        off = OFFICIAL.get((name, method))
        ref = f"{off[0]:.3f} / {off[1]:.3f}" if off else "-"
        print(f"| {name} | {method} | {','.join(str(r['seed']) for r in rs)} | {ms([r['auc'] for r in rs])} | "
              f"{ms([r['ap'] for r in rs])} | {ms([r['pr_auc'] for r in rs])} | "
              f"{ms([r['s_per_iter'] for r in rs])} | {ref} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["easy", "hard"], choices=sorted(SETS))
    parser.add_argument("--methods", nargs="+", default=["rtfm"], choices=sorted(RELEASED))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--generator", type=Path, default=GENERATOR, help="the peer gen_ucf_features.py")
    parser.add_argument("--json", type=Path, default=None, help="append one JSON line per run to this file")
    parser.add_argument("--save-dir", type=Path, default=None, help="save each run's checkpoint here")
    parser.add_argument("--cpu-precision", default="fp32", choices=["fp32", "bf16"],
                        help="runtime.cpu_precision of the run (bf16: bfloat16 autocast, for CPUs with AMX / AVX-512 BF16)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the reference figures: 1)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override method parameters for a diagnostic (e.g. s3r_macro_loss=off iterations=120)")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    for method in args.methods:   # a typo in --set stops here, before any data is generated
        try:
            method_cfg(method, 0, overrides)
        except ParameterError as exc:
            parser.error(str(exc))
    os.chdir(ROOT)  # dataset roots are relative to the project, as in a kedro run

    rows = []
    with torch_threads(args.threads), cpu_precision(args.cpu_precision):
        for name in args.sets:
            ensure_set(name, args.generator)
            index, labels, features = load_set(name)
            print(f"\n{name}: {int((index.split == 'train').sum())} train / {int((index.split == 'test').sum())} "
                  f"test videos, {len(labels)} test frames ({100 * labels['label'].mean():.1f}% abnormal)", flush=True)
            bags = nodes.load_bags(features, index)
            by_mode: dict[str, dict] = {}
            for method in args.methods:
                mode = method_cfg(method, 0, overrides)["segmentation"]
                if mode not in by_mode:
                    by_mode[mode] = nodes.segment_bags(features, bags, method_cfg(method, 0, overrides))
                for seed in args.seeds:
                    r = run_one(name, method, seed, index, labels, features, by_mode[mode], args.save_dir, overrides)
                    r["overrides"] = overrides
                    r["cpu_precision"], r["threads"] = args.cpu_precision, args.threads
                    rows.append(r)
                    print(f"RESULT {name} {method} seed {seed}: frame AUC {r['auc']:.4f}  AP {r['ap']:.4f}  "
                          f"PR-AUC {r['pr_auc']:.4f}  {r['s_per_iter']:.2f} s/iter ({r['iterations']} it, train "
                          f"{r['train_s']:.0f} s, dict {r['dict_s']:.1f} s, score {r['score_s']:.0f} s, "
                          f"{args.cpu_precision}, {args.threads} thread(s))  "
                          f"load {r['loadavg'][0]:.2f}{f'  overrides {overrides}' if overrides else ''}", flush=True)
                    if args.json:
                        args.json.parent.mkdir(parents=True, exist_ok=True)
                        with args.json.open("a") as fh:
                            fh.write(json.dumps(r) + "\n")
    summary(rows)


if __name__ == "__main__":
    main()
