"""One error type for bad input data, always naming the file or video and the problem."""

from __future__ import annotations

from pathlib import Path

#: Said when a DataError carries no specific advice.
DEFAULT_HINT = "fix or replace it (or the parameter that points at it) and run again"


class DataError(ValueError):
    """Raised when input data is missing, malformed or inconsistent.

    The message always starts with the offending file or video so users can find it; ``hint``
    says what to do when the problem alone does not (shown by ``kedro run``, see ``vad_kedro.cli``).
    """

    def __init__(self, where: str | Path, problem: str, hint: str | None = None) -> None:
        self.where = str(where)
        self.problem = problem
        self.hint = hint
        super().__init__(f"{self.where}: {problem}")

    def paragraph(self) -> str:
        """The error as one paragraph for people: file, problem, what to do."""
        return f"{self.where}: {self.problem.rstrip('.')}.\nWhat to do: {self.hint or DEFAULT_HINT}."


class RunInterrupted(Exception):
    """Ctrl-C (SIGINT) during ``kedro run``.

    Raised in place of ``KeyboardInterrupt`` while a pipeline runs (``vad_kedro.hooks.RunStartHook``)
    so that Kedro treats it as a failed node: it prints its ``--from-nodes`` resume suggestion and
    calls the ``on_pipeline_error`` hooks, which mark the MLflow run KILLED.
    """
