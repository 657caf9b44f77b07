"""Incremental re-runs: only new or changed videos are recomputed; removed videos are pruned."""

import pandas as pd
from kedro_datasets.partitions import PartitionedDataset

from vad_kedro.pipelines.feature_extraction import nodes
from vad_kedro.pipelines.feature_extraction.datasets import FeatureManifestDataset

from .conftest import fe_params, index_row, make_video

FLOW_P = fe_params("flow", {"method": "dis", "downsample": 2})


def _stores(tmp_path):
    flow = PartitionedDataset(path=str(tmp_path / "flow"), dataset="vad_kedro.io.NpyDataset", filename_suffix=".npy")
    manifest = FeatureManifestDataset(str(tmp_path / "manifests/flow.json"), str(tmp_path / "flow"), ".npy")
    return flow, manifest


def _run(video_index, frames, flow_store, manifest, params=FLOW_P):
    parts, keys = nodes.extract_flow(video_index, frames, params, True, manifest.load())
    flow_store.save(parts)      # PartitionedDataset saves lazily, one video at a time
    manifest.save(keys)
    return sorted(parts)


def test_adding_one_video_recomputes_only_it(tmp_path):
    srcs = {}
    for name in ("a", "b", "c"):
        srcs[name] = tmp_path / "src" / name
        srcs[name].mkdir(parents=True)
    frames = {f"train_{n}": (lambda s=i: make_video(s)) for i, n in enumerate("abc")}
    flow_store, manifest = _stores(tmp_path)
    two = pd.DataFrame([index_row("train_a", srcs["a"]), index_row("train_b", srcs["b"])])
    assert _run(two, frames, flow_store, manifest) == ["train_a", "train_b"]
    mtime_a = (tmp_path / "flow/train_a.npy").stat().st_mtime_ns

    three = pd.DataFrame([index_row(f"train_{n}", srcs[n]) for n in "abc"])
    assert _run(three, frames, flow_store, manifest) == ["train_c"]
    assert (tmp_path / "flow/train_a.npy").stat().st_mtime_ns == mtime_a
    assert sorted(flow_store.load()) == ["train_a", "train_b", "train_c"]
    assert _run(three, frames, flow_store, manifest) == []                      # nothing changed

    (tmp_path / "flow/train_b.npy").unlink()                                     # a lost partition is recomputed
    assert _run(three, frames, flow_store, manifest) == ["train_b"]
    assert _run(three, frames, flow_store, manifest, {**FLOW_P, "downsample": 4}) == ["train_a", "train_b", "train_c"]


def test_removed_videos_are_pruned(tmp_path):
    frames = {f"train_{n}": (lambda s=i: make_video(s)) for i, n in enumerate("ab")}
    flow_store, manifest = _stores(tmp_path)
    rows = [index_row("train_a", tmp_path / "a"), index_row("train_b", tmp_path / "b")]
    _run(pd.DataFrame(rows), frames, flow_store, manifest)
    _run(pd.DataFrame(rows[:1]), frames, flow_store, manifest)
    assert sorted(flow_store.load()) == ["train_a"]
    assert manifest.load() == {"train_a": manifest.load()["train_a"]} and len(manifest.load()) == 1


def test_incremental_false_recomputes_everything(tmp_path):
    frames = {"train_a": lambda: make_video(0)}
    vi = pd.DataFrame([index_row("train_a", tmp_path / "a")])
    parts, keys = nodes.extract_flow(vi, frames, FLOW_P, True, {})
    parts2, _ = nodes.extract_flow(vi, frames, FLOW_P, False, keys)
    parts3, _ = nodes.extract_flow(vi, frames, FLOW_P, True, keys)
    assert list(parts2) == ["train_a"] and parts3 == {}


def test_a_corrupt_cached_partition_is_recomputed_once_with_a_warning(tmp_path, caplog):
    """Issue 16, case 2: a cached file with NaN (or cut short) failed every later run until deleted by hand."""
    import logging

    import numpy as np

    frames = {f"train_{n}": (lambda s=i: make_video(s)) for i, n in enumerate("ab")}
    flow_store = PartitionedDataset(path=str(tmp_path / "flow"), dataset="vad_kedro.io.NpyDataset",
                                    filename_suffix=".npy")
    manifest = FeatureManifestDataset(str(tmp_path / "manifests/flow.json"), str(tmp_path / "flow"), ".npy",
                                      finite=True)
    index = pd.DataFrame([index_row("train_a", tmp_path / "a"), index_row("train_b", tmp_path / "b")])
    assert _run(index, frames, flow_store, manifest) == ["train_a", "train_b"]

    bad = tmp_path / "flow/train_a.npy"
    arr = np.load(bad)
    arr[0, 0, 0, 0] = np.nan
    np.save(bad, arr)
    with caplog.at_level(logging.WARNING):
        assert _run(index, frames, flow_store, manifest) == ["train_a"]
    assert f"{bad}: cached partition contains NaN or inf; it is recomputed" in caplog.text
    assert np.isfinite(np.load(bad)).all()
    assert _run(index, frames, flow_store, manifest) == []                       # fixed: cached again

    cut = tmp_path / "flow/train_b.npy"
    cut.write_bytes(cut.read_bytes()[:100])
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert _run(index, frames, flow_store, manifest) == ["train_b"]
    assert f"{cut}: cached partition cannot be read" in caplog.text


def test_object_feature_check_ignores_nan_pose_rows(tmp_path):
    import numpy as np

    from vad_kedro.pipelines.feature_extraction.datasets import partition_problem

    path = tmp_path / "v.npz"
    np.savez(path, app=np.ones((2, 3)), vel=np.ones((2, 4)), pose=np.full((2, 34), np.nan))
    assert partition_problem(path, ["app", "vel"]) is None
    np.savez(path, app=np.ones((2, 3)), vel=np.array([[np.inf] * 4] * 2), pose=np.zeros((2, 34)))
    assert partition_problem(path, ["app", "vel"]) == "array 'vel' contains NaN or inf"
