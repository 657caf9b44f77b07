"""``memory_fusion``: SMAFF, memory-guided pseudo features + attention fusion of pose, velocity, appearance."""

from .pipeline import METHODS, create_pipeline

__all__ = ["METHODS", "create_pipeline"]
