"""Custom datasets: round trips, atomic saves, versioned checkpoints loaded with weights_only."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from kedro.io.core import Version

from vad_kedro.io import CachedPartitionsDataset, MetricsDataset, NpyDataset, NpzDataset, OptionalJSONDataset, TorchStateDataset
from vad_kedro.io.datasets import atomic_write


def test_npy_and_npz_round_trip(tmp_path):
    arr = np.arange(24, dtype=np.float16).reshape(2, 3, 4)
    ds = NpyDataset(str(tmp_path / "a.npy"))
    ds.save(arr)
    assert np.array_equal(ds.load(), arr) and ds.load().dtype == np.float16
    assert [p.name for p in tmp_path.iterdir()] == ["a.npy"]          # no temporary file left
    z = NpzDataset(str(tmp_path / "b.npz"))
    z.save({"app": arr, "vel": np.ones(3)})
    out = z.load()
    assert set(out) == {"app", "vel"} and np.array_equal(out["app"], arr)


def test_failed_save_keeps_previous_file(tmp_path):
    target = tmp_path / "x.txt"
    target.write_text("good")

    def broken(p: Path) -> None:
        p.write_text("half")
        raise RuntimeError("crash while writing")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]


def test_versioned_checkpoint_never_overwritten(tmp_path):
    path = str(tmp_path / "model.pt")
    TorchStateDataset(path, version=Version(None, "2026-01-01T00.00.00.000Z")).save({"w": torch.zeros(2), "lr": 0.1})
    TorchStateDataset(path, version=Version(None, "2026-01-02T00.00.00.000Z")).save({"w": torch.ones(2), "lr": 0.2})
    latest = TorchStateDataset(path, version=Version(None, None)).load()
    assert torch.equal(latest["w"], torch.ones(2)) and latest["lr"] == 0.2
    first = TorchStateDataset(path, version=Version("2026-01-01T00.00.00.000Z", None)).load()
    assert torch.equal(first["w"], torch.zeros(2))


def test_checkpoint_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"module": torch.nn.Linear(2, 2)}, path)
    with pytest.raises(Exception, match="[Ww]eights only"):
        TorchStateDataset(str(path)).load()


def test_optional_json_and_metrics_copy(tmp_path):
    opt = OptionalJSONDataset(str(tmp_path / "t.json"))
    assert opt.load() == {}
    opt.save({"a": 1.5})
    assert opt.load() == {"a": 1.5}
    m = MetricsDataset(prefix="rtfm", filepath=str(tmp_path / "h.json"))
    m.save({"loss": [1.0, 0.5], "val_auc": 0.8})            # no active MLflow run: local copy only
    assert m.load() == {"loss": [1.0, 0.5], "val_auc": 0.8}
    assert list(m._points({"loss": [1.0, float("nan"), 0.5]})) == [("rtfm.loss", 1.0, 0), ("rtfm.loss", 0.5, 2)]


def test_optional_partitioned_dataset_loads_empty(tmp_path):
    from vad_kedro.io import OptionalPartitionedDataset

    ds = OptionalPartitionedDataset(path=str(tmp_path / "parts"), dataset="vad_kedro.io.NpyDataset",
                                    filename_suffix=".npy")
    assert ds.load() == {}
    ds.save({"v1": np.ones(3)})
    loaded = ds.load()
    assert list(loaded) == ["v1"] and np.array_equal(loaded["v1"](), np.ones(3))


def test_metrics_accept_step_value_items():
    m = MetricsDataset(prefix="smaff")
    assert list(m._points({"loss": [{"step": 5, "value": 0.3}, {"step": 9, "value": 0.1}]})) == [
        ("smaff.loss", 0.3, 5), ("smaff.loss", 0.1, 9)]


def test_cached_partitions_compute_each_once_and_hand_out_copies():
    calls = {"a": 0}

    def compute_a():
        calls["a"] += 1
        return np.arange(3)

    ds = CachedPartitionsDataset()
    ds.save({"a": compute_a, "b": lambda: np.zeros(2)})
    parts = ds.load()
    first = parts["a"]()
    first[0] = 99                       # a consumer modifying what it loaded
    assert parts["a"]().tolist() == [0, 1, 2]
    assert ds.load()["a"]().tolist() == [0, 1, 2]
    assert calls["a"] == 1


def test_cached_partitions_keep_other_data_as_is():
    ds = CachedPartitionsDataset()
    frame = pd.DataFrame({"x": [1]})
    ds.save(frame)
    assert ds.load() is frame
    ds.save({})
    assert ds.load() == {}


# ------------------------------------------------------------------ killed saves (issue 16, case 3)
_KILLED_SAVE = """
import sys, time, torch
from kedro.io.core import Version
from vad_kedro.io import TorchStateDataset

def slow_save(obj, path):
    with open(path, "wb") as fh:
        fh.write(b"x" * 100_000)
        fh.flush()
        print("writing", flush=True)
        time.sleep(60)

torch.save = slow_save
TorchStateDataset(sys.argv[1], version=Version(None, sys.argv[2])).save({"w": torch.zeros(3)})
"""


def test_save_killed_mid_write_leaves_nothing_after_the_next_start(tmp_path):
    """SIGKILL during a model save left ``.model.pt.<random>.pt.tmp`` in a version folder for ever."""
    import os
    import signal
    import subprocess
    import sys

    from vad_kedro.io.datasets import remove_stale_temporaries

    filepath = tmp_path / "06_models" / "rtfm" / "model.pt"
    TorchStateDataset(str(filepath), version=Version(None, "2026-01-01T00.00.00.000Z")).save({"w": torch.ones(3)})
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_SAVE, str(filepath), "2026-01-02T00.00.00.000Z"],
                            stdout=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        assert proc.stdout.readline().strip() == b"writing"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    broken = filepath / "2026-01-02T00.00.00.000Z"
    assert [p.name.endswith(".pt.tmp") for p in broken.iterdir()] == [True]      # the state the issue found
    # loading ignores the version folder without its file; the next start removes it
    assert torch.equal(TorchStateDataset(str(filepath), version=Version(None, None)).load()["w"], torch.ones(3))
    removed = remove_stale_temporaries(tmp_path)
    assert not broken.exists() and broken in removed
    assert sorted(p.name for p in filepath.iterdir()) == ["2026-01-01T00.00.00.000Z"]


def test_temporary_file_of_a_running_writer_is_kept(tmp_path):
    import os

    from vad_kedro.io.datasets import remove_stale_temporaries

    mine = tmp_path / f".a.npy.{os.getpid()}-abc123.npy.tmp"
    mine.write_bytes(b"in progress")
    old_unowned = tmp_path / ".b.npy.abc123.npy.tmp"            # written before names carried a pid
    old_unowned.write_bytes(b"old")
    os.utime(old_unowned, (0, 0))
    assert remove_stale_temporaries(tmp_path) == [old_unowned]
    assert mine.exists()
