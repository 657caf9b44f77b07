"""``package_<method>`` registers a method as an MLflow model: ``mlflow models serve`` scores MIL on snippet
features over HTTP on 127.0.0.1 exactly as ``kedro run --pipelines=inference`` scores the same video, and
S3R's logged model scores as its method pipeline."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vad_kedro.pipelines.weak_supervision.nodes import SNIPPET

from .inference_checks import first_test_video, run_inference

START_TIMEOUT = 180     # seconds for the server to answer /ping (about 25 s on an idle 2-core machine)
REQUEST_TIMEOUT = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture(scope="module")
def served(smoke_project, tmp_path_factory):
    """``models:/mil/latest`` of the smoke project served on a free loopback port; killed at the end."""
    smoke_project.run("package_mil")
    port = _free_port()
    bin_dir = str(Path(sys.executable).parent)        # mlflow and uvicorn of this environment
    env = {**os.environ, "MLFLOW_TRACKING_URI": "sqlite:///mlflow_smoke.db",
           "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([f"{bin_dir}/mlflow", "models", "serve", "-m", "models:/mil/latest",
                                   "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port), "-w", "1"],
                                  cwd=smoke_project.path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if server.poll() is not None:
                pytest.fail(f"mlflow models serve exited with {server.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"no answer on /ping after {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")
                time.sleep(1)
        yield f"http://127.0.0.1:{port}/invocations"
    finally:
        os.killpg(server.pid, signal.SIGTERM)          # the server and its uvicorn worker
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _request(video_id: str, features: np.ndarray) -> dict:
    return {"dataframe_records": [{"video_id": video_id, "snippet": t, "features": features[t].tolist()}
                                  for t in range(len(features))]}


@pytest.mark.slow
def test_served_scores_equal_the_inference_pipeline(smoke_project, served):
    video = first_test_video(smoke_project)
    features = smoke_project.load("snippet_features")[video["video_id"]]()
    status, answer = _post(served, _request(video["video_id"], features))
    assert status == 200, answer
    served_scores = np.array([row["score"] for row in answer["predictions"]])
    assert [row["snippet"] for row in answer["predictions"]] == list(range(len(features)))

    table, _, _ = run_inference(smoke_project, video, "mil")     # kedro run --pipelines=inference, same model
    expected = table["score"].to_numpy()[::SNIPPET]                # each frame carries its snippet's score
    np.testing.assert_allclose(served_scores, expected, atol=1e-5)


@pytest.mark.slow
def test_wrong_feature_shape_is_a_bad_request_naming_the_expected_shape(smoke_project, served):
    video = first_test_video(smoke_project)
    features = smoke_project.load("snippet_features")[video["video_id"]]()
    status, answer = _post(served, _request("clip", features[:, :, :5]))
    assert status == 400
    assert f"expects {features.shape[1:]}" in answer.get("stack_trace", "") + answer["message"], answer


@pytest.mark.slow
def test_s3r_package_scores_as_its_method_pipeline(smoke_project):
    """S3R's model carries its dictionary atoms: the logged model, loaded back, scores as ``s3r.score_videos``."""
    import mlflow

    from tests.conftest import working_directory

    smoke_project.run("package_s3r")
    smoke_project.run("weak_supervision", node_names=["s3r.score_videos", "s3r.expand_to_frames"])
    own = smoke_project.load("s3r.frame_scores")
    video = first_test_video(smoke_project)
    features = smoke_project.load("snippet_features")[video["video_id"]]()
    request = pd.DataFrame(_request(video["video_id"], features)["dataframe_records"])
    previous = mlflow.get_tracking_uri()
    try:
        with working_directory(smoke_project.path):
            mlflow.set_tracking_uri("sqlite:///mlflow_smoke.db")
            served = mlflow.pyfunc.load_model("models:/s3r/latest").predict(request)
    finally:
        mlflow.set_tracking_uri(previous)
    own = own[(own["video_id"] == video["video_id"]) & (own["seed"] == own["seed"].min())].sort_values("frame")
    np.testing.assert_allclose(served["score"], own["score"].to_numpy()[::SNIPPET], atol=1e-5)
