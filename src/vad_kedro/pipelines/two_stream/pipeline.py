"""Wiring of ``two_stream`` (CRKR): context recovery + knowledge retrieval + fusion. See nodes.py.

Node namespaces ``crkr.cr``, ``crkr.kr``, ``crkr.fusion`` group the streams in kedro-viz; datasets keep
the method namespaces (``crkr_cr.*``, ``crkr_kr.*``, ``crkr.*``) of the shared catalog factories.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline, node

from . import nodes

#: Namespaces whose ``frame_scores`` this pipeline writes.
METHODS: list[str] = ["crkr_cr", "crkr_kr", "crkr", "crkr_nominmax"]

_P = "params:two_stream"
_RUNTIME = ["params:seed", "params:device", "params:deterministic"]


def create_pipeline(kr_feature_source: str = "cr_encoder", **kwargs) -> Pipeline:
    """CRKR pipeline. ``kr_feature_source="snippet_features"`` takes the KR features from the shared
    ``snippet_features`` instead of the CR encoder (set ``two_stream.kr.feature_source`` to match)."""
    if kr_feature_source == "cr_encoder":
        kr_features = node(nodes.extract_kr_features,
                           ["frames", "video_index", "crkr_cr.model", _P, "params:device"],
                           ["crkr_kr.train_features", "crkr_kr.test_features"], name="extract_kr_features",
                           namespace="crkr.kr")
    elif kr_feature_source == "snippet_features":
        kr_features = node(nodes.kr_features_from_snippets, ["snippet_features", "video_index", _P],
                           ["crkr_kr.train_features", "crkr_kr.test_features"], name="kr_features_from_snippets",
                           namespace="crkr.kr")
    else:
        raise ValueError(f"two_stream: unknown kr_feature_source {kr_feature_source!r}")

    context_recovery = Pipeline([
        node(nodes.train_context_recovery, ["frames", "video_index", _P, *_RUNTIME],
             ["crkr_cr.model", "crkr_cr.training_history"], name="train_cr", namespace="crkr.cr"),
        node(nodes.score_context_recovery, ["frames", "video_index", "crkr_cr.model", _P, "params:device"],
             "crkr_cr.patch_scores", name="score_cr", namespace="crkr.cr"),
        node(nodes.make_pseudo_anomalies, ["video_index", _P, "params:seed"], "crkr_cr.pseudo_plan",
             name="make_pseudo_anomalies", namespace="crkr.cr"),
        node(nodes.score_pseudo_anomalies, ["frames", "crkr_cr.pseudo_plan", "crkr_cr.model", _P, "params:device"],
             "crkr_cr.pseudo_scores", name="score_pseudo_anomalies", namespace="crkr.cr"),
        node(nodes.select_patch_size, ["crkr_cr.pseudo_scores", "crkr_cr.pseudo_plan", _P],
             "crkr_cr.patch_selection", name="select_patch_size", namespace="crkr.cr"),
    ])
    knowledge_retrieval = Pipeline([
        kr_features,
        node(nodes.train_hashnet, ["crkr_kr.train_features", _P, *_RUNTIME],
             ["crkr_kr.hashnet", "crkr_kr.training_history"], name="train_hashnet", namespace="crkr.kr"),
        node(nodes.build_hash_tables, ["crkr_kr.hashnet", "crkr_kr.train_features", "params:device"],
             "crkr_kr.model", name="build_hash_tables", namespace="crkr.kr"),
        node(nodes.score_knowledge_retrieval, ["crkr_kr.model", "crkr_kr.test_features", "params:device"],
             "crkr_kr.snippet_scores", name="score_kr", namespace="crkr.kr"),
    ])
    fuse = Pipeline([
        node(nodes.fuse_scores,
             ["crkr_cr.patch_scores", "crkr_cr.patch_selection", "crkr_kr.snippet_scores", "video_index", _P],
             ["crkr_cr.frame_scores", "crkr_kr.frame_scores", "crkr.frame_scores", "crkr_nominmax.frame_scores"],
             name="fuse_scores", namespace="crkr.fusion"),
    ])
    return Pipeline([context_recovery, knowledge_retrieval, fuse], tags="two_stream")
