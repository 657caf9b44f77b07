"""Wiring of the weak_supervision pipeline: one pipeline shape, instantiated per method namespace.

load_bags → segment_bags → [learn_dictionary (S3R)] → train → score_videos → expand_to_frames,
writing ``<method>.model``, ``<method>.training_history`` and ``<method>.frame_scores``.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline, node, pipeline

from . import nodes

METHODS: list[str] = ["mil", "rtfm", "mgfn", "s3r"]


def method_pipeline(method: str) -> Pipeline:
    """The pipeline shape of one method, namespaced by the method name."""
    params = f"params:weak_supervision.{method}"
    steps = [
        node(nodes.load_bags, ["snippet_features", "video_index"], "bags", name="load_bags"),
        node(nodes.segment_bags, ["snippet_features", "bags", params], "segments", name="segment_bags"),
    ]
    train_inputs = ["segments", params, "params:seed", "params:device", "params:deterministic"]
    if method == "s3r":
        steps.append(node(nodes.learn_dictionary, ["segments", params], "dictionary", name="learn_dictionary"))
        steps.append(node(nodes.train_model_with_dictionary, ["segments", "dictionary", *train_inputs[1:]],
                          ["model", "training_history"], name="train"))
    else:
        steps.append(node(nodes.train_model, train_inputs, ["model", "training_history"], name="train"))
    steps += [
        node(nodes.score_videos, ["snippet_features", "video_index", "model", params, "params:device"],
             "snippet_scores", name="score_videos"),
        node(nodes.expand_to_frames, ["snippet_scores", "video_index"], "frame_scores", name="expand_to_frames"),
    ]
    return pipeline(steps, namespace=method, inputs={"snippet_features", "video_index"},
                    parameters={params, "params:seed", "params:device", "params:deterministic"})


def create_pipeline(**kwargs) -> Pipeline:
    """MIL, RTFM, MGFN and S3R as four namespaced instances of :func:`method_pipeline`."""
    return Pipeline([method_pipeline(m) for m in METHODS], tags="weak_supervision")
