"""``feature_extraction`` pipeline: tracks, optical flow, snippet features and object features."""

from .pipeline import METHODS, create_detector_training_pipeline, create_pipeline

__all__ = ["METHODS", "create_detector_training_pipeline", "create_pipeline"]
