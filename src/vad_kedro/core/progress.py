"""Progress bars for long loops (tqdm); quiet under pytest unless VAD_PROGRESS=1."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def _enabled() -> bool:
    flag = os.environ.get("VAD_PROGRESS")
    if flag is not None:
        return flag not in ("0", "false", "False", "")
    return "pytest" not in sys.modules


def progress(iterable: Iterable[T], desc: str, total: int | None = None, **kwargs) -> Iterator[T]:
    """Wrap an iterable in a tqdm bar named ``desc`` (disabled in tests)."""
    return tqdm(iterable, desc=desc, total=total, disable=not _enabled(), leave=False, dynamic_ncols=True, **kwargs)
