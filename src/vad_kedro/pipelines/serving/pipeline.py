"""Wiring of ``package_<method>``: kedro-mlflow's ``pipeline_ml_factory`` per servable method.

Each package pipeline trains the method (with what it needs upstream), saves the trained checkpoint
once more as ``<method>.serving_model`` (unversioned: the MLflow model carries that one file) and,
when the run ends, kedro-mlflow's hook logs the scoring pipeline with it as one ``KedroPipelineModel``
registered under the method's name. ``mlflow models serve -m models:/<method>/latest`` then scores
requests (:mod:`.nodes`) with the same scoring code as the method pipeline and ``inference``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version
from types import ModuleType

from kedro.pipeline import Pipeline, node
from kedro_mlflow.pipeline import pipeline_ml_factory
from kedro_mlflow.pipeline.pipeline_ml import PipelineML
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema
from mlflow.types.schema import Array

from . import nodes

#: Method pipelines whose methods score snippet features alone (``score_videos`` on ``<method>.model``).
SERVABLE_PIPELINES = ("weak_supervision",)

#: The request and answer of :func:`.nodes.score_request`, shown in the MLflow UI and enforced by the server.
SIGNATURE = ModelSignature(
    inputs=Schema([ColSpec("string", "video_id"), ColSpec("long", "snippet"),
                   ColSpec(Array(Array("double")), "features")]),
    outputs=Schema([ColSpec("string", "video_id"), ColSpec("long", "snippet"), ColSpec("double", "score")]),
)

#: What the model needs at load time; ``mlflow models serve --env-manager local`` uses the project's venv.
REQUIREMENTS = ("kedro", "kedro-mlflow", "mlflow", "torch", "numpy", "pandas")


def package_pipeline(module: ModuleType, method: str, with_upstream: Callable[[Pipeline], Pipeline]) -> PipelineML:
    """Training of ``method`` + its scoring of a request, as one pipeline that logs a registered model."""
    method_nodes = module.create_pipeline()
    score = next(n for n in method_nodes.nodes if n.name == f"{method}.score_videos")
    params = [d for d in score.inputs if d.startswith("params:")]
    training = method_nodes.to_outputs(f"{method}.model") + Pipeline([
        node(nodes.serving_checkpoint, f"{method}.model", f"{method}.serving_model",
             name=f"{method}.serving_checkpoint"),
    ])
    inference = Pipeline([
        node(nodes.score_request, [f"{method}.request", f"{method}.serving_model", *params],
             f"{method}.served_scores", name=f"{method}.score_request"),
    ])
    return pipeline_ml_factory(
        training=with_upstream(training) + training,
        inference=inference,
        input_name=f"{method}.request",
        log_model_kwargs={"name": "model", "registered_model_name": method, "signature": SIGNATURE,
                          "pip_requirements": [f"{d}=={version(d)}" for d in REQUIREMENTS]},
    )


def create_pipelines(modules: dict[str, ModuleType],
                     with_upstream: Callable[[Pipeline], Pipeline]) -> dict[str, PipelineML]:
    """``package_<method>`` for every method of the servable method pipelines present."""
    return {f"package_{method}": package_pipeline(modules[name], method, with_upstream)
            for name in SERVABLE_PIPELINES if name in modules for method in modules[name].METHODS}
