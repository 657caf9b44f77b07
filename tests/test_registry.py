"""The registry: every pipeline present is registered, none is empty, no method reads test labels."""

import warnings

import pytest
from kedro.pipeline import Pipeline

from vad_kedro import pipeline_registry
from vad_kedro.pipeline_registry import METHOD_PIPELINES, register_pipelines


@pytest.fixture(scope="module")
def registered() -> dict[str, Pipeline]:
    return register_pipelines()


def test_every_registered_pipeline_has_nodes(registered):
    assert {"preprocessing", "evaluation", "__default__"} <= set(registered)
    for name, pipe in registered.items():
        assert pipe.nodes, f"pipeline {name} is empty"


def test_method_pipelines_bring_upstream_and_end_in_evaluation(registered):
    for name in METHOD_PIPELINES:
        module = pipeline_registry._load(name)
        if module is None:
            continue
        pipe = registered[name]
        free = {d for d in pipe.inputs() if not d.startswith("params:") and d != "parameters"}
        # only the leaderboard's stored metrics / timings may come from outside the run
        free = {d for d in free if not d.endswith("_previous")}  # incremental caches: absent on a fresh clone
        assert free <= {"stored_metrics", "node_timings", "stored_frame_scores"}, f"{name} needs unproduced inputs {free}"
        for method in module.METHODS:
            assert f"{method}.metrics" in pipe.all_outputs()


def test_no_method_node_reads_frame_labels():
    for name in METHOD_PIPELINES:
        module = pipeline_registry._load(name)
        if module is None:
            continue
        for node in module.create_pipeline().nodes:
            assert "frame_labels" not in node.inputs, f"{node.name} reads test labels"
            assert "pixel_masks" not in node.inputs, f"{node.name} reads test masks"
            assert "anomaly_regions" not in node.inputs, f"{node.name} reads test anomaly regions"


def test_object_level_methods_are_measured_on_their_scored_boxes(registered):
    checked = []
    for name in METHOD_PIPELINES:
        module = pipeline_registry._load(name)
        for method in getattr(module, "OBJECT_METHODS", ()):
            evaluate = next(n for n in registered[name].nodes if n.name == f"{method}.evaluate")
            assert {f"{method}.object_scores", "anomaly_regions", "params:evaluation.regions"} <= set(evaluate.inputs)
            checked.append(method)
    assert {"lbr_spr", "lbr_norefine", "lpg", "smaff", "smaff_nopose"} <= set(checked)
    frame_level = next(n for n in registered["weak_supervision"].nodes if n.name == "rtfm.evaluate")
    assert "anomaly_regions" not in frame_level.inputs


def test_default_pipeline_covers_every_method(registered):
    default = registered["__default__"]
    for name in METHOD_PIPELINES:
        module = pipeline_registry._load(name)
        if module is not None:
            assert set(registered[name].nodes) <= set(default.nodes) | {
                n for n in registered[name].nodes if n.name.endswith(("build_leaderboard", "build_report"))}


def test_detector_training_is_registered_apart_from_the_default_run(registered):
    pipe = registered["detector_training"]
    assert "feature_extraction.train_detector" in {n.name for n in pipe.nodes}
    assert "detector.weights" in pipe.all_outputs()
    assert "feature_extraction.train_detector" not in {n.name for n in registered["__default__"].nodes}
    train = next(n for n in pipe.nodes if n.name == "feature_extraction.train_detector")
    assert "frame_labels" not in train.inputs and "pixel_masks" not in train.inputs


def test_every_namespace_is_one_piece_and_belongs_to_its_pipeline():
    """Kedro warned "Namespace 'self_paced' is interrupted" on every run: the shared LBR stage and the
    self_paced leaderboard shared one namespace, with the variants between them (now ``lbr``)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Namespace .* is interrupted")
        pipelines = register_pipelines()
    report = next(n for n in pipelines["__default__"].nodes if n.name == "build_report")
    assert report.func.keywords["method_pipeline"]["lbr"] == "self_paced"   # the report's run-time table
