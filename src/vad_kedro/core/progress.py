"""Progress bars for long loops (tqdm): on a terminal only, never into a log file or a pipe.

``VAD_PROGRESS=1`` forces them on, ``VAD_PROGRESS=0`` off; under pytest they are off unless forced.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def _disable() -> bool | None:
    """tqdm's ``disable``: True = off, False = on, None = on only when the output is a terminal (TTY)."""
    flag = os.environ.get("VAD_PROGRESS")
    if flag is not None:
        return flag in ("0", "false", "False", "")
    return True if "pytest" in sys.modules else None


def progress(iterable: Iterable[T], desc: str, total: int | None = None, **kwargs) -> Iterator[T]:
    """Wrap an iterable in a tqdm bar named ``desc`` (see the module docstring for when it shows)."""
    return tqdm(iterable, desc=desc, total=total, disable=_disable(), leave=False, dynamic_ncols=True, **kwargs)
