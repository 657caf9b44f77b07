"""`kedro run` shows a data error as one paragraph (issue 16, case 8); --verbose keeps the traceback."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vad_kedro import cli
from vad_kedro.core.errors import DataError

REPO = Path(__file__).resolve().parents[1]


def _failing():
    try:
        raise OSError("low-level cause")
    except OSError as exc:
        raise DataError("data/01_raw/x/001.jpg", "unreadable frame: truncated JPEG",
                        hint="replace the file") from exc


def test_data_error_is_one_paragraph_and_exit_code_1(capsys, monkeypatch):
    monkeypatch.setattr(cli, "_verbose", False)
    with pytest.raises(SystemExit) as exit_info:
        cli.readable_errors(_failing)()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["data/01_raw/x/001.jpg: unreadable frame: truncated JPEG.", "What to do: replace the file.",
                   "(Full traceback in info.log; `kedro run --verbose` prints it.)"]


def test_wrapped_data_error_and_verbose(monkeypatch):
    def wrapped():
        try:
            _failing()
        except DataError as exc:
            raise RuntimeError("node failed") from exc

    assert cli.user_error(RuntimeError("x")) is None
    with pytest.raises(SystemExit):
        cli.readable_errors(wrapped)()
    monkeypatch.setattr(cli, "_verbose", True)
    with pytest.raises(DataError):          # --verbose: the original exception and its traceback
        cli.readable_errors(_failing)()


def test_other_errors_keep_their_traceback():
    def bug():
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        cli.readable_errors(bug)()


def _kedro_run(project: Path, *args: str) -> subprocess.CompletedProcess:
    if not (project / "conf").exists():
        shutil.copytree(REPO / "conf", project / "conf", ignore=shutil.ignore_patterns("local"))
        (project / "conf" / "local").mkdir()
        shutil.copy(REPO / "pyproject.toml", project / "pyproject.toml")
        (project / "src").mkdir()
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "OMP_NUM_THREADS": "1", "COLUMNS": "100"}
    env.pop("VAD_VERBOSE", None)
    return subprocess.run([sys.executable, "-m", "kedro", "run", "--env=smoke", *args],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_kedro_run_prints_a_data_error_in_a_few_lines(tmp_path):
    """The probe saw 180-200 lines of rich traceback for a missing dataset folder."""
    proc = _kedro_run(tmp_path, "--pipelines=preprocessing", "--params=dataset.synthetic=null,dataset.root=data/nope")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines()[-3:] == [
        "data/nope: dataset folder not found.",
        "What to do: put the dataset there or set dataset.root (see README, 'Adding a real dataset').",
        "(Full traceback in info.log; `kedro run --verbose` prints it.)"]
    assert "Node prepare_raw" in proc.stdout and "failed with error" in proc.stdout   # Kedro's ERROR line names the node
    assert "Traceback" in (tmp_path / "info.log").read_text()


def test_interrupt_is_one_paragraph_and_exit_code_130(capsys, monkeypatch):
    from vad_kedro.core.errors import RunInterrupted

    monkeypatch.setattr(cli, "_verbose", False)

    def interrupted_read():
        try:
            raise RunInterrupted("interrupted by Ctrl-C")
        except RunInterrupted as exc:
            raise DataError("x.mat", "cannot read .mat file") from exc

    with pytest.raises(SystemExit) as exit_info:
        cli.readable_errors(interrupted_read)()
    assert exit_info.value.code == 130
    assert "Run interrupted (Ctrl-C)" in capsys.readouterr().err


@pytest.mark.slow
def test_a_null_dataset_root_is_one_sentence_before_the_run(tmp_path):
    """Issue 16, case 5: `dataset.root: null` ended in `TypeError: expected str, bytes or os.PathLike object`."""
    proc = _kedro_run(tmp_path, "--params=dataset.root=null")
    assert proc.returncode == 1
    assert "TypeError" not in proc.stdout + proc.stderr and "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines()[-3:-1] == [
        "- dataset.root: input should be a valid string, got None.",
        "What to do: correct the parameter in conf/ (or --params) and run again."]
    assert "Running node" not in (tmp_path / "info.log").read_text()   # the terminal never shows it now


@pytest.mark.slow
def test_kedro_run_prints_one_line_per_node_and_verbose_prints_every_line(tmp_path):
    """Issue 19: a smoke run printed 1,047 lines, 201 of them dataset loads and saves; now one line per node
    and the summary, the rest in info.log and, with --verbose or VAD_VERBOSE=1, on the terminal."""
    from vad_kedro.pipeline_registry import register_pipelines

    n = len(register_pipelines()["preprocessing"].nodes)
    quiet = _kedro_run(tmp_path, "--pipelines=preprocessing")
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    lines = quiet.stdout.strip().splitlines()
    assert [line.split(") ")[0] for line in lines[:-1]] == [f"(preprocessing {i}/{n}" for i in range(1, n + 1)]
    assert all(" done in " in line for line in lines[:-1]) and lines[-1].startswith("Run finished in ")
    assert "Loading data from" not in quiet.stdout + quiet.stderr and "WARNING" not in quiet.stdout
    assert "Loading data from params:dataset" in (tmp_path / "info.log").read_text()
    verbose = _kedro_run(tmp_path, "--pipelines=preprocessing", "--verbose")
    assert "Loading data from params:dataset" in verbose.stdout and f"(preprocessing {n}/{n})" in verbose.stdout
