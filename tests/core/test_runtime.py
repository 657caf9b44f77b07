"""core.runtime: the one place for torch threads, denormal flushing, CPU precision and the seed offset."""

from __future__ import annotations

import pytest
import torch

from vad_kedro.core import runtime


def test_torch_threads_sets_and_restores(monkeypatch):
    before = torch.get_num_threads()
    with runtime.torch_threads(1) as n:
        assert n == 1 and torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with runtime.torch_threads(None) as n:
        assert n == 1


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", True])
def test_num_threads_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match="runtime.num_threads"):
        runtime.resolve_num_threads(bad)


def test_default_threads_follow_the_affinity(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(runtime.os, "sched_getaffinity", lambda _pid: set(range(64)))
    assert runtime.default_num_threads() == runtime.MAX_DEFAULT_THREADS
    monkeypatch.setattr(runtime.os, "sched_getaffinity", lambda _pid: {3})
    assert runtime.default_num_threads() == 1


def test_seed_offset(monkeypatch):
    monkeypatch.delenv(runtime.SEED_OFFSET_ENV, raising=False)
    assert runtime.shifted_seed(42) == 42
    monkeypatch.setenv(runtime.SEED_OFFSET_ENV, "100")
    assert runtime.shifted_seed("42") == 142
    monkeypatch.setenv(runtime.SEED_OFFSET_ENV, "ten")
    with pytest.raises(ValueError, match="VAD_SEED_OFFSET"):
        runtime.seed_offset()


def test_the_configuration_resolves_the_shifted_seed(monkeypatch):
    """parameters.yml's ``seed: ${shifted_seed:42}`` with the project's config loader settings."""
    from kedro.config import OmegaConfigLoader

    from tests.conftest import REPO
    from vad_kedro.settings import CONFIG_LOADER_ARGS

    monkeypatch.setenv(runtime.SEED_OFFSET_ENV, "7")
    loader = OmegaConfigLoader(str(REPO / "conf"), env="smoke", **CONFIG_LOADER_ARGS)
    params = loader["parameters"]
    assert params["seed"] == 42 + 7
    assert params["runtime"] == {"num_threads": None, "cpu_precision": "fp32"}


def test_runtime_hook_applies_the_threads_for_the_run_only():
    from types import SimpleNamespace

    from vad_kedro.hooks import RuntimeHook

    hook, before = RuntimeHook(), torch.get_num_threads()
    hook.after_context_created(SimpleNamespace(params={"runtime": {"num_threads": 1, "cpu_precision": "bf16"}}))
    hook.before_pipeline_run()
    assert torch.get_num_threads() == 1
    assert runtime.autocast_enabled(torch.device("cpu"))
    hook.on_pipeline_error()
    assert torch.get_num_threads() == before
    assert not runtime.autocast_enabled(torch.device("cpu"))


@pytest.mark.parametrize("threads", [1, 2])
def test_same_seed_same_thread_count_bit_identical_model(threads):
    """Determinism as documented: same seed, machine and thread count → the same model tensors."""
    from tests.pipelines.weak_supervision.synthetic import make_synthetic
    from tests.pipelines.weak_supervision.test_nodes import SMALL, train

    feats, index, _ = make_synthetic(n_train=6, n_test=1, n_val=2, n_crops=2, dim=16, t_range=(8, 20), seed=4)
    cfg = {**SMALL["rtfm"], "iterations": 8, "batch_size": 4, "eval_every": 4, "n_seeds": 1}
    states = []
    for _ in range(2):
        with runtime.torch_threads(threads):
            ckpt, _ = train("rtfm", feats, index, cfg, 3)
        states.append(ckpt["runs"]["3"]["last"])
    for key, value in states[0].items():
        assert torch.equal(value, states[1][key]), key


def test_nested_blocks_restore_the_outer_settings():
    """A kedro run inside a test session (both use torch_threads) leaves the session's settings as they were."""
    threads, flush = torch.get_num_threads(), runtime._flush_denormal
    with runtime.torch_threads(2):
        with runtime.torch_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2 and runtime._flush_denormal is True   # not switched off by the inner
    assert torch.get_num_threads() == threads and runtime._flush_denormal is flush


def test_cpu_precision_switches_autocast_for_the_block_only():
    """fp32 (the default) leaves CPU forward passes in float32; bf16 runs a Linear in bfloat16 inside the block."""
    cpu, layer, x = torch.device("cpu"), torch.nn.Linear(4, 2), torch.ones(3, 4)
    with runtime.autocast(cpu):
        assert layer(x).dtype == torch.float32
    with runtime.cpu_precision("bf16"):
        with runtime.cpu_precision("fp32"):
            assert not runtime.autocast_enabled(cpu)
        with runtime.autocast(cpu):
            assert layer(x).dtype == torch.bfloat16
    assert not runtime.autocast_enabled(cpu)
    with pytest.raises(ValueError, match="runtime.cpu_precision"):
        with runtime.cpu_precision("fp16"):
            pass
