"""Wiring of ``two_stream`` (CRKR): context recovery + knowledge retrieval + fusion. See nodes.py.

Node namespaces ``crkr.cr``, ``crkr.kr``, ``crkr.fusion`` group the streams in kedro-viz; datasets keep
the method namespaces (``crkr_cr.*``, ``crkr_kr.*``, ``crkr.*``) of the shared catalog factories.

Training writes ``crkr_cr.model``, ``crkr_kr.model`` and ``crkr.model``; only the scoring nodes
(``score_cr``, ``score_kr`` and one frame-score node per method) read them, together with the test
videos' frames (or snippet features): that part is what ``inference`` runs on a new video. Training nodes
pass the trained STUNet along as ``crkr_cr.network`` (in memory), never through a checkpoint.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline, node

from . import nodes

#: Namespaces whose ``frame_scores`` this pipeline writes.
METHODS: list[str] = ["crkr_cr", "crkr_kr", "crkr", "crkr_nominmax"]

_P = "params:two_stream"
_RUNTIME = ["params:seed", "params:device", "params:deterministic"]


def _kr_nodes(kr_feature_source: str) -> tuple[Pipeline, Pipeline]:
    """(training features + hash tables, scoring) of the KR stream for the chosen feature source."""
    hashnet = node(nodes.train_hashnet, ["crkr_kr.train_features", _P, *_RUNTIME],
                   ["crkr_kr.hashnet", "crkr_kr.training_history"], name="train_hashnet")
    tables = ["crkr_kr.hashnet", "crkr_kr.train_features", _P, "params:device"]
    if kr_feature_source == "cr_encoder":
        features = node(nodes.extract_kr_features, ["frames", "video_index", "crkr_cr.network", _P, "params:device"],
                        "crkr_kr.train_features", name="extract_kr_features")
        tables.append("crkr_cr.network")
        score = node(nodes.score_knowledge_retrieval, ["frames", "video_index", "crkr_kr.model", _P, "params:device"],
                     "crkr_kr.snippet_scores", name="score_kr")
    elif kr_feature_source == "snippet_features":
        features = node(nodes.kr_features_from_snippets, ["snippet_features", "video_index", _P],
                        "crkr_kr.train_features", name="kr_features_from_snippets")
        score = node(nodes.score_kr_from_snippets,
                     ["snippet_features", "video_index", "crkr_kr.model", "params:device"], "crkr_kr.snippet_scores",
                     name="score_kr")
    else:
        raise ValueError(f"two_stream: unknown kr_feature_source {kr_feature_source!r}")
    tables_node = node(nodes.build_hash_tables, tables, "crkr_kr.model", name="build_hash_tables")
    return Pipeline([features, hashnet, tables_node]), Pipeline([score])


def create_pipeline(kr_feature_source: str = "cr_encoder", **kwargs) -> Pipeline:
    """CRKR pipeline. ``kr_feature_source="snippet_features"`` takes the KR features from the shared
    ``snippet_features`` instead of the CR encoder (set ``two_stream.kr.feature_source`` to match)."""
    train_kr, score_kr = _kr_nodes(kr_feature_source)
    context_recovery = Pipeline([
        node(nodes.train_context_recovery, ["frames", "video_index", _P, *_RUNTIME],
             ["crkr_cr.network", "crkr_cr.training_history"], name="train_cr"),
        node(nodes.make_pseudo_anomalies, ["video_index", _P, "params:seed"], "crkr_cr.pseudo_plan",
             name="make_pseudo_anomalies"),
        node(nodes.score_pseudo_anomalies, ["frames", "crkr_cr.pseudo_plan", "crkr_cr.network", _P, "params:device"],
             "crkr_cr.pseudo_scores", name="score_pseudo_anomalies"),
        node(nodes.select_patch_size, ["crkr_cr.pseudo_scores", "crkr_cr.pseudo_plan", _P],
             "crkr_cr.patch_selection", name="select_patch_size"),
        node(nodes.cr_checkpoint, ["crkr_cr.network", "crkr_cr.patch_selection", _P], "crkr_cr.model",
             name="save_cr_model"),
        node(nodes.score_context_recovery, ["frames", "video_index", "crkr_cr.model", _P, "params:device"],
             "crkr_cr.patch_scores", name="score_cr"),
    ], namespace="crkr.cr", prefix_datasets_with_namespace=False)
    both = ["crkr_cr.patch_scores", "crkr_kr.snippet_scores", "video_index", "crkr_cr.model", "crkr_kr.model",
            "crkr.model"]
    fuse = Pipeline([   # one node per method: inference computes only the requested method's scores
        node(nodes.fusion_checkpoint, _P, "crkr.model", name="save_fusion_model"),
        node(nodes.cr_frame_scores, ["crkr_cr.patch_scores", "video_index", "crkr_cr.model"], "crkr_cr.frame_scores",
             name="cr_frame_scores"),
        node(nodes.kr_frame_scores, ["crkr_kr.snippet_scores", "video_index", "crkr_kr.model"],
             "crkr_kr.frame_scores", name="kr_frame_scores"),
        node(nodes.fused_frame_scores, both, "crkr.frame_scores", name="fuse_scores"),
        node(nodes.nominmax_frame_scores, both, "crkr_nominmax.frame_scores", name="fuse_scores_nominmax"),
    ], namespace="crkr.fusion", prefix_datasets_with_namespace=False)
    knowledge_retrieval = Pipeline([train_kr, score_kr], namespace="crkr.kr", prefix_datasets_with_namespace=False)
    return Pipeline([context_recovery, knowledge_retrieval, fuse], tags="two_stream")
