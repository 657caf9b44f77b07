"""What each pipeline needs from the dataset, checked before any node runs.

``unmet_requirements(dataset, names)`` reads only the dataset parameters and small label files,
so a run that cannot succeed stops at once (``vad_kedro.hooks.RunStartHook``) instead of after
minutes of feature extraction, and the default ``kedro run`` leaves such pipelines out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from vad_kedro.core.errors import DataError

WEAK_LABELS_HINT = ("list the training videos in a CSV with columns split,video,label (split 'training', label 1 "
                    "for a video that contains an anomaly somewhere, 0 otherwise; optional anomaly_types) and set "
                    "dataset.video_labels_csv to its path under dataset.root (see README, 'Adding a real dataset')")


def weak_label_problem(dataset: Mapping[str, Any]) -> str | None:
    """Why weak supervision cannot train on ``dataset`` (None when it can).

    It needs normal and abnormal training videos. Training videos are normal unless
    ``dataset.split_list`` or ``dataset.video_labels_csv`` labels them abnormal; I3D feature releases (UCF-Crime,
    XD-Violence) carry video labels in their names, and the synthetic benchmark writes its CSV.
    """
    if dataset.get("format") == "i3d_features" or dataset.get("synthetic"):
        return None
    if not isinstance(dataset.get("root"), str):
        return None          # parameter validation reports it
    name = dataset.get("name") or dataset.get("root")
    if dataset.get("split_list"):
        from vad_kedro.io.readers import read_split_list

        path = Path(str(dataset["root"])) / str(dataset["split_list"])
        if not path.is_file():
            return f"dataset {name}: the split list {path} does not exist"
        if not any(split == "train" and label == 1 for split, label in read_split_list(path).values()):
            return (f"dataset {name}: {path} labels no training video abnormal (label 1); weak supervision "
                    "needs abnormal training videos too")
        return None
    csv = dataset.get("video_labels_csv")
    if not csv:
        return (f"dataset {name} has no video labels (dataset.video_labels_csv is null), so every training video "
                "is normal; weak supervision needs abnormal training videos too")
    path = Path(str(dataset.get("root", ""))) / str(csv)
    if not path.is_file():
        return f"dataset {name}: the video label file {path} does not exist"
    from vad_kedro.io.readers import read_video_labels_csv

    labels = read_video_labels_csv(path)
    training = labels[labels["split"].isin(["training", "train"])]
    if not (training["label"].astype(str) == "1").any():
        return (f"dataset {name}: {path} labels no training video abnormal (label 1), so every training video is "
                "normal; weak supervision needs abnormal training videos too")
    return None


def frames_problem(dataset: Mapping[str, Any]) -> str | None:
    """Why a frame-based pipeline cannot run on ``dataset``: an I3D feature release has no frames."""
    if dataset.get("format") == "i3d_features":
        return f"dataset {dataset.get('name') or dataset.get('root')} holds precomputed I3D features and no frames"
    return None


#: What reads frames: the motion baseline (part of ``evaluation``) and the one-class method pipelines.
FRAME_PIPELINES = ("motion_baseline", "state_machine", "two_stream", "memory_fusion", "self_paced")
FRAMES_HINT = "run --pipelines=weak_supervision, the pipeline that reads snippet features, on this dataset"

#: Pipeline name -> check returning why the dataset cannot feed it (None when it can).
REQUIREMENTS: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    "weak_supervision": weak_label_problem, **{name: frames_problem for name in FRAME_PIPELINES}}
HINTS = {"weak_supervision": WEAK_LABELS_HINT, **{name: FRAMES_HINT for name in FRAME_PIPELINES}}


def unmet_requirements(dataset: Mapping[str, Any], names: Iterable[str] = REQUIREMENTS) -> dict[str, str]:
    """{pipeline: reason} for the pipelines among ``names`` that cannot run on ``dataset``."""
    out = {}
    for name in names:
        check = REQUIREMENTS.get(name)
        reason = check(dataset) if check else None
        if reason:
            out[name] = reason
    return out


def requirement_error(name: str, reason: str) -> DataError:
    """The error of ``kedro run --pipelines=<name>`` on a dataset that cannot feed it."""
    return DataError(name, f"cannot run: {reason}", hint=HINTS.get(name))
