"""Synthetic benchmark: files, dtypes, label agreement, boxes, poses and held-out anomaly types."""

from __future__ import annotations

import csv
import json
from collections import defaultdict

import cv2
import numpy as np
import pytest

from vad_kedro.synth import ANOMALY_TYPES

HELD_OUT = {"fighting", "thrown_object"}


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def bench(smoke_bench):
    root, manifest = smoke_bench
    return {
        "root": root,
        "manifest": manifest,
        "labels": _rows(root / "video_labels.csv"),
        "events": _rows(root / "events.csv"),
        "objects": _rows(root / "annotations" / "objects.csv"),
    }


def test_manifest(bench):
    m = bench["manifest"]
    assert m["generator"] == "vad_kedro.synth" and len(m["config_hash"]) == 16
    assert (m["height"], m["width"], m["n_frames"]) == (96, 128, 64)
    assert set(ANOMALY_TYPES) <= set(m["anomaly_types"]) and len(m["anomaly_types"]) >= 7
    assert set(m["held_out_types"]) == HELD_OUT
    assert not set(m["training_anomaly_types"]) & HELD_OUT
    c = m["counts"]
    assert (c["training_normal"], c["training_abnormal"], c["testing_abnormal"], c["testing_normal"]) == (4, 4, 4, 2)
    assert json.loads((bench["root"] / "manifest.json").read_text()) == m


def test_video_list_and_frames(bench):
    root, labels = bench["root"], bench["labels"]
    assert list(labels[0]) == ["split", "video", "label", "anomaly_types"]
    train = sorted(r["video"] for r in labels if r["split"] == "training")
    test = sorted(r["video"] for r in labels if r["split"] == "testing")
    assert train == ["a01", "a02", "a03", "a04", "n01", "n02", "n03", "n04"]
    assert test == [f"{i:02d}" for i in range(1, 7)]
    for r in labels:
        folder = root / r["split"] / "frames" / r["video"]
        files = sorted(p.name for p in folder.iterdir())
        assert files == [f"{i:04d}.jpg" for i in range(64)]
    img = cv2.imread(str(root / "testing" / "frames" / "01" / "0000.jpg"), cv2.IMREAD_UNCHANGED)
    assert img.shape == (96, 128, 3) and img.dtype == np.uint8
    assert img.std() > 10  # textured scene, not a flat image


def test_frame_and_pixel_masks(bench):
    root = bench["root"]
    for r in (r for r in bench["labels"] if r["split"] == "testing"):
        fm = np.load(root / "testing" / "test_frame_mask" / f"{r['video']}.npy")
        pm = np.load(root / "testing" / "test_pixel_mask" / f"{r['video']}.npy")
        assert fm.dtype == np.uint8 and fm.shape == (64,) and set(np.unique(fm)) <= {0, 1}
        assert pm.dtype == np.uint8 and pm.shape == (64, 96, 128) and set(np.unique(pm)) <= {0, 1}
        has_mask = pm.reshape(64, -1).any(axis=1)
        assert not (has_mask & (fm == 0)).any()  # masks only on anomalous frames
        assert has_mask[fm == 1].mean() >= 0.8 if fm.any() else True  # anomalous objects are visible
        assert int(r["label"]) == int(fm.any())


def test_labels_agree_with_objects_and_events(bench):
    root, objects, events = bench["root"], bench["objects"], bench["events"]
    assert list(objects[0]) == ["split", "video", "frame", "track_id", "kind", "x1", "y1", "x2", "y2", "action",
                                "anomalous", "anomaly_type"]
    assert list(events[0])[:6] == ["split", "video", "track_id", "start_frame", "end_frame", "anomaly_type"]
    anom_frames = defaultdict(set)
    types_by_video = defaultdict(set)
    for o in objects:
        assert o["kind"] in {"person", "bicycle", "ball"}
        assert 0 <= int(o["frame"]) < 64
        if o["anomalous"] == "1":
            assert o["anomaly_type"] in ANOMALY_TYPES
            anom_frames[(o["split"], o["video"])].add(int(o["frame"]))
        else:
            assert o["anomaly_type"] == ""
    for e in events:
        types_by_video[(e["split"], e["video"])].add(e["anomaly_type"])
        assert 0 <= int(e["start_frame"]) <= int(e["end_frame"]) < 64
    for r in bench["labels"]:
        key = (r["split"], r["video"])
        expected = ";".join(t for t in ANOMALY_TYPES if t in types_by_video[key])
        assert r["anomaly_types"] == expected
        assert int(r["label"]) == int(bool(anom_frames[key]))
        if r["split"] == "testing":
            fm = np.load(root / "testing" / "test_frame_mask" / f"{r['video']}.npy")
            assert set(np.flatnonzero(fm)) == anom_frames[key]
        if r["video"].startswith("n"):
            assert r["label"] == "0" and not anom_frames[key]
        if r["video"].startswith("a"):
            assert r["label"] == "1"
        if r["label"] == "1":
            frac = len(anom_frames[key]) / 64
            assert 0.1 <= frac <= 0.75, (key, frac)


