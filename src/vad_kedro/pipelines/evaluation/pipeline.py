"""Wiring of the shared evaluation: one namespaced instance per method, then the leaderboard."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node, pipeline

from . import nodes, report

BASELINE_METHODS = ["motion_baseline"]


def _named(func, **kwargs):
    """functools.partial that keeps the function's name (Kedro shows it in the graph)."""
    return update_wrapper(partial(func, **kwargs), func)


def create_baseline_pipeline() -> Pipeline:
    """The frame-difference motion baseline: a real reference row on every leaderboard."""
    return Pipeline([
        node(nodes.motion_baseline_scores, ["frames", "video_index", "params:evaluation.baseline"],
             "motion_baseline.frame_scores", name="motion_baseline.score_frames"),
    ])


def _method_evaluation(method: str, object_level: bool = False) -> Pipeline:
    """Metrics and plots of one method; an object-level method also gets RBDC / TBDC from its
    ``<method>.object_scores`` (scored boxes) and the ground-truth ``anomaly_regions``."""
    inputs, params = {"frame_labels"}, {"params:dataset", "params:evaluation.n_plot_videos"}
    outputs = ["metrics", "mlflow_metrics", "per_video", "per_type"]
    if object_level:
        inputs.add("anomaly_regions")
        params.add("params:evaluation.regions")
        evaluate = node(_named(nodes.evaluate_object_method, method=method),
                        ["frame_scores", "frame_labels", "params:dataset", "object_scores", "anomaly_regions",
                         "params:evaluation.regions"], outputs, name="evaluate")
    else:
        evaluate = node(_named(nodes.evaluate_method, method=method), ["frame_scores", "frame_labels", "params:dataset"],
                        outputs, name="evaluate")
    template = Pipeline([
        evaluate,
        node(_named(nodes.plot_roc, method=method), ["frame_scores", "frame_labels"], "roc_plot", name="plot_roc"),
        node(_named(nodes.plot_score_curves, method=method),
             ["frame_scores", "frame_labels", "params:evaluation.n_plot_videos"], "score_plot",
             name="plot_score_curves"),
    ])
    return pipeline(template, namespace=method, inputs=inputs, parameters=params)


def create_pipeline(methods: list[str], group: str | None = None,
                    method_pipeline: dict[str, str] | None = None, notes: tuple[str, ...] = (),
                    object_methods: frozenset[str] = frozenset()) -> Pipeline:
    """Evaluate each method in ``methods`` and build the leaderboard over all stored metrics.

    ``notes`` are printed under the leaderboard (a pipeline the run skipped and why). The methods in
    ``object_methods`` write scored boxes (``<method>.object_scores``) and are also measured by RBDC / TBDC.

    ``group`` namespaces the leaderboard node when a registered pipeline evaluates only some
    methods, so several method pipelines can run in one command (each leaderboard node writes the
    same files, reading every method's stored metrics). ``method_pipeline`` maps method
    namespaces to pipeline names for the report's run-time table.
    """
    per_method = sum((_method_evaluation(m, m in object_methods) for m in methods), Pipeline([]))
    prefix = f"{group}." if group else ""
    leaderboard = Pipeline([
        node(_named(nodes.build_leaderboard, notes=tuple(notes)),
             ["stored_metrics", "node_timings", *[f"{m}.metrics" for m in methods]],
             [f"{prefix}leaderboard", f"{prefix}leaderboard_md", f"{prefix}per_type_auc"],
             name="build_leaderboard", namespace=group),
        node(_named(report.build_report, method_pipeline=dict(method_pipeline or {})),
             [f"{prefix}leaderboard", f"{prefix}per_type_auc", "frame_labels", "stored_frame_scores", "node_timings",
              "params:evaluation.n_report_videos"],
             f"{prefix}report", name="build_report", namespace=group),
    ])
    return per_method + leaderboard
