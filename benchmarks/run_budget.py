"""Run budget: wall time of `kedro run` (every pipeline) from an empty data folder, per pipeline.

Usage (from the repository root, inside the project's venv):
    python benchmarks/run_budget.py               # default embedded benchmark (target <= 15 min)
    python benchmarks/run_budget.py --env smoke   # smoke configuration (target <= 2 min)

The project (conf/, pyproject.toml, src/) is copied into a temporary folder, so nothing under
./data is touched and the synthetic benchmark is generated from scratch, as on a fresh clone.
Prints the wall time, Kedro's pipeline time, the seconds spent in each pipeline's nodes (from
node_timings.json) and the load average before and after (figures from a shared machine are
pessimistic).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from vad_kedro.core.layout import DATA_LAYERS

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"base": 15 * 60, "smoke": 2 * 60}


def copy_project(dest: Path) -> None:
    """conf/ (without local/), src/, pyproject.toml and the data layer folders."""
    shutil.copytree(REPO / "conf", dest / "conf", ignore=shutil.ignore_patterns("local"))
    (dest / "conf" / "local").mkdir()
    shutil.copytree(REPO / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")
    (dest / ".telemetry").write_text("consent: false\n")
    for layer in DATA_LAYERS:
        (dest / "data" / layer).mkdir(parents=True)


def per_pipeline(project: Path, data_root: str) -> dict[str, float]:
    """Seconds of node time per owning pipeline (see ``vad_kedro.hooks.node_owners``)."""
    code = ("import json; from kedro.framework.startup import bootstrap_project; from pathlib import Path; "
            "bootstrap_project(Path.cwd()); from kedro.framework.project import pipelines; "
            "from vad_kedro.hooks import node_owners; print(json.dumps(node_owners(dict(pipelines))))")
    owners = json.loads(subprocess.run([sys.executable, "-c", code], cwd=project, check=True, capture_output=True,
                                       text=True).stdout.strip().splitlines()[-1])
    timings = json.loads((project / data_root / "08_reporting" / "node_timings.json").read_text())
    totals: dict[str, float] = defaultdict(float)
    for name, seconds in timings.items():
        totals[owners.get(name, "report")] += float(seconds)
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="base", help="base (default benchmark) or smoke")
    parser.add_argument("--keep", default=None, help="run in this folder (kept) instead of a temporary one")
    args = parser.parse_args()
    data_root = "data/smoke" if args.env == "smoke" else "data"
    kedro = str(Path(sys.executable).with_name("kedro"))
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(args.keep) if args.keep else Path(tmp) / "project"
        copy_project(project)
        load_before = os.getloadavg()
        t0 = time.perf_counter()
        cmd = [kedro, "run"] + ([] if args.env == "base" else [f"--env={args.env}"])
        env = dict(os.environ, KEDRO_DISABLE_TELEMETRY="true")
        result = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        load_after = os.getloadavg()
        if result.returncode != 0:
            print(result.stdout[-3000:], result.stderr[-3000:], sep="\n")
            raise SystemExit(f"kedro run failed (exit {result.returncode})")
        seconds_per_pipeline = per_pipeline(project, data_root)
        total = sum(seconds_per_pipeline.values())
        print(f"env={args.env}  wall {wall:.0f} s ({wall / 60:.1f} min; target {TARGETS.get(args.env, 0) / 60:.0f} min)"
              f"  node time {total:.0f} s  load average {load_before[0]:.1f} -> {load_after[0]:.1f}"
              f"  cores {os.cpu_count()}")
        for name, seconds in seconds_per_pipeline.items():
            print(f"  {name:<20} {seconds:7.1f} s")


if __name__ == "__main__":
    main()
