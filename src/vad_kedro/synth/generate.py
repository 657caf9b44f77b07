"""Render the whole synthetic benchmark into a folder with the ShanghaiTech/Avenue frame-folder layout."""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from vad_kedro.core.errors import DataError
from vad_kedro.core.progress import progress

from .config import ANOMALY_TYPES, config_hash, resolve_config
from .render import plan_video, render_video
from .scene import SCENE_DESCRIPTION, build_scene

logger = logging.getLogger(__name__)

GENERATOR_NAME = "vad_kedro.synth"
_SPLIT_CODE = {"training": 1, "testing": 2}


def _assign_types(rng: np.random.Generator, n_videos: int, types: list[str]) -> list[list[str]]:
    """1-2 event types per abnormal video; every type used at least once when there are enough slots."""
    if n_videos == 0 or not types:
        return [[] for _ in range(n_videos)]
    n_two = int(rng.binomial(n_videos, 0.4))
    n_two = max(n_two, min(n_videos, len(types) - n_videos))  # enough slots to show every type
    counts = np.ones(n_videos, int)
    counts[rng.permutation(n_videos)[:n_two]] = 2
    pool: list[str] = []
    while len(pool) < counts.sum():
        pool += [types[i] for i in rng.permutation(len(types))]
    out, pos = [], 0
    for c in counts:
        chosen: list[str] = []
        for _ in range(c):
            j = next((k for k in range(pos, len(pool)) if pool[k] not in chosen), pos)
            pool[pos], pool[j] = pool[j], pool[pos]
            chosen.append(pool[pos])
            pos += 1
        out.append(chosen)
    return out


def _video_plan(cfg: dict) -> list[dict]:
    """The list of videos to render: split, name, planned anomaly types, rng stream id."""
    rng = np.random.default_rng([cfg["seed"], 0])
    train_types = [t for t in ANOMALY_TYPES if t not in cfg["held_out_types"]]
    videos = [{"split": "training", "video": f"n{i + 1:02d}", "types": []} for i in range(cfg["n_train_normal"])]
    for i, types in enumerate(_assign_types(rng, cfg["n_train_abnormal"], train_types)):
        videos.append({"split": "training", "video": f"a{i + 1:02d}", "types": types})
    test_types = _assign_types(rng, cfg["n_test_abnormal"], list(ANOMALY_TYPES))
    test_types += [[] for _ in range(cfg["n_test_normal"])]
    for i, j in enumerate(rng.permutation(len(test_types))):
        videos.append({"split": "testing", "video": f"{i + 1:02d}", "types": test_types[j]})
    for k, v in enumerate(videos):
        v["stream"] = k
    return videos


