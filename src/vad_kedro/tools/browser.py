"""Build the static kedro-viz site, serve it on 127.0.0.1 and look at it with headless Chromium.

Used by the browser test and by ``python -m vad_kedro.tools.browser`` to make the README screenshots.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
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


def main() -> None:
    parser = argparse.ArgumentParser(description="Screenshot the kedro-viz graph and report.html")
    parser.add_argument("--out", default="docs/images")
    parser.add_argument("--pipeline", default="weak_supervision", help="registered pipeline to show")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
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
