"""Wiring of the ``self_paced`` pipeline (LBR-SPR, Yu et al. CVPR 2022) and its no-refinement twin.

Shared stage (namespace ``lbr``, not ``self_paced``: that one holds the pipeline's leaderboard and report nodes,
downstream of the variants, and Kedro rejects a namespace interrupted by other nodes): unlabeled pool ->
foreground boxes -> packed cubes.
Per variant (namespaces ``lbr_spr`` and ``lbr_norefine``): train -> checkpoint; then, from the test videos'
frames, tracks and flow and the checkpoint only (what ``inference`` reruns on a new video): z-scored cubes
-> frame scores, and the same cubes as scored boxes (``object_scores``, for RBDC / TBDC). The variants
differ only in ``params:self_paced.variants.<name>`` (``refine: true`` / ``false``). No node takes ``frame_labels`` (or any other label): only the shared evaluation reads labels.
"""

from kedro.pipeline import Pipeline, node, pipeline

from . import nodes

#: Namespaces whose ``<method>.frame_scores`` this pipeline writes.
METHODS = ["lbr_spr", "lbr_norefine"]
#: Methods that also write ``<method>.object_scores`` (one score per foreground box: RBDC / TBDC).
OBJECT_METHODS = METHODS

#: Namespace of the stage both variants share.
SHARED = "lbr"

#: Global parameters passed through unchanged.
_GLOBAL = {"params:self_paced", "params:seed", "params:device", "params:deterministic"}


def _shared() -> Pipeline:
    template = Pipeline([
        node(nodes.select_pool, ["video_index", "params:self_paced"], "pool", name="select_pool"),
        node(nodes.foreground_boxes, ["tracks", "flow", "video_index", "pool", "params:self_paced"], "boxes",
             name="foreground_boxes"),
        node(nodes.build_stcs, ["frames", "flow", "boxes", "video_index", "pool", "params:self_paced"], "stcs",
             name="build_stcs"),
    ])
    return pipeline(template, namespace=SHARED, inputs={"video_index", "tracks", "flow", "frames"},
                    parameters={"params:self_paced"})


def _variant(method: str) -> Pipeline:
    template = Pipeline([
        node(nodes.train_model, ["stcs", "params:self_paced", "params:variant", "params:seed",
                                 "params:device", "params:deterministic"],
             ["model", "training_history"], name="train"),
        node(nodes.score_videos, ["frames", "tracks", "flow", "video_index", "model", "params:self_paced",
                                  "params:device"], "stc_scores", name="score_stcs"),
        node(nodes.scored_frames, ["stc_scores", "video_index", "model"], "frame_scores", name="frame_scores"),
        node(nodes.box_scores, "stc_scores", "object_scores", name="object_scores"),
    ])
    return pipeline(
        template,
        namespace=method,
        inputs={"stcs": f"{SHARED}.stcs", **{d: d for d in ("frames", "tracks", "flow", "video_index")}},
        parameters={**{p: p for p in _GLOBAL}, "params:variant": f"params:self_paced.variants.{method}"},
    )


def create_pipeline(**kwargs) -> Pipeline:
    """Shared cube extraction, then LBR-SPR and plain LBR (no refinement) on the same cubes."""
    return Pipeline([_shared(), *(_variant(m) for m in METHODS)], tags="self_paced")
