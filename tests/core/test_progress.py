"""Progress bars show on a terminal only (issue 19: tqdm bars ran into the log lines of a log file)."""

import io

from vad_kedro.core import progress as progress_module
from vad_kedro.core.progress import progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _drawn(file: io.StringIO, monkeypatch, flag: str | None) -> str:
    if flag is None:
        monkeypatch.delenv("VAD_PROGRESS", raising=False)
        monkeypatch.setattr(progress_module, "_disable", lambda: None)   # as outside pytest
    else:
        monkeypatch.setenv("VAD_PROGRESS", flag)
    assert list(progress(range(3), desc="videos", file=file)) == [0, 1, 2]
    return file.getvalue()


def test_bars_on_a_terminal_not_in_a_file_or_pipe(monkeypatch):
    assert "videos" in _drawn(_Terminal(), monkeypatch, None)
    assert _drawn(io.StringIO(), monkeypatch, None) == ""


def test_vad_progress_forces_them_on_or_off(monkeypatch):
    assert "videos" in _drawn(io.StringIO(), monkeypatch, "1")
    assert _drawn(_Terminal(), monkeypatch, "0") == ""


def test_off_under_pytest_unless_forced(monkeypatch):
    monkeypatch.delenv("VAD_PROGRESS", raising=False)
    assert progress_module._disable() is True
