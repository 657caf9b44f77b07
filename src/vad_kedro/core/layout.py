"""Project and dataset folder layouts.

``DATA_LAYERS``: the data layer folders of a project (``data/01_raw`` … ``data/08_reporting``, kept in
git by ``.gitkeep``). :func:`check_layout`: the files a real dataset's parameters point at, checked before
any heavy work; a missing or incomplete folder names what is missing and prints the expected tree the
environment declares (``dataset.layout``) and who distributes the dataset.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vad_kedro.core.errors import DataError

DATA_LAYERS = ("01_raw", "02_intermediate", "03_primary", "04_feature", "05_model_input", "06_models",
               "07_model_output", "08_reporting")

#: dataset.labels.kind -> whether its path is a file (else a folder of per-video files)
_LABEL_FILE = {"mat": True, "ucsd_m": True, "npy_masks": False}


def expected_paths(dataset: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(path under the root, "file" | "folder", what it holds) for every path the parameters name."""
    if dataset.get("format") == "i3d_features":
        paths = [(dataset.get("train_list"), "file", "training feature list"),
                 (dataset.get("test_list"), "file", "test feature list"),
                 (dataset.get("annotations"), "file", "test annotations"),
                 (dataset.get("gt_npy"), "file", "frame ground truth")]
        fdir = dataset.get("feature_dir")
        for split, folder in (fdir.items() if isinstance(fdir, Mapping) else [("", fdir)]):
            paths.append((folder, "folder", f"{split} feature files".strip()))
    else:
        labels = dataset.get("labels") or {}
        paths = [(dataset.get("train_dir"), "folder", "training videos"),
                 (dataset.get("test_dir"), "folder", "test videos")]
        if labels.get("kind") in _LABEL_FILE:
            paths.append((labels.get("path"), "file" if _LABEL_FILE[labels["kind"]] else "folder", "test labels"))
        paths.append((dataset.get("video_labels_csv"), "file", "video labels"))
    paths.append((dataset.get("split_list"), "file", "split list (dataset.split_list)"))
    return [(str(p), kind, what) for p, kind, what in paths if p]


def check_layout(dataset: Mapping[str, Any]) -> None:
    """Raise one DataError listing what is missing from a real dataset's folder, with the expected tree.

    Only existence is checked here (no file is read); the readers check contents.
    """
    root = Path(str(dataset["root"]))
    if not root.is_dir():
        raise DataError(root, "dataset folder not found", hint=layout_hint(dataset))
    problems = []
    for rel, kind, what in expected_paths(dataset):
        path = root / rel
        if kind == "file" and not path.is_file():
            problems.append(f"{rel} ({what}) is missing")
        elif kind == "folder" and not (path.is_dir() and any(path.iterdir())):
            problems.append(f"{rel}/ ({what}) is {'empty' if path.is_dir() else 'missing'}")
    if problems:
        raise DataError(root, "dataset folder incomplete: " + "; ".join(problems), hint=layout_hint(dataset))


def layout_hint(dataset: Mapping[str, Any]) -> str:
    """What to do about a missing or incomplete dataset folder: the expected tree and the source."""
    layout = dataset.get("layout")
    if not layout:
        return "put the dataset there or set dataset.root (see README, 'Adding a real dataset')"
    return (f"put the dataset there in this layout (this project downloads nothing):\n\n"
            f"{layout['tree'].rstrip()}\n\nDistributed by: {layout['source'].strip().rstrip('.')}")
