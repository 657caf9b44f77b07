"""Wiring of the ``state_machine`` pipeline: LPG, "Local Patterns Generalize Better for Novel Anomalies"
(Yalong Jiang, ICLR 2025), namespace ``lpg``.

Training (normal train+val videos): track crops -> captions -> local patterns (query former + text
encoder, fitted on training crops) -> caption propagation along tracks -> 34-step windows -> State Machine
Module (S4 / ViS4mer). The training videos are then scored (stride 1) for the z-normalisation statistics of
the motion fusion. Everything the scoring needs goes into the versioned ``lpg.model``.

Scoring (test videos) reads only per-video data, ``lpg.model`` and ``params:dataset`` / ``params:device``:
the same stages with the stored parts and parameters, so ``inference`` re-runs them on a new video. The
same window scores also score every tracked box (``object_scores``, for RBDC / TBDC).
No node takes ``frame_labels``: only the shared evaluation reads labels.
"""

from kedro.pipeline import Pipeline, node, pipeline

from . import nodes

#: Namespaces whose ``<method>.frame_scores`` this pipeline writes.
METHODS = ["lpg"]
#: Methods that also write ``<method>.object_scores`` (one score per tracked box: RBDC / TBDC).
OBJECT_METHODS = METHODS

_P = "params:state_machine"
_RUNTIME = ["params:seed", "params:device", "params:deterministic"]
_PARAMS = {f"{_P}.{k}" for k in ("crops", "captioner", "local_encoder", "propagation", "windows", "smm", "scoring")
           } | {_P, "params:dataset", *_RUNTIME}


def _train_role() -> list:
    """Training videos: crops -> captions -> local patterns -> propagated patterns -> scoring windows -> SMM
    frame scores (the latter only for the statistics of the motion fusion)."""
    return [
        node(nodes.crop_tracks, ["frames", "tracks", "flow", "train_videos", f"{_P}.crops"], "train_crops",
             name="crop_train_tracks"),
        node(nodes.caption_crops, ["train_crops", "captioner", "video_index", "params:dataset", f"{_P}.captioner"],
             "train_captions", name="caption_train_crops"),
        node(nodes.encode_local_patterns, ["local_encoder", "train_crops", "train_captions", f"{_P}.local_encoder",
                                           "params:device"], "train_encoded", name="encode_train_local_patterns"),
        node(nodes.propagate_captions, ["train_encoded", "train_crops", "captioner", f"{_P}.propagation"],
             "train_patterns", name="propagate_train_captions"),
        node(nodes.test_windows, ["train_crops", f"{_P}.windows"], "train_score_windows",
             name="make_train_score_windows"),
        node(nodes.score_windows, ["smm", "train_patterns", "train_score_windows", f"{_P}.smm", "params:device"],
             "train_window_scores", name="score_train_windows"),
        node(nodes.frame_scores, ["train_window_scores", "train_score_windows", "train_crops", f"{_P}.scoring"],
             "train_smm_frame_scores", name="train_frame_scores"),
    ]


def _scoring() -> list:
    """Test videos, from ``model`` alone: the same stages with the stored parts and parameters."""
    return [
        node(nodes.crop_with_model, ["frames", "tracks", "flow", "video_index", "model"], "test_crops",
             name="crop_test_tracks"),
        node(nodes.caption_with_model, ["test_crops", "model", "video_index", "params:dataset"], "test_captions",
             name="caption_test_crops"),
        node(nodes.encode_with_model, ["model", "test_crops", "test_captions", "params:device"], "test_encoded",
             name="encode_test_local_patterns"),
        node(nodes.propagate_with_model, ["test_encoded", "test_crops", "model"], "test_patterns",
             name="propagate_test_captions"),
        node(nodes.windows_with_model, ["test_crops", "model"], "test_score_windows", name="make_test_score_windows"),
        node(nodes.score_windows_with_model, ["model", "test_patterns", "test_score_windows", "params:device"],
             "test_window_scores", name="score_test_windows"),
        node(nodes.frame_scores_with_model, ["test_window_scores", "test_score_windows", "test_crops", "model"],
             "test_smm_frame_scores", name="test_frame_scores"),
        node(nodes.fuse_with_model, ["test_smm_frame_scores", "test_crops", "model"], "frame_scores",
             name="fuse_motion"),
        node(nodes.box_scores_with_model, ["test_window_scores", "test_score_windows", "test_crops", "model"],
             "object_scores", name="score_boxes"),
    ]


def create_pipeline(**kwargs) -> Pipeline:
    """LPG end to end, writing ``lpg.frame_scores``, ``lpg.model`` and ``lpg.training_history``."""
    template = Pipeline([
        node(nodes.train_videos, "video_index", "train_videos", name="select_train_videos"),
        *_train_role(),
        node(nodes.fit_captioner, ["train_crops", f"{_P}.captioner", "params:seed"], "captioner",
             name="fit_captioner"),
        node(nodes.fit_local_encoder, ["train_crops", "train_captions", "captioner", f"{_P}.local_encoder",
                                       *_RUNTIME], ["local_encoder", "encoder_history"], name="fit_local_encoder"),
        node(nodes.train_windows, ["train_crops", f"{_P}.windows"], "train_windows", name="make_train_windows"),
        node(nodes.train_smm, ["train_patterns", "train_windows", f"{_P}.smm", *_RUNTIME], ["smm", "smm_history"],
             name="train_smm"),
        node(nodes.motion_statistics, ["train_smm_frame_scores", "train_crops", f"{_P}.scoring"], "motion_statistics",
             name="fit_motion_statistics"),
        node(nodes.pack_model, ["local_encoder", "smm", "captioner", "motion_statistics", _P], "model",
             name="pack_model"),
        node(nodes.training_history, ["encoder_history", "smm_history"], "training_history",
             name="merge_training_history"),
        *_scoring(),
    ])
    return pipeline(template, namespace="lpg", inputs={"frames", "tracks", "flow", "video_index"},
                    parameters=_PARAMS, tags="state_machine")
