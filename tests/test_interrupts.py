"""Ctrl-C and killed runs (issue 16, case 4).

Ctrl-C printed only "Aborted!" (no resume hint) and MLflow marked the run FINISHED; a run killed
by SIGKILL stayed RUNNING for ever.
"""

import logging
import os
import signal
import socket

import mlflow
import pytest

from vad_kedro.core.errors import RunInterrupted
from vad_kedro.hooks import HOST_TAG, PID_TAG, fail_orphaned_runs, install_interrupt_handler, restore_interrupt_handler


def test_ctrl_c_during_a_run_raises_run_interrupted():
    previous = install_interrupt_handler()
    try:
        with pytest.raises(RunInterrupted):
            os.kill(os.getpid(), signal.SIGINT)   # delivered to this (main) thread at once
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # a second Ctrl-C stops at once
    finally:
        restore_interrupt_handler(previous)
    assert signal.getsignal(signal.SIGINT) is previous


def test_runs_left_running_by_a_killed_process_are_marked_failed(tmp_path):
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.create_experiment("e")
    host = socket.gethostname()
    dead = client.create_run(exp, tags={PID_TAG: "999999999", HOST_TAG: host})          # no such process
    alive = client.create_run(exp, tags={PID_TAG: str(os.getpid()), HOST_TAG: host})     # another run, still going
    elsewhere = client.create_run(exp, tags={PID_TAG: "999999999", HOST_TAG: host + "-other"})
    current = client.create_run(exp)
    assert fail_orphaned_runs(client, exp, current.info.run_id) == [dead.info.run_id]
    status = {r: client.get_run(r.info.run_id).info.status for r in (dead, alive, elsewhere, current)}
    assert status == {dead: "FAILED", alive: "RUNNING", elsewhere: "RUNNING", current: "RUNNING"}


@pytest.mark.slow
def test_ctrl_c_in_a_node_suggests_resuming_and_marks_the_mlflow_run_killed(fresh_project, monkeypatch, caplog):
    from vad_kedro.io import readers

    original = readers.discover_videos

    def interrupted(dataset):
        videos = original(dataset)
        os.kill(os.getpid(), signal.SIGINT)         # Ctrl-C while the node runs
        return videos

    monkeypatch.setattr(readers, "discover_videos", interrupted)
    before = signal.getsignal(signal.SIGINT)   # SIG_IGN when the suite runs as a background job
    with caplog.at_level(logging.INFO), pytest.raises(RunInterrupted):
        fresh_project.run("preprocessing")
    assert "--from-nodes" in caplog.text and "prepare_raw" not in caplog.text.split("--from-nodes")[-1]
    from tests.conftest import working_directory

    # the run's own tracking store (MLflow caches one engine per URI; the smoke URI is relative)
    with working_directory(fresh_project.path):
        client = mlflow.MlflowClient()
        latest = client.search_runs([client.get_experiment_by_name("vad_kedro_smoke").experiment_id], max_results=1)
    assert [r.info.status for r in latest] == ["KILLED"]
    assert signal.getsignal(signal.SIGINT) is before   # the run restored what it found


def test_a_handler_left_by_a_failed_start_is_not_kept_as_the_previous_one():
    """Kedro calls no on_pipeline_error when a before_pipeline_run hook raises: the handler is installed last
    (trylast), and a stale handler of ours is never taken for the user's and restored."""
    from vad_kedro.hooks import InterruptHook

    assert InterruptHook.before_pipeline_run.kedro_impl["trylast"] is True
    signal.signal(signal.SIGINT, signal.default_int_handler)
    install_interrupt_handler()                                  # a run that never restored it
    try:
        assert install_interrupt_handler() is signal.default_int_handler
    finally:
        restore_interrupt_handler(signal.default_int_handler)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
