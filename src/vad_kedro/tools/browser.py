"""Build the static kedro-viz site, serve it on 127.0.0.1 and look at it with headless Chromium.

Used by the browser test and by ``python -m vad_kedro.tools.browser`` to make the README screenshots
(``--mlflow-model <name>``: the MLflow UI's page of a registered model instead).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                  "--hide-scrollbars", "--disable-dev-shm-usage",
                  "--run-all-compositor-stages-before-draw"]   # the DOM after the fit-to-screen zoom, not before


def find_chromium() -> str | None:
    """Path of a Chromium / Chrome binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def kedro_bin() -> str:
    """The kedro executable of the running interpreter's environment."""
    candidate = Path(sys.executable).with_name("kedro")
    return str(candidate) if candidate.exists() else "kedro"


def build_viz(project: Path, timeout: int = 600) -> Path:
    """Run ``kedro viz build`` in ``project``; returns the ``build`` folder."""
    env = dict(os.environ, KEDRO_DISABLE_TELEMETRY="true")
    subprocess.run([kedro_bin(), "viz", "build"], cwd=project, env=env, check=True, timeout=timeout,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return project / "build"


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP on 127.0.0.1 (ephemeral port) for the duration of the block."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


def _chromium(url: str, extra: list[str], timeout: int = 120) -> subprocess.CompletedProcess:
    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError("chromium not found (Debian package 'chromium')")
    with tempfile.TemporaryDirectory() as profile:
        cmd = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000", *extra, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)


def dump_dom(url: str, window: str = "1400,900") -> str:
    """The DOM of ``url`` after its scripts ran (headless Chromium ``--dump-dom``)."""
    return _chromium(url, [f"--window-size={window}", "--dump-dom"]).stdout


def settled_dom(url: str, window: str = "1400,900", attempts: int = 3) -> str:
    """The DOM of a kedro-viz page once its fit-to-screen zoom has ended (Chromium sometimes dumps it mid-way)."""
    for _ in range(attempts):
        dom = dump_dom(url, window)
        if "zoom-wrapper--animating" not in dom:
            break
    return dom


def zoom_percent(dom: str) -> int:
    """The zoom level kedro-viz shows in its toolbar (``38%``)."""
    match = re.search(r'title="Zoom level">(\d+)%', dom)
    if match is None:
        raise ValueError("no kedro-viz zoom level in the page")
    return int(match.group(1))


def graph_labels(dom: str) -> list[str]:
    """The labels of the boxes drawn in the kedro-viz graph (nodes and collapsed namespaces)."""
    return re.findall(r'class="pipeline-node__text"[^>]*>([^<]+)<', dom)


def first_view(url: str, pipeline: str) -> str:
    """The overview to open first: ``pipeline`` with its namespaces collapsed and only the node boxes (the
    datasets, with their layers and previews, come back with the Datasets filter or a click on a namespace)."""
    return f"{url}?pid={pipeline}&types=nodes&expandAllPipelines=false"


def screenshot(url: str, path: Path, window: str = "1400,900") -> Path:
    """A PNG screenshot of ``url``."""
    path = Path(path).absolute()
    _chromium(url, [f"--window-size={window}", f"--screenshot={path}"])
    return path


#: Kedro-viz UI state preset for screenshots: no feature-hint pop-ups, light theme, left-to-right graph.
VIZ_UI_STATE = ('{"showFeatureHints": false, "expandAllPipelines": false, "theme": "light", '
                '"orientation": "horizontal"}')


def preset_ui_state(build: Path, state: str = VIZ_UI_STATE) -> None:
    """Make the built site start with ``state`` in its localStorage (kedro-viz reads key ``KedroViz``)."""
    index = build / "index.html"
    script = f"<script>localStorage.setItem('KedroViz', JSON.stringify({state}));</script>"
    html = index.read_text()
    if script not in html:
        index.write_text(html.replace("<head>", "<head>" + script, 1))


@contextlib.contextmanager
def mlflow_ui(tracking_uri: str, timeout: int = 180) -> Iterator[str]:
    """``mlflow server`` on ``tracking_uri`` with one worker on a free 127.0.0.1 port, stopped after the block."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    binary = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen([str(binary), "server", "--backend-store-uri", tracking_uri, "--host", "127.0.0.1",
                               "--port", str(port), "-w", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)   # its own process group: the server and its workers
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(url + "health", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mlflow server on {tracking_uri} did not start within {timeout} s") from None
                time.sleep(1)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def screenshot_registered_model(tracking_uri: str, name: str, path: Path) -> Path:
    """The MLflow UI page of the latest version of registered model ``name`` (source run, signature)."""
    import cv2
    import mlflow

    versions = mlflow.MlflowClient(tracking_uri).search_model_versions(f"name='{name}'")
    if not versions:
        raise ValueError(f"no registered model '{name}' in {tracking_uri}: run `kedro run --pipelines=package_{name}`")
    latest = max(int(v.version) for v in versions)
    with mlflow_ui(tracking_uri) as url:
        screenshot(f"{url}#/models/{name}/versions/{latest}", path, window="1400,700")
    image = cv2.imread(str(path))
    cv2.imwrite(str(path), image[:, :1040])   # drop the assistant side panel that the UI opens on first load
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description="Screenshot the kedro-viz graph and report.html")
    parser.add_argument("--out", default="docs/images")
    parser.add_argument("--pipeline", default="weak_supervision", help="registered pipeline to show")
    parser.add_argument("--mlflow-model", help="only screenshot this registered model's page in the MLflow UI")
    parser.add_argument("--tracking-uri", default="sqlite:///mlflow_smoke.db", help="with --mlflow-model")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.mlflow_model:
        screenshot_registered_model(args.tracking_uri, args.mlflow_model, out / "mlflow_model.png")
        return
    build = build_viz(Path.cwd())
    preset_ui_state(build)
    with serve(build) as url:
        screenshot(first_view(url, args.pipeline), out / "kedro_viz.png", window="1600,900")
    report = Path("data/08_reporting/report.html")
    if report.exists():
        with serve(report.parent) as url:
            screenshot(url + "report.html", out / "report.png", window="1100,2400")


if __name__ == "__main__":
    main()