def _render_all(tmp: Path, cfg: dict, digest: str, size: str) -> dict:
    """Render every video and annotation file into ``tmp``; returns the manifest."""
    H, W, T = cfg["height"], cfg["width"], cfg["n_frames"]
    scene = build_scene(H, W, np.random.default_rng([cfg["seed"], 1]))
    videos = _video_plan(cfg)
    label_rows, event_rows, object_rows = [], [], []
    n_anom_frames = {"training": 0, "testing": 0}
    for v in progress(videos, desc="synthetic benchmark"):
        split, name = v["split"], v["video"]
        rng = np.random.default_rng([cfg["seed"], 2, v["stream"]])
        actors = plan_video(rng, cfg, v["types"])
        is_test = split == "testing"
        res = render_video(tmp / split / "frames" / name, actors, scene, cfg, rng, with_mask=is_test)
        if v["types"] and not res.labels.any():
            raise RuntimeError(f"{split}/{name}: staged anomalies {v['types']} never became visible")
        n_anom_frames[split] += int(res.labels.sum())
        if is_test:
            for sub, arr in (("test_frame_mask", res.labels), ("test_pixel_mask", res.pixel_mask)):
                (tmp / split / sub).mkdir(parents=True, exist_ok=True)
                np.save(tmp / split / sub / f"{name}.npy", arr)
        types = [t for t in ANOMALY_TYPES if t in {e[3] for e in res.events}]
        label_rows.append((split, name, int(bool(types)), ";".join(types)))
        event_rows += [(split, name, *e) for e in res.events]
        object_rows += [(split, name, *o) for o in res.objects]
        for sub in ("tracks", "pose"):
            (tmp / "annotations" / sub / split).mkdir(parents=True, exist_ok=True)
        with open(tmp / "annotations" / "tracks" / split / f"{name}.txt", "w", newline="") as f:
            for o in res.objects:
                f.write(f"{o[0] + 1},{o[1]},{o[3]:.2f},{o[4]:.2f},{o[5] - o[3]:.2f},{o[6] - o[4]:.2f}\n")
        with open(tmp / "annotations" / "pose" / split / f"{name}.json", "w") as f:
            f.write(json.dumps(res.poses, separators=(",", ":")))
    _write_csv(tmp / "video_labels.csv", ("split", "video", "label", "anomaly_types"), label_rows)
    _write_csv(tmp / "events.csv", ("split", "video", "track_id", "start_frame", "end_frame", "anomaly_type",
                                    "event_id"), event_rows)
    _write_csv(tmp / "annotations" / "objects.csv", ("split", "video", "frame", "track_id", "kind", "x1", "y1", "x2",
                                                     "y2", "action", "anomalous", "anomaly_type"), object_rows)
    events_by_type = {s: {t: 0 for t in ANOMALY_TYPES} for s in ("training", "testing")}
    for split, name, atype, eid in sorted({(r[0], r[1], r[5], r[6]) for r in event_rows}):
        events_by_type[split][atype] += 1
    counts = {
        "training_normal": sum(1 for r in label_rows if r[0] == "training" and not r[2]),
        "training_abnormal": sum(1 for r in label_rows if r[0] == "training" and r[2]),
        "testing_normal": sum(1 for r in label_rows if r[0] == "testing" and not r[2]),
        "testing_abnormal": sum(1 for r in label_rows if r[0] == "testing" and r[2]),
        "frames_per_video": T,
        "frames": len(label_rows) * T,
        "anomalous_frames": n_anom_frames,
        "objects": len(object_rows),
        "events_by_type": events_by_type,
    }
    train_types = sorted({r[5] for r in event_rows if r[0] == "training"}, key=ANOMALY_TYPES.index)
    manifest = {
        "generator": GENERATOR_NAME,
        "size": size,
        "config": cfg,
        "config_hash": digest,
        "height": H,
        "width": W,
        "fps": cfg["fps"],
        "n_frames": T,
        "anomaly_types": list(ANOMALY_TYPES),
        "held_out_types": cfg["held_out_types"],
        "training_anomaly_types": train_types,
        "counts": counts,
        "scene": SCENE_DESCRIPTION,
        "layout": {
            "frames": "<split>/frames/<video>/%04d.jpg (RGB, JPEG)",
            "frame_labels": "testing/test_frame_mask/<video>.npy (uint8 [T])",
            "pixel_masks": "testing/test_pixel_mask/<video>.npy (uint8 [T,H,W])",
            "video_labels": "video_labels.csv",
            "events": "events.csv (frames 0-based, inclusive)",
            "objects": "annotations/objects.csv",
            "tracks": "annotations/tracks/<split>/<video>.txt (MOT: frame(1-based),id,left,top,width,height)",
            "pose": "annotations/pose/<split>/<video>.json (AlphaPose, COCO-17 keypoints)",
        },
    }
    with open(tmp / "manifest.json", "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    return manifest


def _write_csv(path: Path, header: tuple, rows: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def _read_manifest(root: Path) -> dict | None:
    try:
        with open(root / "manifest.json") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _remove_stale_tmp(root: Path) -> None:
    """Delete temporary folders of earlier renders whose process is gone."""
    for p in root.parent.glob(f".{root.name}.tmp-*"):
        try:
            pid = int(p.name.rsplit("-", 2)[-2])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(p, ignore_errors=True)
        except (ValueError, IndexError, PermissionError, OSError):
            continue


def generate_benchmark(root: str | Path, size: str = "default", seed: int = 7, overrides: dict | None = None) -> dict:
    """Render the synthetic surveillance benchmark into ``root`` and return its manifest.

    Idempotent: when ``root/manifest.json`` exists with the same configuration hash it is returned without
    rendering. Otherwise everything is written into a temporary sibling folder that is renamed into place, so a
    crash never leaves a half-written dataset. An existing ``root`` is replaced only when it is empty or an older
    render of this generator; any other existing folder raises :class:`DataError`.
    """
    root = Path(root).absolute()
    cfg = resolve_config(size, seed, overrides)
    digest = config_hash(cfg)
    old = _read_manifest(root)
    if old is not None and old.get("config_hash") == digest:
        logger.info("Synthetic benchmark at %s is up to date (config %s)", root, digest)
        return old
    if root.exists():
        if not root.is_dir():
            raise DataError(root, "exists and is not a folder; cannot render the synthetic benchmark here")
        if any(root.iterdir()) and (old is None or old.get("generator") != GENERATOR_NAME):
            raise DataError(root, "exists and is not a synthetic benchmark; refusing to overwrite it")
    root.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(root)
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    logger.info("Rendering synthetic benchmark (%s, seed %d, %dx%d) into %s", size, seed, cfg["height"],
                cfg["width"], root)
    try:
        manifest = _render_all(tmp, cfg, digest, size)
        current = _read_manifest(root)
        if current is not None and current.get("config_hash") == digest:  # a concurrent render won the race
            shutil.rmtree(tmp, ignore_errors=True)
            return current
        if root.exists():
            trash = root.parent / f".{root.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            os.replace(root, trash)
            os.replace(tmp, root)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("Synthetic benchmark ready: %s", manifest["counts"])
    return manifest
