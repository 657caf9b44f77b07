"""Device selection, seeding and torch threads: one place for each.

- :func:`resolve_device` maps ``device: auto`` to CUDA when present, else CPU.
- :func:`seed_everything` seeds python, numpy and torch; :func:`seed_offset` shifts every
  configured seed (``VAD_SEED_OFFSET``), to check that a result does not hinge on one seed.
- :func:`torch_threads` is the one place torch's CPU threads are set (``runtime.num_threads``;
  :func:`default_num_threads` when null) together with denormal flushing. The
  :class:`~vad_kedro.hooks.RuntimeHook` applies it to every ``kedro run``.
- :func:`autocast` is the one place mixed precision is chosen: float16 AMP on CUDA, and on CPU
  bfloat16 only inside :func:`cpu_precision` ``("bf16")`` (``runtime.cpu_precision``, default ``fp32``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

logger = logging.getLogger(__name__)


def resolve_device(device: str = "auto") -> torch.device:
    """Map ``auto`` to CUDA when present, else CPU; accept any explicit torch device string."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device '{device}' requested but CUDA is not available")
    return dev


def seed_everything(seed: int, deterministic: bool = True) -> torch.Generator:
    """Seed python, numpy and torch; on CPU make torch deterministic. Returns a seeded generator."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def use_amp(device: torch.device) -> bool:
    """Float16 AMP with gradient scaling: only on CUDA."""
    return device.type == "cuda"


#: ``runtime.cpu_precision`` values and the autocast dtype each selects on CPU (None = plain float32).
CPU_PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16}
#: The CPU autocast dtype in force (changed only through :func:`cpu_precision`).
_cpu_dtype: torch.dtype | None = None


def autocast(device: torch.device) -> torch.autocast:
    """The mixed-precision context of every torch forward pass: float16 on CUDA; on CPU bfloat16 when
    :func:`cpu_precision` ``("bf16")`` is in force, else disabled (float32). Outputs may be in the
    reduced dtype: cast them with ``.float()`` before a loss."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return torch.autocast(device.type, dtype=_cpu_dtype or torch.bfloat16, enabled=autocast_enabled(device))


def autocast_enabled(device: torch.device) -> bool:
    """Whether :func:`autocast` reduces precision on ``device``."""
    return device.type == "cuda" or (device.type == "cpu" and _cpu_dtype is not None)


@contextlib.contextmanager
def cpu_precision(precision: str = "fp32") -> Iterator[str]:
    """Run a block with CPU autocast at ``precision`` (``fp32`` | ``bf16``); the previous one is restored.

    ``bf16`` runs matrix products and convolutions in bfloat16 (8-bit mantissa) with float32 weights
    and optimizer state: several times faster on CPUs with AMX / AVX-512 BF16 units, slower elsewhere.
    Results differ from float32 in the last digits; it is an opt-in speed setting, never the default.
    """
    global _cpu_dtype
    if precision not in CPU_PRECISIONS:
        raise ValueError(f"runtime.cpu_precision must be one of {sorted(CPU_PRECISIONS)}, got {precision!r}")
    previous, _cpu_dtype = _cpu_dtype, CPU_PRECISIONS[precision]
    try:
        yield precision
    finally:
        _cpu_dtype = previous


#: Environment variable that shifts every configured seed (``seed`` and the seeds derived from it).
SEED_OFFSET_ENV = "VAD_SEED_OFFSET"
#: Upper bound of the default thread count: the models here are small, more threads only add overhead.
MAX_DEFAULT_THREADS = 8
#: Whether torch_threads flushes denormals now (torch has no getter; every change goes through torch_threads).
_flush_denormal = False


def seed_offset() -> int:
    """The seed shift from ``VAD_SEED_OFFSET`` (0 when unset); a non-integer value is an error."""
    raw = os.environ.get(SEED_OFFSET_ENV, "").strip()
    if not raw:
        return 0
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{SEED_OFFSET_ENV} must be an integer, got {raw!r}") from exc


def shifted_seed(seed: int | str) -> int:
    """``seed`` plus :func:`seed_offset` (the ``${seed:42}`` resolver of ``parameters.yml``)."""
    return int(seed) + seed_offset()


def default_num_threads() -> int:
    """Threads when ``runtime.num_threads`` is null: ``OMP_NUM_THREADS`` when set, else the cores this
    process may run on (``os.sched_getaffinity``), capped at :data:`MAX_DEFAULT_THREADS`."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, MAX_DEFAULT_THREADS))


def resolve_num_threads(n: int | None) -> int:
    """``runtime.num_threads`` as a positive int (null = :func:`default_num_threads`)."""
    if n is None:
        return default_num_threads()
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"runtime.num_threads must be a positive integer or null, got {n!r}")
    return n


@contextlib.contextmanager
def torch_threads(n: int | None = None) -> Iterator[int]:
    """Run a block with ``n`` torch intra-op threads (null = :func:`default_num_threads`) and
    denormals flushed to zero; the previous settings are restored. Yields the thread count.

    Results are bit-identical per machine *and thread count*: a different count changes the order of
    float reductions. Saturated sigmoids produce denormal gradients that slowed CPU iterations
    20-fold as training went on (MIL: 0.1 s → 1.8 s per iteration); flushing them is deterministic.
    """
    global _flush_denormal
    threads = resolve_num_threads(n)
    previous, previous_flush = torch.get_num_threads(), _flush_denormal
    with contextlib.suppress(RuntimeError):  # inter-op threads can be set once per process, before any use
        torch.set_num_interop_threads(threads)
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    _flush_denormal = True
    try:
        yield threads
    finally:
        torch.set_flush_denormal(previous_flush)   # nested blocks (a run inside a test session) restore it
        _flush_denormal = previous_flush
        torch.set_num_threads(previous)
