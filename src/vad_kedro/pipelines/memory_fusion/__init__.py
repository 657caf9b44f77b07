"""``memory_fusion``: SMAFF, memory-guided pseudo features + attention fusion of pose, velocity, appearance."""

from .pipeline import METHODS, OBJECT_METHODS, create_pipeline

__all__ = ["METHODS", "OBJECT_METHODS", "create_pipeline"]
