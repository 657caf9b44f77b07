"""Wiring of ``inference``: score one video with a trained model of any method.

The scoring part of each method pipeline (its nodes downstream of ``<method>.model``) is reused
as it is, inside the ``inference`` namespace, on an index holding the input video and a few
normal reference videos. Every scoring node is guarded: it runs only when ``params:method`` asks
for a method that needs it; the others return a marker without reading their inputs. Models are
read lazily, so methods that were never trained cost nothing.
"""

from __future__ import annotations

import logging
from functools import partial, update_wrapper, wraps
from types import ModuleType

from kedro.pipeline import Pipeline, node, pipeline

from vad_kedro.io import LazyCheckpoint

from . import nodes

logger = logging.getLogger(__name__)

#: Per-video datasets a scoring part may read; everything else must be a trained model.
SHARED_INPUTS = {"video_index", "frames", "tracks", "flow", "snippet_features", "object_features"}


def scoring_part(module: ModuleType) -> Pipeline:
    """The nodes of a method pipeline that depend on its trained models, up to its frame scores (the
    scored boxes of the object-level methods are an evaluation output, for RBDC / TBDC)."""
    method = module.create_pipeline()
    models = [f"{m}.model" for m in module.METHODS if f"{m}.model" in method.all_outputs()]
    extra = getattr(module, "EXTRA_MODEL_DATASETS", [])
    if not (models or extra):
        return Pipeline([])
    part = method.from_inputs(*models, *extra)
    frame_scores = [f"{m}.frame_scores" for m in module.METHODS if f"{m}.frame_scores" in part.all_outputs()]
    return part.to_outputs(*frame_scores) if frame_scores else part


def unsupported_inputs(part: Pipeline) -> set[str]:
    """Free inputs of a scoring part that inference cannot provide (neither per-video nor a model)."""
    return {d for d in part.inputs()
            if not d.startswith("params:") and d not in SHARED_INPUTS and not d.endswith(".model")}


def _guard(func, methods: frozenset[str], n_outputs: int | None):
    """Run ``func`` only for the selected methods; resolve lazy checkpoints first."""

    def skipped():
        return nodes.SKIPPED if n_outputs is None else [nodes.SKIPPED] * n_outputs

    @wraps(func)
    def guarded(*args):
        *args, method = args
        if method not in methods:
            return skipped()
        resolved = []
        for a in args:
            if isinstance(a, LazyCheckpoint):
                if not a.available:
                    raise FileNotFoundError(f"{a.where}: no trained model; train the method first")
                a = a()
            resolved.append(a)
        return func(*resolved)

    return guarded


def _guarded_nodes(part: Pipeline, methods: list[str]) -> Pipeline:
    needs = {m: set(part.to_outputs(f"{m}.frame_scores").nodes) for m in methods
             if f"{m}.frame_scores" in part.all_outputs()}
    out = []
    for n in part.nodes:
        users = frozenset(m for m, ns in needs.items() if n in ns)
        outputs = n.outputs
        func = _guard(n.func, users, None if len(outputs) == 1 else len(outputs))
        out.append(node(func, [*n.inputs, "params:method"], outputs if len(outputs) > 1 else outputs[0],
                        name=n.name))
    return Pipeline(out)


def _named(func, **kwargs):
    return update_wrapper(partial(func, **kwargs), func)


def create_pipeline(modules: dict[str, ModuleType], feature_extraction: Pipeline) -> Pipeline:
    """The ``inference`` pipeline over every method whose scoring part inference can run."""
    trainers: dict[str, str] = {}
    needed_models: dict[str, list[str]] = {}
    object_level: list[str] = []
    scoring = Pipeline([])
    for name, module in modules.items():
        part = scoring_part(module)
        bad = unsupported_inputs(part)
        if not part.nodes or bad:
            logger.debug("inference: %s not supported (scoring needs %s)", name, sorted(bad))
            continue
        for m in module.METHODS:
            if f"{m}.frame_scores" not in part.all_outputs():
                continue
            sub = part.to_outputs(f"{m}.frame_scores")
            trainers[m] = name
            needed_models[m] = sorted(d for d in sub.inputs() if d.endswith(".model"))
            if "tracks" in sub.inputs() or "object_features" in sub.inputs():
                object_level.append(m)
        scoring += _guarded_nodes(part, module.METHODS)
    methods = sorted(trainers)
    all_models = sorted({d for ds in needed_models.values() for d in ds})

    front = Pipeline([
        node(_named(nodes.check_request, model_names=all_models, trainers=trainers, needed_models=needed_models,
                    object_level=object_level),
             ["params:video_path", "params:method", *[f"inference.{m}" for m in all_models]], "inference.request",
             name="inference.check_request"),
        node(nodes.build_inference_index, ["inference.request", "video_index", "params:inference"],
             "inference.video_index", name="inference.build_index"),
        node(nodes.inference_frames, ["inference.video_index", "frames"], "inference.frames",
             name="inference.decode_frames"),
    ])
    produced = scoring.inputs() & SHARED_INPUTS - {"video_index", "frames"}
    fe = feature_extraction.to_outputs(*produced) if produced else Pipeline([])
    body = pipeline(fe + scoring, namespace="inference",
                    inputs={"raw_manifest"} & (fe + scoring).inputs(),
                    parameters={p for p in (fe + scoring).inputs() if p.startswith("params:")})
    back = Pipeline([
        node(nodes.pick_scores, ["inference.request", *[f"inference.{m}.frame_scores" for m in methods]],
             "inference.frame_scores", name="inference.pick_scores"),
        node(nodes.write_outputs,
             ["inference.request", "inference.frame_scores", "inference.video_index", "inference.frames",
              "params:inference", *(["inference.tracks"] if "tracks" in produced else [])],
             "inference.summary", name="inference.write_outputs"),
    ])
    return front + body + back


__all__ = ["create_pipeline", "scoring_part", "unsupported_inputs"]
