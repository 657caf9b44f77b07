"""Project pipelines.

Each method pipeline is registered together with what it needs upstream and with the shared
evaluation of its methods, so ``kedro run --pipelines=<name>`` works by itself on a fresh clone.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping

from kedro.pipeline import Pipeline

from vad_kedro.pipelines import evaluation, inference, preprocessing, serving

logger = logging.getLogger(__name__)

#: Method pipelines in the order `kedro run` executes them.
METHOD_PIPELINES = ["weak_supervision", "state_machine", "two_stream", "memory_fusion", "self_paced"]


def _load(name: str):
    """Import ``vad_kedro.pipelines.<name>``; None when that pipeline is not part of this checkout."""
    try:
        module = importlib.import_module(f"vad_kedro.pipelines.{name}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(f"vad_kedro.pipelines.{name}"):
            return None
        raise
    if not hasattr(module, "create_pipeline"):
        logger.warning("vad_kedro.pipelines.%s has no create_pipeline(): not registered", name)
        return None
    return module


def upstream_for(pipeline: Pipeline, producers: Pipeline) -> Pipeline:
    """The part of ``producers`` that makes the free inputs of ``pipeline``."""
    produced = producers.all_outputs()
    needed = [d for d in pipeline.inputs() if d in produced]
    return producers.to_outputs(*needed) if needed else Pipeline([])


def method_node_names(name: str) -> set[str]:
    """Names of the nodes of method pipeline ``name`` itself (no upstream, no evaluation), or of the
    ``motion_baseline``."""
    if name == "motion_baseline":
        return {n.name for n in evaluation.create_baseline_pipeline().nodes}
    module = _load(name)
    return {n.name for n in module.create_pipeline().nodes} if module else set()


def register_pipelines(skip: Mapping[str, str] | None = None) -> dict[str, Pipeline]:
    """Register the project's pipelines (only those present in this checkout).

    ``skip`` maps method pipelines (and ``motion_baseline``) to leave out of
    ``__default__`` to the reason (the dataset cannot feed them, :mod:`vad_kedro.core.requirements`);
    the reason is printed under the leaderboard. The pipelines registered under their own names are unchanged.
    """
    skip = dict(skip or {})
    pre = preprocessing.create_pipeline()
    fe_module = _load("feature_extraction")
    fe = fe_module.create_pipeline() if fe_module else Pipeline([])
    producers = pre + fe

    baseline = evaluation.create_baseline_pipeline()
    pipelines: dict[str, Pipeline] = {
        "preprocessing": pre,
        "evaluation": pre + baseline + evaluation.create_pipeline(evaluation.BASELINE_METHODS, "evaluation",
                                                                 {"motion_baseline": "evaluation"}),
    }
    if fe_module:
        pipelines["feature_extraction"] = pre + fe
        pipelines["detector_training"] = pre + fe_module.create_detector_training_pipeline()

    modules = {name: m for name in METHOD_PIPELINES if (m := _load(name)) is not None}
    created = {name: module.create_pipeline() for name, module in modules.items()}
    # namespace -> pipeline, for the report's run-time table: methods and shared stages (``lbr``)
    method_pipeline = {m: "evaluation" for m in evaluation.BASELINE_METHODS}
    method_pipeline.update({method: name for name, mod in modules.items() for method in mod.METHODS})
    method_pipeline.update({n.namespace.split(".")[0]: name for name, p in created.items() for n in p.nodes
                            if n.namespace})
    method_pipeline["feature_extraction"] = "feature_extraction"

    object_methods = frozenset(m for mod in modules.values() for m in getattr(mod, "OBJECT_METHODS", ()))
    all_methods = [] if "motion_baseline" in skip else list(evaluation.BASELINE_METHODS)
    methods_pipeline = Pipeline([]) if "motion_baseline" in skip else baseline
    for name, module in modules.items():
        method = created[name]
        if name not in skip:
            all_methods += module.METHODS
            methods_pipeline += method
        core = method + evaluation.create_pipeline(module.METHODS, name, method_pipeline,
                                                   object_methods=object_methods)
        pipelines[name] = upstream_for(core, producers) + core

    notes = tuple(f"{name} was not run: {reason}" for name, reason in skip.items())
    # only the features the pipelines of the run read: an I3D release has no frames to track objects in
    everything = pre + upstream_for(methods_pipeline, fe) + methods_pipeline + evaluation.create_pipeline(
        all_methods, None, method_pipeline, notes, object_methods)
    pipelines["__default__"] = everything
    if fe_module:
        inference_pipeline = inference.create_pipeline(modules, fe)
        if any(n.name.endswith("pick_scores") and len(n.inputs) > 1 for n in inference_pipeline.nodes):
            pipelines["inference"] = inference_pipeline   # reads the trained project: no upstream re-run
    pipelines.update(serving.create_pipelines(modules, lambda p: upstream_for(p, producers)))
    return pipelines
