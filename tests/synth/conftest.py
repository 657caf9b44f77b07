"""Fixtures for the synthetic benchmark tests: one smoke render shared by the whole folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from vad_kedro.synth import generate_benchmark

#: A tiny configuration for tests that need several renders (a few frames, three videos).
TINY = {"n_frames": 24, "n_train_normal": 1, "n_train_abnormal": 1, "n_test_abnormal": 1, "n_test_normal": 0}


@pytest.fixture(scope="session")
def smoke_bench(tmp_path_factory) -> tuple[Path, dict]:
    """The smoke preset rendered once (seed 7): (root, manifest)."""
    root = tmp_path_factory.mktemp("synth") / "smoke"
    return root, generate_benchmark(root, "smoke", seed=7)
