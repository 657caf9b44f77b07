"""Project command line: Kedro's own ``kedro run`` plus ``--verbose``, and readable data errors.

By default the terminal shows one line per node, the run summary, warnings and errors (``conf/logging.yml``);
``kedro run --verbose`` (or ``VAD_VERBOSE=1``) shows every INFO line as well, as ``info.log`` has them.

A :class:`~vad_kedro.core.errors.DataError` (or a parameter that fails validation, or Ctrl-C) ends
``kedro run`` with one paragraph naming the file or parameter, the problem and what to do, and
exit code 1 (130 for Ctrl-C). The traceback goes to the log file (``info.log``, logger ``vad_kedro.traceback``)
and, with ``kedro run --verbose``, to the terminal. Every other error keeps Kedro's traceback.
Kedro loads this module's ``cli`` group and ``run`` command in place of its own ``run``.
"""

from __future__ import annotations

import copy
import functools
import logging
import re
from collections.abc import Callable
from typing import Any

import click
from kedro.framework.cli.project import run as _kedro_run

from vad_kedro.core.errors import DataError, RunInterrupted

TRACEBACK_LOGGER = "vad_kedro.traceback"   # conf/logging.yml sends it to the log file only

_verbose = False


def _set_verbose(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    global _verbose
    _verbose = bool(value)
    if _verbose:
        show_every_log_line()


def show_every_log_line() -> None:
    """Lower the terminal handler of ``conf/logging.yml`` (named ``rich``) from WARNING to INFO."""
    for handler in logging.getLogger().handlers:
        if handler.get_name() == "rich":
            handler.setLevel(logging.INFO)


INTERRUPTED = ("Run interrupted (Ctrl-C); the MLflow run is marked KILLED.\nWhat to do: to resume, repeat the "
               "command with the --from-nodes suggestion logged above (when nodes had completed).")


def _chain(exc: BaseException | None) -> list[BaseException]:
    chain: list[BaseException] = []
    while exc is not None and all(exc is not e for e in chain):
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    return chain


def interrupted(exc: BaseException) -> bool:
    """Whether Ctrl-C caused ``exc`` (also when a file reader re-raised it as a DataError)."""
    return any(isinstance(e, RunInterrupted) for e in _chain(exc))


def user_error(exc: BaseException) -> str | None:
    """The paragraph to show for an error caused by the user's data or parameters, else None."""
    from kedro.validation.exceptions import ParameterValidationError

    if interrupted(exc):
        return INTERRUPTED
    for exc in _chain(exc):
        if isinstance(exc, DataError):
            return exc.paragraph()
        if isinstance(exc, ParameterValidationError):   # Kedro's message around vad_kedro.core.params' sentences
            text = re.sub(r"Parameter '[^']+': Failed to instantiate \w+ for parameter '[^']+': ", "", str(exc))
            return f"{text}\nWhat to do: correct the parameter in conf/ (or --params) and run again."
    return None


def readable_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a click callback: user errors become one paragraph, exit code 1 (130 for Ctrl-C); see module docstring."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Exception as exc:
            text = user_error(exc)
            if text is None or _verbose:
                raise
            logging.getLogger(TRACEBACK_LOGGER).error("kedro run stopped: %s", exc, exc_info=exc)
            click.secho(f"\n{text}\n(Full traceback in info.log; `kedro run --verbose` prints it.)",
                        fg="red", err=True)
            raise SystemExit(130 if interrupted(exc) else 1) from None

    return wrapper


run = copy.copy(_kedro_run)
run.params = [*_kedro_run.params,
              click.Option(["--verbose", "-v"], is_flag=True, expose_value=False, is_eager=True, envvar="VAD_VERBOSE",
                           callback=_set_verbose, help="Print every log line (dataset loads and saves too) and the "
                           "full traceback of data and parameter errors; also VAD_VERBOSE=1.")]
run.callback = readable_errors(_kedro_run.callback)


@click.group(name="vad_kedro")
def cli() -> None:
    """Project commands."""


cli.add_command(run)