def test_every_test_anomaly_video_positive_and_normals_clean(bench):
    labels = bench["labels"]
    test = [r for r in labels if r["split"] == "testing"]
    assert sum(r["label"] == "1" for r in test) == 4 and sum(r["label"] == "0" for r in test) == 2
    seen = {t for r in test for t in r["anomaly_types"].split(";") if t}
    assert seen == set(ANOMALY_TYPES)  # every type, including the held-out ones, is tested


def test_held_out_types_absent_from_training(bench):
    assert not {e["anomaly_type"] for e in bench["events"] if e["split"] == "training"} & HELD_OUT
    assert not {o["anomaly_type"] for o in bench["objects"] if o["split"] == "training"} & HELD_OUT
    assert {e["anomaly_type"] for e in bench["events"] if e["split"] == "training"}  # training has anomalies


def test_boxes_inside_image(bench):
    b = np.array([[float(o[k]) for k in ("x1", "y1", "x2", "y2")] for o in bench["objects"]])
    assert (b[:, 0] >= 0).all() and (b[:, 1] >= 0).all()
    assert (b[:, 2] <= 127).all() and (b[:, 3] <= 95).all()
    assert (b[:, 2] - b[:, 0] >= 2).all() and (b[:, 3] - b[:, 1] >= 2).all()


def test_tracks_match_objects(bench):
    root = bench["root"]
    by_video = defaultdict(list)
    for o in bench["objects"]:
        by_video[(o["split"], o["video"])].append(o)
    for (split, video), objs in by_video.items():
        lines = (root / "annotations" / "tracks" / split / f"{video}.txt").read_text().splitlines()
        assert len(lines) == len(objs)
        for line, o in zip(lines, objs):
            f, tid, left, top, w, h = line.split(",")
            assert int(f) == int(o["frame"]) + 1 and tid == o["track_id"]
            assert abs(float(left) - float(o["x1"])) < 0.011 and abs(float(top) + float(h) - float(o["y2"])) < 0.021
            assert float(w) > 0 and float(h) > 0
    # one identity per track within a video
    kinds = defaultdict(set)
    for o in bench["objects"]:
        kinds[(o["split"], o["video"], o["track_id"])].add(o["kind"])
    assert all(len(k) == 1 for k in kinds.values())


def test_pose_files_alphapose_format_and_consistent_with_boxes(bench):
    root = bench["root"]
    person_boxes = {(o["split"], o["video"], int(o["frame"]), int(o["track_id"])):
                    [float(o[k]) for k in ("x1", "y1", "x2", "y2")] for o in bench["objects"] if o["kind"] == "person"}
    n = 0
    for r in bench["labels"]:
        entries = json.loads((root / "annotations" / "pose" / r["split"] / f"{r['video']}.json").read_text())
        assert isinstance(entries, list) and entries
        for e in entries:
            assert set(e) == {"image_id", "category_id", "keypoints", "score", "box", "idx"}
            assert e["category_id"] == 1 and e["image_id"].endswith(".jpg")
            frame = int(e["image_id"][:-4])
            kp = np.array(e["keypoints"]).reshape(17, 3)
            x1, y1, x2, y2 = person_boxes.pop((r["split"], r["video"], frame, e["idx"]))
            bx, by, bw, bh = e["box"]
            assert abs(bx - x1) < 0.011 and abs(by - y1) < 0.011 and abs(bx + bw - x2) < 0.021
            assert (kp[:, 0] >= x1 - 0.01).all() and (kp[:, 0] <= x2 + 0.01).all()
            assert (kp[:, 1] >= y1 - 0.01).all() and (kp[:, 1] <= y2 + 0.01).all()
            assert ((kp[:, 2] > 0) & (kp[:, 2] <= 1)).all() and 0 < e["score"] <= 1
            # anatomy: head keypoints above ankles for upright people (most of them)
            n += kp[0, 1] < kp[15:, 1].mean()
    assert not person_boxes  # every annotated person has a pose
    assert n > 0.8 * sum(1 for o in bench["objects"] if o["kind"] == "person")


def test_keypoints_follow_the_drawn_figure(bench):
    """Keypoints are where the figure is: the frame differs from the background near visible joints."""
    root = bench["root"]
    entries = json.loads((root / "annotations" / "pose" / "testing" / "01.json").read_text())
    e = next(e for e in entries if min(e["box"][2:]) > 6 and np.mean(np.array(e["keypoints"])[2::3]) > 0.8)
    img = cv2.imread(str(root / "testing" / "frames" / "01" / e["image_id"])).astype(int)
    bx, by, bw, bh = e["box"]
    crop = img[int(by):int(by + bh) + 1, int(bx):int(bx + bw) + 1]
    ring = img[max(0, int(by) - 6):int(by + bh) + 7, max(0, int(bx) - 6):int(bx + bw) + 7]
    assert crop.size and ring.size
    assert np.abs(crop - np.median(ring.reshape(-1, 3), axis=0)).mean() > 8
