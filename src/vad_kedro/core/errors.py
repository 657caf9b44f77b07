"""One error type for bad input data, always naming the file or video and the problem."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Raised when input data is missing, malformed or inconsistent.

    The message always starts with the offending file or video so users can find it.
    """

    def __init__(self, where: str | Path, problem: str) -> None:
        self.where = str(where)
        self.problem = problem
        super().__init__(f"{self.where}: {problem}")
