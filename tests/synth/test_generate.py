"""Synthetic benchmark generator: determinism, idempotence, crash safety, configuration errors."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vad_kedro.core.errors import DataError
from vad_kedro.synth import SIZES, generate_benchmark, resolve_config
from vad_kedro.synth import generate as gen_mod

from .conftest import TINY


def _digest_tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes_other_seed_differs(tmp_path):
    a = generate_benchmark(tmp_path / "a", "smoke", seed=3, overrides=TINY)
    b = generate_benchmark(tmp_path / "b", "smoke", seed=3, overrides=TINY)
    c = generate_benchmark(tmp_path / "c", "smoke", seed=4, overrides=TINY)
    da, db, dc = (_digest_tree(tmp_path / n) for n in "abc")
    assert a == b and da == db
    assert len(da) > 3 * TINY["n_frames"]
    assert a["config_hash"] != c["config_hash"]
    assert sorted(da) == sorted(dc)  # same layout...
    changed = [k for k in da if da[k] != dc[k]]
    assert len(changed) > 0.9 * len(da)  # ...different content


def test_deterministic_across_processes(tmp_path):
    """A fresh interpreter (other hash seed) renders the same bytes."""
    generate_benchmark(tmp_path / "here", "smoke", seed=5, overrides=TINY)
    code = ("import sys; from vad_kedro.synth import generate_benchmark; "
            f"generate_benchmark(sys.argv[1], 'smoke', seed=5, overrides={TINY!r})")
    env = dict(os.environ, PYTHONHASHSEED="123", OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "there")], check=True, env=env)
    assert _digest_tree(tmp_path / "here") == _digest_tree(tmp_path / "there")


def test_idempotent_second_call_does_not_render(smoke_bench, monkeypatch):
    root, manifest = smoke_bench
    before = _digest_tree(root)

    def boom(*args, **kwargs):
        raise AssertionError("re-rendered an up-to-date benchmark")

    monkeypatch.setattr(gen_mod, "_render_all", boom)
    assert generate_benchmark(root, "smoke", seed=7) == manifest
    assert _digest_tree(root) == before


def test_new_config_replaces_old_render_without_leftovers(tmp_path):
    root = tmp_path / "bench"
    m1 = generate_benchmark(root, "smoke", seed=1, overrides=TINY)
    m2 = generate_benchmark(root, "smoke", seed=2, overrides=TINY)
    assert m1["config_hash"] != m2["config_hash"]
    assert json.loads((root / "manifest.json").read_text())["config_hash"] == m2["config_hash"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench"]


def test_crash_leaves_no_partial_folder(tmp_path, monkeypatch):
    calls = []
    real = gen_mod.render_video

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(gen_mod, "render_video", flaky)
    with pytest.raises(RuntimeError, match="simulated crash"):
        generate_benchmark(tmp_path / "bench", "smoke", seed=1, overrides=TINY)
    assert list(tmp_path.iterdir()) == []


def test_crash_keeps_previous_render_intact(tmp_path, monkeypatch):
    root = tmp_path / "bench"
    generate_benchmark(root, "smoke", seed=1, overrides=TINY)
    before = _digest_tree(root)
    monkeypatch.setattr(gen_mod, "render_video", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("crash")))
    with pytest.raises(RuntimeError):
        generate_benchmark(root, "smoke", seed=2, overrides=TINY)
    assert _digest_tree(root) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench"]


def test_refuses_to_overwrite_foreign_folder(tmp_path):
    root = tmp_path / "mine"
    root.mkdir()
    (root / "precious.txt").write_text("keep me")
    with pytest.raises(DataError, match="refusing to overwrite"):
        generate_benchmark(root, "smoke", seed=1, overrides=TINY)
    assert (root / "precious.txt").read_text() == "keep me"


def test_empty_existing_folder_is_used(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    m = generate_benchmark(root, "smoke", seed=1, overrides=TINY)
    assert (root / "manifest.json").exists() and m["counts"]["testing_abnormal"] == 1


def test_presets_and_config_errors():
    assert SIZES["smoke"]["height"] == 96 and SIZES["smoke"]["width"] == 128 and SIZES["smoke"]["n_frames"] == 64
    assert SIZES["default"]["height"] == 180 and SIZES["default"]["width"] == 240
    assert SIZES["default"]["n_frames"] == 160 and SIZES["default"]["n_test_abnormal"] == 12
    cfg = resolve_config("default", 7, {"height": 240, "width": 360})
    assert (cfg["height"], cfg["width"], cfg["seed"]) == (240, 360, 7)
    assert SIZES["default"]["height"] == 180  # overrides never mutate the preset
    with pytest.raises(ValueError, match="unknown synthetic benchmark size"):
        resolve_config("huge", 7)
    with pytest.raises(ValueError, match="unknown synthetic benchmark option"):
        resolve_config("smoke", 7, {"heigth": 10})
    with pytest.raises(ValueError, match="unknown anomaly types"):
        resolve_config("smoke", 7, {"held_out_types": ["teleporting"]})
    with pytest.raises(ValueError, match="at least"):
        resolve_config("smoke", 7, {"height": 20})
