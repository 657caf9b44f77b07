"""Wiring of the ``feature_extraction`` pipeline (namespace ``feature_extraction``).

One node per shared output, so a method takes only what it needs:
``pipeline.to_outputs("snippet_features")`` runs flow + snippets, never the tracker.

    frames ──extract_tracks──────────────► tracks ─┐
    frames ──extract_flow──► flow ─┬──────────────┴─extract_object_features──► object_features
                                   └─extract_snippet_features──► snippet_features

Each node also reads the previous run's manifest (``feature_extraction.<output>_manifest_previous``)
and writes the new one (``feature_extraction.<output>_manifest``, same file) to skip unchanged videos.
"""

from kedro.pipeline import Pipeline, node, pipeline

from . import nodes

#: This pipeline writes no ``<method>.frame_scores``.
METHODS: list[str] = []

_SHARED_IN = {"video_index", "frames", "raw_manifest"}
_SHARED_OUT = {"tracks", "flow", "snippet_features", "object_features"}
_GLOBAL_PARAMS = {"params:dataset", "params:device", "params:seed"}


def create_pipeline(**kwargs) -> Pipeline:
    """The four extraction nodes, namespaced ``feature_extraction``."""
    template = Pipeline([
        node(nodes.extract_tracks,
             ["video_index", "frames", "raw_manifest", "params:dataset", "params:tracks", "params:incremental",
              "tracks_manifest_previous"],
             ["tracks", "tracks_manifest"], name="extract_tracks"),
        node(nodes.extract_flow,
             ["video_index", "frames", "params:flow", "params:incremental", "flow_manifest_previous"],
             ["flow", "flow_manifest"], name="extract_flow"),
        node(nodes.extract_snippet_features,
             ["video_index", "frames", "flow", "flow_manifest", "params:snippets", "params:device", "params:seed",
              "params:incremental", "snippet_features_manifest_previous"],
             ["snippet_features", "snippet_features_manifest"], name="extract_snippet_features"),
        node(nodes.extract_object_features,
             ["video_index", "frames", "tracks", "flow", "tracks_manifest", "flow_manifest", "raw_manifest",
              "params:dataset", "params:object_features", "params:device", "params:incremental",
              "object_features_manifest_previous"],
             ["object_features", "object_features_manifest"], name="extract_object_features"),
    ])
    return pipeline(template, namespace="feature_extraction", inputs=_SHARED_IN, outputs=_SHARED_OUT,
                    parameters=_GLOBAL_PARAMS)


def create_detector_training_pipeline(**kwargs) -> Pipeline:
    """``train_detector``: the learned ``centernet`` detector from the training videos' box annotations,
    saved to ``detector.weights`` (the default ``tracks.centernet.weights_path``). Not part of ``kedro run``."""
    template = Pipeline([
        node(nodes.train_detector,
             ["video_index", "frames", "raw_manifest", "params:dataset", "params:tracks",
              "params:detector_training", "params:seed", "params:device"],
             ["detector.weights", "detector.training_history"], name="train_detector"),
    ])
    return pipeline(template, namespace="feature_extraction", inputs=_SHARED_IN,
                    outputs={"detector.weights", "detector.training_history"}, parameters=_GLOBAL_PARAMS)
