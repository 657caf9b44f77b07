"""``preprocessing``: dataset → video index, frames, frame labels, train/val split."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
