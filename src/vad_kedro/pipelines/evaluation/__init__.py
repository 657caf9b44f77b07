"""``evaluation``: one protocol for every method's frame scores, plus the motion baseline."""

from .pipeline import BASELINE_METHODS, create_baseline_pipeline, create_pipeline

__all__ = ["BASELINE_METHODS", "create_baseline_pipeline", "create_pipeline"]
