"""``inference``: score your own video with a trained model of any method."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
