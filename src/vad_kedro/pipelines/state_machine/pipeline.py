"""Wiring of the ``state_machine`` pipeline: LPG, "Local Patterns Generalize Better for Novel Anomalies"
(Yalong Jiang, ICLR 2025), namespace ``lpg``.

train (normal train+val videos) and test videos each go: track crops -> captions -> local patterns
(query former + text encoder, fitted on training crops) -> caption propagation along tracks ->
34-step windows. The State Machine Module (S4 / ViS4mer) is fitted on the training windows and scores
every test window; window scores become frame scores, optionally fused with a motion score. The
training videos are scored too (stride 1), only for the z-normalisation statistics of that fusion.
No node takes ``frame_labels``: only the shared evaluation reads labels.
"""

from kedro.pipeline import Pipeline, node, pipeline

from . import nodes

#: Namespaces whose ``<method>.frame_scores`` this pipeline writes.
METHODS = ["lpg"]

_P = "params:state_machine"
_RUNTIME = ["params:seed", "params:device", "params:deterministic"]
_PARAMS = {f"{_P}.{k}" for k in ("crops", "captioner", "local_encoder", "propagation", "windows", "smm", "scoring",
                                  "motion_fusion")} | {"params:dataset", *_RUNTIME}


def _per_split(role: str) -> list:
    """Crops -> captions -> local patterns -> propagated patterns -> windows for one role (train | test)."""
    return [
        node(nodes.crop_tracks, ["frames", "tracks", "flow", f"{role}_videos", f"{_P}.crops"], f"{role}_crops",
             name=f"crop_{role}_tracks"),
        node(nodes.caption_crops, [f"{role}_crops", "captioner", "video_index", "params:dataset", f"{_P}.captioner"],
             f"{role}_captions", name=f"caption_{role}_crops"),
        node(nodes.encode_local_patterns, ["local_encoder", f"{role}_crops", f"{role}_captions",
                                           f"{_P}.local_encoder", "params:device"], f"{role}_encoded",
             name=f"encode_{role}_local_patterns"),
        node(nodes.propagate_captions, [f"{role}_encoded", f"{role}_crops", "captioner", f"{_P}.propagation"],
             f"{role}_patterns", name=f"propagate_{role}_captions"),
        node(nodes.test_windows, [f"{role}_crops", f"{_P}.windows"], f"{role}_score_windows",
             name=f"make_{role}_score_windows"),
        node(nodes.score_windows, ["smm", f"{role}_patterns", f"{role}_score_windows", f"{_P}.smm", "params:device"],
             f"{role}_window_scores", name=f"score_{role}_windows"),
        node(nodes.frame_scores, [f"{role}_window_scores", f"{role}_score_windows", f"{role}_crops", f"{_P}.scoring"],
             f"{role}_smm_frame_scores", name=f"{role}_frame_scores"),
    ]


def create_pipeline(**kwargs) -> Pipeline:
    """LPG end to end, writing ``lpg.frame_scores``, ``lpg.model`` and ``lpg.training_history``."""
    template = Pipeline([
        node(nodes.train_videos, "video_index", "train_videos", name="select_train_videos"),
        node(nodes.test_videos, "video_index", "test_videos", name="select_test_videos"),
        *_per_split("train"),
        *_per_split("test"),
        node(nodes.fit_captioner, ["train_crops", f"{_P}.captioner", "params:seed"], "captioner",
             name="fit_captioner"),
        node(nodes.fit_local_encoder, ["train_crops", "train_captions", "captioner", f"{_P}.local_encoder",
                                       *_RUNTIME], ["local_encoder", "encoder_history"], name="fit_local_encoder"),
        node(nodes.train_windows, ["train_crops", f"{_P}.windows"], "train_windows", name="make_train_windows"),
        node(nodes.train_smm, ["train_patterns", "train_windows", f"{_P}.smm", *_RUNTIME], ["smm", "smm_history"],
             name="train_smm"),
        node(nodes.fuse_motion, ["test_smm_frame_scores", "train_smm_frame_scores", "test_crops", "train_crops",
                                 f"{_P}.motion_fusion", f"{_P}.scoring"], "frame_scores", name="fuse_motion"),
        node(nodes.pack_model, ["local_encoder", "smm", "captioner"], "model", name="pack_model"),
        node(nodes.training_history, ["encoder_history", "smm_history"], "training_history",
             name="merge_training_history"),
    ])
    return pipeline(template, namespace="lpg", inputs={"frames", "tracks", "flow", "video_index"},
                    parameters=_PARAMS)
