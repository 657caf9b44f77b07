"""Wiring of the ``memory_fusion`` pipeline: SMAFF (Jiang et al., J. Electron. Imaging 33(6) 063035, 2024).

Shared training stages (namespace ``smaff``, normal train / val videos): object table + appearance PCA →
appearance autoencoder → app / pose memories (K-Means init, training) → pseudo features → padded frame sets,
and the feature statistics the scoring reuses. Per variant (namespaces ``smaff`` = app+pose+vel and
``smaff_nopose`` = app+vel): fusion training → checkpoint ``<variant>.model`` (everything the scoring needs),
then the scoring of the test videos from that checkpoint alone (object table → memorised features →
padded frame sets → frame scores), which ``inference`` re-runs on a new video, and each test object scored
alone (``object_scores``, for RBDC / TBDC).
The variants differ only in ``params:memory_fusion.variants.<name>.modalities``. When the dataset has no
pose, ``smaff`` runs app+vel as well (identical to ``smaff_nopose``, logged as a warning; pose is never
invented). No node takes ``frame_labels``: only the shared evaluation reads labels.
"""

from kedro.pipeline import Pipeline, node, pipeline

from . import nodes

#: Namespaces whose ``<method>.frame_scores`` this pipeline writes.
METHODS = ["smaff", "smaff_nopose"]
#: Methods that also write ``<method>.object_scores`` (each object scored alone: RBDC / TBDC).
OBJECT_METHODS = METHODS

_RUNTIME = ["params:seed", "params:device", "params:deterministic"]
_GLOBAL = {"params:memory_fusion", *_RUNTIME}


def _shared() -> Pipeline:
    template = Pipeline([
        node(nodes.collect_training_objects, ["tracks", "object_features", "video_index", "params:memory_fusion",
                                              "params:seed"], ["objects", "app_pca"], name="collect_objects"),
        node(nodes.fit_app_autoencoder, ["objects", "params:memory_fusion", *_RUNTIME],
             ["app_autoencoder", "ae_history"], name="fit_app_autoencoder"),
        node(nodes.encode_appearance, ["objects", "app_autoencoder", "params:memory_fusion"], "app_features", name="encode_appearance"),
        node(nodes.pose_modality, ["objects", "params:memory_fusion"], "pose_features", name="pose_modality"),
        node(nodes.velocity_modality, ["objects", "params:memory_fusion"], "vel_features", name="velocity_modality"),
        node(nodes.init_memory, ["app_features", "params:memory_fusion", "params:seed"], "app_memory_init",
             name="init_app_memory"),
        node(nodes.init_memory, ["pose_features", "params:memory_fusion", "params:seed"], "pose_memory_init",
             name="init_pose_memory"),
        node(nodes.train_memory, ["app_features", "app_memory_init", "params:memory_fusion", *_RUNTIME],
             ["app_memory", "app_memory_history"], name="train_app_memory"),
        node(nodes.train_memory, ["pose_features", "pose_memory_init", "params:memory_fusion", *_RUNTIME],
             ["pose_memory", "pose_memory_history"], name="train_pose_memory"),
        node(nodes.make_pseudo_features, ["app_features", "app_memory", "params:memory_fusion"], "app_pseudo",
             name="make_app_pseudo_features"),
        node(nodes.make_pseudo_features, ["pose_features", "pose_memory", "params:memory_fusion"], "pose_pseudo",
             name="make_pose_pseudo_features"),
        node(nodes.build_frame_sets, ["objects", "params:memory_fusion"], "frame_sets", name="pad_and_mask"),
        node(nodes.feature_statistics, ["app_features", "pose_features", "vel_features"], "feature_statistics",
             name="feature_statistics"),
    ])
    return pipeline(template, namespace="smaff", inputs={"tracks", "object_features", "video_index"},
                    parameters=_GLOBAL)


_SHARED_OUT = ["app_pca", "app_autoencoder", "ae_history", "app_pseudo", "pose_pseudo", "vel_features",
               "frame_sets", "app_memory", "pose_memory", "app_memory_history", "pose_memory_history",
               "feature_statistics"]
_PER_VIDEO = ["tracks", "object_features", "video_index"]


def _variant(method: str) -> Pipeline:
    template = Pipeline([
        node(nodes.train_fusion, ["app_pseudo", "pose_pseudo", "vel_features", "frame_sets", "params:variant",
                                  "params:memory_fusion", *_RUNTIME], ["fusion", "fusion_history"],
             name="train_fusion"),
        node(nodes.pack_checkpoint, ["app_pca", "app_autoencoder", "app_memory", "pose_memory", "fusion",
                                     "feature_statistics", "params:memory_fusion"], "model", name="pack_checkpoint"),
        node(nodes.merge_histories, ["ae_history", "app_memory_history", "pose_memory_history", "fusion_history"],
             "training_history", name="merge_histories"),
        # scoring: per-video data + the checkpoint only
        node(nodes.collect_test_objects, [*_PER_VIDEO, "model"], "test_objects", name="collect_test_objects"),
        node(nodes.memorised_test_features, ["test_objects", "model"], "test_features",
             name="memorised_test_features"),
        node(nodes.test_frame_sets, ["test_objects", "model"], "test_frame_sets", name="pad_and_mask_test"),
        node(nodes.score_test_frames, ["model", "test_features", "test_frame_sets", "params:device"], "frame_scores",
             name="score_frames"),
        node(nodes.score_test_objects, ["model", "test_features", "test_objects", "params:device"], "object_scores",
             name="score_objects"),
    ])
    inputs = {k: k for k in _PER_VIDEO}
    if method != "smaff":
        inputs.update({k: f"smaff.{k}" for k in _SHARED_OUT})
    return pipeline(template, namespace=method, inputs=inputs,
                    parameters={**{p: p for p in _GLOBAL}, "params:variant": f"params:memory_fusion.variants.{method}"})


def create_pipeline(**kwargs) -> Pipeline:
    """Shared SMAFF stages, then the app+pose+vel (``smaff``) and app+vel (``smaff_nopose``) fusion variants."""
    return Pipeline([_shared(), *(_variant(m) for m in METHODS)], tags="memory_fusion")
